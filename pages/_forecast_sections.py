"""The Forecast page's sections, laid out: this quarter's call (the answer), then one function
per tab — the call's detail, forecast vs actual, the accuracy and bias trend, where the judged
period's miss came from, and the deals that slipped or went bad late. Layout only: every figure
comes from a cached loader (`pages._data`); chart picks and selected rows drill down through
`pages._drill`."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from model.calendar import Period
from pages import _chart_specs, _data, _drill, _widgets
from pages._text import md_text
from reports import pipeline_charts as charts
from scoring import call as scoring_call
from scoring.model import money, pct

NUM = st.column_config.NumberColumn
TEXT = st.column_config.TextColumn
SINCE = "\n\nThe arrow: the change since the previous snapshot (green is better)."
NO_TEAM: _drill.Picks = {"team": None}


def _off(text: str) -> dict[str, str]:
    """A note in the metric's delta slot: grey, no arrow (not a change)."""
    return {"delta": text, "delta_color": "off", "delta_arrow": "off"}


def call_answer(view: _data.View, quarter: Period, judged: str, the_call: pl.DataFrame) -> None:
    """This quarter's call for the view: won so far, the gap to quota and how well the open
    pipeline covers it, how good the last judged call was (with its change since the previous
    snapshot), stale submissions, and the call of each team."""
    lock = _data.settings().scoring.forecast
    teams_label = md_text(", ".join(view.teams)) or "all teams"
    st.subheader(f"This quarter's call — {quarter.name}", help=_widgets.help_for("call.gap"))
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
    _call_metrics(view, total, judged)
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
    st.caption(
        f"Deals with a close date in {quarter.name} as they stood at the end of {view.as_of}: "
        "won, and open in commit, best case or another open category (pipeline). Gap = quota − "
        "won; coverage = open pipeline (commit + best case + pipeline) ÷ gap. Submissions older "
        f"than {lock.stale_days} days are stale (`[forecast] stale_days`)."
    )


def _call_metrics(view: _data.View, total: dict[str, Any], judged: str) -> None:
    """The call's headline figures; the judged call's accuracy with its change since the
    previous snapshot (the Scorecard's All teams row)."""
    status = total["quota_status"]
    if status == "below quota":
        gap, gap_note = money(total["gap"]), {}
    elif status == "above quota":
        gap, gap_note = "none", _off(f"above quota by {money(-total['gap'])}")
    else:
        gap, gap_note = "—", _off(f"not measured: {total['notes']}")
    coverage = total["coverage"]
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(
        "Won so far",
        money(total["won"]),
        help=_widgets.help_for("call.won"),
        border=True,
    )
    k2.metric("Gap to quota", gap, help=_widgets.help_for("call.gap"), border=True, **gap_note)
    k3.metric(
        "Coverage of gap",
        "—" if coverage is None else f"{coverage:.1f}×",
        help=_widgets.help_for("call.coverage"),
        border=True,
        **({} if coverage is not None or gap_note else _off("not measured")),
    )
    accuracy = {r["team"]: r for r in _data.scorecard(view).headline.to_dicts()}.get(
        charts.ALL_TEAMS, {}
    ).get("forecast_accuracy")
    k4.metric(
        f"Forecast accuracy {judged}",
        pct(accuracy) if accuracy is not None else "—",
        help=_widgets.help_for("forecast_accuracy")
        + "\n\nAll teams: 1 − WAPE of the teams' locked calls (each team's miss counts)."
        + SINCE,
        border=True,
        **_widgets.since_last_snapshot(
            "forecast_accuracy",
            "pts",
            higher_is_better=True,
            note=None if accuracy is not None else _off("not measured: no judged call"),
        ),
    )


def call_detail(view: _data.View, quarter: Period, the_call: pl.DataFrame) -> None:
    """The call's roll-up (reps → manager adjustment → team call), the latest submissions and
    the call by week."""
    tables = _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
    if not _widgets.not_available(scoring_call.call_status(tables)):
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
                charts.money_columns(
                    _data.metric("call_submissions", view).drop("owner_id"),
                    scoring_call.CATEGORIES,
                ),
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
    trend_missing = scoring_call.call_trend_status(tables)
    if trend_missing:
        st.warning(
            f"The weekly trend is not measured: {md_text(trend_missing)}.", icon=":material/report:"
        )
        return
    call_teams = the_call["team"].to_list()
    shown = st.selectbox(
        "Team", [call_teams[-1], *call_teams[:-1]], key="call_team", label_visibility="collapsed"
    )
    _chart_specs.chart(
        charts.call_trend_chart,
        _data.metric("call_trend", view),
        team=shown,
        quota=the_call.filter(pl.col("team") == shown)["quota"][0],
        key="call_trend_chart",
        width="stretch",
    )
    st.caption(
        "At the end of each week so far: won to date, and won plus the deals then in commit "
        "(and best case), against the commit the team submitted by then (dashed)."
    )


def _first(frame: pl.DataFrame, column: str) -> float | None:
    return frame[column][0] if frame.height and column in frame.columns else None


def _signed_pct(value: float | None) -> str:
    """A miss with its sign, in the house style: "+30.0%", "-25.0%"; unknown "—"."""
    text = pct(value)
    return f"+{text}" if value is not None and value > 0 and text != pct(0) else text


def judged_note(period: Period, judged: str) -> None:
    """Which quarter the forecast is judged on, and the locked call's settings."""
    lock = _data.settings().scoring.forecast
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


def judged_metrics(view: _data.View, judged: str) -> None:
    """The judged quarter's WAPE, pooled bias (with the teams' spread), slipped deals and
    late-surfaced risk; "not measured" with the reason where the source cannot say."""
    lock = _data.settings().scoring.forecast
    judged_wape = _data.metric("wape", view).filter(pl.col("period") == judged)
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(
        f"WAPE {judged}", pct(_first(judged_wape, "wape")), help=_widgets.help_for("wape"),
        border=True,
    )  # fmt: skip
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
    late = _data.metric("late_risk", view)
    k3.metric(
        f"Slipped deals {judged}",
        "—" if slips_unmeasured else f"{_data.metric('slipped_deals', view).height}",
        help=_widgets.help_for("slip_rate"),
        border=True,
        **(_off(f"not measured: {slips_unmeasured}") if slips_unmeasured else {}),
    )
    k4.metric(
        f"Late-surfaced risk {judged}",
        "—" if late_unmeasured else f"{late.filter(pl.col('late')).height} of {late.height}",
        help=_widgets.help_for("late_risk_share"),
        border=True,
        **(_off(f"not measured: {late_unmeasured}") if late_unmeasured else {}),
    )


def forecast_vs_actual(view: _data.View) -> _drill.Picks:
    """Each team's locked call against what it closed, per quarter; a point clicked picks the
    team whose deals the miss, slipped and late tabs list."""
    lock = _data.settings().scoring.forecast
    accuracy = _data.metric("forecast_accuracy", view)
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
    picks = _drill.chart(
        charts.forecast_vs_actual_chart,
        accuracy,
        teams=st.session_state.get("all_teams", []),
        team=fva_team,
        company=_data.metric("wape", view),
        key="fva_chart",
        fields=("team",),
    )
    st.caption(
        f"{md_text(fva_team)}. Dashed: the locked call ({lock.category} at the end of week "
        f"{lock.lock_week}). Solid: closed-won amount with a close date in the period (hollow "
        "points: period still in progress, won so far). Click a point to list the team's deals "
        "in the other tabs (miss, slipped, late)."
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
    return picks


def trend(view: _data.View, judged: str) -> None:
    """Whether misses are a habit (accuracy and bias per quarter), when in the period the call
    becomes reliable (accuracy by week), and WAPE by period."""
    lock = _data.settings().scoring.forecast
    all_teams = st.session_state.get("all_teams", [])
    accuracy = _data.metric("forecast_accuracy", view)
    st.subheader("Accuracy and bias trend", help=_widgets.help_for("forecast_bias"))
    acc_col, bias_col = st.columns(2)
    with acc_col:
        _chart_specs.chart(
            charts.trend_chart, accuracy, field="accuracy", title="Accuracy", teams=all_teams,
            key="accuracy_chart", width="stretch",
        )  # fmt: skip
        st.caption("Accuracy = 1 − |call − actual| ÷ actual (100% = exact).")
    with bias_col:
        _chart_specs.chart(
            charts.trend_chart, accuracy, field="bias", title="Bias", teams=all_teams,
            key="bias_chart", width="stretch",
        )  # fmt: skip
        st.caption("Bias = (call − actual) ÷ actual: above zero over-forecasts, below sandbags.")
    by_team = _widgets.in_team_order(_data.metric("forecast_trend", view))[1]
    st.dataframe(
        by_team.drop("period").to_arrow(),
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
    _widgets.csv_button(charts.csv_safe(by_team), f"forecast_trend_{view.period}", key="trend")

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

    wape = _data.metric("wape", view)
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


def miss(view: _data.View, judged: str, fva: _drill.Picks) -> _drill.Picks:
    """Where the judged period's miss came from, per team and source; the deals behind a bar
    clicked or a row selected. Returns the team picked (for the slipped and late tabs)."""
    st.subheader(
        f"Where the {judged} miss came from", help=_widgets.help_for("forecast_miss_decomposition")
    )
    decomposition = _data.metric("forecast_miss", view)
    clicked = _drill.either(
        _drill.chart(charts.miss_chart, decomposition, key="miss_chart", fields=("team",)), fva
    )
    st.caption(
        "miss = actual − call = wins not in commit − slipped − lost − still open + amount "
        "changes + judgement (the call above or below the deals committed at lock). Rows "
        "by source split the team row. Click a bar or select a row to list its deals."
    )
    row = _widgets.table(
        decomposition,
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
    picks = _drill.either(_drill.row_picks(row, ("team", "sourced_by")), clicked)
    if picks.get("sourced_by") == charts.ALL_SOURCES:
        picks = {**picks, "sourced_by": None}  # the team row: every source
    _drill.records(
        _data.metric("forecast_miss_deals", view),
        picks,
        key="miss_deals",
        name=f"forecast_miss_deals_{picks['team']}_{judged}",
        what=f"deals behind the {judged} miss",
        hint="Click a bar or select a row to list the deals behind the team's miss.",
        column_config={
            "amount_at_lock": NUM("At lock", format="dollar"),
            "amount_now": NUM("Now", format="dollar"),
            "contribution": NUM("Contribution", format="dollar"),
        },
    )
    return {"team": picks["team"]}


def slipped_and_late(view: _data.View, judged: str, chart_team: _drill.Picks) -> None:
    """The deals that slipped out of the judged period, and those that went bad late; a team
    selected (or picked on a chart) lists its deals."""
    lock = _data.settings().scoring.forecast
    slips_unmeasured = _data.unmeasured(view, "slip_rate")
    late_unmeasured = _data.unmeasured(view, "late_risk_share")
    st.subheader(f"Slipped deals — {judged}", help=_widgets.help_for("slip_rate"))
    if slips_unmeasured:
        st.warning(
            f"Slips are not measured: {md_text(slips_unmeasured)}.", icon=":material/report:"
        )
    row = _widgets.table(
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
            "slip_rate": NUM(
                "Slip rate ($)", format="percent", help=_widgets.help_for("slip_rate")
            ),
        },
    )
    st.caption(
        f"Deals open with a close date in {judged} at its start that did not close in it. "
        "Pushes: close-date increases in the deal's history. Select a team to list its deals."
    )
    _drill.records(
        _data.metric("slipped_deals", view),
        _drill.either(_drill.row_picks(row, ("team",)), chart_team),
        key="slipped",
        name=f"slipped_deals_{judged}",
        what="slipped deals",
        column_config={
            "amount_at_start": NUM("Amount at start", format="dollar"),
            "pushes": NUM("Pushes"),
            "push_days": NUM("Days pushed"),
            "close_date_at_start": st.column_config.DateColumn("Close date at start"),
            "close_date_now": st.column_config.DateColumn("Close date now"),
        },
    )

    st.subheader(f"Late-surfaced risk — {judged}", help=_widgets.help_for("late_risk_share"))
    if late_unmeasured:
        st.warning(
            f"Late risk is not measured: {md_text(late_unmeasured)}.", icon=":material/report:"
        )
    row = _widgets.table(
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
    st.caption(
        f"Deals in commit during {judged} that were later lost, pushed out or downgraded (or "
        f"just missed). Late = surfaced within {lock.late_days} days of period end. Select a "
        "team to list its deals."
    )
    late = _data.metric("late_risk", view).sort(
        "late", "days_before_period_end", descending=[True, False]
    )
    _drill.records(
        late,
        _drill.either(_drill.row_picks(row, ("team",)), chart_team),
        key="late_risk",
        name=f"late_risk_{judged}",
        what="deals that went bad",
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
