"""The Altair builders and helpers of the Handoffs, Campaigns and Data trust pages."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
from polars.testing import assert_frame_equal

from pages._widgets import team_scale
from reports import funnel_charts as charts
from scoring.definitions import MetricDefinition


def _conversion() -> pl.DataFrame:
    steps = pl.Enum(["lead", "mql", "sal", "sql", "opp", "won"])
    return pl.DataFrame(
        {
            "source": ["Web", "Web", "Ads"],
            "from_step": ["lead", "mql", "mql"],
            "to_step": ["mql", "sal", "sal"],
            "cohort": [10, 4, 2],
            "converted": [4, 3, 1],
            "rate": [0.4, 0.75, 0.5],
            "median_days": [1.0, 0.5, 2.0],
            "p90_days": [3.0, 1.0, 4.0],
            "immature": [True, True, True],
        },
        schema_overrides={"from_step": steps, "to_step": steps},
    )


def _pick(spec: dict) -> dict:
    params = spec.get("params") or [p for layer in spec["layer"] for p in layer.get("params", [])]
    (pick,) = [p for p in params if p["name"] == "pick"]
    return pick


def test_transitions_keep_step_keys_and_add_labels():
    out = charts.transitions(_conversion())
    assert out["from_step"].to_list() == ["lead", "mql", "mql"]  # drill-down keys stay raw
    assert out["transition"].to_list() == ["Lead → MQL", "MQL → SAL", "MQL → SAL"]
    assert charts.transition_order()[0] == "Lead → MQL" and len(charts.transition_order()) == 5


def test_conversion_chart_picks_step_and_group():
    spec = charts.conversion_chart(_conversion(), "source", None).to_dict()
    assert _pick(spec)["select"]["fields"] == ["from_step", "source"]
    bars = spec["layer"][0]
    assert bars["encoding"]["y"]["field"] == "rate_shown"
    assert bars["encoding"]["xOffset"]["field"] == "source"
    assert bars["encoding"]["x"]["sort"] == charts.transition_order()


def test_step_time_chart_layers_median_and_p90():
    spec = charts.step_time_chart(_conversion(), None, None).to_dict()
    fields = [layer["encoding"]["y"]["field"] for layer in spec["layer"]]
    assert fields == ["median_days", "p90_days"]


def test_extended_team_scale_keeps_the_shared_team_colors():
    base = team_scale(["EMEA", "APAC"]).to_dict()
    scale = charts.extended_team_scale(["EMEA", "APAC"], ["SDR", "APAC", "Marketing"]).to_dict()
    # APAC, EMEA keep their colors; Marketing and SDR follow; "All teams" stays grey and last
    assert scale["domain"] == ["APAC", "EMEA", "Marketing", "SDR", "All teams"]
    assert scale["range"][:2] == base["range"][:2] and scale["range"][-1] == base["range"][-1]
    assert len(set(scale["range"])) == 5


def test_channel_scale_puts_placeholders_last_in_grey():
    scale = charts.channel_scale(["Webinar", "(no source)", "Ads", "Webinar"]).to_dict()
    assert scale["domain"] == ["Ads", "Webinar", "(no source)"]
    assert scale["range"][:2] == list(charts.CHANNEL_PALETTE[:2])
    assert scale["range"][2] == "#bbbbbb"


def test_picked_prefers_the_chart_then_the_table_row():
    state = SimpleNamespace(selection={"pick": [{"source": "Ads", "from_step": "mql"}]})
    row = pl.DataFrame({"source": ["Web"], "from_step": ["lead"]})
    assert charts.picked(state, row, "source") == "Ads"
    assert charts.picked(SimpleNamespace(selection={"pick": {}}), row, "source") == "Web"
    assert charts.picked(None, None, "source") is None
    assert charts.picked(None, pl.DataFrame({"source": [None]}), "source") is None


def test_with_sla_target_applies_per_source_overrides_only_to_channels():
    frame = pl.DataFrame({"source": ["Ads", "Web"]})
    out = charts.with_sla_target(frame, "source", 24, {"Ads": 8.0})
    assert out["sla_hours"].to_list() == [8.0, 24.0]
    teams = charts.with_sla_target(pl.DataFrame({"team": ["SDR"]}), "team", 24, {"Ads": 8.0})
    assert teams["sla_hours"].to_list() == [24.0]


def test_sla_chart_flags_bars_over_the_target():
    frame = pl.DataFrame(
        {
            "source": ["Ads", "Web"], "mqls": [10, 10], "due": [10, 10], "met": [1, 9],
            "breached": [9, 1], "sla_compliance": [0.1, 0.9],
            "median_hours_to_touch": [80.0, 3.0], "p90_hours_to_touch": [200.0, 9.0],
            "sla_hours": [24.0, 24.0],
        }
    )  # fmt: skip
    spec = charts.sla_chart(frame, "source", None).to_dict()
    bars, target, text = spec["layer"]
    assert text["encoding"]["text"]["field"] == "compliance_label"
    assert bars["encoding"]["x"]["field"] == "median_hours_to_touch"
    assert target["encoding"]["x"]["field"] == "sla_hours"
    assert _pick(spec)["select"]["fields"] == ["source"]
    rows = next(iter(spec["datasets"].values()))
    assert [r["over_sla"] for r in rows] == [True, False]  # 80 h > 24 h; 3 h within
    assert [r["compliance_label"] for r in rows] == ["10% in SLA", "90% in SLA"]


def test_rate_and_sourcing_charts_pick_their_dimension():
    leak = pl.DataFrame({"team": ["SDR"], "mqls": [4], "leaked": [1], "leak_share": [0.25]})
    spec = charts.rate_chart(
        leak, "team", "leak_share", title="t", axis_title="a", scale=None, count="leaked",
        total="mqls",
    ).to_dict()  # fmt: skip
    assert _pick(spec)["select"]["fields"] == ["team"] and "scale" not in spec["encoding"]["color"]
    sourced = pl.DataFrame(
        {"sourced_by": ["sales"], "created": [1], "created_amount": [5.0], "won": [0],
         "won_amount": [0.0]}
    )  # fmt: skip
    spec = charts.sourced_chart(sourced, "sourced_by").to_dict()
    assert spec["transform"][0]["fold"] == ["created_amount", "won_amount"]
    assert _pick(spec)["select"]["fields"] == ["sourced_by"]


def test_goal_conflict_chart_colors_flagged_periods():
    frame = pl.DataFrame(
        {"period": ["Q1", "Q2"], "mqls": [10, 20], "mql_to_sal": [0.5, 0.3],
         "marketing_conflict": [False, True]}
    )  # fmt: skip
    spec = charts.goal_conflict_chart(frame, "marketing").to_dict()
    bars, line, _points = spec["layer"]
    assert bars["encoding"]["color"]["condition"]["test"] == "datum.marketing_conflict"
    assert line["encoding"]["y"]["field"] == "mql_to_sal"
    assert spec["resolve"]["scale"]["y"] == "independent"


def test_campaign_and_trust_charts_build():
    funnel = pl.DataFrame(
        {"campaign_id": ["C1"], "name": ["Spring"], "channel": ["Ads"], "cost": [100.0],
         "members": [10], "mqls": [5], "opportunities": [1], "won": [0],
         "cost_per_mql": [20.0], "cost_per_opportunity": [100.0], "cost_per_won": [None]}
    )  # fmt: skip
    assert _pick(charts.campaign_funnel_chart(funnel).to_dict())["select"]["fields"] == [
        "campaign_id"
    ]
    assert charts.campaign_cost_chart(funnel).to_dict()["layer"][0]["encoding"]["x"]["field"] == (
        "cost_per_opportunity"
    )
    checks = pl.DataFrame(
        {"check_id": ["a", "b"], "description": ["x", "y"], "severity": ["high", "low"],
         "available": [True, False], "failing": [1, None], "total": [4, None],
         "share": [0.25, None]}
    )  # fmt: skip
    spec = charts.quality_chart(checks).to_dict()
    assert [r["check_id"] for r in next(iter(spec["datasets"].values()))] == ["a"]  # available
    rows = pl.DataFrame({"diff": ["sales only"], "team": ["APAC"], "amount": [5.0]})
    spec = charts.reconciliation_diff_chart(rows, None).to_dict()
    assert spec["encoding"]["x"]["aggregate"] == "sum"


def _definition(id_: str, question: str, **kw) -> MetricDefinition:
    base = dict(name=id_.title(), formula="a / b", unit="ratio", grain="team",
                date_anchor="close_date", good="high", owner_team="sales")  # fmt: skip
    return MetricDefinition(id=id_, question=question, **{**base, **kw})


def test_definitions_frame_groups_by_question_then_id_and_searches():
    defs = {
        "z": _definition("z", "shared_outcomes"),
        "b": _definition("b", "forecast_integrity", variants=("c", "d")),
        "a": _definition("a", "shared_outcomes", name="Win rate"),
    }
    frame = charts.definitions_frame(defs)
    # shared_outcomes is the first question, forecast_integrity the last
    assert frame["id"].to_list() == ["a", "z", "b"]
    assert frame.filter(pl.col("id") == "b")["variants"].item() == "c, d"
    assert charts.search_definitions(frame, " WIN ")["id"].to_list() == ["a"]
    assert_frame_equal(charts.search_definitions(frame, ""), frame)
    assert charts.search_definitions(frame, "nothing like this").is_empty()


def test_percent_axis_of_an_all_zero_share_reads_0_percent():
    # Nobody leaked: the domain is [0, 0], where d3's "%" picks no precision and pads the
    # tick to "0.000000%" (seen on Handoffs for EMEA); "~%" trims the padding to "0%".
    leak = pl.DataFrame({"team": ["SDR"], "mqls": [4], "leaked": [0], "leak_share": [0.0]})
    spec = charts.rate_chart(
        leak, "team", "leak_share", title="t", axis_title="a", scale=None, count="leaked",
        total="mqls",
    ).to_dict()  # fmt: skip
    assert spec["encoding"]["x"]["axis"]["format"] == "~%"
