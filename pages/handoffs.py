"""Handoffs: where demand is lost between marketing, SDRs and sales.

The demand waterfall (lead → MQL → SAL → SQL → opportunity → won) with cohort conversion and
time per step, by channel or by team; MQL follow-up against the SLA; leakage and
bounce-backs; the lead ownership ledger; goal conflicts; and the leads behind every figure.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from pages import _chart_specs, _data, _decision_log, _widgets
from pages._text import md_text
from reports import funnel_charts as charts
from scoring import funnel

DIMS = {"source": "Channel", "team": "Team"}
PCT = {"format": "percent"}


def _row(frame: pl.DataFrame, **keys: str) -> dict | None:
    """The one row of `frame` matching `keys` (None when absent)."""
    rows = frame.filter(*(pl.col(k) == v for k, v in keys.items())) if keys else frame
    return rows.row(0, named=True) if rows.height else None


def _value(row: dict | None, field: str) -> float | None:
    return None if row is None else row.get(field)


def _scale(dim: str, values: pl.Series):
    if dim == "team":
        return charts.extended_team_scale(st.session_state.get("all_teams", []), values.to_list())
    return charts.channel_scale(values.to_list())


def _leads_of(name: str, value: str) -> pl.DataFrame:
    """The drill-down `name` for one row of the breakdown: a channel's leads, or a team's
    (every lead the team owned or received, as counted in its row)."""
    if dim == "team":
        return _data.metric(name, view, team=value)
    return _data.metric(name, view).filter(pl.col(dim) == value)


def _sla_text(params) -> str:
    overrides = ", ".join(
        f"{md_text(s)} {h:g} h" for s, h in sorted(params.sla_hours_by_source.items())
    )
    return f"SLA: first touch within **{params.sla_hours:g} h** of the MQL" + (
        f" (per-channel overrides: {overrides})" if overrides else ""
    )


view = _data.current_view()
tables = _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
funnel_params = _data.settings().scoring.funnel
teams_label = md_text(", ".join(view.teams)) or "all teams"

st.title("Handoffs")
st.caption(
    f"{view.period_label} · as of {view.as_of} · {teams_label} · leads are counted in the "
    "period they reached each step"
    + (
        "; the team filter keeps the leads of the selected teams: those their people owned at "
        "some step and those converted into their deals (the same as their rows by team)"
        if view.teams
        else ""
    )
)

if _widgets.not_available(funnel.funnel_status(tables, "conversion")):
    st.stop()

dim = st.segmented_control(
    "Break down by",
    list(DIMS),
    format_func=DIMS.get,
    default="source",
    required=True,
    key="handoffs_dim",
    help="Channel = the lead's source. Team = every team that owned the lead at some step "
    "(a queue counts for its team) and the team of the deal it converted into: a lead the SDRs "
    "handed to EMEA counts for both, so team rows need not add up to the total.",
)
dim = dim or "source"
label = DIMS[dim]

# ---------------------------------------------------------------- headline
overall = _data.metric("conversion", view)
sla_all = _row(_data.metric("follow_up_sla", view, by=()))
leak_all = _row(_data.metric("leakage", view, by=()))
bounce_all = _row(_data.metric("bounce_backs", view, by=()))
mql_row = _row(overall, from_step="mql")
# One MQL count: recorded MQLs in the period, as the SLA and leakage count them.
touches_unmeasured = _data.unmeasured(view, "follow_up_sla")
not_measured = {"delta": f"not measured: {touches_unmeasured}", "delta_color": "off",
                "delta_arrow": "off"} if touches_unmeasured else {}  # fmt: skip
cols = st.columns(5)
cols[0].metric(
    "MQLs in period",
    "n/a" if sla_all is None else f"{sla_all['mqls']:,}",
    help="Leads with a recorded MQL date in the period (a lead that skipped MQL is not one).",
    border=True,
)
cols[1].metric(
    "MQL → SAL",
    _widgets.pct(_value(mql_row, "rate")),
    help=_widgets.help_for("conversion.cohort"),
    border=True,
)
cols[2].metric(
    "Within SLA",
    "–" if touches_unmeasured else _widgets.pct(_value(sla_all, "sla_compliance")),
    help=_widgets.help_for("follow_up_sla"),
    border=True,
    **not_measured,
)
cols[3].metric(
    "Leaked MQLs",
    "–"
    if touches_unmeasured
    else "n/a"
    if leak_all is None
    else f"{leak_all['leaked']:,} ({_widgets.pct(leak_all['leak_share'])})",
    help=_widgets.help_for("leakage"),
    border=True,
    **not_measured,
)
cols[4].metric(
    "Bounce-back rate",
    _widgets.pct(_value(bounce_all, "bounce_back_rate")),
    help=_widgets.help_for("bounce_back_rate"),
    border=True,
)

# ---------------------------------------------------------------- demand waterfall
st.subheader(f"Demand waterfall by {label.lower()}")
conversion = charts.transitions(_data.metric("conversion", view, by=(dim,)))
if conversion["immature"].any():
    st.warning(
        f"Immature cohort: {view.period_label} has not ended by {view.as_of}, so recent leads have "
        "not had time to convert; read the later steps with care. Opp → Won is drawn as a grey "
        "placeholder, not yet measurable: the cohort's deals have not had a sales cycle to close.",
        icon=":material/hourglass_top:",
    )
scale = _scale(dim, conversion[dim])
left, right = st.columns(2)
with left:
    conv_state = _chart_specs.chart(
        charts.conversion_chart,
        conversion,
        dim,
        scale,
        key="conversion_chart",
        on_select="rerun",
        selection_mode=["pick"],
    )
with right:
    _chart_specs.chart(charts.step_time_chart, conversion, dim, scale, key="step_time_chart")
st.caption(
    "Cohort conversion: of the leads that reached a step in the period, the share that reached "
    "the next one by the as-of date. A skipped step counts as reached (back-filled from the "
    "next step). Click a bar or select a row for the leads behind it."
)
conv_row = _widgets.table(
    charts.conversion_bars(conversion).select(
        dim,
        "transition",
        "cohort",
        "converted",
        # empty for an immature cohort's Opp → Won: not yet measurable, not 0%
        pl.col("rate_shown").alias("rate"),
        "median_days",
        "p90_days",
        "immature",
        "from_step",
    ),
    key="conversion_table",
    name=f"conversion_by_{dim}_{view.period}",
    select=True,
    column_config={
        dim: st.column_config.TextColumn(label, pinned=True),
        "transition": "Handoff",
        "cohort": st.column_config.NumberColumn("Cohort", help="Leads that reached the step"),
        "converted": "Converted",
        "rate": _widgets.percent_column("Conversion", "conversion.cohort"),
        "median_days": _widgets.days_column("Median time"),
        "p90_days": _widgets.days_column("p90 time"),
        "immature": st.column_config.CheckboxColumn("Immature"),
        "from_step": None,
    },
)
step = charts.picked(conv_state, conv_row, "from_step")
group_value = charts.picked(conv_state, conv_row, dim)
if step:
    group = ((dim, group_value),) if group_value else None
    leads = _data.metric("conversion_leads", view, step=step, group=group)
    where = f" · {label}: {md_text(group_value)}" if group_value else ""
    st.markdown(
        f"**Leads behind {charts.STEP_LABELS[step]} →** (step {step}{where}): {leads.height:,}"
    )
    _widgets.table(leads, key="conversion_leads", name=f"conversion_leads_{step}")

with st.expander("Cohort vs period conversion, and skipped steps"):
    st.caption(
        "Period (run-rate) conversion divides the leads entering the next step in the period by "
        "those entering this step in it: quick to read but it mixes cohorts."
    )
    compare = charts.transitions(_data.metric("conversion_compare", view))
    _widgets.table(
        compare.select("transition", "cohort_rate", "period_rate", "difference"),
        key="conversion_compare",
        name=f"conversion_compare_{view.period}",
        column_config={
            "transition": "Handoff",
            "cohort_rate": _widgets.percent_column("Cohort", "conversion.cohort"),
            "period_rate": _widgets.percent_column("Period", "conversion.period"),
            "difference": _widgets.percent_column("Period − cohort"),
        },
    )
    _widgets.table(
        _data.metric("funnel_skip_rate", view),
        key="funnel_skip_rate",
        name="funnel_skip_rate",
        column_config={"skip_rate": _widgets.percent_column("Skip rate", "funnel_skip_rate")},
    )

# ---------------------------------------------------------------- follow-up SLA
st.subheader(f"MQL follow-up SLA by {label.lower()}")
st.caption(_sla_text(funnel_params) + " · set in scorecard.toml")
sla = charts.with_sla_target(
    _data.metric("follow_up_sla", view, by=(dim,)),
    dim,
    funnel_params.sla_hours,
    funnel_params.sla_hours_by_source,
)
if sla.is_empty():
    st.caption("No MQLs in this view.")
else:
    sla_state = _chart_specs.chart(
        charts.sla_chart,
        sla,
        dim,
        scale,
        key="sla_chart",
        on_select="rerun",
        selection_mode=["pick"],
    )
    st.caption(
        "Bars: median hours from MQL to first touch (red when above the SLA); black tick: the "
        "SLA target. Label: share of due MQLs touched within the SLA."
    )
    sla_row = _widgets.table(
        sla,
        key="sla_table",
        name=f"follow_up_sla_by_{dim}_{view.period}",
        select=True,
        column_config={
            dim: st.column_config.TextColumn(label, pinned=True),
            "mqls": "MQLs",
            "met": "Met",
            "breached": "Breached",
            "pending": "Pending",
            "untouched": "Untouched",
            "due": st.column_config.NumberColumn("Due", help="MQLs whose SLA deadline has passed"),
            "sla_compliance": _widgets.percent_column("Within SLA", "follow_up_sla"),
            "median_hours_to_touch": _widgets.hours_column("Median to touch"),
            "p90_hours_to_touch": _widgets.hours_column("p90 to touch"),
            "sla_hours": _widgets.hours_column("SLA"),
        },
    )
    sla_value = charts.picked(sla_state, sla_row, dim)
    if sla_value:
        sla_leads = _leads_of("follow_up_sla_leads", sla_value)
        st.markdown(f"**MQLs of {label.lower()} {md_text(sla_value)}**: {sla_leads.height:,}")
        _widgets.table(
            sla_leads,
            key="sla_leads",
            name=f"follow_up_sla_leads_{sla_value}",
            column_config={
                "hours_to_touch": _widgets.hours_column("Hours to touch"),
                "sla_hours": _widgets.hours_column("SLA"),
            },
        )

# ---------------------------------------------------------------- leakage and bounce-backs
st.subheader(f"Leakage and bounce-backs by {label.lower()}")
leak_col, bounce_col = st.columns(2)
with leak_col:
    st.markdown("**Leakage: MQLs nobody touched**", help=_widgets.help_for("leakage"))
    leakage = _data.metric("leakage", view, by=(dim,))
    leak_state = None
    if not leakage.is_empty():
        leak_state = _chart_specs.chart(
            charts.rate_chart,
            leakage,
            dim,
            "leak_share",
            title="Leaked share of MQLs",
            axis_title="Leaked",
            scale=scale,
            count="leaked",
            total="mqls",
            key="leakage_chart",
            on_select="rerun",
            selection_mode=["pick"],
        )
    leak_row = _widgets.table(
        leakage,
        key="leakage_table",
        name=f"leakage_by_{dim}_{view.period}",
        select=True,
        column_config={
            dim: label,
            "mqls": "MQLs",
            "leaked": "Leaked MQLs",
            "leak_share": _widgets.percent_column("Leaked share", "leakage"),
        },
    )
    leak_value = charts.picked(leak_state, leak_row, dim)
    if leak_value:
        leaked = _leads_of("leakage_leads", leak_value)
        st.markdown(f"**Leaked MQLs of {md_text(leak_value)}**: {leaked.height:,}")
        _widgets.table(
            leaked,
            key="leakage_leads",
            name=f"leakage_leads_{leak_value}",
            column_config={"hours_untouched": _widgets.hours_column("Hours untouched")},
        )
with bounce_col:
    st.markdown(
        "**Bounce-backs: recycled to marketing**", help=_widgets.help_for("bounce_back_rate")
    )
    if not _widgets.not_available(funnel.funnel_status(tables, "bounce_backs")):
        bounces = _data.metric("bounce_backs", view, by=(dim,))
        bounce_state = None
        if not bounces.is_empty():
            bounce_state = _chart_specs.chart(
                charts.rate_chart,
                bounces,
                dim,
                "bounce_back_rate",
                title="Bounce-back rate",
                axis_title="Bounced back",
                scale=scale,
                count="bounced",
                total="leads_with_sales",
                key="bounce_chart",
                on_select="rerun",
                selection_mode=["pick"],
            )
        bounce_row = _widgets.table(
            bounces,
            key="bounce_table",
            name=f"bounce_backs_by_{dim}_{view.period}",
            select=True,
            column_config={
                dim: label,
                "leads_with_sales": "Held by sales",
                "bounced": "Bounced back",
                "bounce_back_rate": _widgets.percent_column("Bounce-back rate", "bounce_back_rate"),
            },
        )
        bounce_value = charts.picked(bounce_state, bounce_row, dim)
        if bounce_value:
            bounced = _leads_of("bounce_back_leads", bounce_value).filter(pl.col("bounced"))
            st.markdown(
                f"**Leads of {md_text(bounce_value)} recycled to marketing**: {bounced.height:,}"
            )
            _widgets.table(bounced, key="bounce_leads", name=f"bounce_back_leads_{bounce_value}")

# ---------------------------------------------------------------- ownership ledger
st.subheader("Lead ownership ledger by team")
st.caption(
    "For each MQL of the period: how long it sat with nobody or a queue before a person owned "
    "it, how often its owner changed, and whether the follow-up SLA was breached."
)
ownership = _data.metric("ownership_by_team", view)
if not ownership.is_empty() and not ownership["owner_history_available"].all():
    st.info(
        "Owner history is not available (no owner_id in lead_history), so unowned hours and "
        "owner changes cannot be computed; the other columns still are.",
        icon=":material/block:",
    )
_widgets.table(
    ownership,
    key="ownership_table",
    name=f"ownership_by_team_{view.period}",
    column_config={
        "team": st.column_config.TextColumn("Team", pinned=True),
        "mqls": "MQLs",
        "currently_unowned": "Unowned now",
        "never_assigned": "Never assigned",
        "median_unowned_hours": _widgets.hours_column("Median unowned", "unowned_hours"),
        "p90_unowned_hours": _widgets.hours_column("p90 unowned"),
        "owner_changes": st.column_config.NumberColumn(
            "Owner changes", help=_widgets.help_for("lead_owner_changes")
        ),
        "sla_breaches": "SLA breaches",
        "sla_breach_rate": _widgets.percent_column("Breach rate", "follow_up_sla"),
        "owner_history_available": None,
    },
)

# ---------------------------------------------------------------- goal conflict
st.subheader("Goal conflict: volume up, next handoff down", help=_widgets.help_for("goal_conflict"))
conflict = _data.metric("goal_conflict", view)
flagged = conflict.filter(pl.col("conflict"))
if flagged.height:
    st.warning(
        "A team hit its volume by passing weaker leads downstream in: "
        + md_text(", ".join(flagged["period"].to_list())),
        icon=":material/warning:",
    )
else:
    st.success("No period flagged: volumes did not rise at the expense of the next handoff.")
for column, team in zip(st.columns(2), ("marketing", "sdr"), strict=True):
    with column:
        _chart_specs.chart(charts.goal_conflict_chart, conflict, team, key=f"goal_conflict_{team}")
_widgets.table(
    conflict,
    key="goal_conflict_table",
    name="goal_conflict",
    column_config={
        "period": st.column_config.TextColumn("Period", pinned=True),
        "period_start": st.column_config.DateColumn("Starts", format="YYYY-MM-DD"),
        "mqls": "MQLs",
        "mql_to_sal": _widgets.percent_column("MQL → SAL", "conversion.cohort"),
        "sals": "SALs",
        "sal_to_sql": _widgets.percent_column("SAL → SQL", "conversion.cohort"),
        "marketing_conflict": st.column_config.CheckboxColumn("Marketing flag"),
        "sdr_conflict": st.column_config.CheckboxColumn("SDR flag"),
        "conflict": st.column_config.CheckboxColumn("Flagged"),
    },
)

_decision_log.record_expander("handoffs", about_kind="handoff")
