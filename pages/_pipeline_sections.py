"""The Pipeline flow page's sections, laid out: the headline figures, then one function per tab
(stalled deals, changes since last review, days in stage, the waterfall, team health).
Layout only: every figure comes from a cached loader (`pages._data`); chart picks and selected
rows drill down through `pages._drill`."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from pages import _changes_charts as changes_charts
from pages import _chart_specs, _data, _drill, _filters, _widgets
from pages._text import md_text
from reports import pipeline_charts as charts
from scoring.review import ReviewChanges, ReviewWindow

NUM = st.column_config.NumberColumn
TEXT = st.column_config.TextColumn
DAYS = "%.0f d"
TIMES = "%.1f×"
SINCE = "\n\nThe arrow: the change since the previous snapshot (green is better)."

STALLED_COLUMNS = {
    "opp_id": TEXT("Deal"),
    "owner": TEXT("Owner"),
    "name": TEXT("Name"),
    "team": TEXT("Team"),
    "stage": TEXT("Stage"),
    "age_days": NUM("Age", format=DAYS, help="Days in the current stage at the as-of date."),
    "threshold_days": NUM("Threshold", format=DAYS),
    "times_threshold": NUM("× threshold", format=TIMES),
    "threshold_source": TEXT("Threshold from"),
    "amount": NUM("Amount", format="dollar"),
    "is_handoff": st.column_config.CheckboxColumn(
        "Handoff stall", help="Entered its stage through a handoff between functions."
    ),
    "close_date": st.column_config.DateColumn("Close date"),
    "owner_id": None,
}


def headline(headline_row: dict[str, Any], stall_reason: str | None) -> None:
    """The four headline figures of the view (All teams row), each with its change since the
    previous snapshot; stall figures say "not measured" with the reason instead of a 0."""
    not_measured = (
        {"delta": f"not measured: {stall_reason}", "delta_color": "off", "delta_arrow": "off"}
        if stall_reason
        else {}
    )

    def kpi(key: str, fmt) -> str:
        if stall_reason and key.startswith(("stalled", "handoff_stalled")):
            return "—"
        value = headline_row.get(key)
        return "n/a" if value is None else fmt(value)

    without_amount = headline_row.get("stalled_without_amount") or 0
    stalled_note = (
        {"delta": f"+ {without_amount} without amount", "delta_color": "off", "delta_arrow": "off"}
        if without_amount and not stall_reason
        else not_measured
    )
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(
        "Stalled deals",
        kpi("stalled_deals", str),
        help=_widgets.help_for("stalled_deals") + SINCE,
        border=True,
        **_widgets.since_last_snapshot(
            "stalled_deals", "count", higher_is_better=False, note=not_measured
        ),
    )
    k2.metric(
        "Stalled pipeline",
        kpi("stalled_amount", _widgets.money),
        border=True,
        help="Known amounts of the open deals counted as stalled at the as-of date; deals "
        "without an amount are counted apart, never as $0." + SINCE,
        **_widgets.since_last_snapshot(
            "stalled_amount", "$", higher_is_better=False, note=stalled_note
        ),
    )
    k3.metric(
        "Stalled at a handoff",
        kpi("handoff_stalled_share", _widgets.pct),
        border=True,
        help=_widgets.help_for("handoff_stall") + SINCE,
        **_widgets.since_last_snapshot(
            "handoff_stalled_share", "pts", higher_is_better=False, note=not_measured
        ),
    )
    k4.metric(
        "Coverage",
        kpi("coverage", lambda v: f"{v:.1f}×"),
        border=True,
        help=_widgets.help_for("coverage") + SINCE,
        **_widgets.since_last_snapshot("coverage", "x", higher_is_better=True),
    )


def stall_heatmap(by_team: pl.DataFrame, stage_order: list[str]) -> _drill.Picks:
    """Where deals are stuck, by team and stage: the heatmap, whose cells can be clicked."""
    picks = _drill.chart(
        charts.stall_heatmap,
        by_team,
        stage_order=stage_order,
        key="stall_heatmap",
        fields=("team", "stage"),
    )
    st.caption(
        "Color and label: the share of the team's open deals in the stage that are stalled "
        "(darker = more of them), with the count behind it; the tooltip compares how long they "
        "sit with the company median. Click a cell, or select a row of the table below, to "
        "list its stalled deals."
    )
    return picks


def stalled_deals(
    by_team: pl.DataFrame,
    stalled: pl.DataFrame,
    handoffs: pl.DataFrame,
    cell: _drill.Picks,
    as_of: str,
) -> None:
    """The stalled deals behind the heatmap's cell or the table's row, then the stalls at a
    handoff."""
    listing = st.container()  # the records first, the table that drills into them below
    st.subheader("Stalls by team and stage", help=_widgets.help_for("stalled_deals"))
    row = _widgets.table(
        by_team,
        key="stalls_by_team",
        name=f"stalls_by_team_{as_of}",
        select=True,
        height=250,
        column_config={
            "team": TEXT("Team", pinned=True),
            "stage": TEXT("Stage"),
            "position": None,
            "open_deals": NUM("Open deals"),
            "stalled_count": NUM("Stalled", help=_widgets.help_for("stalled_deals")),
            "stalled_amount": NUM("Stalled $", format="compact"),
            "median_age_days": NUM("Median age", format=DAYS),
            "company_median_age_days": NUM("Company median", format=DAYS),
            "stalled_share": NUM("Stalled share", format="percent"),
            "company_stalled_share": NUM("Company stalled share", format="percent"),
            "age_vs_company": NUM("× company", format="%.2f×", help="Median age / company median."),
        },
    )
    picks = _drill.either(_drill.row_picks(row, ("team", "stage")), cell)
    with listing:
        shown = _drill.records(
            stalled,
            picks,
            key="stalled",
            name=f"stalled_deals_{as_of}",
            what="stalled deals",
            column_config=STALLED_COLUMNS,
            height=250,
        )
        st.caption("Worst first (age ÷ threshold).")

    st.markdown("#### Stalled at a handoff", help=_widgets.help_for("handoff_stall"))
    h_col, d_col = st.columns([2, 3])
    with h_col:
        _widgets.table(
            handoffs,
            key="handoff_stalls",
            name=f"handoff_stalls_{as_of}",
            column_config={
                "team": TEXT("Team"),
                "open_handoff_deals": NUM("Open after handoff"),
                "handoff_stalled_count": NUM("Stalled"),
                "handoff_stalled_amount": NUM("Stalled $", format="compact"),
                "handoff_stalled_share": NUM("Share", format="percent"),
            },
        )
    with d_col:
        _widgets.table(
            (shown if shown is not None else stalled).filter(pl.col("is_handoff")),
            key="handoff_deals",
            name=f"handoff_stalled_deals_{as_of}",
            column_config=STALLED_COLUMNS,
            height=250,
        )
    st.caption(
        "A handoff stage is one owned by a different function than the stage before it: a "
        "deal stalled there is waiting on the other side of a handoff."
    )


def review_changes(view: _data.View) -> None:
    """Changes since last review: the window, the trend groups of a team, the totals by team,
    the deals behind a kind of change and the forecast-category flow over the window."""
    st.subheader("Changes since last review", help=_widgets.help_for("deal_changes"))
    window_col, source_col = st.columns([1, 3])
    with window_col:
        window = _filters.review_window(view.as_of_date)
    review = _data.review_changes(view, window)
    source_col.markdown(f"**{window.label}**  \n{md_text(review.source_text.capitalize())}.")
    if _widgets.not_available(review.reason):
        return
    change_teams = changes_charts.team_order(review.summary)
    team = st.selectbox("Team", change_teams, index=len(change_teams) - 1, key="changes_team")
    trends = review.trends.filter(pl.col("team") == team)
    for col, row in zip(st.columns(4), trends.iter_rows(named=True), strict=False):
        col.metric(
            changes_charts.TREND_LABELS[row["trend"]],
            f"{row['deals']} deals",
            delta=_widgets.money(row["amount"]),
            delta_color="off",
            delta_arrow="off",
            border=True,
            help=_widgets.help_for("deal_trend"),
        )
    st.markdown("**Totals by team** (deals · amount at as-of)")
    _widgets.table(
        changes_charts.overview(review.summary, review.trends),
        key="changes_overview",
        name=f"changes_by_team_{window.since}_{view.as_of}",
        column_config={"team": TEXT("Team", pinned=True)},
    )
    kinds_col, deals_col = st.columns([2, 5])
    with kinds_col:
        st.markdown(f"**{md_text(team)}** — select a change to list its deals")
        picked = _widgets.table(
            changes_charts.kinds_of(review.summary, team),
            key="changes_kinds",
            name=f"changes_{team}_{window.since}_{view.as_of}",
            select=True,
            column_config={
                "kind": None,
                "change": TEXT("Change"),
                "deals": NUM("Deals"),
                "amount": NUM("Amount", format="compact", help="The deals' amount at as-of."),
                "net_change": NUM(
                    "Net change", format="compact", help="Amount after − before (new: all of it)."
                ),
            },
        )
    with deals_col:
        _change_deals(view, window, review, team, picked)
    _category_flow(view, window, review, team)


def _change_deals(
    view: _data.View,
    window: ReviewWindow,
    review: ReviewChanges,
    team: str,
    picked: pl.DataFrame | None,
) -> None:
    """The deals behind the kind of change selected, named, with before → after."""
    if picked is None:
        st.caption("Select a change on the left to list its deals, named, with before → after.")
        return
    kind = picked["kind"].cast(pl.String)[0]
    behind = changes_charts.deals_of(review.rows, team=team, kind=kind)
    st.markdown(f"**{changes_charts.KIND_LABELS[kind]} — {md_text(team)}: {behind.height} deals**")
    _widgets.table(
        behind,
        key="changes_deals",
        name=f"changes_{kind}_{window.since}_{view.as_of}",
        column_config={
            "name": TEXT("Deal", pinned=True),
            "owner": TEXT("Owner"),
            "team": TEXT("Team"),
            "amount_before": NUM("Amount before", format="dollar"),
            "amount_after": NUM("Amount now", format="dollar"),
            "amount_delta": NUM("Δ amount", format="dollar"),
            "stage_before": TEXT("Stage before"),
            "stage_after": TEXT("Stage now"),
            "close_date_before": st.column_config.DateColumn("Close before"),
            "close_date_after": st.column_config.DateColumn("Close now"),
            "days_moved": NUM("Days moved", format=DAYS),
            "forecast_category_before": TEXT("Category before"),
            "forecast_category_after": TEXT("Category now"),
            "pushes": NUM("Pushes", help="Close-date pushes recorded inside the window "
                          "(empty when compared from snapshots: not seen)."),
            "opp_id": TEXT("Deal ID"),
        },
    )  # fmt: skip


def _category_flow(
    view: _data.View, window: ReviewWindow, review: ReviewChanges, team: str
) -> None:
    """Where the deals open at the start of the review window sit now, by forecast category."""
    st.markdown(
        f"#### Forecast-category flow — {window.label}",
        help=_widgets.help_for("category_transitions"),
    )
    flow_team = team if team in set(review.transitions["team"]) else charts.ALL_TEAMS
    _chart_specs.chart(
        changes_charts.transition_chart, review.transitions, team=flow_team,
        key="transition_chart", width="stretch",
    )  # fmt: skip
    st.caption(
        f"{md_text(flow_team)}: where the deals open at the start of the review window (and "
        "those created since, as New) sit at the as-of date; closed deals end in Won or Lost. "
        "A cell shows the amount now. Grey margins: each row's total at the start (the "
        "pipeline in that category then) and each column's total at as-of."
    )
    _widgets.csv_button(
        review.transitions, f"category_flow_{window.since}_{view.as_of}", key="transitions"
    )


def days_in_stage(
    view: _data.View,
    spells: pl.DataFrame,
    thresholds: pl.DataFrame,
    history_note: str | None,
) -> None:
    """How long deals sit in each stage (per team), the stall thresholds, and the spells
    behind a clicked mark."""
    params = _data.settings().scoring
    st.subheader("Days in stage", help=_widgets.help_for("days_in_stage"))
    _widgets.not_available(history_note)
    chart_col, table_col = st.columns([5, 4])
    with chart_col:
        picks = _drill.chart(
            charts.days_in_stage_chart,
            _data.metric("days_in_stage", view),
            stage_order=thresholds["stage"].to_list(),
            teams=st.session_state.get("all_teams", []),
            key="days_chart",
            fields=("team", "stage"),
        )
        st.caption(
            "Each stage spell of an open stage, finished or still running at the as-of date. "
            "Dot = median days, thick bar = median to p75, thin line = to p90; one mark per "
            "team (grey = all teams). Click a mark to list its spells."
        )
    with table_col:
        st.markdown("**Stall thresholds**")
        _widgets.table(
            thresholds,
            key="thresholds",
            name=f"stall_thresholds_{view.as_of}",
            column_config={
                "stage": TEXT("Stage"),
                "position": None,
                "n_won_deals": NUM("Won deals", help="Won deals that passed through the stage."),
                "won_quantile_days": NUM(f"p{params.stall.quantile * 100:.0f} of won", format=DAYS),
                "threshold_days": NUM("Stalled after", format=DAYS),
                "basis": None,
                "source": TEXT("Source", help="Where the threshold comes from."),
            },
        )
        st.caption(
            f"A deal is stalled when its current spell runs past the threshold: by default the "
            f"p{params.stall.quantile * 100:.0f} of days in the stage among deals won in the "
            f"{params.stall.lookback_quarters} full quarters before the as-of quarter; with "
            f"fewer than {params.stall.min_won_samples} won deals, "
            f"{params.stall.fallback_days:.0f} days; a value in `scorecard.toml` "
            "`[stalls.thresholds_days]` wins."
        )
    _drill.records(
        spells.select(
            "opp_id", "team", "owner_id", "stage", "entered_at", "left_at", "days_in_stage",
            "is_current", "is_handoff",
        ),
        picks,
        key="spells_drill",
        name="stage_spells",
        what="spells",
        hint="Click a mark of the chart to list the spells behind it, longest first.",
        sort="days_in_stage",
        column_config={"days_in_stage": NUM("Days", format="%.1f")},
    )  # fmt: skip


def waterfall(view: _data.View) -> None:
    """The period's pipeline bridge for a team and the deals behind a bucket."""
    st.subheader(
        f"Pipeline waterfall — {view.period_label}", help=_widgets.help_for("pipeline_waterfall")
    )
    bridge = _data.metric("waterfall", view)
    options = [charts.ALL_TEAMS, *sorted(set(bridge["team"]) - {charts.ALL_TEAMS})]
    team = st.selectbox("Team", options, key="waterfall_team")
    clicked = _drill.chart(
        charts.waterfall_chart,
        bridge.filter(pl.col("team") == team),
        key="waterfall_chart",
        fields=("bucket",),
    )
    st.caption(
        "Qualified open pipeline closing in the period: what was there at its start, what came "
        "in (green: created, pulled in from other periods, increased), what was won (blue: "
        "closed, the outcome the pipeline is for), what was taken away (red: decreased, pushed "
        "out, lost), and what is left at the as-of date. Click a bar, or choose a bucket, to "
        "list its deals."
    )
    chosen = st.pills(
        "Deals in bucket",
        list(charts.BUCKET_LABELS),
        format_func=charts.BUCKET_LABELS.get,
        key="waterfall_bucket",
    )
    bucket = _drill.either(clicked, {"bucket": chosen})["bucket"]
    if bucket:
        rows = _data.metric("waterfall_rows", view).with_columns(pl.col("bucket").cast(pl.String))
        _drill.records(
            rows.filter(pl.col("bucket") == bucket),
            {"team": team},
            key="waterfall_rows",
            name=f"waterfall_{bucket}_{view.period}",
            what=charts.BUCKET_LABELS[bucket],
            column_config={
                "amount_delta": NUM("Δ amount", format="dollar"),
                "amount_start": NUM("Amount at start", format="dollar"),
                "amount_end": NUM("Amount now", format="dollar"),
            },
        )


def team_health(view: _data.View) -> None:
    """Win rate, coverage, velocity and sales cycle per team; a selected team's closed and
    open deals."""
    st.subheader(f"Win rate, coverage, velocity and sales cycle — {view.period_label}")
    summary = charts.team_summary(
        _data.metric("win_rate", view),
        _data.metric("coverage", view),
        _data.metric("velocity", view),
        _data.metric("sales_cycle", view),
    )
    row = _widgets.table(
        summary,
        key="team_summary",
        name=f"pipeline_health_{view.period}",
        select=True,
        column_config={
            "team": TEXT("Team", pinned=True),
            "won": NUM("Won"),
            "lost": NUM("Lost"),
            "win_rate_count": NUM(
                "Win rate", format="percent", help=_widgets.help_for("win_rate.count")
            ),
            "win_rate_amount": NUM(
                "Win rate $", format="percent", help=_widgets.help_for("win_rate.amount")
            ),
            "open_pipeline": NUM("Open pipeline", format="compact"),
            "coverage": NUM("Coverage", format="%.1f×", help=_widgets.help_for("coverage")),
            "required_coverage": NUM(
                "Needed", format="%.1f×", help=_widgets.help_for("required_coverage")
            ),
            "notes": TEXT("Notes"),
            "velocity": NUM(
                "Velocity $/day", format="dollar", help=_widgets.help_for("pipeline_velocity")
            ),
            "cycle_days_median": NUM(
                "Sales cycle", format=DAYS, help=_widgets.help_for("sales_cycle_days")
            ),
            "cycle_days_excluded": NUM(
                "Cycle left out",
                help="Won deals left out of the sales cycle: their close date is before their "
                "creation date (see the Data trust page).",
            ),
        },
    )
    st.caption(
        "Win rate and sales cycle: deals closed in the period. Coverage: qualified open "
        "pipeline closing in the period ÷ quota still to close. Velocity: open qualified deals "
        "× win rate × average won amount ÷ cycle days. Select a team to see its deals."
    )
    picks = _drill.row_picks(row, ("team",))
    if picks["team"] is None:
        return
    closed_col, open_col = st.columns(2)
    with closed_col:
        _drill.records(
            _data.metric("closed_deals", view),
            picks,
            key="closed_drill",
            name=f"closed_deals_{picks['team']}_{view.period}",
            what=f"closed in {view.period_label} (win rate, sales cycle)",
            column_config={"amount": NUM("Amount", format="dollar")},
            height=300,
        )
    with open_col:
        _drill.records(
            _data.metric("open_pipeline", view),
            picks,
            key="open_drill",
            name=f"open_pipeline_{picks['team']}_{view.period}",
            what="open qualified pipeline (coverage)",
            column_config={"amount": NUM("Amount", format="dollar")},
            height=300,
        )
