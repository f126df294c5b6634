"""The charts as the pages draw them on the demo org (issue #17), read from the Vega-Lite
specs and Arrow datasets Streamlit sends: the forecast team picker, the stall heatmap, the
waterfall, immature Opp → Won, the quarter in progress and cost per opportunity."""

from __future__ import annotations

import io
import json

import pyarrow as pa


def _open(app, page: str, **query):
    at = app(**query).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _charts(at) -> list[tuple[dict, list[dict]]]:
    """Each drawn chart's spec and the rows of all its datasets."""
    found = []
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        rows = [
            row
            for d in element.proto.datasets
            for row in pa.ipc.open_stream(io.BytesIO(d.data.data)).read_all().to_pylist()
        ]
        found.append((spec, rows))
    return found


def _chart_with(at, text: str) -> tuple[dict, list[dict]]:
    """The one chart whose spec mentions `text` (a field or a title)."""
    (found,) = [(spec, rows) for spec, rows in _charts(at) if text in json.dumps(spec)]
    return found


def _color_domain(spec: dict) -> list[str]:
    layers = spec.get("layer", [spec])
    return next(layer["encoding"]["color"]["scale"]["domain"] for layer in layers)


def test_forecast_chart_shows_all_teams_with_its_line_then_one_team(demo_store, app):
    at = _open(app, "pages/forecast.py")
    assert at.selectbox(key="fva_team").value == "All teams"
    spec, rows = _chart_with(at, "Locked call")
    assert {r["team"] for r in rows} == {"All teams"}
    assert _color_domain(spec) == ["All teams"]  # the legend entry has its line
    # The All teams line is the WAPE table's Σ of the teams' calls and actuals.
    wape = next(df.value for df in at.dataframe if "teams_judged" in df.value.columns)
    wape = wape.set_index("period")
    q3 = {r["measure"]: r["amount"] for r in rows if r["period"] == "2026-Q3"}
    assert q3 == {"Locked call": wape.loc["2026-Q3", "forecast"],
                  "Actual": wape.loc["2026-Q3", "actual"]}  # fmt: skip

    at.selectbox(key="fva_team").set_value("EMEA").run()
    spec, rows = _chart_with(at, "Locked call")
    assert {r["team"] for r in rows} == {"EMEA"} and _color_domain(spec) == ["EMEA"]
    assert len(rows) == 16  # 8 quarters × (call, actual)


def test_forecast_chart_of_a_one_team_view_offers_just_that_team(demo_store, app):
    at = _open(app, "pages/forecast.py", teams="EMEA")
    assert at.selectbox(key="fva_team").options == ["EMEA"]
    spec, rows = _chart_with(at, "Locked call")
    assert {r["team"] for r in rows} == {"EMEA"} and _color_domain(spec) == ["EMEA"]


def test_pipeline_heatmap_and_waterfall_say_what_their_colors_mean(demo_store, app):
    at = _open(app, "pages/pipeline.py")
    spec, rows = _chart_with(at, "cell_label")
    rect, text = spec["layer"]
    assert rect["encoding"]["color"]["field"] == "stalled_share"
    assert text["encoding"]["color"]["condition"]["test"] == "datum.dark"
    emea_neg = next(r for r in rows if r["team"] == "EMEA" and r["stage"] == "Negotiation")
    # 24 of 54 open EMEA deals in Negotiation are stalled: 44%, the darkest cell
    assert emea_neg["cell_label"] == "44% · 24 of 54 stalled" and emea_neg["dark"]

    spec, rows = _chart_with(at, "bar_start")
    flows = {r["bucket"]: r["flow"] for r in rows}
    color = spec["layer"][0]["encoding"]["color"]["scale"]
    color_of = dict(zip(color["domain"], color["range"], strict=True))
    assert color_of[flows["won"]] != color_of[flows["lost"]]


def test_handoffs_immature_opp_to_won_and_the_quarter_in_progress(demo_store, app):
    at = _open(app, "pages/handoffs.py")  # 2026-Q4 as of 2026-11-16: immature
    _spec, rows = _chart_with(at, "rate_shown")
    won = [r for r in rows if r.get("from_step") == "opp"]
    assert won and all(r["rate_shown"] is None and r["ghost"] == 1.0 for r in won)
    assert any(r.get("note") == "immature\nnot yet\nmeasurable" for r in rows)
    table = next(df.value for df in at.dataframe if {"transition", "immature"} <= set(df.value))
    won_rows = table[table["transition"] == "Opp → Won"]
    assert len(won_rows) and won_rows["rate"].isna().all()  # blank, not 0%
    assert (won_rows["cohort"] > 0).all()  # the opps are there; they have not closed yet
    _spec, rows = _chart_with(at, "Marketing: MQLs")
    labels = [r["period_label"] for r in rows]
    assert labels == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4 (to date)"]


def test_cost_per_opportunity_is_not_drawn_for_a_team_view(demo_store, app):
    at = _open(app, "pages/campaigns.py", teams="APAC")
    assert not [s for s, _ in _charts(at) if "cost_per_opportunity" in json.dumps(s)]
    assert any("Not measured for a team view" in c.value for c in at.caption)
