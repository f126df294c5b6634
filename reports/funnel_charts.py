"""Altair charts and small display helpers for the Handoffs, Campaigns and Data trust pages.

Every builder is a pure function: a metric frame in, an `alt.Chart` out (no Streamlit), so
the charts are unit-tested through `chart.to_dict()`. Charts meant for drill-down carry a
point selection named "pick" with explicit `fields=`, read back with `picked`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

import altair as alt
import polars as pl

from model import formats
from reports.colors import (
    MONEY_FORMAT,
    NUMBER_FORMAT,
    PALETTE,
    PCT_AXIS_FORMAT,
    selected_value,
    team_scale,
)
from scoring.definitions import QUESTIONS, MetricDefinition

PCT_AXIS = alt.Axis(format=PCT_AXIS_FORMAT)
NUMBER_AXIS = alt.Axis(format=NUMBER_FORMAT)
MONEY_AXIS = alt.Axis(format=MONEY_FORMAT)
COUNT_AXIS = alt.Axis(format=NUMBER_FORMAT, tickMinStep=1)

STEP_LABELS = {"lead": "Lead", "mql": "MQL", "sal": "SAL", "sql": "SQL", "opp": "Opp", "won": "Won"}
DIMENSION_LABELS = {
    "source": "Channel",
    "team": "Team",
    "campaign_id": "Campaign",
    "sourced_by": "Sourced by",
    "lead_source": "Lead source",
}
# Channels get their own palette (not the team colors) so a channel is never read as a team.
CHANNEL_PALETTE = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
)  # fmt: skip
SEVERITY_SCALE = alt.Scale(
    domain=["high", "medium", "low"], range=["#c0392b", "#e67e22", "#95a5a6"]
)
DIFF_SCALE = alt.Scale(
    domain=["marketing only", "sales only", "mismatch"], range=["#4e79a7", "#f28e2b", "#bab0ac"]
)
FLAG_COLOR, OK_COLOR, TARGET_COLOR = "#e15759", "#4e79a7", "#222222"
NOT_YET_COLOR, NOTE_COLOR = "#d9d9d9", "#666666"
NOT_YET = "immature\nnot yet\nmeasurable"  # inside the placeholder: three short lines
TO_DATE = " (to date)"
NO_CHANNEL = "(no channel)"
_LONG_LABELS = alt.Axis(labelLimit=240)


# ---------------------------------------------------------------- helpers


def transitions(frame: pl.DataFrame) -> pl.DataFrame:
    """`from_step`/`to_step` as strings (the drill-down keys) plus a readable `transition`
    label ("MQL → SAL")."""
    steps = [pl.col(c).cast(pl.String) for c in ("from_step", "to_step")]
    label = [pl.col(c).replace_strict(STEP_LABELS) for c in ("from_step", "to_step")]
    return frame.with_columns(*steps).with_columns(transition=pl.format("{} → {}", *label))


def transition_order() -> list[str]:
    """The transitions in funnel order, for the x axis."""
    names = list(STEP_LABELS.values())
    return [f"{a} → {b}" for a, b in pairwise(names)]


def extended_team_scale(all_teams: Sequence[str], extra: Iterable[str] = ()) -> alt.Scale:
    """The shared team scale (`_widgets.team_scale`), extended with teams outside the sales
    team list (e.g. the Marketing and SDR teams that own leads) without moving its colors."""
    base = team_scale(all_teams).to_dict()
    domain, colors = list(base["domain"][:-1]), list(base["range"][:-1])
    for team in sorted(set(extra) - set(domain) - {"All teams"}):
        domain.append(team)
        colors.append(PALETTE[len(colors) % len(PALETTE)])
    return alt.Scale(domain=[*domain, "All teams"], range=[*colors, base["range"][-1]])


def channel_scale(channels: Iterable[str]) -> alt.Scale:
    """A stable color per channel (sorted); placeholder labels such as "(no source)" come
    last in grey, so they do not shift the colors of the real channels between pages."""
    values = set(channels)
    named = sorted(v for v in values if not v.startswith("("))
    placeholders = sorted(values - set(named))
    colors = [CHANNEL_PALETTE[i % len(CHANNEL_PALETTE)] for i in range(len(named))]
    return alt.Scale(
        domain=[*named, *placeholders], range=[*colors, *["#bbbbbb"] * len(placeholders)]
    )


def picked(state: object, row: pl.DataFrame | None, field: str) -> str | None:
    """The drill-down key: the value picked on the chart, else the selected table row's."""
    value = selected_value(state, field)
    if value is not None:
        return value
    if row is not None and field in row.columns and row.height:
        cell = row[field][0]
        return None if cell is None else str(cell)
    return None


def with_sla_target(
    frame: pl.DataFrame, dim: str, default_hours: float, by_source: Mapping[str, float]
) -> pl.DataFrame:
    """Add `sla_hours`, the follow-up target of each row: the per-source override for a
    channel row, else the default (a team's leads can mix channels, so it gets the default)."""
    if dim != "source" or not by_source:
        return frame.with_columns(sla_hours=pl.lit(float(default_hours)))
    return frame.with_columns(
        sla_hours=pl.col("source").replace_strict(
            dict(by_source), default=float(default_hours), return_dtype=pl.Float64
        )
    )


def _pick(fields: list[str]) -> alt.Parameter:
    return alt.selection_point(name="pick", fields=fields, on="click", clear="dblclick")


def _opacity(pick: alt.Parameter) -> alt.OpacityValue:
    return alt.condition(pick, alt.value(1.0), alt.value(0.35))


def _band_height(rows: int, per_row: int = 30, chrome: int = 100) -> int:
    """Total chart height for `rows` bands: Streamlit sizes the element to the chart's
    `height`, titles and axes included, so the bands need room on top of the chrome."""
    return chrome + per_row * max(rows, 1)


def _or_undefined(scale: alt.Scale | None) -> alt.Scale:
    return alt.Undefined if scale is None else scale


def _group_color(
    dim: str | None, label: str, scale: alt.Scale | None
) -> alt.Color | alt.ColorValue:
    """Color by the breakdown dimension (legend on top, so the bars get the width)."""
    if not dim:
        return alt.value(OK_COLOR)
    legend = alt.Legend(orient="top", columns=3, title=label)
    return alt.Color(f"{dim}:N", scale=_or_undefined(scale), legend=legend)


# ---------------------------------------------------------------- handoffs


def conversion_bars(frame: pl.DataFrame) -> pl.DataFrame:
    """`transitions(conversion)` as the chart draws it: `not_yet` marks Opp → Won in an
    immature cohort (the period has not ended, and closing a deal takes a sales cycle, so
    its 0% says nothing yet; the other handoffs take days); `rate_shown` is the rate without
    those (the handoff tables show it too) and `ghost` = 1 (a full-height grey placeholder)."""
    not_yet = pl.col("immature") & (pl.col("to_step").cast(pl.String) == "won")
    return frame.with_columns(
        not_yet=not_yet,
        rate_shown=pl.when(not_yet).then(None).otherwise(pl.col("rate")),
        ghost=pl.when(not_yet).then(pl.lit(1.0)),
    )


def conversion_chart(
    frame: pl.DataFrame, dim: str | None, scale: alt.Scale | None
) -> alt.LayerChart:
    """Cohort conversion at each handoff (bars), one bar per `dim` value within a step; an
    immature cohort's Opp → Won is a grey placeholder labelled "not yet measurable" instead
    of a 0% bar (`conversion_bars`). `frame` is `conversion(by=(dim,))`; click a bar to pick
    (from_step, dim)."""
    data = conversion_bars(transitions(frame)).with_columns(pl.col("immature").cast(pl.String))
    fields = ["from_step", *([dim] if dim else [])]
    pick = _pick(fields)
    label = DIMENSION_LABELS.get(dim or "", "")
    x = alt.X(
        "transition:N",
        sort=transition_order(),
        title="Handoff",
        axis=alt.Axis(labelAngle=0, labelOverlap=False),
    )
    tooltip = [
        *([alt.Tooltip(f"{dim}:N", title=label)] if dim else []),
        alt.Tooltip("transition:N", title="Handoff"),
        alt.Tooltip("cohort:Q", title="Cohort", format=","),
        alt.Tooltip("converted:Q", title="Converted so far", format=","),
        alt.Tooltip("rate:Q", title="Conversion so far", format=formats.PERCENT.d3),
        alt.Tooltip("median_days:Q", title="Median days", format=".1f"),
        alt.Tooltip("p90_days:Q", title="p90 days", format=".1f"),
        alt.Tooltip("immature:N", title="Immature cohort"),
    ]
    base = alt.Chart(data).encode(
        x=x, xOffset=alt.XOffset(f"{dim}:N") if dim else alt.XOffset(), tooltip=tooltip
    )
    bars = (
        base.mark_bar()
        .encode(
            y=alt.Y("rate_shown:Q", title="Cohort conversion", axis=PCT_AXIS),
            color=_group_color(dim, label, scale),
            opacity=_opacity(pick),
        )
        .add_params(pick)
    )
    ghost = base.mark_bar(
        color=NOT_YET_COLOR, opacity=0.6, stroke=NOTE_COLOR, strokeDash=[3, 2]
    ).encode(y=alt.Y("ghost:Q", axis=PCT_AXIS))
    notes = (
        data.filter(pl.col("not_yet"))
        .select("transition")
        .unique()
        .with_columns(note=pl.lit(NOT_YET), y=pl.lit(1.0))
    )
    note = (
        alt.Chart(notes)
        .mark_text(baseline="top", dy=6, color=NOTE_COLOR, fontSize=11, lineBreak="\n")
        .encode(x=x, y=alt.Y("y:Q", axis=PCT_AXIS), text="note:N")
    )
    return alt.layer(bars, ghost, note).properties(
        height=380,
        title=alt.Title(
            "Cohort conversion at each handoff",
            subtitle="Grey dashed: Opp → Won of an immature cohort, not yet measurable"
            if notes.height
            else "",
        ),
    )


def step_time_chart(frame: pl.DataFrame, dim: str | None, scale: alt.Scale | None) -> alt.Chart:
    """Time per handoff: median days (bar) and p90 days (triangle), per `dim` value."""
    data = transitions(frame)
    label = DIMENSION_LABELS.get(dim or "", "")
    color = _group_color(dim, label, scale)
    base = alt.Chart(data).encode(
        x=alt.X(
            "transition:N",
            sort=transition_order(),
            title="Handoff",
            axis=alt.Axis(labelAngle=0, labelOverlap=False),
        ),
        xOffset=alt.XOffset(f"{dim}:N") if dim else alt.XOffset(),
        color=color,
        tooltip=[
            *([alt.Tooltip(f"{dim}:N", title=label)] if dim else []),
            alt.Tooltip("transition:N", title="Handoff"),
            alt.Tooltip("median_days:Q", title="Median days", format=".1f"),
            alt.Tooltip("p90_days:Q", title="p90 days", format=".1f"),
        ],
    )
    bars = base.mark_bar().encode(
        y=alt.Y("median_days:Q", title="Days (bar: median, ▼: p90)", axis=NUMBER_AXIS)
    )
    p90 = base.mark_point(shape="triangle-down", filled=True, size=40).encode(
        y=alt.Y("p90_days:Q", axis=NUMBER_AXIS)
    )
    return alt.layer(bars, p90).properties(height=380, title="Time per handoff")


def sla_chart(frame: pl.DataFrame, dim: str, scale: alt.Scale | None) -> alt.LayerChart:
    """Speed to lead vs the SLA: median hours to first touch (bar), the SLA
    target (black tick) and compliance (label), per `dim` value. `frame` is `follow_up_sla`
    with `sla_hours` added by `with_sla_target`; click a bar to pick `dim`."""
    label = DIMENSION_LABELS.get(dim, dim)
    data = frame.with_columns(
        over_sla=pl.col("median_hours_to_touch") > pl.col("sla_hours"),
        compliance_label=pl.format(
            "{}% in SLA", (pl.col("sla_compliance") * 100).round(0).cast(pl.Int64)
        ),
    )
    pick = _pick([dim])
    base = alt.Chart(data).encode(
        y=alt.Y(f"{dim}:N", title=label, sort="ascending"),
        tooltip=[
            alt.Tooltip(f"{dim}:N", title=label),
            alt.Tooltip("mqls:Q", title="MQLs", format=","),
            alt.Tooltip("due:Q", title="Due", format=","),
            alt.Tooltip("met:Q", title="Met", format=","),
            alt.Tooltip("breached:Q", title="Breached", format=","),
            alt.Tooltip("sla_compliance:Q", title="SLA compliance", format=formats.PERCENT.d3),
            alt.Tooltip("median_hours_to_touch:Q", title="Median hours", format=".1f"),
            alt.Tooltip("p90_hours_to_touch:Q", title="p90 hours", format=".1f"),
            alt.Tooltip("sla_hours:Q", title="SLA hours", format=",~f"),
        ],
    )
    bars = (
        base.mark_bar()
        .encode(
            x=alt.X(
                "median_hours_to_touch:Q",
                title="Median hours from MQL to first touch",
                axis=NUMBER_AXIS,
            ),
            color=alt.condition(alt.datum.over_sla, alt.value(FLAG_COLOR), alt.value(OK_COLOR)),
            opacity=_opacity(pick),
        )
        .add_params(pick)
    )
    target = base.mark_tick(color=TARGET_COLOR, thickness=3, size=26).encode(
        x=alt.X("sla_hours:Q", axis=NUMBER_AXIS)
    )
    text = base.mark_text(align="left", dx=6, color=TARGET_COLOR).encode(
        x=alt.X("median_hours_to_touch:Q", axis=NUMBER_AXIS), text="compliance_label:N"
    )
    del scale  # bars are colored by breach, not by group
    return alt.layer(bars, target, text).properties(
        height=_band_height(frame.height, 34), title="Speed to lead vs the follow-up SLA"
    )


def rate_chart(
    frame: pl.DataFrame,
    dim: str,
    value: str,
    *,
    title: str,
    axis_title: str,
    scale: alt.Scale | None,
    count: str,
    total: str,
) -> alt.Chart:
    """A share per `dim` value as horizontal bars (leakage, bounce-backs); click to pick."""
    label = DIMENSION_LABELS.get(dim, dim)
    pick = _pick([dim])
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y(f"{dim}:N", title=label, sort="-x"),
            x=alt.X(f"{value}:Q", title=axis_title, axis=PCT_AXIS),
            color=alt.Color(f"{dim}:N", scale=_or_undefined(scale), legend=None),
            opacity=_opacity(pick),
            tooltip=[
                alt.Tooltip(f"{dim}:N", title=label),
                alt.Tooltip(f"{count}:Q", format=","),
                alt.Tooltip(f"{total}:Q", format=","),
                alt.Tooltip(f"{value}:Q", title=axis_title, format=".1%"),
            ],
        )
        .add_params(pick)
        .properties(height=_band_height(frame.height), title=title)
    )


def period_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `period_label`: the period's name, "(to date)" after a period still in
    progress (`is_complete` false), whose counts are partial next to the full ones."""
    if "is_complete" not in frame.columns:
        return frame.with_columns(period_label=pl.col("period"), is_complete=pl.lit(True))
    partial = ~pl.col("is_complete").fill_null(True)
    return frame.with_columns(
        period_label=pl.when(partial)
        .then(pl.col("period") + pl.lit(TO_DATE))
        .otherwise(pl.col("period"))
    )


def goal_conflict_chart(frame: pl.DataFrame, team: str) -> alt.LayerChart:
    """One team's volume per period (bars, red when the period is flagged) next to the
    conversion of the handoff it feeds (line): `team` "marketing" (MQLs vs MQL→SAL) or "sdr"
    (SALs vs SAL→SQL). A period still in progress is lighter, its point hollow, and named
    "(to date)": its volume is partial next to the full quarters. `frame` is `goal_conflict`."""
    volume, rate, flag, title, vol_title = {
        "marketing": (
            "mqls",
            "mql_to_sal",
            "marketing_conflict",
            "Marketing: MQLs vs MQL→SAL",
            "MQLs",
        ),
        "sdr": ("sals", "sal_to_sql", "sdr_conflict", "SDR: SALs vs SAL→SQL", "SALs"),
    }[team]
    data = period_labels(frame)
    partial = data.filter(~pl.col("is_complete"))["period_label"].to_list()
    base = alt.Chart(data).encode(
        x=alt.X("period_label:N", title="Period", sort=None, axis=alt.Axis(labelAngle=0))
    )
    bars = base.mark_bar().encode(
        y=alt.Y(f"{volume}:Q", title=vol_title, axis=COUNT_AXIS),
        color=alt.condition(f"datum.{flag}", alt.value(FLAG_COLOR), alt.value(OK_COLOR)),
        opacity=alt.condition("datum.is_complete", alt.value(0.8), alt.value(0.3)),
        tooltip=[
            alt.Tooltip("period_label:N", title="Period"),
            alt.Tooltip(f"{volume}:Q", title=vol_title, format=","),
            alt.Tooltip(f"{rate}:Q", title="Next-step conversion", format=".1%"),
            alt.Tooltip(f"{flag}:N", title="Flagged"),
            alt.Tooltip("is_complete:N", title="Period complete"),
        ],
    )
    y_rate = alt.Y(f"{rate}:Q", title="Next-step conversion (line)", axis=PCT_AXIS)
    line = base.mark_line(color=TARGET_COLOR).encode(y=y_rate)
    points = base.mark_point(size=45, color=TARGET_COLOR, filled=False).encode(
        y=y_rate,
        fill=alt.condition("datum.is_complete", alt.value(TARGET_COLOR), alt.value("white")),
    )
    subtitle = "Red bar: period flagged. " + (
        f"{', '.join(partial)}: still in progress, lighter bar, hollow point." if partial else ""
    )
    return (
        alt.layer(bars, line, points)
        .resolve_scale(y="independent")
        .properties(title=alt.Title(title, subtitle=subtitle.strip()), height=300)
    )


# ---------------------------------------------------------------- campaigns & sourcing


def sourced_chart(frame: pl.DataFrame, dim: str) -> alt.Chart:
    """Pipeline created and bookings won per `dim` value (two bars each); click to pick."""
    label = DIMENSION_LABELS.get(dim, dim)
    pick = _pick([dim])
    measures = {"created_amount": "Pipeline created", "won_amount": "Bookings won"}
    return (
        alt.Chart(frame)
        .transform_fold(list(measures), as_=["measure", "amount"])
        .transform_calculate(
            measure_label="datum.measure == 'won_amount' ? 'Bookings won' : 'Pipeline created'"
        )
        .mark_bar()
        .encode(
            y=alt.Y(f"{dim}:N", title=label, sort="-x", axis=_LONG_LABELS),
            yOffset=alt.YOffset("measure_label:N", sort=list(measures.values())),
            x=alt.X("amount:Q", title="Amount ($)", axis=MONEY_AXIS),
            color=alt.Color(
                "measure_label:N",
                title="Measure",
                scale=alt.Scale(domain=list(measures.values()), range=[OK_COLOR, "#59a14f"]),
            ),
            opacity=_opacity(pick),
            tooltip=[
                alt.Tooltip(f"{dim}:N", title=label),
                alt.Tooltip("created:Q", title="Opps created", format=","),
                alt.Tooltip("created_amount:Q", title="Pipeline $", format="$,.0f"),
                alt.Tooltip("won:Q", title="Opps won", format=","),
                alt.Tooltip("won_amount:Q", title="Bookings $", format="$,.0f"),
            ],
        )
        .add_params(pick)
        .properties(height=_band_height(frame.height, 40), title="Sourced pipeline and bookings")
    )


CAMPAIGN_STEPS = {"members": "Members", "mqls": "MQLs", "opportunities": "Opps", "won": "Won"}


def campaign_steps(frame: pl.DataFrame) -> pl.DataFrame:
    """`campaign_funnel` rows as one row per campaign × step (members, MQLs, opps, won)."""
    return (
        frame.unpivot(
            index=["campaign_id", "name", "channel"],
            on=list(CAMPAIGN_STEPS),
            variable_name="step",
            value_name="records",
        )
        .with_columns(step=pl.col("step").replace_strict(CAMPAIGN_STEPS))
        .sort("campaign_id", pl.col("step").replace_strict(list(CAMPAIGN_STEPS.values()),
                                                           list(range(len(CAMPAIGN_STEPS)))))
    )  # fmt: skip


def campaign_funnel_chart(frame: pl.DataFrame) -> alt.LayerChart:
    """Members → MQLs → opportunities → won per campaign (grouped bars on a linear axis,
    each labelled with its count, so the small won counts read next to hundreds of members);
    click a campaign to pick it."""
    steps = list(CAMPAIGN_STEPS.values())
    pick = _pick(["campaign_id"])
    base = alt.Chart(campaign_steps(frame)).encode(
        y=alt.Y("name:N", title="Campaign", sort=alt.SortField("campaign_id"), axis=_LONG_LABELS),
        yOffset=alt.YOffset("step:N", sort=steps),
        x=alt.X("records:Q", title="Leads / opportunities", axis=COUNT_AXIS),
        tooltip=[
            alt.Tooltip("campaign_id:N", title="Campaign"),
            alt.Tooltip("name:N", title="Name"),
            alt.Tooltip("channel:N", title="Channel"),
            alt.Tooltip("step:N", title="Step"),
            alt.Tooltip("records:Q", title="Records", format=","),
        ],
    )
    bars = base.mark_bar().encode(
        color=alt.Color(
            "step:N",
            title="Step",
            sort=steps,
            scale=alt.Scale(domain=steps, range=["#c6dbef", "#6baed6", "#2171b5", "#59a14f"]),
        ),
        opacity=_opacity(pick),
    )
    counts = base.mark_text(align="left", dx=3, fontSize=10, color=NOTE_COLOR).encode(
        text=alt.Text("records:Q", format=",")
    )
    return alt.layer(bars.add_params(pick), counts).properties(
        height=_band_height(frame.height, 56), title="Campaign funnel"
    )


def campaign_costs(frame: pl.DataFrame) -> pl.DataFrame:
    """`campaign_funnel` rows for the cost chart, sorted as drawn: those without a cost per
    opportunity first, with a `note` saying why ("no opportunities yet" with the money spent,
    "cost not recorded", "not measured" for a team view), then the dearest opportunity
    first, so a campaign that bought nothing never reads as the cheapest. A campaign
    without a channel is "(no channel)", not a null legend entry."""
    spent = formats.money_text("cost", compact=True) + pl.lit(" spent")
    measured = pl.col("cost_per_opportunity").is_not_null()
    note = (
        pl.when(measured)
        .then(None)
        .when(pl.col("cost").is_null())
        .then(pl.lit("cost not recorded"))
        .when(pl.col("opportunities") == 0)
        .then(pl.lit("no opportunities yet · ") + spent)
        .otherwise(pl.lit("not measured (a campaign's cost is not split by team)"))
    )
    return frame.with_columns(
        note=note, x0=pl.lit(0.0), channel=pl.col("channel").fill_null(NO_CHANNEL)
    ).sort(
        measured, pl.col("cost_per_opportunity"), "campaign_id",
        descending=[False, True, False], nulls_last=True,
    )  # fmt: skip


def campaign_cost_chart(frame: pl.DataFrame, channels: alt.Scale | None = None) -> alt.LayerChart:
    """Cost per opportunity per campaign, colored by channel, dearest first; a campaign with
    no opportunity yet (or no cost) is listed on top with a note, not left as an empty bar
    (`campaign_costs`). Click a campaign to pick it."""
    rows = campaign_costs(frame)
    pick = _pick(["campaign_id"])
    base = alt.Chart(rows).encode(
        y=alt.Y("name:N", title="Campaign", sort=rows["name"].to_list(), axis=_LONG_LABELS),
        tooltip=[
            alt.Tooltip("campaign_id:N", title="Campaign"),
            alt.Tooltip("name:N", title="Name"),
            alt.Tooltip("channel:N", title="Channel"),
            alt.Tooltip("cost:Q", title="Cost", format="$,.0f"),
            alt.Tooltip("opportunities:Q", title="Opps", format=","),
            alt.Tooltip("cost_per_mql:Q", title="Cost per MQL", format="$,.0f"),
            alt.Tooltip("cost_per_opportunity:Q", title="Cost per opp", format="$,.0f"),
            alt.Tooltip("cost_per_won:Q", title="Cost per won $", format=".2f"),
        ],
    )
    x = alt.X(
        "cost_per_opportunity:Q", title="Cost per opportunity ($)", axis=alt.Axis(format="$,.0f")
    )
    bars = base.mark_bar().encode(
        x=x,
        color=alt.Color("channel:N", title="Channel", scale=_or_undefined(channels)),
        opacity=_opacity(pick),
    )
    notes = (
        base.transform_filter("datum.note != null")
        .mark_text(align="left", dx=4, color=NOTE_COLOR, fontStyle="italic")
        .encode(x=alt.X("x0:Q", axis=alt.Axis(format="$,.0f")), text="note:N")
    )
    return alt.layer(bars.add_params(pick), notes).properties(
        height=_band_height(frame.height, 56), title="Cost per opportunity"
    )


# ---------------------------------------------------------------- data trust


def reconciliation_diff_chart(rows: pl.DataFrame, scale: alt.Scale | None) -> alt.Chart:
    """The records two counts disagree on: amount per direction (counted by marketing only,
    by sales only), stacked by team; click a bar to pick a direction."""
    pick = _pick(["diff"])
    return (
        alt.Chart(rows)
        .mark_bar()
        .encode(
            y=alt.Y("diff:N", title="Counted by", sort=DIFF_SCALE.domain),
            x=alt.X("sum(amount):Q", title="Amount of the records ($)", axis=MONEY_AXIS),
            color=alt.Color("team:N", title="Team", scale=_or_undefined(scale)),
            opacity=_opacity(pick),
            tooltip=[
                alt.Tooltip("diff:N", title="Counted by"),
                "team:N",
                alt.Tooltip("count():Q", title="Records", format=","),
                alt.Tooltip("sum(amount):Q", title="Amount", format="$,.0f"),
            ],
        )
        .add_params(pick)
        .properties(
            height=_band_height(2, 40), title="Records behind the marketing-sourced pipeline gap"
        )
    )


def quality_chart(checks: pl.DataFrame) -> alt.Chart:
    """Share of records failing each data-quality check, colored by severity."""
    pick = _pick(["check_id"])
    return (
        alt.Chart(checks.filter(pl.col("available")))
        .mark_bar()
        .encode(
            y=alt.Y("check_id:N", title="Check", sort="-x", axis=_LONG_LABELS),
            x=alt.X("share:Q", title="Records failing", axis=PCT_AXIS),
            color=alt.Color("severity:N", title="Severity", scale=SEVERITY_SCALE),
            opacity=_opacity(pick),
            tooltip=[
                "check_id:N",
                "description:N",
                "severity:N",
                alt.Tooltip("failing:Q", format=","),
                alt.Tooltip("total:Q", format=","),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .add_params(pick)
        .properties(height=_band_height(checks.height, 28, chrome=70))
    )


def skip_rate_chart(frame: pl.DataFrame) -> alt.Chart:
    """Share of leads whose funnel step was back-filled (skipped), per step."""
    data = frame.with_columns(step=pl.col("step").cast(pl.String).replace_strict(STEP_LABELS))
    return (
        alt.Chart(data)
        .mark_bar(color=OK_COLOR)
        .encode(
            x=alt.X(
                "step:N",
                title="Funnel step",
                sort=[STEP_LABELS[s] for s in ("mql", "sal", "sql", "opp")],
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y("skip_rate:Q", title="Leads with the step skipped", axis=PCT_AXIS),
            tooltip=[
                "step:N",
                alt.Tooltip("reached:Q", format=","),
                alt.Tooltip("inferred:Q", format=","),
                alt.Tooltip("skip_rate:Q", format=".1%"),
            ],
        )
        .properties(height=240)
    )


# ---------------------------------------------------------------- metric definitions


def definitions_frame(definitions: Mapping[str, MetricDefinition]) -> pl.DataFrame:
    """The definitions registry as a table, one row per definition id, grouped (sorted) by
    the structural question it answers, then by id."""
    order = {key: i for i, key in enumerate(QUESTIONS)}
    rows = [
        {
            "question": QUESTIONS[d.question],
            "question_order": order[d.question],
            "id": d.id,
            "name": d.name,
            "formula": d.formula,
            "unit": d.unit,
            "grain": d.grain,
            "date_anchor": d.date_anchor,
            "good": d.good,
            "owner": d.owner_team,
            "variants": ", ".join(d.variants),
        }
        for d in definitions.values()
    ]
    schema = {
        "question": pl.String, "question_order": pl.Int64, "id": pl.String, "name": pl.String,
        "formula": pl.String, "unit": pl.String, "grain": pl.String, "date_anchor": pl.String,
        "good": pl.String, "owner": pl.String, "variants": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema).sort("question_order", "id").drop("question_order")


def search_definitions(frame: pl.DataFrame, text: str) -> pl.DataFrame:
    """Definitions whose id, name, formula, owner or variants contain `text` (any case)."""
    needle = text.strip().lower()
    if not needle:
        return frame
    columns = ("id", "name", "formula", "owner", "variants", "unit", "grain")
    hit = pl.any_horizontal(
        pl.col(c).str.to_lowercase().str.contains(needle, literal=True) for c in columns
    )
    return frame.filter(hit)
