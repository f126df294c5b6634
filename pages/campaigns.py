"""Campaigns & sourcing: who creates the pipeline and the bookings, and what it costs.

Above the fold, the answer: pipeline created and bookings won by marketing and by sales, with
their change since the previous snapshot, and the sourced pipeline by who sourced it (or by
campaign / lead source). Below, one tab per question: the opportunities behind each bar, and
the campaign funnel from members to won deals with the cost of each outcome and its leads.
"""

from __future__ import annotations

import streamlit as st

from pages import _campaigns_sections as sections
from pages import _data, _decision_log, _filters
from pages._text import md_text

view = _data.current_view()
tables = _data.team_tables(view.data_dir, view.snapshot_id, view.teams)
teams_label = md_text(", ".join(view.teams)) or "all teams"

st.title("Campaigns & sourcing")
st.caption(
    f"{view.period_label} · as of {view.as_of} · {teams_label} · pipeline by creation date, "
    "bookings by close date"
)

with st.container(key="answer"):
    sections.headline(view)
    _filters.choice_from_url("campaigns_dim", "by", list(sections.DIMS), default="sourced_by")
    dim = st.segmented_control(
        "Break down by",
        list(sections.DIMS),
        format_func=sections.DIMS.get,
        required=True,
        key="campaigns_dim",
        help="Who sourced the opportunity (its sourced_by label), its primary campaign, or its "
        "lead source.",
    )
    dim = dim or "sourced_by"
    _filters.choice_to_url("by", dim, default="sourced_by")
    sourced = _data.metric("sourced_pipeline", view, by=(dim,))
    sourced_picks = sections.sourced_chart(sourced, dim)

by_source, campaigns = st.tabs(
    [f"Sourced pipeline and bookings by {sections.BY[dim]}", "Campaign funnel and cost per outcome"]
)
with by_source:
    sections.sourced_detail(view, sourced, dim, sourced_picks)
with campaigns:
    sections.campaign_funnel(view, tables)

_decision_log.record_expander(
    "campaigns", about_kind="metric", about_id="sourced_pipeline_disagreement"
)
