"""Data-quality checks, drill-down rows, the severity-weighted score and table freshness.

as_of 2026-03-15 unless a test says otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from model.schema import TABLES
from model.tables import Tables
from scoring.quality import (
    CHECKS,
    CHECKS_SCHEMA,
    DEFINITIONS,
    FRESHNESS_SCHEMA,
    UnknownCheckError,
    data_quality_score,
    freshness,
    quality_check_rows,
    quality_checks,
)

AS_OF = date(2026, 3, 15)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def frame(name: str, rows: list[dict]) -> pl.DataFrame:
    columns = TABLES[name].columns
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return pl.DataFrame(rows, schema={k: columns[k].dtype for k in keys})


USERS = frame(
    "users",
    [
        {"user_id": "u1", "team": "East", "function": "sales"},
        {"user_id": "u2", "team": "West", "function": "sales"},
    ],
)

STAGES = frame(
    "stages",
    [
        {"stage": s, "position": p, "owner_function": "sales", "is_closed": c, "is_won": w}
        for s, p, c, w in [
            ("Discovery", 1, False, False),
            ("Proposal", 2, False, False),
            ("Won", 3, True, True),
            ("Lost", 4, True, False),
        ]
    ],
)


def _opp(opp_id, owner, amount, created, close, stage="Discovery", **kw) -> dict:
    return {
        "opp_id": opp_id,
        "account_id": "A9",
        "name": f"Deal {opp_id}",
        "owner_id": owner,
        "stage": stage,
        "amount": amount,
        "created_at": ts(created),
        "close_date": d(close) if close else None,
        "is_closed": stage in ("Won", "Lost"),
        "is_won": stage == "Won",
        **kw,
    }


OPPS = frame(
    "opportunities",
    [
        # open, close date 2026-03-01 < as_of → past close date
        _opp("q1", "u1", 100.0, "2026-01-01T10:00", "2026-03-01", account_id="A0"),
        # no owner; no history rows; created 2026-03-21, after the as-of day
        _opp("q2", None, 200.0, "2026-03-21T00:00", "2026-04-01", account_id="A0"),
        # owner not in users; no amount
        _opp("q3", "ghost", None, "2026-01-02T00:00", "2026-02-01", stage="Won"),
        # q4 and q5: same account, same name after trim + lower-case → both duplicates;
        # q4's amount is negative
        _opp("q4", "u2", -10.0, "2026-02-01T12:00", None, account_id="A1", name="Acme renewal"),
        # close date = as_of is not past
        _opp("q5", "u2", 10.0, "2026-02-01T12:00", "2026-03-15", account_id="A1",
             name=" acme RENEWAL "),
        # same name, other account: not a duplicate; closed 2026-01-05, five days before it
        # was created (2026-01-10) → close date before creation
        _opp("q6", "u1", 10.0, "2026-01-10T00:00", "2026-01-05", stage="Lost", account_id="A2",
             name="Acme renewal"),
    ],
)  # fmt: skip


def _hist(opp_id: str, stage: str, at: str) -> dict:
    return {"opp_id": opp_id, "stage": stage, "entered_at": ts(at)}


HISTORY = frame(
    "stage_history",
    [
        _hist("q1", "Discovery", "2026-01-01T10:00:00"),
        _hist("q1", "Proposal", "2026-01-05T00:00:00"),
        # q3 created 2026-01-02: a row on 2025-12-31 is before the deal existed → failing
        _hist("q3", "Discovery", "2025-12-31T00:00:00"),
        _hist("q3", "Won", "2026-02-01T00:00:00"),
        # q4: Proposal then Discovery half a second later → regression within 1 s → failing
        _hist("q4", "Proposal", "2026-02-01T12:00:00"),
        _hist("q4", "Discovery", "2026-02-01T12:00:00.500"),
        # q5: exact tie, read as Discovery → Proposal (forward) → fine
        _hist("q5", "Proposal", "2026-02-01T12:00:00"),
        _hist("q5", "Discovery", "2026-02-01T12:00:00"),
        # q6: a regression ten days later is a real (if unwelcome) decision → fine
        _hist("q6", "Proposal", "2026-01-10T00:00:00"),
        _hist("q6", "Discovery", "2026-01-20T00:00:00"),
        _hist("q6", "Lost", "2026-02-01T00:00:00"),
    ],
)


def _lead(lead_id: str, created: str, **stamps: str | None) -> dict:
    row: dict = {"lead_id": lead_id, "created_at": ts(created)}
    for key, value in stamps.items():
        row[key] = ts(value) if value and key.endswith("_at") else value
    return row


LEADS = frame(
    "leads",
    [
        _lead("l1", "2026-01-01", mql_at="2026-01-02", sql_at="2026-01-03",
              converted_at="2026-02-01", converted_opp_id="q1"),
        # converted with no opportunity / with an opportunity that does not exist
        _lead("l2", "2026-01-01", converted_at="2026-02-02", converted_opp_id=None),
        _lead("l3", "2026-01-01", converted_at="2026-02-03", converted_opp_id="nope"),
        # SQL before MQL
        _lead("l4", "2026-01-01", mql_at="2026-01-10", sql_at="2026-01-05"),
        # MQL before the lead was created; created 2026-04-01, after the as-of day
        _lead("l5", "2026-04-01", mql_at="2026-01-03"),
        # SQL before SAL, with MQL missing (nulls are skipped, not compared); created late on
        # the as-of day itself: not in the future
        _lead("l6", "2026-03-15T23:00", sal_at="2026-01-04", sql_at="2026-01-03"),
        # converted before it became an MQL
        _lead("l7", "2026-01-01", mql_at="2026-01-02", converted_at="2026-01-01T12:00",
              converted_opp_id="q6"),
    ],
)  # fmt: skip


def quality_tables(**overrides: pl.DataFrame | None) -> Tables:
    frames = {
        "users": USERS,
        "stages": STAGES,
        "opportunities": OPPS,
        "stage_history": HISTORY,
        "leads": LEADS,
        **overrides,
    }
    return Tables.from_frames({k: v for k, v in frames.items() if v is not None})


# check_id → (failing, total), worked out in the fixture comments:
EXPECTED_COUNTS = {
    "duplicate_opportunities": (2, 6),  # q4, q5
    "lead_created_in_future": (1, 7),  # l5 (l6 was created on the as-of day)
    "lead_converted_without_opp": (2, 4),  # l2, l3 of converted l1 l2 l3 l7
    "lead_funnel_out_of_order": (4, 7),  # l4 l5 l6 l7
    "open_past_close_date": (1, 4),  # q1 of open q1 q2 q4 q5
    "opp_close_before_created": (1, 6),  # q6 (q4 has no close date: not judged failing)
    "opp_created_in_future": (1, 6),  # q2
    "opp_missing_amount": (1, 6),  # q3
    "opp_missing_owner": (1, 6),  # q2
    "opp_negative_amount": (1, 6),  # q4 (q3's missing amount is not negative)
    "opp_no_stage_history": (1, 6),  # q2
    "opp_unknown_owner": (1, 6),  # q3 (q2's null owner is "missing", not "unknown")
    "stage_history_out_of_order": (2, 11),  # q3 Discovery, q4 Discovery
}

EXPECTED_FAILING_KEYS = {
    "duplicate_opportunities": ["q4", "q5"],
    "lead_created_in_future": ["l5"],
    "lead_converted_without_opp": ["l2", "l3"],
    "lead_funnel_out_of_order": ["l4", "l5", "l6", "l7"],
    "open_past_close_date": ["q1"],
    "opp_close_before_created": ["q6"],
    "opp_created_in_future": ["q2"],
    "opp_missing_amount": ["q3"],
    "opp_missing_owner": ["q2"],
    "opp_negative_amount": ["q4"],
    "opp_no_stage_history": ["q2"],
    "opp_unknown_owner": ["q3"],
    "stage_history_out_of_order": ["q3", "q4"],
}


def test_quality_checks_counts() -> None:
    checks = quality_checks(quality_tables(), as_of=AS_OF)
    assert checks.schema == CHECKS_SCHEMA
    assert checks["check_id"].to_list() == sorted(EXPECTED_COUNTS)
    counts = {
        row["check_id"]: (row["failing"], row["total"]) for row in checks.iter_rows(named=True)
    }
    assert counts == EXPECTED_COUNTS
    assert checks["share"].to_list() == [
        f / t for f, t in (EXPECTED_COUNTS[k] for k in sorted(EXPECTED_COUNTS))
    ]
    assert checks["available"].all()


@pytest.mark.parametrize("check_id", sorted(EXPECTED_FAILING_KEYS))
def test_quality_check_rows(check_id: str) -> None:
    rows = quality_check_rows(quality_tables(), as_of=AS_OF, check_id=check_id)
    key = "lead_id" if check_id.startswith("lead_") else "opp_id"
    assert rows[key].to_list() == EXPECTED_FAILING_KEYS[check_id]


def test_out_of_order_rows_are_the_offending_history_rows() -> None:
    rows = quality_check_rows(quality_tables(), as_of=AS_OF, check_id="stage_history_out_of_order")
    assert rows.select("opp_id", "stage", "entered_at").rows() == [
        ("q3", "Discovery", ts("2025-12-31T00:00:00")),
        ("q4", "Discovery", ts("2026-02-01T12:00:00.500")),
    ]


def test_unknown_check_id_raises() -> None:
    with pytest.raises(UnknownCheckError, match="no_such_check"):
        quality_check_rows(quality_tables(), as_of=AS_OF, check_id="no_such_check")


def test_checks_needing_a_missing_table_are_not_available() -> None:
    tables = quality_tables(stage_history=None)
    checks = quality_checks(tables, as_of=AS_OF)
    unavailable = checks.filter(~pl.col("available"))
    assert unavailable["check_id"].to_list() == [
        "opp_no_stage_history",
        "stage_history_out_of_order",
    ]
    assert unavailable.select("failing", "total", "share").null_count().row(0) == (2, 2, 2)
    rows = quality_check_rows(tables, as_of=AS_OF, check_id="opp_no_stage_history")
    assert rows.is_empty()


def test_empty_table_gives_null_share() -> None:
    checks = quality_checks(quality_tables(leads=frame("leads", [])), as_of=AS_OF)
    row = checks.filter(pl.col("check_id") == "lead_funnel_out_of_order").row(0, named=True)
    assert (row["failing"], row["total"], row["share"]) == (0, 0, None)


# --- score -----------------------------------------------------------------------------------


def _checks(rows: list[tuple[str, bool, int | None, int | None]]) -> pl.DataFrame:
    """A checks frame with the columns the score reads: severity, available, failing, total."""
    columns = ("severity", "available", "failing", "total")
    return pl.DataFrame(
        rows, schema={k: CHECKS_SCHEMA[k] for k in columns}, orient="row"
    ).with_columns(
        share=pl.when(pl.col("total") > 0).then(pl.col("failing") / pl.col("total")),
    )


def test_data_quality_score() -> None:
    checks = _checks(
        [
            ("high", True, 0, 10),  # passes, weight 3
            ("medium", True, 5, 10),  # fails, weight 2, half its records pass
            ("low", True, 0, 4),  # passes, weight 1
            ("high", False, None, None),  # unavailable → left out
            ("high", True, 0, 0),  # nothing to check → left out
        ]
    )
    # strict: (3·1 + 2·0 + 1·1) / 6 = 4/6; partial credit: (3 + 2·0.5 + 1) / 6 = 5/6.
    assert data_quality_score(checks) == pytest.approx(100 * 4 / 6)
    assert data_quality_score(checks, partial_credit=True) == pytest.approx(100 * 5 / 6)


def test_data_quality_score_with_nothing_to_score_is_none() -> None:
    assert data_quality_score(_checks([("high", False, None, None)])) is None
    assert data_quality_score(quality_checks(Tables.from_frames({}), as_of=AS_OF)) is None


def test_data_quality_score_of_fixture() -> None:
    # Every check in the fixture finds something → strict score 0.
    assert data_quality_score(quality_checks(quality_tables(), as_of=AS_OF)) == 0.0


# --- freshness -------------------------------------------------------------------------------


def test_freshness() -> None:
    # as_of 2026-03-20. opportunities: latest *_at/*_date value ≤ as_of is q5's close date
    # 2026-03-15 (q2's 2026-04-01 is a plan, ignored) → 5 days. stage_history: latest
    # entered_at 2026-02-01 12:00:00.5 → 2026-02-01 → 47 days. users has no timestamp column.
    # Refreshed 2026-03-19 23:00 → 1 day. leads is missing.
    tables = quality_tables(leads=None)
    fresh = freshness(tables, as_of=date(2026, 3, 20), refreshed_at=ts("2026-03-19T23:00"))
    assert fresh.schema == FRESHNESS_SCHEMA
    assert fresh["table"].to_list() == sorted(TABLES)
    by_table = {row["table"]: row for row in fresh.iter_rows(named=True)}
    opps = by_table["opportunities"]
    assert (opps["status"], opps["rows"], opps["missing"]) == ("ok", 6, False)
    assert opps["latest_at"] == ts("2026-03-15T00:00")
    assert opps["days_since_latest"] == 5
    assert opps["days_since_refresh"] == 1
    assert by_table["stage_history"]["days_since_latest"] == 47
    assert by_table["users"]["latest_at"] is None and by_table["users"]["rows"] == 2
    leads = by_table["leads"]
    assert (leads["status"], leads["missing"], leads["rows"], leads["latest_at"]) == (
        "not available",
        True,
        0,
        None,
    )


def test_freshness_without_refresh_time_and_empty_table() -> None:
    tables = quality_tables(leads=frame("leads", []))
    fresh = freshness(tables, as_of=AS_OF, refreshed_at=None)
    assert fresh["refreshed_at"].null_count() == fresh.height
    leads = fresh.filter(pl.col("table") == "leads").row(0, named=True)
    assert (leads["status"], leads["days_since_latest"]) == ("empty", None)


# --- order independence, definitions ---------------------------------------------------------


def _shuffled(tables: Tables, seed: int) -> Tables:
    return Tables.from_frames(
        {
            name: frame_.collect().sample(fraction=1.0, shuffle=True, seed=seed)
            for name, frame_ in tables.frames.items()
            if name not in tables.missing
        }
    )


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_results_do_not_depend_on_row_order(seed: int) -> None:
    tables = quality_tables()
    mixed = _shuffled(tables, seed)
    assert_frame_equal(quality_checks(tables, as_of=AS_OF), quality_checks(mixed, as_of=AS_OF))
    for check in CHECKS:
        assert_frame_equal(
            quality_check_rows(tables, as_of=AS_OF, check_id=check.id),
            quality_check_rows(mixed, as_of=AS_OF, check_id=check.id),
        )
    assert_frame_equal(
        freshness(tables, as_of=AS_OF, refreshed_at=None),
        freshness(mixed, as_of=AS_OF, refreshed_at=None),
    )


def test_definitions() -> None:
    ids = {definition.id for definition in DEFINITIONS}
    assert {"data_quality.score", "data_freshness.days_since_latest"} <= ids
    assert {f"data_quality.{check.id}" for check in CHECKS} <= ids
    assert all(definition.question == "shared_data" for definition in DEFINITIONS)
