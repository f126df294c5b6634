"""Pipeline flow: where is the pipeline stuck? Above the fold, the stalled deals and pipeline,
the share stalled at a handoff and the coverage (each with its change since the previous
snapshot), and the heatmap of stalls by team and stage. Below, a tab per question: the stalled
deals behind a cell, what changed since the last review, days in stage, how the period's
pipeline moved, and win rate / coverage / velocity per team. Every chart and table drills down
to the deals behind it (`pages._drill`)."""

from __future__ import annotations

import streamlit as st

from pages import _data, _decision_log, _widgets
from pages import _pipeline_sections as sections
from pages._text import md_text
from reports import pipeline_charts as charts
from scoring import stages

view = _data.current_view()
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

tables = _data.load_tables(view.data_dir, view.snapshot_id)
thresholds = _data.metric("stall_thresholds", view)
stalled = charts.with_owner_names(
    _data.metric("stalled_deals", view), tables.frames["users"].collect()
)
by_team = _data.metric("stalls_by_team", view)
headline = {r["team"]: r for r in _data.scorecard(view).headline.to_dicts()}.get(
    charts.ALL_TEAMS, {}
)
# Why stalls are not measured (a stage history derived from dates, or none), else None
history_note = stages.stall_status(tables)
stall_reason = _data.unmeasured(view, "stalled_share") or history_note

with st.container(key="answer"):
    sections.headline(headline, stall_reason)
    cell = sections.stall_heatmap(by_team, thresholds["stage"].to_list())

stalls_tab, changes_tab, days_tab, waterfall_tab, health_tab = st.tabs(
    ["Stalled deals", "Changes since last review", "Days in stage", "Waterfall",
     "Win rate & coverage"]
)  # fmt: skip
with stalls_tab:
    handoffs = _data.metric("handoff_stalls", view)
    sections.stalled_deals(by_team, stalled, handoffs, cell, view.as_of)
with changes_tab:
    sections.review_changes(view)
with days_tab:
    sections.days_in_stage(view, spells, thresholds, history_note)
with waterfall_tab:
    sections.waterfall(view)
with health_tab:
    sections.team_health(view)

_decision_log.record_expander("pipeline", about_kind="metric", about_id="stalled_share")
