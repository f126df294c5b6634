"""Scorecard (home): the one page executives read before a review.

Above the fold, the answer: the alignment score and its four pillars with the change since the
previous snapshot, and the top drivers in plain words, each linking to the page explaining it.
Below, one tab per question: the headline metrics by team, what changed since the last review
and since the last snapshot, the drivers by pillar, and the leaders' view beside the data.
"""

from __future__ import annotations

import streamlit as st

from pages import _data, _decision_log, _perception
from pages import _scorecard_sections as sections
from scoring.review import review_window

view = _data.current_view()
card = _data.scorecard(view)
changes = _data.changes(view)
review_week = review_window(view.as_of_date)  # the Pipeline page offers other windows
week_changes = _data.review_changes(view, review_week)

st.title("Revenue alignment scorecard")
st.caption(sections.view_caption(view, card, changes))

with st.container(key="answer"):
    sections.score_cards(card, changes)
    sections.top_drivers(card)
sections.not_measured_notice(card)

by_team, since_review, since_snapshot, by_pillar, leaders = st.tabs(
    [
        "Headline metrics by team",
        "Changes since last review",
        "What changed since the last snapshot",
        "Drivers by pillar",
        "Leaders' view",
    ]
)
with by_team:
    sections.headline_table(view, card, changes)
with since_review:
    sections.review_changes(review_week, week_changes)
with since_snapshot:
    sections.signal_moves(card, changes)
with by_pillar:
    sections.drivers_by_pillar(card)
with leaders:
    _perception.leaders_beside_data(view, card)

sections.downloads(view, card, changes, week_changes)
_decision_log.record_expander("scorecard", about_kind="metric")
