"""The Forecast page on the demo org: judged period, calls vs actuals, bias trend, week
accuracy, WAPE, the miss, slipped deals and late risk, filters and drill-downs; and the
tiny org, which has no forecasts table."""

from __future__ import annotations

import pytest

from pages._text import as_text

PAGE = "pages/forecast.py"


def _run(app, state: dict | None = None, **query):
    at = app(**query)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _table(at, column: str):
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with {column}"
    return found[0]


def _select(row: int) -> dict:
    return {"selection": {"rows": [row], "columns": [], "cells": []}}


@pytest.fixture
def page(demo_store, app):
    return _run(app)


def test_renders_judged_period_charts_tables_and_downloads(page):
    assert page.title[0].value == "Forecast"
    judged = [m.value for m in page.markdown if m.value.startswith("**Judged period")]
    assert judged and "2026-Q3" in judged[0] and "2026-Q4 is still in progress" in judged[0]
    assert "**commit**" in judged[0] and "**week 3**" in judged[0]
    heads = [s.value for s in page.subheader]
    assert heads == [
        "This quarter's call — 2026-Q4",
        "Forecast vs actual by team", "Accuracy and bias trend",
        "Accuracy by week of period — 2026-Q3", "WAPE by period",
        "Where the 2026-Q3 miss came from", "Slipped deals — 2026-Q3",
        "Late-surfaced risk — 2026-Q3",
    ]  # fmt: skip
    assert len(page.get("vega_lite_chart")) == 7  # the call's trend, then six forecast charts
    assert {"pushes", "push_days", "stage_now"} <= set(_table(page, "push_days").columns)
    assert {"reason", "surfaced_date", "days_before_period_end", "late"} <= set(
        _table(page, "reason").columns
    )
    wape = next(m for m in page.metric if m.label.startswith("WAPE"))
    assert wape.label == "WAPE 2026-Q3" and wape.value.endswith("%")
    assert len(page.get("download_button")) >= 8


def test_planted_bias_shows_in_the_trend(page):
    trend = _table(page, "pattern").set_index("team")
    # APAC forecasts ~25% low every quarter; NA Mid-Market ~30% high.
    assert trend.loc["APAC", "pattern"] == "sandbagging"
    assert -0.3 < trend.loc["APAC", "mean_bias"] < -0.2
    assert trend.loc["NA Mid-Market", "pattern"] == "over_forecasting"
    assert 0.25 < trend.loc["NA Mid-Market", "mean_bias"] < 0.35
    assert all(b < 0 for b in trend.loc["APAC", "bias"])


def test_pooled_bias_shows_the_teams_spread(page):
    # Demo 2026-Q3: pooled bias about −2 %, hiding APAC about −25 % and NA Mid-Market +28 %.
    assert any(m.label == "Pooled bias 2026-Q3" for m in page.metric)
    (spread,) = [as_text(c.value) for c in page.caption if c.value.startswith("Teams from")]
    assert (
        "(APAC)" in spread and "(NA Mid-Market)" in spread and "off by more than ±10.0%" in spread
    )
    wape = _table(page, "off_share").set_index("period")
    assert wape.loc["2026-Q3", "bias_min_team"] == "APAC"
    assert wape.loc["2026-Q3", "bias_max_team"] == "NA Mid-Market"


def test_mid_market_pushes_and_downgrades_late(page):
    slips = _table(page, "pushes_per_deal").set_index("team")
    assert slips["pushes_per_deal"].idxmax() == "NA Mid-Market"
    late = _table(page, "reason")
    assert "downgraded" in set(late[late["team"] == "NA Mid-Market"]["reason"])


def test_team_filter_changes_the_numbers(demo_store, app):
    everyone = _run(app)
    at = _run(app, teams="APAC")
    assert set(_table(at, "push_days")["team"]) == {"APAC"}
    assert list(_table(at, "pattern")["team"]) == ["APAC"]
    wape = {m.label: m.value for m in at.metric}["WAPE 2026-Q3"]
    assert wape != {m.label: m.value for m in everyone.metric}["WAPE 2026-Q3"]  # APAC alone


def test_complete_period_is_judged_itself(demo_store, app):
    at = _run(app, {"period": "2026-Q2"})
    judged = [m.value for m in at.markdown if m.value.startswith("**Judged period")]
    assert "2026-Q2" in judged[0] and "in progress" not in judged[0]
    assert "Slipped deals — 2026-Q2" in [s.value for s in at.subheader]


def test_selecting_a_miss_row_lists_the_deals_behind_it(page):
    miss = _table(page, "committed_at_lock")
    row = int(((miss["team"] == "NA Mid-Market") & (miss["sourced_by"] == "(all)")).argmax())
    page.session_state["miss"] = _select(row)
    page.run()
    assert not page.exception
    deals = _table(page, "contribution")
    assert set(deals["team"]) == {"NA Mid-Market"}
    # the deal-level contributions + the residual add up to the team's miss
    team = miss.iloc[row]
    assert deals["contribution"].sum() + team["residual"] == pytest.approx(team["miss"])


def test_selecting_a_team_lists_its_slipped_and_late_deals(page):
    summary = _table(page, "slip_rate")
    row = int((summary["team"] == "EMEA").argmax())
    page.session_state["slip_summary"] = _select(row)
    page.session_state["late_summary"] = _select(row)
    page.run()
    slipped = _table(page, "push_days")
    assert set(slipped["team"]) == {"EMEA"}
    assert len(slipped) == int(summary.iloc[row]["slipped_count"])
    late_summary = _table(page, "late_share")
    assert len(_table(page, "reason")) == int(late_summary.iloc[row]["risk_count"])


def test_tiny_org_says_forecasts_are_not_available(tiny_store, app):
    at = _run(app)
    assert any("forecast" in i.value.lower() for i in at.info)
    # only the call's weekly trend, which comes from the deals and their history
    assert len(at.get("vega_lite_chart")) == 1
    # slipped deals and late risk come from stage history, so they still render
    heads = [s.value for s in at.subheader]
    assert any(h.startswith("Slipped deals — ") for h in heads)
    assert any(h.startswith("Late-surfaced risk — ") for h in heads)


def test_a_quarter_ending_on_the_as_of_day_is_judged_not_in_progress(demo_store, app):
    # As of Sep 30, 2026 (the end of that day), 2026-Q3 is over: it is the judged quarter.
    at = _run(app, period="2026-Q3", as_of="2026-09-30")
    judged = [m.value for m in at.markdown if m.value.startswith("**Judged period")]
    assert judged[0].startswith("**Judged period: 2026-Q3**"), judged
    assert "in progress" not in judged[0]
    # one day earlier it is still running: the quarter before is judged
    at = _run(app, period="2026-Q3", as_of="2026-09-29")
    judged = [m.value for m in at.markdown if m.value.startswith("**Judged period")]
    assert judged[0].startswith("**Judged period: 2026-Q2**") and "in progress" in judged[0]


def test_a_fiscal_year_judges_its_latest_complete_quarter(demo_store, app):
    at = _run(app, period="FY2026")  # as of 2026-11-16: Q3 is the latest complete quarter
    judged = [m.value for m in at.markdown if m.value.startswith("**Judged period")]
    assert judged[0].startswith("**Judged period: 2026-Q3**")
    assert "in the FY2026: forecasts are made and judged per quarter" in judged[0]
    assert "Slipped deals — 2026-Q3" in [s.value for s in at.subheader]


def test_slips_and_late_risk_are_not_measured_on_a_derived_history(data_dir, app):
    # Closed deals only with the files connector's derived history (tests/closed_only.py):
    # it cannot record close-date pushes nor category changes. Before: "0" and "0 of 0".
    from tests.closed_only import write_store

    write_store(data_dir)
    at = _run(app)
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    reason = (
        "not measured: the source has no recorded stage history (a derived one-row-per-deal "
        "history cannot date stage changes)"
    )
    assert metrics["Slipped deals 2026-Q3"] == ("—", reason)
    assert metrics["Late-surfaced risk 2026-Q3"] == ("—", reason)
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Slips are not measured: the source has no recorded") for w in warnings)
    assert any(w.startswith("Late risk is not measured") for w in warnings)


# --- This quarter's call ------------------------------------------------------------------


def _demo_call(**kwargs):
    """The call computed straight from the demo org the store holds (as of 2026-11-16)."""
    from connectors.demo import generate_demo_org
    from model.params import ForecastParams
    from model.tables import Tables
    from scoring import call
    from tests.app.conftest import DEMO_AS_OF

    tables = Tables.from_frames(generate_demo_org(as_of=DEMO_AS_OF))
    return call, tables, {"as_of": DEMO_AS_OF, **kwargs}, ForecastParams()


def test_the_call_heads_the_page_with_the_scoring_numbers(page):
    from reports.pipeline_charts import call_table

    assert page.subheader[0].value == "This quarter's call — 2026-Q4"
    shown = _table(page, "submission")
    assert list(shown["team"]) == ["APAC", "EMEA", "NA Enterprise", "NA Mid-Market", "All teams"]
    call, tables, kw, params = _demo_call()
    expected = call_table(call.call(tables, params=params, **kw)).to_pandas()
    for column in ("won", "commit", "best_case", "pipeline", "quota", "gap", "submission"):
        assert list(shown[column]) == list(expected[column]), column
    assert list(shown["coverage"]) == pytest.approx(list(expected["coverage"]))
    assert all(str(v).startswith("$") for v in shown["won"])  # money as people read it
    # the headline names the total, formatted
    total = [m.value for m in page.markdown if m.value.startswith("**All teams**")]
    assert total and "quota: gap" in total[0] and "×" in total[0]


def test_the_call_shows_stale_reps_and_the_managers_adjustment(page):
    badges = [m.value for m in page.markdown if "Stale:" in m.value]
    assert badges, [m.value for m in page.markdown]
    assert "2 submissions not updated" in as_text(badges[0]) and "21 days" in badges[0]
    roll = _table(page, "layer")
    assert set(roll["team"]) == {"EMEA", "NA Enterprise"}
    emea = roll[roll["team"] == "EMEA"]
    assert list(emea["layer"]) == ["owner"] * 3 + ["manager adjustment", "team call"]
    assert all(str(v).startswith("$") for v in emea["commit"])
    subs = _table(page, "age_days")
    assert int(subs["stale"].sum()) == 2
    assert len(page.get("vega_lite_chart")) == 7  # the call's trend is drawn


def test_a_team_view_shows_the_company_row_of_that_team(demo_store, app):
    everyone = _table(_run(app), "submission").set_index("team")
    at = _run(app, teams="EMEA")
    mine = _table(at, "submission").set_index("team")
    # one team: its row only (a total of one team would repeat it; model.team_rows)
    assert list(mine.index) == ["EMEA"]
    assert mine.loc["EMEA"].to_dict() == everyone.loc["EMEA"].to_dict()
    assert any(m.value.startswith("**EMEA**: won") for m in at.markdown)
    # the selectbox of the trend lists the view's rows, the total first
    assert at.selectbox(key="call_team").options == ["All teams", "EMEA"]


def test_the_trend_follows_the_chosen_team(page):
    page.selectbox(key="call_team").set_value("NA Mid-Market").run()
    assert not page.exception
    assert page.selectbox(key="call_team").value == "NA Mid-Market"


def test_the_call_on_a_derived_history_says_the_trend_is_not_measured(data_dir, app):
    from tests.closed_only import write_store

    write_store(data_dir)
    at = _run(app)
    warnings = [w.value for w in at.warning]
    assert any(
        w.startswith("The weekly trend is not measured: the source has no recorded")
        for w in warnings
    )
    shown = _table(at, "submission")
    # no quotas and no forecasts in that export: not measured, never $0
    assert set(shown["gap"]) == {"not measured"}
    assert set(shown["submission"]) == {"no submission"}
    assert all(n.startswith("not measured: quotas not available") for n in shown["notes"])


# --- The answer: change arrows and chart drill-downs from a link ------------------------------


def test_the_judged_calls_accuracy_has_an_arrow_since_the_last_snapshot(two_snapshots, app):
    from streamlit.proto.Metric_pb2 import Metric

    at = _run(app, as_of="2026-11-16")
    card = next(m.proto for m in at.metric if m.label == "Forecast accuracy 2026-Q3")
    # the later snapshot (another seed) judges Q3 on other numbers: a change, green when up
    assert card.delta.endswith(" pts since last snapshot") and card.delta[0] in "+-"
    up = card.delta.startswith("+")
    expected = (Metric.MetricDirection.UP, Metric.MetricColor.GREEN) if up else (
        Metric.MetricDirection.DOWN, Metric.MetricColor.RED)  # fmt: skip
    assert (card.direction, card.color) == expected
    assert "green is better" in card.help


def test_the_accuracy_has_no_arrow_on_a_first_snapshot(page):
    from streamlit.proto.Metric_pb2 import Metric

    card = next(m.proto for m in page.metric if m.label == "Forecast accuracy 2026-Q3")
    assert card.direction == Metric.MetricDirection.NONE and not card.delta
    # 1 − WAPE of 2026-Q3, the figure the WAPE card shows beside it
    wape = {m.label: m.value for m in page.metric}["WAPE 2026-Q3"]
    assert float(card.body.rstrip("%")) == pytest.approx(100 - float(wape.rstrip("%")), abs=0.11)


def test_a_miss_bar_in_the_link_lists_the_deals_behind_the_teams_miss(demo_store, app):
    plain = _run(app)  # nothing picked: a hint, no deal list
    assert not [d for d in plain.dataframe if "contribution" in d.value.columns]
    at = _run(app, drill="miss_chart:NA Mid-Market")
    deals = _table(at, "contribution")
    assert len(deals) > 0 and set(deals["team"]) == {"NA Mid-Market"}
    miss = _table(at, "committed_at_lock")
    team = miss[(miss["team"] == "NA Mid-Market") & (miss["sourced_by"] == "(all)")].iloc[0]
    # the deals' contributions and the residual add up to the team's miss
    assert deals["contribution"].sum() + team["residual"] == pytest.approx(team["miss"])
    heading = f"**Deals behind the 2026-Q3 miss — NA Mid-Market: {len(deals)}**"
    assert any(as_text(m.value) == heading for m in at.markdown)


def test_a_forecast_point_in_the_link_lists_the_teams_slipped_deals(demo_store, app):
    at = _run(app, drill="fva_chart:EMEA")
    summary = _table(at, "slip_rate").set_index("team")
    slipped = _table(at, "push_days")
    assert set(slipped["team"]) == {"EMEA"}
    assert len(slipped) == int(summary.loc["EMEA", "slipped_count"])
