"""No raw decimals and no "NaN" in a chart (issue #17): every quantitative axis, legend,
label and tooltip of every chart the pages draw carries a format, and no legend lists an
empty value. Checked on the specs built from the demo org's metrics (what a VP sees) and on
a flat all-zero frame (where Vega pads ticks to "0.000000")."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date

import polars as pl
import pytest

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from model.calendar import period_of
from model.params import ScoringParams
from model.tables import Tables
from pages import _changes_charts
from reports import funnel_charts as funnel
from reports import pipeline_charts as pipeline
from reports.metrics import METRICS, MetricContext

AS_OF = date(2026, 11, 16)
AXES = ("x", "y")
LEGENDS = ("color", "fill", "stroke", "opacity", "size", "strokeDash", "shape")


@pytest.fixture(scope="module")
def demo() -> tuple[Tables, MetricContext]:
    frames = validate_tables(generate_demo_org(as_of=AS_OF)).frames
    params = ScoringParams()
    period = period_of(AS_OF, fiscal_start_month=params.fiscal_start_month)
    return Tables.from_frames(frames), MetricContext(as_of=AS_OF, period=period, params=params)


def _charts(demo: tuple[Tables, MetricContext]) -> dict[str, object]:
    tables, context = demo

    def m(name: str, **options: object) -> pl.DataFrame:
        return METRICS[name](tables, context, **options)

    teams = sorted(set(m("win_rate")["team"]) - {pipeline.ALL_TEAMS})
    stages = m("stall_thresholds")["stage"].to_list()
    accuracy, wape, waterfall = m("forecast_accuracy"), m("wape"), m("waterfall")
    conversion = funnel.transitions(m("conversion", by=("source",)))
    sla = funnel.with_sla_target(m("follow_up_sla"), "source", 24.0, {})
    leak = m("leakage", by=("team",))
    call = m("call")
    campaigns = m("campaign_funnel")
    return {
        "days_in_stage": pipeline.days_in_stage_chart(
            m("days_in_stage"), stage_order=stages, teams=teams
        ),
        "stall_heatmap": pipeline.stall_heatmap(m("stalls_by_team"), stage_order=stages),
        "waterfall": pipeline.waterfall_chart(
            waterfall.filter(pl.col("team") == pipeline.ALL_TEAMS)
        ),
        "forecast_all": pipeline.forecast_vs_actual_chart(
            accuracy, teams=teams, team=pipeline.ALL_TEAMS, company=wape
        ),
        "forecast_team": pipeline.forecast_vs_actual_chart(accuracy, teams=teams, team=teams[0]),
        "accuracy": pipeline.trend_chart(accuracy, field="accuracy", title="A", teams=teams),
        "bias": pipeline.trend_chart(accuracy, field="bias", title="B", teams=teams),
        "week": pipeline.week_accuracy_chart(
            m("forecast_variance"),
            period=context.judged.name,
            category="commit",
            lock_week=3,
            teams=teams,
        ),
        "wape": pipeline.wape_chart(wape),
        "miss": pipeline.miss_chart(m("forecast_miss")),
        "call_trend": pipeline.call_trend_chart(
            m("call_trend"), team=pipeline.ALL_TEAMS, quota=call["quota"][-1]
        ),
        "conversion": funnel.conversion_chart(conversion, "source", None),
        "step_time": funnel.step_time_chart(conversion, "source", None),
        "sla": funnel.sla_chart(sla, "source", None),
        "leakage": funnel.rate_chart(
            leak,
            "team",
            "leak_share",
            title="t",
            axis_title="a",
            scale=None,
            count="leaked",
            total="mqls",
        ),
        "goal_marketing": funnel.goal_conflict_chart(m("goal_conflict"), "marketing"),
        "goal_sdr": funnel.goal_conflict_chart(m("goal_conflict"), "sdr"),
        "sourced": funnel.sourced_chart(m("sourced_pipeline", by=("sourced_by",)), "sourced_by"),
        "campaign_funnel": funnel.campaign_funnel_chart(campaigns),
        "campaign_cost": funnel.campaign_cost_chart(campaigns),
        "quality": funnel.quality_chart(m("quality_checks")),
        "skip_rate": funnel.skip_rate_chart(m("funnel_skip_rate")),
    }


def _units(spec: dict, inherited: dict | None = None) -> Iterator[dict]:
    """Every single-view spec with the encoding it inherits from its layer parents."""
    encoding = {**(inherited or {}), **spec.get("encoding", {})}
    if "mark" in spec:
        yield {**spec, "encoding": encoding}
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            yield from _units(child, encoding)
    if "spec" in spec:
        yield from _units(spec["spec"], encoding)


def _quantitative(channel: dict) -> bool:
    return channel.get("type") == "quantitative" or "aggregate" in channel


def unformatted(spec: dict) -> list[str]:
    """Where a number would be printed with Vega's default format: quantitative axes,
    legends, text and tooltips without a `format`."""
    problems = []
    for unit in _units(spec):
        for name, channel in unit["encoding"].items():
            channels = channel if isinstance(channel, list) else [channel]
            for ch in channels:
                if not isinstance(ch, dict) or "field" not in ch or not _quantitative(ch):
                    continue
                where = f"{name}:{ch['field']}"
                if name in AXES and ch.get("axis", {}) is not None:
                    if "format" not in (ch.get("axis") or {}):
                        problems.append(f"axis {where}")
                elif name in LEGENDS and ch.get("legend", {}) is not None:
                    if "format" not in (ch.get("legend") or {}):
                        problems.append(f"legend {where}")
                elif name in ("text", "tooltip") and "format" not in ch:
                    problems.append(f"{name} {where}")
    return problems


def empty_legend_values(spec: dict) -> list[str]:
    """Nominal legend fields whose data holds null or NaN (a "null" / "NaN" legend entry)."""
    found = []
    datasets = spec.get("datasets", {})
    for unit in _units(spec):
        data = unit.get("data", spec.get("data", {}))
        rows = datasets.get(data.get("name"), [])
        for name in LEGENDS:
            ch = unit["encoding"].get(name)
            if (
                not isinstance(ch, dict)
                or ch.get("type") != "nominal"
                or ch.get("legend", 1) is None
            ):
                continue
            values = [r.get(ch["field"]) for r in rows if ch["field"] in r]
            if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
                found.append(f"{name}:{ch['field']}")
    return found


def test_every_quantity_of_every_demo_chart_has_a_format(demo):
    problems = {
        name: unformatted(chart.to_dict())
        for name, chart in _charts(demo).items()  # type: ignore[attr-defined]
    }
    assert {name: p for name, p in problems.items() if p} == {}


def test_no_demo_chart_legend_lists_null_or_nan(demo):
    found = {name: empty_legend_values(c.to_dict()) for name, c in _charts(demo).items()}  # type: ignore[attr-defined]
    assert {name: f for name, f in found.items() if f} == {}


def test_the_checkers_catch_what_they_look_for():
    import altair as alt

    rows = pl.DataFrame({"team": ["A", None], "n": [0.0, 0.0]})
    bare = alt.Chart(rows).mark_bar().encode(x="n:Q", y="team:N", color="team:N",
                                             tooltip=["n:Q"]).to_dict()  # fmt: skip
    assert sorted(unformatted(bare)) == ["axis x:n", "tooltip tooltip:n"]
    assert empty_legend_values(bare) == ["color:team"]


def test_flat_all_zero_charts_still_have_formats():
    # Nothing moved: every amount and count is 0 — the domain Vega pads to "0.000000".
    zero_bridge = pl.DataFrame(
        {
            "team": ["All teams"] * 9,
            "bucket": list(pipeline.BUCKET_LABELS),
            "amount": [0.0] * 9,
            "deals": [0] * 9,
        }
    )
    steps = pl.Enum(["lead", "mql", "sal", "sql", "opp", "won"])
    conversion = pl.DataFrame(
        {"source": ["Web"], "from_step": ["lead"], "to_step": ["mql"], "cohort": [0],
         "converted": [0], "rate": [None], "median_days": [None], "p90_days": [None],
         "immature": [False]},
        schema_overrides={"from_step": steps, "to_step": steps, "rate": pl.Float64,
                          "median_days": pl.Float64, "p90_days": pl.Float64},
    )  # fmt: skip
    transitions = pl.DataFrame(
        {"team": ["APAC"], "from": ["commit"], "to": ["won"], "deals": [0], "amount": [0.0],
         "amount_since": [0.0]}
    )  # fmt: skip
    for chart in (
        pipeline.waterfall_chart(zero_bridge),
        funnel.step_time_chart(conversion, "source", None),
        funnel.conversion_chart(conversion, "source", None),
        _changes_charts.transition_chart(transitions, team="APAC"),
    ):
        assert unformatted(chart.to_dict()) == []
