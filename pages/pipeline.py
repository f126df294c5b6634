"""Pipeline flow: where deals sit and for how long, which ones are stalled (and whether at a
handoff), how the period's pipeline moved, and win rate / coverage / velocity per team.

Every chart and table drills down to the deals behind it.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from pages import _changes_charts as changes_charts
from pages import _chart_specs, _data, _decision_log, _filters, _widgets
from pages._text import md_text
from reports import pipeline_charts as charts
from scoring import stages

NUM = st.column_config.NumberColumn
TEXT = st.column_config.TextColumn
DAYS = "%.0f d"
TIMES = "%.1f×"

view = _data.current_view()
params = _data.settings().scoring
all_teams = st.session_state.get("all_teams", [])
teams_label = md_text(", ".join(view.teams)) or "all teams"

st.title("Pipeline flow")
st.caption(f"{view.period_label} · as of {view.as_of} · {teams_label}")

spells = _data.metric("spells", view)
if spells.is_empty():
    _widgets.not_available(
        "No opportunities with stage history in this view: days in stage, stalls and the "
        "waterfall need the `opportunities`, `stages` and `stage_history` tables."
    )
    st.stop()

thresholds = _data.metric("stall_thresholds", view)
stage_order = thresholds["stage"].to_list()
stalled = charts.with_owner_names(
    _data.metric("stalled_deals", view),
    _data.load_tables(view.data_dir, view.snapshot_id).frames["users"].collect(),
)
by_team = _data.metric("stalls_by_team", view)
handoffs = _data.metric("handoff_stalls", view)
headline = {r["team"]: r for r in _data.scorecard(view).headline.to_dicts()}.get(
    charts.ALL_TEAMS, {}
)


# Why stalls are not measured (a stage history derived from dates, or none), else None
history_note = stages.stall_status(_data.load_tables(view.data_dir, view.snapshot_id))
stall_reason = _data.unmeasured(view, "stalled_share") or history_note
not_measured = (
    {"delta": f"not measured: {stall_reason}", "delta_color": "off", "delta_arrow": "off"}
    if stall_reason
    else {}
)


def _kpi(key: str, fmt) -> str:
    if stall_reason and key.startswith(("stalled", "handoff_stalled")):
        return "–"
    value = headline.get(key)
    return "n/a" if value is None else fmt(value)


without_amount = headline.get("stalled_without_amount") or 0
k1, k2, k3, k4 = st.columns(4)
SINCE = "\n\nThe arrow: the change since the previous snapshot (green is better)."
k1.metric(
    "Stalled deals",
    _kpi("stalled_deals", str),
    help=_widgets.help_for("stalled_deals") + SINCE,
    border=True,
    **_widgets.since_last_snapshot(
        "stalled_deals", "count", higher_is_better=False, note=not_measured
    ),
)
stalled_note = (
    {"delta": f"+ {without_amount} without amount", "delta_color": "off", "delta_arrow": "off"}
    if without_amount and not stall_reason
    else not_measured
)
k2.metric(
    "Stalled pipeline",
    _kpi("stalled_amount", _widgets.money),
    border=True,
    help="Known amounts of the open deals counted as stalled at the as-of date; deals "
    "without an amount are counted apart, never as $0." + SINCE,
    **_widgets.since_last_snapshot(
        "stalled_amount", "$", higher_is_better=False, note=stalled_note
    ),
)
k3.metric(
    "Stalled at a handoff",
    _kpi("handoff_stalled_share", _widgets.pct),
    border=True,
    help=_widgets.help_for("handoff_stall") + SINCE,
    **_widgets.since_last_snapshot(
        "handoff_stalled_share", "pts", higher_is_better=False, note=not_measured
    ),
)
k4.metric(
    "Coverage",
    _kpi("coverage", lambda v: f"{v:.1f}×"),
    border=True,
    help=_widgets.help_for("coverage") + SINCE,
    **_widgets.since_last_snapshot("coverage", "x", higher_is_better=True),
)

# --- Changes since last review -----------------------------------------------------------
st.subheader("Changes since last review", help=_widgets.help_for("deal_changes"))
window_col, source_col = st.columns([1, 3])
with window_col:
    window = _filters.review_window(view.as_of_date)
review = _data.review_changes(view, window)
source_col.markdown(f"**{window.label}**  \n{md_text(review.source_text.capitalize())}.")
if not _widgets.not_available(review.reason):
    change_teams = changes_charts.team_order(review.summary)
    picked_change_team = st.selectbox(
        "Team", change_teams, index=len(change_teams) - 1, key="changes_team"
    )
    trend_cols = st.columns(4)
    trends = review.trends.filter(pl.col("team") == picked_change_team)
    for col, row in zip(trend_cols, trends.iter_rows(named=True), strict=False):
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
        st.markdown(f"**{md_text(picked_change_team)}** — select a change to list its deals")
        kinds = changes_charts.kinds_of(review.summary, picked_change_team)
        picked_kind = _widgets.table(
            kinds,
            key="changes_kinds",
            name=f"changes_{picked_change_team}_{window.since}_{view.as_of}",
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
        if picked_kind is not None:
            kind = picked_kind["kind"].cast(pl.String)[0]
            behind = changes_charts.deals_of(review.rows, team=picked_change_team, kind=kind)
            st.markdown(
                f"**{changes_charts.KIND_LABELS[kind]} — {md_text(picked_change_team)}: "
                f"{behind.height} deals**"
            )
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
        else:
            st.caption("Select a change on the left to list its deals, named, with before → after.")

# --- Days in stage ----------------------------------------------------------------------
st.subheader("Days in stage", help=_widgets.help_for("days_in_stage"))
_widgets.not_available(history_note)
distribution = _data.metric("days_in_stage", view)
chart_col, table_col = st.columns([5, 4])
with chart_col:
    picked = _chart_specs.chart(
        charts.days_in_stage_chart,
        distribution,
        stage_order=stage_order,
        teams=all_teams,
        key="days_chart",
        on_select="rerun",
        selection_mode=["pick"],
        width="stretch",
    )
    st.caption(
        "Each stage spell of an open stage, finished or still running at the as-of date. "
        "Dot = median days, thick bar = median to p75, thin line = to p90; one mark per team "
        "(grey = all teams). Click a mark to list its spells."
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
        f"{params.stall.lookback_quarters} full quarters before the as-of quarter; with fewer "
        f"than {params.stall.min_won_samples} won deals, {params.stall.fallback_days:.0f} days; "
        "a value in `scorecard.toml` `[stalls.thresholds_days]` wins."
    )
pick_team = _widgets.selected_value(picked, "team")
pick_stage = _widgets.selected_value(picked, "stage")
if pick_stage:
    st.markdown(f"**Spells behind {md_text(pick_team)} · {md_text(pick_stage)}** (longest first)")
    _widgets.table(
        charts.drill(spells, team=pick_team, stage=pick_stage)
        .select(
            "opp_id",
            "team",
            "owner_id",
            "stage",
            "entered_at",
            "left_at",
            "days_in_stage",
            "is_current",
            "is_handoff",
        )
        .sort("days_in_stage", descending=True),
        key="spells_drill",
        name="stage_spells",
        column_config={"days_in_stage": NUM("Days", format="%.1f")},
    )

# --- Stalls by team and stage ------------------------------------------------------------
st.subheader("Stalls by team and stage", help=_widgets.help_for("stalled_deals"))
cell = _chart_specs.chart(
    charts.stall_heatmap,
    by_team,
    stage_order=stage_order,
    key="stall_heatmap",
    on_select="rerun",
    selection_mode=["pick"],
    width="stretch",
)
st.caption(
    "Color and label: the share of the team's open deals in the stage that are stalled "
    "(darker = more of them), with the count behind it. How long the deals sit against the "
    "company median is in the tooltip and the table. Click a cell, or select a row below, "
    "to list its stalled deals."
)
row = _widgets.table(
    by_team,
    key="stalls_by_team",
    name=f"stalls_by_team_{view.as_of}",
    select=True,
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
drill_team = row["team"][0] if row is not None else _widgets.selected_value(cell, "team")
drill_stage = row["stage"][0] if row is not None else _widgets.selected_value(cell, "stage")

# --- Stalled deals -----------------------------------------------------------------------
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
scope = md_text(" · ".join(v for v in (drill_team, drill_stage) if v)) or "all teams and stages"
st.subheader(f"Stalled deals — {scope}", help=_widgets.help_for("stalled_deals"))
shown = charts.drill(stalled, team=drill_team, stage=drill_stage)
st.caption(f"{shown.height} deals, worst first (age ÷ threshold).")
_widgets.table(
    shown, key="stalled", name=f"stalled_deals_{view.as_of}", column_config=STALLED_COLUMNS
)

st.markdown("#### Stalled at a handoff", help=_widgets.help_for("handoff_stall"))
h_col, d_col = st.columns([2, 3])
with h_col:
    _widgets.table(
        handoffs,
        key="handoff_stalls",
        name=f"handoff_stalls_{view.as_of}",
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
        shown.filter(pl.col("is_handoff")),
        key="handoff_deals",
        name=f"handoff_stalled_deals_{view.as_of}",
        column_config=STALLED_COLUMNS,
        height=300,
    )
st.caption(
    "A handoff stage is one owned by a different function than the stage before it: a deal "
    "stalled there is waiting on the other side of a handoff."
)

# --- Pipeline waterfall ------------------------------------------------------------------
st.subheader(
    f"Pipeline waterfall — {view.period_label}", help=_widgets.help_for("pipeline_waterfall")
)
waterfall = _data.metric("waterfall", view)
rows = _data.metric("waterfall_rows", view)
options = [charts.ALL_TEAMS, *sorted(set(waterfall["team"]) - {charts.ALL_TEAMS})]
wf_team = st.selectbox("Team", options, key="waterfall_team")
bridge = _chart_specs.chart(
    charts.waterfall_chart,
    waterfall.filter(pl.col("team") == wf_team),
    key="waterfall_chart",
    on_select="rerun",
    selection_mode=["pick"],
    width="stretch",
)
st.caption(
    "Qualified open pipeline closing in the period: what was there at its start, what came in "
    "(green: created, pulled in from other periods, increased), what was won (blue: closed, "
    "the outcome the pipeline is for), what was taken away (red: decreased, pushed out, "
    "lost), and what is left at the as-of date. Click a bar, or choose a bucket, to list its "
    "deals."
)
bucket = _widgets.selected_value(bridge, "bucket") or st.pills(
    "Deals in bucket",
    list(charts.BUCKET_LABELS),
    format_func=charts.BUCKET_LABELS.get,
    key="waterfall_bucket",
)
if bucket:
    behind = charts.drill(
        rows.with_columns(pl.col("bucket").cast(pl.String)), team=wf_team, bucket=bucket
    )
    st.markdown(f"**{charts.BUCKET_LABELS[bucket]} — {md_text(wf_team)}: {behind.height} deals**")
    _widgets.table(
        behind,
        key="waterfall_rows",
        name=f"waterfall_{bucket}_{view.period}",
        column_config={
            "amount_delta": NUM("Δ amount", format="dollar"),
            "amount_start": NUM("Amount at start", format="dollar"),
            "amount_end": NUM("Amount now", format="dollar"),
        },
    )

st.markdown(
    f"#### Forecast-category flow — {window.label}", help=_widgets.help_for("category_transitions")
)
if not _widgets.not_available(review.reason):
    flow_team = wf_team if wf_team in set(review.transitions["team"]) else charts.ALL_TEAMS
    _chart_specs.chart(
        changes_charts.transition_chart, review.transitions, team=flow_team,
        key="transition_chart", width="stretch",
    )  # fmt: skip
    st.caption(
        f"{md_text(flow_team)}: where the deals open at the start of the review window (and "
        "those created since, as New) sit at the as-of date; closed deals end in Won or Lost. "
        "A cell shows the amount now. Grey margins: each row's total at the start (the pipeline "
        "in that category then) and each column's total at as-of."
    )
    _widgets.csv_button(
        review.transitions, f"category_flow_{window.since}_{view.as_of}", key="transitions"
    )

# --- Win rate, coverage, velocity, cycle -------------------------------------------------
st.subheader(f"Win rate, coverage, velocity and sales cycle — {view.period_label}")
summary = charts.team_summary(
    _data.metric("win_rate", view),
    _data.metric("coverage", view),
    _data.metric("velocity", view),
    _data.metric("sales_cycle", view),
)
picked_team = _widgets.table(
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
    "Win rate and sales cycle: deals closed in the period. Coverage: qualified open pipeline "
    "closing in the period ÷ quota still to close. Velocity: open qualified deals × win rate "
    "× average won amount ÷ cycle days. Select a team to see its deals."
)
if picked_team is not None:
    team = picked_team["team"][0]
    closed_col, open_col = st.columns(2)
    with closed_col:
        st.markdown(f"**Closed in {view.period_label} — {md_text(team)}** (win rate, sales cycle)")
        _widgets.table(
            charts.drill(_data.metric("closed_deals", view), team=team),
            key="closed_drill",
            name=f"closed_deals_{team}_{view.period}",
            column_config={"amount": NUM("Amount", format="dollar")},
            height=300,
        )
    with open_col:
        st.markdown(f"**Open qualified pipeline — {md_text(team)}** (coverage)")
        _widgets.table(
            charts.drill(_data.metric("open_pipeline", view), team=team),
            key="open_drill",
            name=f"open_pipeline_{team}_{view.period}",
            column_config={"amount": NUM("Amount", format="dollar")},
            height=300,
        )

_decision_log.record_expander("pipeline", about_kind="metric", about_id="stalled_share")
