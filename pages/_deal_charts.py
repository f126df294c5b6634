"""Altair charts for the deal page. Pure functions: frame in, `alt.Chart` out, no Streamlit."""

from __future__ import annotations

import altair as alt
import polars as pl

OVER, WITHIN = "Longer than the company median", "Within the median"
NO_MEDIAN = "No median"
SPELL_COLORS = {OVER: "#e15759", WITHIN: "#4e79a7", NO_MEDIAN: "#bab0ac"}
_DAY_US = 86_400_000_000


def timeline_rows(timeline: pl.DataFrame) -> pl.DataFrame:
    """`scoring.deal.deal_timeline` rows as the chart draws them: a `spell` label in spell
    order, when the company median would have ended the spell (`median_end_at`), whether the
    spell ran past it (`versus`) and a `label` with the days and the ratio."""
    days, ratio = pl.col("days_in_stage"), pl.col("times_median")
    median_us = (pl.col("median_days") * _DAY_US).round(0).cast(pl.Int64)
    return timeline.with_columns(
        spell=pl.format("{}. {}", "spell_no", "stage"),
        median_end_at=pl.col("entered_at") + pl.duration(microseconds=median_us),
    ).with_columns(
        label_at=pl.max_horizontal("end_at", "median_end_at"),  # clear of bar and tick
        versus=pl.when(ratio.is_null())
        .then(pl.lit(NO_MEDIAN))
        .when(ratio > 1)
        .then(pl.lit(OVER))
        .otherwise(pl.lit(WITHIN)),
        label=pl.when(days.is_null())
        .then(pl.lit(""))
        .when(ratio.is_null())
        .then(pl.format("{} d", days.floor().cast(pl.Int64)))
        .otherwise(pl.format("{} d · {}× median", days.floor().cast(pl.Int64), ratio.round(1))),
    )


def stage_timeline_chart(timeline: pl.DataFrame) -> alt.LayerChart:
    """One bar per stage spell from entering the stage to leaving it (the open spell runs
    to the as-of date), red when it ran longer than the stage's company median, which a
    black tick marks; the closed stage a deal ended in is a diamond where it closed."""
    rows = timeline_rows(timeline)
    order = rows["spell"].to_list()
    y = alt.Y("spell:N", sort=order, title=None)
    tooltip = [
        alt.Tooltip("stage:N", title="Stage"),
        alt.Tooltip("entered_date:T", title="Entered", format="%Y-%m-%d"),
        alt.Tooltip("end_date:T", title="Left (or as of)", format="%Y-%m-%d"),
        alt.Tooltip("days_in_stage:Q", title="Days in stage", format=".1f"),
        alt.Tooltip("median_days:Q", title="Company median days", format=".1f"),
        alt.Tooltip("median_spells:Q", title="Spells behind the median", format=","),
        alt.Tooltip("times_median:Q", title="× median", format=".2f"),
    ]
    spells = rows.filter(pl.col("end_at").is_not_null())
    present = [v for v in SPELL_COLORS if v in set(spells["versus"])]  # legend: only these
    colors = alt.Scale(domain=present, range=[SPELL_COLORS[v] for v in present])
    base = alt.Chart(spells).encode(y=y, tooltip=tooltip)
    bars = base.mark_bar(height=alt.RelativeBandSize(0.6)).encode(
        x=alt.X("entered_at:T", title=None),
        x2="end_at:T",
        color=alt.Color(
            "versus:N",
            scale=colors,
            title=None,
            legend=alt.Legend(orient="top", labelLimit=400),
        ),
    )
    median = (
        alt.Chart(spells.filter(pl.col("median_days").is_not_null()))
        .mark_tick(color="black", thickness=2, size=22)
        .encode(x="median_end_at:T", y=y, tooltip=tooltip)
    )
    labels = base.mark_text(align="left", dx=6, fontSize=11).encode(x="label_at:T", text="label:N")
    closed = (
        alt.Chart(rows.filter(pl.col("is_closed_stage") & pl.col("end_at").is_null()))
        .mark_point(shape="diamond", filled=True, size=120, color="#59a14f")
        .encode(x="entered_at:T", y=y, tooltip=tooltip)
    )
    return alt.layer(bars, median, labels, closed).properties(height=alt.Step(34))
