"""Handoffs: where demand is lost between marketing, SDRs and sales.

Above the fold, the answer: the headline figures (MQLs, MQL → SAL, follow-up within the SLA,
leaked MQLs, bounce-backs) with their change since the previous snapshot, and the demand
waterfall's cohort conversion at each handoff by channel or team. Below, one tab per question:
the waterfall's detail and leads, MQL follow-up against the SLA, leakage and bounce-backs, the
lead ownership ledger and goal conflicts.
"""

from __future__ import annotations

import streamlit as st

from pages import _data, _decision_log, _filters, _widgets
from pages import _handoffs_sections as sections
from pages._text import md_text
from reports import funnel_charts as charts
from scoring import funnel

view = _data.current_view()
tables = _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
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

with st.container(key="answer"):
    sections.headline(view)
    _filters.choice_from_url("handoffs_dim", "by", list(sections.DIMS), default="source")
    dim = st.segmented_control(
        "Break down by",
        list(sections.DIMS),
        format_func=sections.DIMS.get,
        required=True,
        key="handoffs_dim",
        help="Channel = the lead's source. Team = every team that owned the lead at some step "
        "(a queue counts for its team) and the team of the deal it converted into: a lead the "
        "SDRs handed to EMEA counts for both, so team rows need not add up to the total.",
    )
    dim = dim or "source"
    _filters.choice_to_url("by", dim, default="source")
    conversion = charts.transitions(_data.metric("conversion", view, by=(dim,)))
    conversion_picks = sections.waterfall_chart(conversion, dim)

label = sections.DIMS[dim].lower()
waterfall, sla, leaks, ledger, conflict = st.tabs(
    [
        f"Demand waterfall by {label}",
        f"Follow-up SLA by {label}",
        f"Leakage and bounce-backs by {label}",
        "Lead ownership ledger by team",
        "Goal conflict",
    ]
)
with waterfall:
    sections.waterfall_detail(view, conversion, dim, conversion_picks)
with sla:
    sections.follow_up_sla(view, dim, _data.settings().scoring.funnel)
with leaks:
    leak_col, bounce_col = st.columns(2)
    with leak_col:
        sections.leakage(view, dim)
    with bounce_col:
        sections.bounce_backs(view, tables, dim)
with ledger:
    sections.ownership_ledger(view)
with conflict:
    sections.goal_conflict(view)

_decision_log.record_expander("handoffs", about_kind="handoff")
