"""Charts whose color means what the label says (issue #17): the Vega-Lite specs of the
Pipeline flow and Forecast charts, built from small hand-made frames."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pages import _changes_charts
from reports import pipeline_charts as charts
from reports.colors import team_scale

TEAMS = ["APAC", "EMEA", "NA"]


def _datasets(spec: dict) -> list[list[dict]]:
    return list(spec["datasets"].values())


def _layer_with(spec: dict, mark: str) -> dict:
    (layer,) = [
        layer
        for layer in spec["layer"]
        if (layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"]) == mark
    ]
    return layer


def _rows_of(spec: dict, layer: dict) -> list[dict]:
    return spec["datasets"][layer["data"]["name"]] if "data" in layer else _datasets(spec)[0]


# ---------------------------------------------------------------- waterfall


def _bridge() -> pl.DataFrame:
    # start 100 + created 20 + pulled in 10 + increased 5 − decreased 15 − pushed out 10
    # − won 30 − lost 20 = 60 = end
    return pl.DataFrame(
        {
            "team": ["APAC"] * 9,
            "bucket": list(charts.BUCKET_LABELS),
            "amount": [100.0, 20.0, 10.0, 5.0, -15.0, -10.0, -30.0, -20.0, 60.0],
            "deals": [5, 2, 1, 1, 2, 1, 2, 3, 4],
        }
    )


def test_waterfall_won_has_its_own_color_never_the_loss_color():
    spec = charts.waterfall_chart(_bridge()).to_dict()
    color = _layer_with(spec, "bar")["encoding"]["color"]
    scale = dict(zip(color["scale"]["domain"], color["scale"]["range"], strict=True))
    loss = scale[charts.TAKES_AWAY]
    assert scale[charts.WON] != loss
    assert scale[charts.WON] not in (scale[charts.TOTAL], loss)
    # The legend names what each color means, with a title.
    assert color["title"] == "Bar" and color.get("legend") is not None
    assert "outcome" in charts.WON.lower() and "lost" in charts.TAKES_AWAY.lower()
    # Each bucket is drawn in the color its meaning says: won blue, lost and pushed out red.
    rows = {r["bucket"]: r for r in _datasets(spec)[0]}
    assert rows["won"]["flow"] == charts.WON and rows["won"]["label"] == "Won (closed)"
    assert {rows[b]["flow"] for b in ("decreased", "pushed_out", "lost")} == {charts.TAKES_AWAY}
    assert {rows[b]["flow"] for b in ("created", "pulled_in", "increased")} == {charts.ADDS}


# ---------------------------------------------------------------- stall heatmap


def _stalls() -> pl.DataFrame:
    # EMEA Neg: 24 of 54 stalled = 0.444 (the top share → scale 0..0.5; 0.444 ≥ 0.65 × 0.5
    # = 0.325: dark cell, white text). APAC Neg: 1 of 21 = 0.048 (light, dark text).
    # NA Neg: no open deals → no share, "no open deals".
    return pl.DataFrame(
        {
            "team": ["All teams", "APAC", "EMEA", "NA"],
            "stage": ["Neg"] * 4,
            "open_deals": [75, 21, 54, 0],
            "stalled_count": [25, 1, 24, 0],
            "stalled_share": [25 / 75, 1 / 21, 24 / 54, None],
            "stalled_amount": [9.0, 1.0, 8.0, 0.0],
            "median_age_days": [10.0, 4.0, 30.0, None],
            "company_median_age_days": [10.0, 10.0, 10.0, 10.0],
            "company_stalled_share": [1 / 3] * 4,
            "age_vs_company": [1.0, 0.4, 3.0, None],
        }
    )


def test_stall_heatmap_colors_and_labels_the_same_figure():
    spec = charts.stall_heatmap(_stalls(), stage_order=["Neg"]).to_dict()
    rect, text = _layer_with(spec, "rect"), _layer_with(spec, "text")
    assert rect["encoding"]["color"]["field"] == "stalled_share"
    assert rect["encoding"]["color"]["title"] == "Stalled share of open deals"
    assert rect["encoding"]["color"]["legend"]["format"] == "~%"
    assert rect["encoding"]["color"]["scale"]["domain"] == [0.0, 0.5]  # 0.444 rounded up
    labels = {r["team"]: r["cell_label"] for r in _datasets(spec)[0]}
    assert labels == {
        "APAC": "5% · 1 of 21 stalled",  # 1 / 21 = 0.048
        "EMEA": "44% · 24 of 54 stalled",
        "NA": "no open deals",
    }
    assert text["encoding"]["text"]["field"] == "cell_label"


def test_stall_heatmap_text_is_light_on_dark_cells():
    spec = charts.stall_heatmap(_stalls(), stage_order=["Neg"]).to_dict()
    color = _layer_with(spec, "text")["encoding"]["color"]
    assert color["condition"] == {"test": "datum.dark", "value": "white"}
    assert color["value"] == "#111111"
    dark = {r["team"]: r["dark"] for r in _datasets(spec)[0]}
    assert dark == {"APAC": False, "EMEA": True, "NA": False}


def test_category_flow_text_is_light_on_dark_cells():
    steps = pl.Enum(["pipeline", "commit", "won"])
    transitions = pl.DataFrame(
        {
            "team": ["APAC"] * 2,
            "from": ["pipeline", "commit"],
            "to": ["commit", "won"],
            "deals": [1, 3],
            "amount": [10.0, 100.0],  # top 100: 100 ≥ 70 is dark, 10 is not
            "amount_since": [10.0, 90.0],
        },
        schema_overrides={"from": steps, "to": steps},
    )
    spec = _changes_charts.transition_chart(transitions, team="APAC").to_dict()
    color = _layer_with(spec, "text")["encoding"]["color"]
    assert color["condition"] == {"test": "datum.dark", "value": "white"}
    dark = {(r["from"], r["to"]): r["dark"] for r in _datasets(spec)[0]}
    assert dark[("Commit", "Won")] and not dark[("Pipeline", "Commit")]
    assert not any(dark[k] for k in dark if "Total" in k[0] or "Total" in k[1])  # grey margins


# ---------------------------------------------------------------- forecast


def _accuracy() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "team": ["APAC", "APAC", "EMEA", "EMEA"],
            "period": ["2026-Q3", "2026-Q4", "2026-Q3", "2026-Q4"],
            "forecast": [80.0, 90.0, 50.0, 60.0],
            "actual": [100.0, 10.0, 40.0, 5.0],
            "accuracy": [0.8, None, 0.75, None],
            "bias": [-0.2, None, 0.25, None],
            "is_complete": [True, False, True, False],
        }
    )


def _wape() -> pl.DataFrame:
    # Σ calls: Q3 80 + 50 = 130, Q4 90 + 60 = 150; Σ actual: Q3 140, Q4 15
    return pl.DataFrame(
        {
            "period": ["2026-Q3", "2026-Q4"],
            "forecast": [130.0, 150.0],
            "actual": [140.0, 15.0],
            "is_complete": [True, False],
        }
    )


def _legend_teams(spec: dict) -> list[str]:
    return spec["layer"][0]["encoding"]["color"]["scale"]["domain"]


def test_forecast_all_teams_draws_the_company_line_from_the_wape_sums():
    spec = charts.forecast_vs_actual_chart(
        _accuracy(), teams=TEAMS, team="All teams", company=_wape()
    ).to_dict()
    (rows,) = _datasets(spec)
    assert {r["team"] for r in rows} == {"All teams"}
    got = {(r["period"], r["measure"]): r["amount"] for r in rows}
    assert got == {
        ("2026-Q3", "Locked call"): 130.0,
        ("2026-Q3", "Actual"): 140.0,
        ("2026-Q4", "Locked call"): 150.0,
        ("2026-Q4", "Actual"): 15.0,
    }
    assert _legend_teams(spec) == ["All teams"]  # the legend entry has its line


def test_forecast_one_team_is_one_call_and_one_actual_line():
    spec = charts.forecast_vs_actual_chart(_accuracy(), teams=TEAMS, team="EMEA").to_dict()
    (rows,) = _datasets(spec)
    assert {r["team"] for r in rows} == {"EMEA"} and len(rows) == 4  # 2 periods × 2 lines
    assert _legend_teams(spec) == ["EMEA"]


def test_forecast_without_a_company_frame_lists_no_all_teams_entry():
    spec = charts.forecast_vs_actual_chart(_accuracy(), teams=TEAMS).to_dict()
    assert _legend_teams(spec) == ["APAC", "EMEA"]  # NA has no rows, All teams no line
    empty = charts.forecast_vs_actual_chart(_accuracy(), teams=TEAMS, team="All teams")
    assert _datasets(empty.to_dict()) == [[]] and _legend_teams(empty.to_dict()) == []


def test_trend_and_week_charts_list_only_the_teams_they_draw():
    spec = charts.trend_chart(_accuracy(), field="bias", title="Bias", teams=TEAMS).to_dict()
    line = _layer_with(spec, "line")
    assert line["encoding"]["color"]["scale"]["domain"] == ["APAC", "EMEA"]
    variance = _accuracy().with_columns(category=pl.lit("commit"), week=pl.lit(3))
    week = charts.week_accuracy_chart(
        variance, period="2026-Q3", category="commit", lock_week=3, teams=TEAMS
    ).to_dict()
    assert _layer_with(week, "line")["encoding"]["color"]["scale"]["domain"] == ["APAC", "EMEA"]


@settings(max_examples=40, deadline=None)
@given(present=st.sets(st.sampled_from([*TEAMS, "All teams"])))
def test_team_colors_do_not_move_when_teams_are_left_out(present):
    full = team_scale(TEAMS).to_dict()
    color_of = dict(zip(full["domain"], full["range"], strict=True))
    shown = team_scale(TEAMS, present).to_dict()
    assert set(shown["domain"]) == present
    assert all(color_of[t] == c for t, c in zip(shown["domain"], shown["range"], strict=True))


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(range(4)))
def test_stall_cells_do_not_depend_on_row_order(order):
    def cells(frame: pl.DataFrame) -> pl.DataFrame:
        return charts.stall_cells(frame).sort("team", "stage")

    assert cells(_stalls()[list(order)]).equals(cells(_stalls()))


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(range(9)))
def test_waterfall_colors_depend_on_the_bucket_not_its_row(order):
    # The floating bars need bridge order (scoring sorts it); the meaning of a bucket's
    # color must not: shuffled, each bucket keeps its flow.
    flows = dict(charts.waterfall_bars(_bridge()).select("bucket", "flow").iter_rows())
    shuffled = charts.waterfall_bars(_bridge()[list(order)])
    assert dict(shuffled.select("bucket", "flow").iter_rows()) == flows
