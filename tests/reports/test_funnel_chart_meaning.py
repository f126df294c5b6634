"""Handoffs and Campaigns charts that say what is not yet measurable (issue #17): immature
Opp → Won, the quarter still in progress, campaigns without an opportunity, the funnel axis."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import funnel_charts as charts

STEPS = pl.Enum(["lead", "mql", "sal", "sql", "opp", "won"])


def _conversion(immature: bool) -> pl.DataFrame:
    # Web: MQL → SAL 3 of 4 (0.75); Opp → Won 0 of 30 (deals not yet closed) and Ads
    # Opp → Won 1 of 10 (0.1).
    return pl.DataFrame(
        {
            "source": ["Web", "Web", "Ads"],
            "from_step": ["mql", "opp", "opp"],
            "to_step": ["sal", "won", "won"],
            "cohort": [4, 30, 10],
            "converted": [3, 0, 1],
            "rate": [0.75, 0.0, 0.1],
            "median_days": [0.5, None, 40.0],
            "p90_days": [1.0, None, 60.0],
            "immature": [immature] * 3,
        },
        schema_overrides={"from_step": STEPS, "to_step": STEPS},
    )


def _layer(spec: dict, mark: str) -> list[dict]:
    def kind(layer: dict) -> str:
        return layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"]

    return [layer for layer in spec["layer"] if kind(layer) == mark]


def _rows(spec: dict, layer: dict | None = None) -> list[dict]:
    """The rows `layer` draws (its own data, else the chart's); no layer: the first layer's."""
    if layer is None and "data" not in spec:
        layer = spec["layer"][0]
    if layer is not None and "data" in layer:
        return spec["datasets"][layer["data"]["name"]]
    return spec["datasets"][spec["data"]["name"]]


def test_immature_opp_to_won_is_a_placeholder_not_a_zero_bar():
    spec = charts.conversion_chart(_conversion(immature=True), "source", None).to_dict()
    rows = {(r["source"], r["from_step"]): r for r in _rows(spec)}
    # Both Opp → Won bars (0% and 10% so far) become grey placeholders; MQL → SAL stays.
    assert rows[("Web", "opp")]["rate_shown"] is None and rows[("Web", "opp")]["ghost"] == 1.0
    assert rows[("Ads", "opp")]["rate_shown"] is None and rows[("Ads", "opp")]["not_yet"]
    assert rows[("Web", "mql")]["rate_shown"] == 0.75 and rows[("Web", "mql")]["ghost"] is None
    bars, ghost = _layer(spec, "bar")
    assert bars["encoding"]["y"]["field"] == "rate_shown"
    assert ghost["encoding"]["y"]["field"] == "ghost"
    assert ghost["mark"]["color"] == charts.NOT_YET_COLOR and ghost["mark"]["strokeDash"]
    (note,) = _layer(spec, "text")
    assert _rows(spec, note) == [
        {"transition": "Opp → Won", "note": "immature\nnot yet\nmeasurable", "y": 1.0}
    ]
    assert "not yet measurable" in spec["title"]["subtitle"]


def test_a_mature_cohort_draws_every_rate_even_zero():
    spec = charts.conversion_chart(_conversion(immature=False), "source", None).to_dict()
    rows = {(r["source"], r["from_step"]): r for r in _rows(spec)}
    assert rows[("Web", "opp")]["rate_shown"] == 0.0  # a measured 0%: no deal won
    assert not any(r["not_yet"] for r in rows.values())
    (note,) = _layer(spec, "text")
    assert _rows(spec, note) == [] and spec["title"]["subtitle"] == ""


def _conflict() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period": ["2026-Q3", "2026-Q4"],
            "is_complete": [True, False],
            "mqls": [1722, 895],
            "mql_to_sal": [0.67, 0.63],
            "marketing_conflict": [False, False],
        }
    )


def test_goal_conflict_marks_the_quarter_still_in_progress():
    spec = charts.goal_conflict_chart(_conflict(), "marketing").to_dict()
    assert [r["period_label"] for r in _rows(spec)] == ["2026-Q3", "2026-Q4 (to date)"]
    bars, points = _layer(spec, "bar")[0], _layer(spec, "point")[0]
    assert bars["encoding"]["x"]["field"] == "period_label"
    assert bars["encoding"]["opacity"]["condition"]["test"] == "datum.is_complete"
    assert bars["encoding"]["opacity"]["condition"]["value"] > bars["encoding"]["opacity"]["value"]
    assert points["encoding"]["fill"]["value"] == "white"  # hollow when in progress
    assert "2026-Q4 (to date): still in progress" in spec["title"]["subtitle"]
    # Without the column (an older frame) every period reads as complete.
    old = charts.goal_conflict_chart(_conflict().drop("is_complete"), "marketing").to_dict()
    assert [r["period_label"] for r in _rows(old)] == ["2026-Q3", "2026-Q4"]


def _funnel() -> pl.DataFrame:
    # C1: 12 000 / 3 opps = 4 000 per opp; C2: 5 000 / 10 = 500 (cheapest measured);
    # C3: 7 600 spent, no opportunity yet; C4: no cost recorded.
    return pl.DataFrame(
        {
            "campaign_id": ["C1", "C2", "C3", "C4"],
            "name": ["Spring", "Webinar", "Events", "Partner"],
            "channel": ["Ads", "Webinar", "Events", None],
            "cost": [12_000.0, 5_000.0, 7_600.0, None],
            "members": [300, 120, 50, 10],
            "mqls": [40, 30, 5, 2],
            "opportunities": [3, 10, 0, 1],
            "won": [1, 0, 0, 0],
            "won_amount": [20_000.0, 0.0, 0.0, 0.0],
            "cost_per_mql": [300.0, 166.7, 1520.0, None],
            "cost_per_opportunity": [4000.0, 500.0, None, None],
            "cost_per_won": [0.6, None, None, None],
        }
    )


def test_campaign_without_opportunities_is_listed_first_with_a_note():
    spec = charts.campaign_cost_chart(_funnel()).to_dict()
    bars, notes = _layer(spec, "bar")[0], _layer(spec, "text")[0]
    order = bars["encoding"]["y"]["sort"]
    # The unmeasured first (never at the cheap end), then dearest to cheapest.
    assert order == ["Events", "Partner", "Spring", "Webinar"]
    got = {r["campaign_id"]: r["note"] for r in _rows(spec)}
    assert got == {
        "C3": "no opportunities yet · $8k spent",
        "C4": "cost not recorded",
        "C1": None,
        "C2": None,
    }
    assert notes["transform"] == [{"filter": "datum.note != null"}]
    channels = {r["campaign_id"]: r["channel"] for r in _rows(spec)}
    assert channels["C4"] == "(no channel)"  # a legend entry that says so, not "null"
    assert notes["encoding"]["text"]["field"] == "note"


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(range(4)))
def test_campaign_cost_order_does_not_depend_on_row_order(order):
    shuffled = _funnel()[list(order)]
    assert charts.campaign_costs(shuffled)["campaign_id"].to_list() == ["C3", "C4", "C1", "C2"]


def test_campaign_funnel_axis_is_linear_and_every_bar_labelled():
    spec = charts.campaign_funnel_chart(_funnel()).to_dict()
    bars, counts = _layer(spec, "bar")[0], _layer(spec, "text")[0]
    assert "scale" not in bars["encoding"]["x"]  # linear, no symlog ticks "0, 300"
    assert bars["encoding"]["x"]["axis"]["format"] == ",~f"
    assert counts["encoding"]["text"] == {"field": "records", "format": ",", "type": "quantitative"}
    # C1: members 300, MQLs 40, opps 3, won 1 — one row per step, in funnel order
    c1 = [(r["step"], r["records"]) for r in _rows(spec) if r["campaign_id"] == "C1"]
    assert c1 == [("Members", 300), ("MQLs", 40), ("Opps", 3), ("Won", 1)]
