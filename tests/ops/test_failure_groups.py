"""Failures grouped once (ops.runlog.failure_groups) on a hand-made run log; the credential
variables by name (ops.credentials)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import warehouse
from ops.connection import SF_VARIABLES
from ops.credentials import VARIABLES, environment_status
from ops.runlog import NO_MESSAGE, failure_groups, finish_run, recent_runs, start_run

T0 = datetime(2026, 11, 20, 6, tzinfo=UTC)
# run id, source, outcome, error (hours after T0 = run id - 1)
LOG = [
    (1, "warehouse", "failed", "connection refused"),
    (2, "warehouse", "failed", "connection refused"),
    (3, "salesforce", "failed", "INVALID_LOGIN"),
    (4, "warehouse", "failed", "permission denied for table opportunity"),
    (5, "warehouse", "failed", "connection refused"),
    (6, "warehouse", "ok", None),
    (7, "salesforce", "failed", "INVALID_LOGIN"),
    (8, "demo", "failed", None),  # a failure the run log has no message for
]


def _runs(rows=LOG) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "run_id": [r[0] for r in rows],
            "started_at": [T0 + timedelta(hours=r[0] - 1) for r in rows],
            "source": [r[1] for r in rows],
            "trigger": ["schedule" if r[0] % 2 else "page" for r in rows],
            "outcome": [r[2] for r in rows],
            "error": [r[3] for r in rows],
        },
        schema_overrides={"started_at": pl.Datetime("us", "UTC"), "error": pl.String},
    )


def test_each_distinct_failure_once_with_count_and_first_and_last_time():
    groups = failure_groups(_runs())
    # by hand: demo (run 8, no message), salesforce INVALID_LOGIN (runs 3, 7),
    # warehouse "connection refused" (runs 1, 2, 5), warehouse permission (run 4); newest first
    assert groups.select("source", "error", "count", "last_run_id").rows() == [
        ("demo", NO_MESSAGE, 1, 8),
        ("salesforce", "INVALID_LOGIN", 2, 7),
        ("warehouse", "connection refused", 3, 5),
        ("warehouse", "permission denied for table opportunity", 1, 4),
    ]
    refused = groups.row(2, named=True)
    assert (refused["first_at"], refused["last_at"]) == (T0, T0 + timedelta(hours=4))
    assert refused["triggers"] == ["page", "schedule"]  # runs 1, 5 scheduled; run 2 from the page
    # still failing: the source's newest run is this failure (warehouse recovered in run 6)
    assert groups["current"].to_list() == [True, True, False, False]


def test_no_failure_no_group():
    assert failure_groups(_runs([(1, "demo", "ok", None)])).is_empty()


@settings(max_examples=40, deadline=None)
@given(st.permutations(LOG))
def test_row_order_never_changes_the_groups(rows):
    assert failure_groups(_runs(rows)).equals(failure_groups(_runs()))


def test_groups_from_the_run_log_itself(tmp_path: Path):
    for run_id, source, outcome, error in LOG:
        at = T0 + timedelta(hours=run_id - 1)
        run = start_run(tmp_path, source=source, trigger="schedule", now=at)
        finish_run(tmp_path, run, outcome=outcome, now=at + timedelta(minutes=2), error=error)
    groups = failure_groups(recent_runs(tmp_path))
    assert groups["count"].to_list() == [1, 2, 3, 1]


def test_credentials_by_name_set_or_not_never_the_value():
    environ = {"WAREHOUSE_USER": "etl@db", "WAREHOUSE_PASSWORD": "pw-SECRET", "HUBSPOT_TOKEN": " "}
    status = environment_status(environ)
    assert status.columns == ["source", "variable", "for", "status"]
    is_set = dict(status.select("variable", "status").rows())
    assert is_set["WAREHOUSE_USER"] == is_set["WAREHOUSE_PASSWORD"] == "set"
    assert is_set["HUBSPOT_TOKEN"] == "not set"  # blank is not set
    assert is_set["WAREHOUSE_URL"] == is_set["HUBSPOT_PORTAL_ID"] == "not set"
    assert "pw-SECRET" not in str(status.rows()) and "etl@db" not in str(status.rows())


def test_the_list_names_every_variable_the_connectors_read():
    names = {name for _, name, _ in VARIABLES} | set(SF_VARIABLES)  # Salesforce's: ops.connection
    assert set(warehouse.ENV_PIECES) | {"WAREHOUSE_URL"} <= names
    connectors = Path(warehouse.__file__).parent
    for module in ("salesforce.py", "hubspot.py", "crm_links.py", "warehouse.py"):
        # every quoted variable name the connector reads, e.g. environ.get("SF_DOMAIN")
        read = set(re.findall(r"[\"']((?:SF|HUBSPOT|WAREHOUSE)_[A-Z_]+)[\"']",
                              (connectors / module).read_text()))  # fmt: skip
        assert read and read <= names, f"{module} reads {sorted(read - names)}, not listed"
