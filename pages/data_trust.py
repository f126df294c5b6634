"""Data trust: can both teams read the same numbers from one version of the data?

Above the fold, the answer: the data-quality score, the checks finding problems and the tables
the source lacks, with their change since the previous snapshot, and the same quantities as
marketing and sales count them, side by side. Below, one tab per question: the records behind
each gap and win rate three ways, the data-quality checks, stage-history trust by team, how
often funnel steps are skipped, how fresh each table is, and every metric's definition.
"""

from __future__ import annotations

import streamlit as st

from pages import _data, _decision_log
from pages import _data_trust_sections as sections
from pages._text import md_text

view = _data.current_view()
snapshot = _data.store().get(view.snapshot_id)
teams_label = md_text(", ".join(view.teams)) or "all teams"
reconciliations = _data.metric("reconciliations", view)

st.title("Data trust")
st.caption(
    f"{view.period_label} · as of {view.as_of} · {teams_label} · snapshot "
    f"`{snapshot.id}` from **{md_text(snapshot.source)}**"
)

with st.container(key="answer"):
    sections.headline(view, snapshot)
    gap_picks = sections.reconciliation_table(view, reconciliations)

gaps, checks, stages, skips, fresh, definitions = st.tabs(
    [
        "Same number, two counts",
        "Data-quality checks",
        "Stage-history trust by team",
        "Funnel skip rate",
        "Freshness",
        "Metric definitions",
    ]
)
with gaps:
    sections.reconciliation_detail(view, reconciliations, gap_picks)
with checks:
    sections.quality_checks(view)
with stages:
    sections.stage_trust(view)
with skips:
    sections.funnel_skips(view)
with fresh:
    sections.freshness(view, snapshot)
with definitions:
    sections.definitions()

_decision_log.record_expander("data_trust", about_kind="metric", about_id="data_quality_score")
