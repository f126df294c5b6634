"""Forecast: this quarter's call (won, commit, best case and pipeline against quota, the
latest submissions, the manager's adjustment, the call by week), then how good each team's
call is, whether its misses are a habit (bias trend), when in the period the call becomes
reliable, where the judged period's miss came from, and the deals that slipped or went bad
late. Every team figure drills down to its deals.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from pages import _chart_specs, _data, _decision_log, _widgets
from pages._text import md_text
from reports import metrics as _metrics
from reports import pipeline_charts as charts
from scoring import call as scoring_call
from scoring import forecast as scoring_forecast
from scoring.model import money, pct

NUM = st.column_config.NumberColumn
TEXT = st.column_config.TextColumn

view = _data.current_view()
params = _data.settings().scoring
lock = params.forecast
all_teams = st.session_state.get("all_teams", [])
teams_label = md_text(", ".join(view.teams)) or "all teams"
context = _metrics.MetricContext(
    as_of=view.as_of_date, period=view.period_obj(params.fiscal_start_month), params=params
)
judged = context.judged.name
period = context.period

st.title("Forecast")
st.caption(f"{period.label} · as of {view.as_of} · {teams_label}")

# --- This quarter's call -------------------------------------------------------------------
quarter = context.call_quarter
the_call = _data.metric("call", view)
with st.container(key="call_section"):
    st.subheader(f"This quarter's call — {quarter.name}", help=_widgets.help_for("call.gap"))
    st.caption(
        f"Deals with a close date in {quarter.name} as they stood at the end of {view.as_of}: "
        "won, and open in commit, best case or another open category (pipeline). Gap = quota − "
        "won; coverage = open pipeline (commit + best case + pipeline) ÷ gap. Submissions older "
        f"than {lock.stale_days} days are stale (`[forecast] stale_days`)."
    )
    total = the_call.filter(pl.col("team") == charts.ALL_TEAMS).row(0, named=True)
    if total["quota_status"] == "below quota":
        headline = (
            f"won **{money(total['won'])}** of **{money(total['quota'])}** quota: gap "
            f"**{money(total['gap'])}**, covered **{total['coverage']:.1f}×** by "
            f"{money(total['open_pipeline'])} of open pipeline"
        )
    elif total["quota_status"] == "above quota":
        headline = (
            f"won **{money(total['won'])}**, above the **{money(total['quota'])}** quota by "
            f"**{money(-total['gap'])}**"
        )
    else:
        headline = f"won **{money(total['won'])}**; gap and coverage {md_text(total['notes'])}"
    st.markdown(f"**{teams_label if view.teams else 'All teams'}**: {headline}.")
    submitted = _data.metric("call_submissions", view)
    stale = submitted.filter(pl.col("stale"))
    if stale.height:
        who = ", ".join(
            f"{row['owner'] or row['team']} ({row['age_days']} days)"
            for row in stale.iter_rows(named=True)
        )
        st.badge(
            f"Stale: {stale.height} submission{'s' if stale.height > 1 else ''} not updated — "
            f"{md_text(who)}",
            icon=":material/schedule:",
            color="orange",
        )
    call_cols = {
        "team": TEXT("Team", pinned=True),
        "won": TEXT("Won", help=_widgets.help_for("call.won")),
        "commit": TEXT("Commit", help=_widgets.help_for("call.commit")),
        "best_case": TEXT("Best case", help=_widgets.help_for("call.best_case")),
        "pipeline": TEXT("Pipeline", help=_widgets.help_for("call.pipeline")),
        "quota": TEXT("Quota"),
        "gap": TEXT("Gap to quota", help=_widgets.help_for("call.gap")),
        "open_pipeline": TEXT("Open pipeline"),
        "coverage": NUM("Coverage of gap", format="%.1f×", help=_widgets.help_for("call.coverage")),
        "call_commit": TEXT("Submitted commit"),
        "submission": TEXT("Latest submission", help=_widgets.help_for("call.submission_age")),
        "call_best_case": TEXT("Submitted best case"),
        "notes": TEXT("Notes"),
    }
    call_table = _widgets.in_team_order(charts.call_table(the_call))[1]
    st.dataframe(
        call_table.to_arrow(),
        key="call",
        hide_index=True,
        placeholder=_widgets.MISSING,
        width="stretch",
        column_config=_widgets.column_defaults(call_table, call_cols),
    )
    _widgets.csv_button(_widgets.in_team_order(the_call)[1], f"call_{quarter.name}", key="call")

    call_missing = scoring_call.call_status(
        _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
    )
    if not _widgets.not_available(call_missing):
        adjustments = _data.metric("call_adjustments", view)
        if adjustments.height:
            st.markdown("**Roll-up: reps' submissions → manager adjustment → team call**")
            _widgets.table(
                charts.money_columns(adjustments, scoring_call.CATEGORIES),
                key="call_adjustments",
                name=f"call_adjustments_{quarter.name}",
                column_config={
                    "team": TEXT("Team", pinned=True),
                    "layer": TEXT("Layer", help=_widgets.help_for("call.manager_adjustment")),
                    "owner": TEXT("Rep"),
                    "commit": TEXT("Commit"),
                    "best_case": TEXT("Best case"),
                    "pipeline": TEXT("Pipeline"),
                },
            )
            st.caption(
                "Each rep's latest submission, then what the manager added on top (team call − "
                "Σ reps), then the team's call: the rep rows and the adjustment add up to the call."
            )
        with st.expander("Latest submission of each team and rep"):
            _widgets.table(
                charts.money_columns(submitted.drop("owner_id"), scoring_call.CATEGORIES),
                key="call_submissions",
                name=f"call_submissions_{quarter.name}",
                column_config={
                    "team": TEXT("Team", pinned=True),
                    "level": TEXT("Level", help="team: the team's call (no owner, or the manager)"),
                    "owner": TEXT("Submitted by"),
                    "submitted_at": _widgets.datetime_column("Submitted"),
                    "age_days": NUM("Age (days)", help=_widgets.help_for("call.submission_age")),
                    "stale": st.column_config.CheckboxColumn("Stale"),
                },
            )

    st.markdown("**The call by week**", help=_widgets.help_for("call.trend"))
    trend_missing = scoring_call.call_trend_status(
        _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
    )
    if trend_missing:
        st.warning(
            f"The weekly trend is not measured: {md_text(trend_missing)}.", icon=":material/report:"
        )
    else:
        call_teams = the_call["team"].to_list()
        shown = st.selectbox(
            "Team",
            [call_teams[-1], *call_teams[:-1]],
            key="call_team",
            label_visibility="collapsed",
        )
        quota_of = the_call.filter(pl.col("team") == shown)["quota"][0]
        _chart_specs.chart(
            charts.call_trend_chart,
            _data.metric("call_trend", view),
            team=shown,
            quota=quota_of,
            key="call_trend_chart",
            width="stretch",
        )
        st.caption(
            "At the end of each week so far: won to date, and won plus the deals then in commit "
            "(and best case), against the commit the team submitted by then (dashed)."
        )
st.divider()
if not period.is_quarter:  # forecasts are per quarter: judge the latest complete one in it
    in_progress = f" in the {period.label}: forecasts are made and judged per quarter"
elif judged != period.name:
    in_progress = f" ({period.name} is still in progress)"
else:
    in_progress = ""
st.markdown(
    f"**Judged period: {judged}** — the latest complete one{in_progress}. The locked call "
    f"is each team's **{lock.category}** forecast standing at the end of **week "
    f"{lock.lock_week}** of the period; risk that surfaces within **{lock.late_days} days** "
    "of period end counts as late (`scorecard.toml`, `[forecast]`)."
)

status = scoring_forecast.forecast_status(
    _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
)
accuracy = _data.metric("forecast_accuracy", view)
wape = _data.metric("wape", view)
slipped = _data.metric("slipped_deals", view)
late = _data.metric("late_risk", view)
judged_wape = wape.filter(pl.col("period") == judged)


def _first(frame: pl.DataFrame, column: str) -> float | None:
    return frame[column][0] if frame.height and column in frame.columns else None


def _signed_pct(value: float | None) -> str:
    """A miss with its sign, in the house style: "+30.0%", "-25.0%"; unknown "—"."""
    text = pct(value)
    return f"+{text}" if value is not None and value > 0 and text != pct(0) else text


k1, k2, k3, k4 = st.columns(4)
k1.metric(
    f"WAPE {judged}",
    pct(_first(judged_wape, "wape")),
    help=_widgets.help_for("wape"),
    border=True,
)
k2.metric(
    f"Pooled bias {judged}",
    _signed_pct(_first(judged_wape, "bias")),
    help=_widgets.help_for("forecast_bias.pooled"),
    border=True,
)
if _first(judged_wape, "bias_min") is not None:
    # The pooled bias nets opposite misses out: show the teams' spread beside it.
    row = judged_wape.row(0, named=True)
    k2.caption(
        f"Teams from {_signed_pct(row['bias_min'])} ({md_text(row['bias_min_team'])}) to "
        f"{_signed_pct(row['bias_max'])} ({md_text(row['bias_max_team'])}); "
        f"{pct(row['off_share'])} of what closed is in {row['teams_off']} of "
        f"{row['teams_judged']} teams off by more than ±{pct(lock.miss_band)}.",
        help=_widgets.help_for("forecast_bias.spread"),
    )
slips_unmeasured = _data.unmeasured(view, "slip_rate")
late_unmeasured = _data.unmeasured(view, "late_risk_share")
k3.metric(
    f"Slipped deals {judged}",
    "–" if slips_unmeasured else f"{slipped.height}",
    delta=f"not measured: {slips_unmeasured}" if slips_unmeasured else None,
    delta_color="off",
    delta_arrow="off",
    help=_widgets.help_for("slip_rate"),
    border=True,
)
k4.metric(
    f"Late-surfaced risk {judged}",
    "–" if late_unmeasured else f"{late.filter(pl.col('late')).height} of {late.height}",
    delta=f"not measured: {late_unmeasured}" if late_unmeasured else None,
    delta_color="off",
    delta_arrow="off",
    help=_widgets.help_for("late_risk_share"),
    border=True,
)

chart_team: str | None = None
if _widgets.not_available(status):
    st.caption(
        "Forecast vs actual, accuracy, bias, WAPE and the miss decomposition need the "
        "`forecasts` table; slipped deals and late-surfaced risk below come from stage history."
    )
else:
    # --- Forecast vs actual ------------------------------------------------------------
    st.subheader("Forecast vs actual by team", help=_widgets.help_for("forecast_accuracy"))
    fva_teams = sorted(set(accuracy["team"]))
    if len(fva_teams) != 1:  # one team in view: its line is the whole view's
        fva_teams = [charts.ALL_TEAMS, *fva_teams]
    fva_team = st.selectbox(
        "Team",
        fva_teams,
        key="fva_team",
        help="All teams: the sum of the teams' locked calls against the sum of what they "
        "closed; or one team's call against its own actual.",
    )
    fva = _chart_specs.chart(
        charts.forecast_vs_actual_chart,
        accuracy,
        teams=all_teams,
        team=fva_team,
        company=wape,
        key="fva_chart",
        on_select="rerun",
        selection_mode=["pick"],
        width="stretch",
    )
    chart_team = _widgets.selected_value(fva, "team")
    st.caption(
        f"{md_text(fva_team)}. Dashed: the locked call ({lock.category} at the end of week "
        f"{lock.lock_week}). Solid: closed-won amount with a close date in the period (hollow "
        "points: period still in progress, won so far). Click a point to drill into the "
        "team's deals below."
    )

    with st.expander("Locked calls vs actuals (table)"):
        _widgets.table(
            accuracy,
            key="accuracy",
            name=f"forecast_accuracy_{view.period}",
            column_config={
                "forecast": NUM("Call", format="dollar"),
                "actual": NUM("Actual", format="dollar"),
                "variance": NUM("Call − actual", format="dollar"),
                "accuracy": NUM("Accuracy", format="percent"),
                "bias": NUM("Bias", format="percent"),
                "ratio": NUM("Call ÷ actual", format="%.2f"),
                "accuracy_vs_forecast": None,
                "variance_pct": None,
                "submitted_at": None,
            },
        )

    # --- Accuracy and bias trend -------------------------------------------------------
    st.subheader("Accuracy and bias trend", help=_widgets.help_for("forecast_bias"))
    acc_col, bias_col = st.columns(2)
    with acc_col:
        _chart_specs.chart(
            charts.trend_chart,
            accuracy,
            field="accuracy",
            title="Accuracy",
            teams=all_teams,
            key="accuracy_chart",
            width="stretch",
        )
        st.caption("Accuracy = 1 − |call − actual| ÷ actual (100% = exact).")
    with bias_col:
        _chart_specs.chart(
            charts.trend_chart,
            accuracy,
            field="bias",
            title="Bias",
            teams=all_teams,
            key="bias_chart",
            width="stretch",
        )
        st.caption("Bias = (call − actual) ÷ actual: above zero over-forecasts, below sandbags.")
    trend = _widgets.in_team_order(_data.metric("forecast_trend", view))[1]
    st.dataframe(
        trend.drop("period").to_arrow(),
        key="trend",
        hide_index=True,
        placeholder=_widgets.MISSING,
        width="stretch",
        column_config={
            "team": TEXT("Team", pinned=True),
            "pattern": TEXT(
                "Pattern",
                help="sandbagging / over_forecasting: the same sign of bias in every judged "
                "period (at least 2); mixed otherwise.",
            ),
            "accuracy": st.column_config.LineChartColumn("Accuracy", y_min=0, y_max=1),
            "bias": st.column_config.LineChartColumn("Bias", y_min=-0.5, y_max=0.5),
            "mean_bias": NUM(
                "Mean bias", format="percent", help=_widgets.help_for("forecast_bias")
            ),
            "periods_judged": NUM("Periods judged"),
            "periods_over": NUM("Over"),
            "periods_under": NUM("Under"),
        },
    )
    _widgets.csv_button(charts.csv_safe(trend), f"forecast_trend_{view.period}", key="trend")

    # --- Accuracy by week ----------------------------------------------------------------
    st.subheader(
        f"Accuracy by week of period — {judged}", help=_widgets.help_for("forecast_accuracy")
    )
    _chart_specs.chart(
        charts.week_accuracy_chart,
        _data.metric("forecast_variance", view),
        period=judged,
        category=lock.category,
        lock_week=lock.lock_week,
        teams=all_teams,
        key="week_chart",
        width="stretch",
    )
    st.caption(
        f"How good the {lock.category} call made in week k of {judged} was, judged against "
        "what finally closed. The dashed rule marks the lock week."
    )

    # --- WAPE -------------------------------------------------------------------------------
    st.subheader("WAPE by period", help=_widgets.help_for("wape"))
    w_chart, w_table = st.columns([3, 2])
    with w_chart:
        _chart_specs.chart(charts.wape_chart, wape, key="wape_chart", width="stretch")
    with w_table:
        _widgets.table(
            wape,
            key="wape",
            name=f"wape_{view.period}",
            column_config={
                "forecast": NUM("Calls", format="compact"),
                "actual": NUM("Actual", format="compact"),
                "abs_error": NUM("|Error|", format="compact"),
                "period": TEXT("Period"),
                "teams": NUM("Teams"),
                "signed_error": None,
                "is_complete": None,
                "wape": NUM("WAPE", format="percent"),
                "bias": NUM("Pooled bias", format="percent"),
                "teams_judged": NUM("Teams judged"),
                "bias_min": NUM("Lowest bias", format="percent"),
                "bias_min_team": TEXT("Lowest"),
                "bias_max": NUM("Highest bias", format="percent"),
                "bias_max_team": TEXT("Highest"),
                "teams_off": NUM(f"Teams off ±{lock.miss_band:.0%}"),
                "off_actual": NUM("Closed in teams off", format="compact"),
                "off_share": NUM(
                    "Share of closed off",
                    format="percent",
                    help=_widgets.help_for("forecast_bias.off_share"),
                ),
            },
        )
    st.caption(
        "WAPE = Σ|call − actual| ÷ Σ actual over the teams' locked calls (lower is "
        "better): each team's miss counts, whatever its sign. The pooled bias nets misses "
        "out, so the lowest and highest team bias sit beside it; empty for a period still "
        "in progress."
    )

    # --- Miss decomposition ----------------------------------------------------------------
    st.subheader(
        f"Where the {judged} miss came from", help=_widgets.help_for("forecast_miss_decomposition")
    )
    miss = _data.metric("forecast_miss", view)
    miss_pick = _chart_specs.chart(
        charts.miss_chart,
        miss,
        key="miss_chart",
        on_select="rerun",
        selection_mode=["pick"],
        width="stretch",
    )
    chart_team = _widgets.selected_value(miss_pick, "team") or chart_team
    st.caption(
        "miss = actual − call = wins not in commit − slipped − lost − still open + amount "
        "changes + judgement (the call above or below the deals committed at lock). Rows "
        "by source split the team row. Select a row to list its deals."
    )
    miss_row = _widgets.table(
        miss,
        key="miss",
        name=f"forecast_miss_{judged}",
        select=True,
        column_config={
            "team": TEXT("Team", pinned=True),
            "sourced_by": TEXT("Source"),
            "period": None,
            "forecast": NUM("Call", format="compact"),
            "actual": NUM("Actual", format="compact"),
            "miss": NUM("Miss (A − F)", format="compact"),
            "committed_at_lock": NUM("Committed at lock", format="compact"),
            **{c: NUM(charts.MISS_LABELS[c], format="compact") for c in charts.MISS_SIGNS},
            "is_complete": None,
        },
    )
    m_team = miss_row["team"][0] if miss_row is not None else chart_team
    m_source = miss_row["sourced_by"][0] if miss_row is not None else None
    if m_team:
        source = None if m_source == charts.ALL_SOURCES else m_source
        st.markdown(
            f"**Deals behind the {judged} miss — {md_text(m_team)}"
            f"{' · ' + md_text(source) if source else ''}**"
        )
        _widgets.table(
            charts.drill(_data.metric("forecast_miss_deals", view), team=m_team, sourced_by=source),
            key="miss_deals",
            name=f"forecast_miss_deals_{m_team}_{judged}",
            column_config={
                "amount_at_lock": NUM("At lock", format="dollar"),
                "amount_now": NUM("Now", format="dollar"),
                "contribution": NUM("Contribution", format="dollar"),
            },
        )

# --- Slipped deals ---------------------------------------------------------------------
st.subheader(f"Slipped deals — {judged}", help=_widgets.help_for("slip_rate"))
if slips_unmeasured:
    st.warning(f"Slips are not measured: {md_text(slips_unmeasured)}.", icon=":material/report:")
slip_row = _widgets.table(
    _data.metric("slip_summary", view),
    key="slip_summary",
    name=f"slip_summary_{judged}",
    select=True,
    column_config={
        "team": TEXT("Team", pinned=True),
        "pipeline_count": NUM("Deals at start"),
        "pipeline_amount": NUM("Pipeline at start", format="compact"),
        "slipped_count": NUM("Slipped"),
        "slipped_amount": NUM("Slipped $", format="compact"),
        "pushes_per_deal": NUM(
            "Pushes / slipped deal", format="%.1f", help=_widgets.help_for("pushes_per_deal")
        ),
        "slip_rate": NUM("Slip rate ($)", format="percent", help=_widgets.help_for("slip_rate")),
    },
)
slip_team = slip_row["team"][0] if slip_row is not None else chart_team
st.caption(
    f"Deals open with a close date in {judged} at its start that did not close in it. "
    f"Pushes: close-date increases in the deal's history. Select a team to list its deals"
    f"{' (showing ' + md_text(slip_team) + ')' if slip_team else ''}."
)
_widgets.table(
    charts.drill(slipped, team=slip_team),
    key="slipped",
    name=f"slipped_deals_{judged}",
    column_config={
        "amount_at_start": NUM("Amount at start", format="dollar"),
        "pushes": NUM("Pushes"),
        "push_days": NUM("Days pushed"),
        "close_date_at_start": st.column_config.DateColumn("Close date at start"),
        "close_date_now": st.column_config.DateColumn("Close date now"),
    },
)

# --- Late-surfaced risk ----------------------------------------------------------------
st.subheader(f"Late-surfaced risk — {judged}", help=_widgets.help_for("late_risk_share"))
if late_unmeasured:
    st.warning(f"Late risk is not measured: {md_text(late_unmeasured)}.", icon=":material/report:")
late_row = _widgets.table(
    _data.metric("late_risk_summary", view),
    key="late_summary",
    name=f"late_risk_summary_{judged}",
    select=True,
    column_config={
        "team": TEXT("Team", pinned=True),
        "risk_count": NUM("Went bad"),
        "risk_amount": NUM("Amount", format="compact"),
        "median_days_before_end": NUM("Median days before end", format="%.0f"),
        "late_count": NUM("Late"),
        "late_share": NUM(
            "Late share", format="percent", help=_widgets.help_for("late_risk_share")
        ),
    },
)
late_team = late_row["team"][0] if late_row is not None else chart_team
st.caption(
    f"Deals in commit during {judged} that were later lost, pushed out or downgraded (or "
    f"just missed). Late = surfaced within {lock.late_days} days of period end. Select a team "
    f"to list its deals{' (showing ' + md_text(late_team) + ')' if late_team else ''}."
)
_widgets.table(
    charts.drill(late, team=late_team).sort(
        "late", "days_before_period_end", descending=[True, False]
    ),
    key="late_risk",
    name=f"late_risk_{judged}",
    column_config={
        "amount": NUM("Amount", format="dollar"),
        "reason": TEXT("Reason"),
        "surfaced_date": st.column_config.DateColumn("Surfaced"),
        "days_before_period_end": NUM("Days before end"),
        "late": st.column_config.CheckboxColumn("Late"),
        "committed_at": None,
        "surfaced_at": None,
    },
)

_decision_log.record_expander("forecast", about_kind="metric", about_id="late_risk_share")
