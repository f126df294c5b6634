"""The Data trust page on the demo org: two counts side by side, quality, freshness, definitions."""

from __future__ import annotations

from scoring.definitions import registry


def _open(app, **query):
    at = app(**query).run()
    at.switch_page("pages/data_trust.py").run()
    assert not at.exception
    return at


def _frame(at, key):
    return next(df.value for df in at.dataframe if df.key == key)


def _unkeyed(at, *columns):
    return [df.value for df in at.dataframe if df.key is None and set(columns) <= set(df.value)]


def _select(at, key, row):
    at.session_state[key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def test_renders_reconciliations_quality_freshness_and_definitions(demo_store, app):
    at = _open(app)
    assert at.title[0].value == "Data trust"
    metrics = {m.label: m.value for m in at.metric}
    assert 0 <= int(metrics["Data-quality score"]) <= 100
    assert metrics["Tables not provided"] == "0"
    recon = _frame(at, "reconciliations_table")
    assert len(recon) == 5 and {"side_a_value", "side_b_value", "gap", "records"} <= set(recon)
    checks = _frame(at, "quality_table")
    assert len(checks) == 13
    # the impossible-value checks, with names a reader understands
    impossible = checks.set_index("check_id").loc[
        ["opp_close_before_created", "opp_negative_amount", "opp_created_in_future",
         "lead_created_in_future"], "description"
    ]  # fmt: skip
    assert impossible["opp_close_before_created"].startswith(
        "Opportunities whose close date is before the day they were created"
    )
    assert impossible["lead_created_in_future"] == "Leads created after the as-of day"
    (fresh,) = _unkeyed(at, "days_since_latest")
    assert len(fresh) == 10 and (fresh["status"] == "ok").all()
    assert fresh["refreshed_at"].notna().all()  # the snapshot manifest's created_at
    definitions = _unkeyed(at, "formula", "owner")
    assert sum(len(d) for d in definitions) == len(registry())
    assert len(at.get("vega_lite_chart")) == 3  # diff records, quality checks, skip rate


def test_marketing_sourced_pipeline_disagrees_on_records_in_both_directions(demo_store, app):
    at = _open(app)
    recon = _frame(at, "reconciliations_table")
    row = int(recon.index[recon["id"] == "reconcile.marketing_sourced_pipeline.count"][0])
    assert recon.loc[row, "records"] >= 20  # planted: many records disagree
    at = _select(at, "reconciliations_table", row)
    (rows,) = _unkeyed(at, "in_marketing_count", "in_sales_count")
    assert len(rows) == recon.loc[row, "records"]
    assert set(rows["diff"]) == {"marketing only", "sales only"}  # both directions
    assert any("records** counted differently" in c.value for c in at.caption)


def test_quality_and_stage_trust_drill_downs(demo_store, app):
    at = _open(app)
    checks = _frame(at, "quality_table")
    row = int(checks.index[checks["check_id"] == "open_past_close_date"][0])
    at = _select(at, "quality_table", row)
    (failing,) = _unkeyed(at, "opp_id", "close_date", "is_closed")
    assert len(failing) == checks.loc[row, "failing"] and not failing["is_closed"].any()
    trust = _frame(at, "stage_trust_table")
    row = int(trust.index[trust["team"] == "APAC"][0])
    at = _select(at, "stage_trust_table", row)
    (flags,) = _unkeyed(at, "kpi", "events")
    assert set(flags["team"]) == {"APAC"}
    stale = flags[flags["kpi"] == "stale_close_dates"]
    assert len(stale) == trust.loc[row, "stale_close_dates"]


def test_definition_search_filters_the_registry(demo_store, app):
    at = _open(app)
    at.text_input(key="definitions_search").set_value("win rate").run()
    ids = [i for d in _unkeyed(at, "formula", "owner") for i in d["id"]]
    assert "win_rate.count" in ids and "win_rate.cohort" in ids
    assert "cost_per_mql" not in ids


def test_period_filter_changes_the_reconciliation(demo_store, app):
    q4 = _frame(_open(app), "reconciliations_table")["side_a_value"].tolist()
    at = _open(app, period="2026-Q2")
    assert _frame(at, "reconciliations_table")["side_a_value"].tolist() != q4


def test_tiny_org_shows_missing_tables(tiny_store, app):
    at = _open(app)
    (fresh,) = _unkeyed(at, "days_since_latest")
    missing = set(fresh.loc[fresh["status"] == "not available", "table"])
    assert {"campaigns", "campaign_members", "lead_history"} <= missing
    assert {m.label: m.value for m in at.metric}["Tables not provided"] == str(len(missing))


def test_stage_trust_is_not_measured_on_a_derived_history(data_dir, tiny_org, app):
    # A files export without a history file: the connector derived one row per deal. Skips,
    # backward moves, reopens and close-date churn never happened on record, so they are
    # empty with the reason, not 0 %; stale close dates (current fields) are still counted.
    from datetime import date

    from connectors.validate import validate_tables
    from snapshots.store import Store

    frames = validate_tables(tiny_org).frames
    origin = {"stage_history": "derived: no history file, so each deal is open from creation"}
    Store(data_dir).write(
        frames, source="files", data_as_of=date(2026, 3, 1), extra={"detail": {"origin": origin}}
    )
    at = _open(app)
    trust = _frame(at, "stage_trust_table")
    for column in ("stage_skip_rate", "stage_regression_rate", "reopened_deals",
                   "close_date_churn"):  # fmt: skip
        assert trust[column].isna().all(), column
    assert trust["stale_close_dates"].notna().all()
    from pages._text import as_text

    assert any(
        "not measured: the source has no recorded stage history" in as_text(i.value)
        for i in at.info
    )
