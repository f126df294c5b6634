"""Data & refresh page: sources, schedules, run log, snapshots, refresh now from the page."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ops.audit import recent
from ops.runlog import recent_runs
from pages._text import as_text
from snapshots.store import Store


@pytest.fixture
def own_store(demo_store_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the demo store, so refreshes here do not touch the shared one."""
    folder = tmp_path / "data"
    shutil.copytree(demo_store_dir, folder)
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(folder))
    return folder


def _refresh_page(app):
    at = app().run()
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    return at


def test_lists_sources_schedule_runs_and_snapshots(own_store, app, monkeypatch):
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-na1-secret-token")
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://u:wh-secret-pw@db.example/crm")
    at = _refresh_page(app)
    assert at.title[0].value == "Data & refresh"
    sources = next(d.value for d in at.dataframe if {"source", "default"} <= set(d.value.columns))
    assert list(sources["source"]) == ["demo", "files", "hubspot", "salesforce", "warehouse"]
    assert not any("SF_PASSWORD=" in str(v) for v in sources["status"])
    assert "token present" in str(list(sources["status"])[2])
    assert not any("pat-na1-secret-token" in str(v) for v in sources["status"])
    assert "connection in the environment" in str(list(sources["status"])[4])
    assert not any("wh-secret-pw" in str(v) for v in sources["status"])
    assert any("No refresh recorded yet" in c.value for c in at.caption)
    assert at.button(key="refresh_now").label == "Refresh now"
    assert any("Times in Europe/Berlin" in as_text(c.value) for c in at.caption)
    assert any(m.value.startswith("**Manifest of**") for m in at.markdown)


def test_refresh_now_runs_in_the_background_and_logs_the_run(own_store, app):
    before = Store(own_store).current_id()
    at = _refresh_page(app)
    at.button(key="refresh_now").click().run()
    deadline = time.monotonic() + 120
    while not at.success and time.monotonic() < deadline:
        assert not at.error, at.error[0].value
        time.sleep(0.5)
        at.run()
    assert at.success and at.success[0].value.startswith("Stored snapshot")
    store = Store(own_store)
    assert store.current_id() != before and len(store.list()) == 2
    runs = recent_runs(own_store)
    assert runs["trigger"][0] == "page" and runs["outcome"][0] == "ok"
    events = recent(own_store, action="refresh")
    # newest first: the outcome (with the run id), then the start
    details = events["detail"].to_list()
    assert details[1] == "demo · started" and details[0].startswith("demo")
    assert "ok" in details[0] and events.height == 2


def test_pin_an_earlier_snapshot(own_store, app, tiny_org):
    from datetime import date

    from connectors.validate import validate_tables

    Store(own_store).write(
        validate_tables(tiny_org).frames, source="test", data_as_of=date(2026, 3, 1)
    )
    at = _refresh_page(app)
    at.session_state["snapshot_list"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    older = Store(own_store).list()[1].id
    assert any(older in m.value for m in at.markdown)
    at.button(key="pin_snapshot").click().run()
    assert not at.exception
    assert at.session_state["pinned_snapshot"] == older


# --- The answer: the data's freshness at a glance -------------------------------------------


def _rows(snapshot) -> int:
    return sum(t["rows"] for t in snapshot.manifest["tables"].values())


def test_the_answer_shows_the_snapshots_day_and_rows_with_the_change(two_snapshots, app):
    from streamlit.proto.Metric_pb2 import Metric

    at = _refresh_page(app)
    cards = {m.label: m for m in at.metric}
    newer, older = Store(two_snapshots).list()  # newest first: 2026-11-23, then 2026-11-16
    assert cards["Data as of"].value == "2026-11-23"
    assert cards["Last refresh"].value == "none yet"  # both were written, not refreshed
    # the demo org of another seed and a week later holds another number of rows
    change = _rows(newer) - _rows(older)
    assert change != 0
    rows = cards["Rows in the snapshot"]
    assert rows.value == f"{_rows(newer):,}"
    assert rows.proto.delta == f"{change:+,} since last snapshot"
    up = Metric.MetricDirection.UP if change > 0 else Metric.MetricDirection.DOWN
    # more rows is neither good nor bad news: the arrow, in grey
    assert (rows.proto.direction, rows.proto.color) == (up, Metric.MetricColor.GRAY)


def test_a_first_snapshot_has_no_arrow(own_store, app):
    from streamlit.proto.Metric_pb2 import Metric

    at = _refresh_page(app)
    rows = {m.label: m for m in at.metric}["Rows in the snapshot"]
    assert rows.value == f"{_rows(Store(own_store).current()):,}"
    assert rows.proto.direction == Metric.MetricDirection.NONE and not rows.proto.delta
