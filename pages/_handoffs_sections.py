"""The Handoffs page's sections: the headline figures with their change since the previous
snapshot, the demand waterfall (the answer's chart) and its leads, the follow-up SLA, leakage
and bounce-backs, the ownership ledger and goal conflicts. Layout only: every figure comes from
a cached loader (`_data.metric`); each chart → selection → leads goes through `_drill`."""

from __future__ import annotations

import polars as pl
import streamlit as st

from pages import _chart_specs, _data, _drill, _since, _widgets
from pages._text import md_text
from reports import funnel_charts as charts
from scoring import funnel

DIMS = {"source": "Channel", "team": "Team"}


def _row(frame: pl.DataFrame | None, **keys: str) -> dict | None:
    """The one row of `frame` matching `keys` (None when absent)."""
    if frame is None:
        return None
    rows = frame.filter(*(pl.col(k) == v for k, v in keys.items())) if keys else frame
    return rows.row(0, named=True) if rows.height else None


def _value(row: dict | None, field: str) -> float | None:
    return None if row is None else row.get(field)


def scale(dim: str, values: pl.Series):
    """One colour per channel, or per team as on every page."""
    if dim == "team":
        return charts.extended_team_scale(st.session_state.get("all_teams", []), values.to_list())
    return charts.channel_scale(values.to_list())


def leads_of(view: _data.View, dim: str, name: str, value: str) -> pl.DataFrame:
    """The drill-down `name` for one row of the breakdown: a channel's leads, or a team's
    (every lead the team owned or received, as counted in its row)."""
    if dim == "team":
        return _data.metric(name, view, team=value)
    return _data.metric(name, view).filter(pl.col(dim) == value)


def sla_text(params) -> str:
    """The follow-up SLA as configured: the default and the per-channel overrides."""
    overrides = ", ".join(
        f"{md_text(s)} {h:g} h" for s, h in sorted(params.sla_hours_by_source.items())
    )
    return f"SLA: first touch within **{params.sla_hours:g} h** of the MQL" + (
        f" (per-channel overrides: {overrides})" if overrides else ""
    )


def headline(view: _data.View) -> None:
    """MQLs, MQL → SAL, within SLA, leaked MQLs and bounce-backs, each with its change since
    the previous snapshot (more MQLs, conversion and follow-up are better; leaks and bounces
    worse)."""
    sla_all = _row(_data.metric("follow_up_sla", view, by=()))
    leak_all = _row(_data.metric("leakage", view, by=()))
    bounce_all = _row(_data.metric("bounce_backs", view, by=()))
    mql_row = _row(_data.metric("conversion", view), from_step="mql")
    compared = _since.previous_view(view) is not None
    sla_was = _row(_since.metric_before("follow_up_sla", view, by=()))
    leak_was = _row(_since.metric_before("leakage", view, by=()))
    bounce_was = _row(_since.metric_before("bounce_backs", view, by=()))
    mql_was = _row(_since.metric_before("conversion", view), from_step="mql")
    # One MQL count: recorded MQLs in the period, as the SLA and leakage count them.
    touches_unmeasured = _data.unmeasured(view, "follow_up_sla")
    not_measured = {"delta": f"not measured: {touches_unmeasured}", "delta_color": "off",
                    "delta_arrow": "off"} if touches_unmeasured else {}  # fmt: skip

    def since(now: dict | None, was: dict | None, field: str, unit: str, better_up: bool,
              note: dict | None = None) -> dict:  # fmt: skip
        return _since.delta(_value(now, field), _value(was, field), unit,
                            higher_is_better=better_up, compared=compared, note=note)  # fmt: skip

    cols = st.columns(5)
    cols[0].metric(
        "MQLs in period",
        "n/a" if sla_all is None else f"{sla_all['mqls']:,}",
        help="Leads with a recorded MQL date in the period (a lead that skipped MQL is not "
        "one)." + _since.SINCE_HELP,
        border=True,
        **since(sla_all, sla_was, "mqls", "count", True),
    )
    cols[1].metric(
        "MQL → SAL",
        _widgets.pct(_value(mql_row, "rate")),
        help=_widgets.help_for("conversion.cohort") + _since.SINCE_HELP,
        border=True,
        **since(mql_row, mql_was, "rate", "pts", True),
    )
    cols[2].metric(
        "Within SLA",
        "—" if touches_unmeasured else _widgets.pct(_value(sla_all, "sla_compliance")),
        help=_widgets.help_for("follow_up_sla") + _since.SINCE_HELP,
        border=True,
        **since(sla_all, sla_was, "sla_compliance", "pts", True, not_measured),
    )
    cols[3].metric(
        "Leaked MQLs",
        "—"
        if touches_unmeasured
        else "n/a"
        if leak_all is None
        else f"{leak_all['leaked']:,} ({_widgets.pct(leak_all['leak_share'])})",
        help=_widgets.help_for("leakage") + _since.SINCE_HELP,
        border=True,
        **since(leak_all, leak_was, "leaked", "count", False, not_measured),
    )
    cols[4].metric(
        "Bounce-back rate",
        _widgets.pct(_value(bounce_all, "bounce_back_rate")),
        help=_widgets.help_for("bounce_back_rate") + _since.SINCE_HELP,
        border=True,
        **since(bounce_all, bounce_was, "bounce_back_rate", "pts", False),
    )


def waterfall_chart(conversion: pl.DataFrame, dim: str) -> _drill.Picks:
    """The answer's chart: cohort conversion at each handoff by channel or team; a click on a
    bar picks (channel or team, step). Each breakdown is its own chart (its key names it), so
    a link's pick of a team is never read as a channel."""
    return _drill.chart(
        charts.conversion_chart,
        conversion,
        dim,
        scale(dim, conversion[dim]),
        key=f"conversion_chart_{dim}",
        fields=(dim, "from_step"),
    )


def waterfall_detail(
    view: _data.View, conversion: pl.DataFrame, dim: str, chart_picks: _drill.Picks
) -> None:
    """Time per handoff, the conversion table and the leads behind the picked bar or row."""
    label = DIMS[dim]
    if conversion["immature"].any():
        st.warning(
            f"Immature cohort: {view.period_label} has not ended by {view.as_of}, so recent "
            "leads have not had time to convert; read the later steps with care. Opp → Won is "
            "drawn as a grey placeholder, not yet measurable: the cohort's deals have not had a "
            "sales cycle to close.",
            icon=":material/hourglass_top:",
        )
    _chart_specs.chart(
        charts.step_time_chart, conversion, dim, scale(dim, conversion[dim]),
        key="step_time_chart", width="stretch",
    )  # fmt: skip
    st.caption(
        "Cohort conversion: of the leads that reached a step in the period, the share that "
        "reached the next one by the as-of date. A skipped step counts as reached (back-filled "
        "from the next step). Click a bar or select a row for the leads behind it."
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
    picks = _drill.either(_drill.row_picks(conv_row, (dim, "from_step")), chart_picks)
    step, group_value = picks["from_step"], picks[dim]
    if step:
        group = ((dim, group_value),) if group_value else None
        leads = _data.metric("conversion_leads", view, step=step, group=group)
        shown = {dim: group_value, "from_step": f"{charts.STEP_LABELS[step]} →"}
        _drill.listed(leads, shown, key="conversion_leads", name=f"conversion_leads_{step}",
                      what="leads behind the handoff")  # fmt: skip
    with st.expander("Cohort vs period conversion, and skipped steps"):
        st.caption(
            "Period (run-rate) conversion divides the leads entering the next step in the "
            "period by those entering this step in it: quick to read but it mixes cohorts."
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


def follow_up_sla(view: _data.View, dim: str, params) -> None:
    """Speed to lead against the SLA by channel or team, and the MQLs of a picked bar or row."""
    label = DIMS[dim]
    st.caption(sla_text(params) + " · set in scorecard.toml")
    sla = charts.with_sla_target(
        _data.metric("follow_up_sla", view, by=(dim,)),
        dim,
        params.sla_hours,
        params.sla_hours_by_source,
    )
    if sla.is_empty():
        st.caption("No MQLs in this view.")
        return
    chart_picks = _drill.chart(
        charts.sla_chart, sla, dim, scale(dim, sla[dim]), key=f"sla_chart_{dim}", fields=(dim,)
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
    picks = _drill.either(_drill.row_picks(sla_row, (dim,)), chart_picks)
    if picks[dim]:
        _drill.listed(
            leads_of(view, dim, "follow_up_sla_leads", picks[dim]),
            picks,
            key="sla_leads",
            name=f"follow_up_sla_leads_{picks[dim]}",
            what=f"MQLs of the {label.lower()}",
            column_config={
                "hours_to_touch": _widgets.hours_column("Hours to touch"),
                "sla_hours": _widgets.hours_column("SLA"),
            },
        )


def leakage(view: _data.View, dim: str) -> None:
    """MQLs nobody touched, by channel or team, and the leaked MQLs of a pick."""
    label = DIMS[dim]
    st.markdown("**Leakage: MQLs nobody touched**", help=_widgets.help_for("leakage"))
    frame = _data.metric("leakage", view, by=(dim,))
    chart_picks: _drill.Picks = {dim: None}
    if not frame.is_empty():
        chart_picks = _drill.chart(
            charts.rate_chart, frame, dim, "leak_share", title="Leaked share of MQLs",
            axis_title="Leaked", scale=scale(dim, frame[dim]), count="leaked", total="mqls",
            key=f"leakage_chart_{dim}", fields=(dim,),
        )  # fmt: skip
    leak_row = _widgets.table(
        frame,
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
    picks = _drill.either(_drill.row_picks(leak_row, (dim,)), chart_picks)
    if picks[dim]:
        _drill.listed(
            leads_of(view, dim, "leakage_leads", picks[dim]),
            picks,
            key="leakage_leads",
            name=f"leakage_leads_{picks[dim]}",
            what="leaked MQLs",
            column_config={"hours_untouched": _widgets.hours_column("Hours untouched")},
        )


def bounce_backs(view: _data.View, tables, dim: str) -> None:
    """Leads sales recycled to marketing, by channel or team, and the leads of a pick."""
    label = DIMS[dim]
    st.markdown(
        "**Bounce-backs: recycled to marketing**", help=_widgets.help_for("bounce_back_rate")
    )
    if _widgets.not_available(funnel.funnel_status(tables, "bounce_backs")):
        return
    bounces = _data.metric("bounce_backs", view, by=(dim,))
    chart_picks: _drill.Picks = {dim: None}
    if not bounces.is_empty():
        chart_picks = _drill.chart(
            charts.rate_chart, bounces, dim, "bounce_back_rate", title="Bounce-back rate",
            axis_title="Bounced back", scale=scale(dim, bounces[dim]), count="bounced",
            total="leads_with_sales", key=f"bounce_chart_{dim}", fields=(dim,),
        )  # fmt: skip
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
    picks = _drill.either(_drill.row_picks(bounce_row, (dim,)), chart_picks)
    if picks[dim]:
        _drill.listed(
            leads_of(view, dim, "bounce_back_leads", picks[dim]).filter(pl.col("bounced")),
            picks,
            key="bounce_leads",
            name=f"bounce_back_leads_{picks[dim]}",
            what="leads recycled to marketing",
        )


def ownership_ledger(view: _data.View) -> None:
    """Per team: how long MQLs sat unowned, owner changes and SLA breaches."""
    st.caption(
        "For each MQL of the period: how long it sat with nobody or a queue before a person "
        "owned it, how often its owner changed, and whether the follow-up SLA was breached."
    )
    ownership = _data.metric("ownership_by_team", view)
    if not ownership.is_empty() and not ownership["owner_history_available"].all():
        st.info(
            "Owner history is not available (no owner_id in lead_history), so unowned hours "
            "and owner changes cannot be computed; the other columns still are.",
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


def goal_conflict(view: _data.View) -> None:
    """Quarters where a team's volume rose while the next handoff's conversion fell."""
    st.markdown(
        "**Goal conflict: volume up, next handoff down**", help=_widgets.help_for("goal_conflict")
    )
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
            _chart_specs.chart(
                charts.goal_conflict_chart, conflict, team, key=f"goal_conflict_{team}"
            )
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
