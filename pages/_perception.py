"""The Scorecard's "Leaders' view beside the data": each question the function leaders answered
this quarter, their answers by function beside the data's evidence, and the gaps named."""

from __future__ import annotations

import polars as pl
import streamlit as st

from ops import decisions as ops_decisions
from pages import _data, _widgets
from pages._text import md_text
from scoring.scorecard import Scorecard

HELP = (
    "Each function's leader answers seven questions once a quarter (1-5). Beside each answer: "
    "the scorecard signals that are the data's evidence for the same question, scored 0-100. "
    "A gap is named when a function rates a question 4 or 5 while its evidence scores below 50."
)


def _quarter(view: _data.View) -> str:
    return _data.settings().scoring.calendar.quarter_of(view.as_of_date).name


def summary_for(view: _data.View, card: Scorecard) -> pl.DataFrame | None:
    """The leaders' answers of the view's quarter beside the evidence, one row per question
    (for the pre-read), or None when the journal cannot be read."""
    try:
        return ops_decisions.perception_for(_data.journal(), card, quarter=_quarter(view))[1]
    except Exception:  # an unreachable database: the pre-read is made without the section
        return None


def leaders_beside_data(view: _data.View, card: Scorecard) -> None:
    """Draw the section (a short note when no leader has answered this quarter)."""
    quarter = _quarter(view)
    st.subheader("Leaders' view beside the data", help=HELP)
    try:
        journal = _data.journal()
    except Exception:  # an unreachable database: the section says so, the page goes on
        st.caption("The leaders' answers cannot be read (the journal's database is unreachable).")
        return
    rows, summary = ops_decisions.perception_for(journal, card, quarter=quarter)
    if summary.is_empty():
        st.caption(f"No function leader has answered for {quarter} yet.")
        st.page_link("pages/leaders.py", label="Answer the quarterly questions",
                     icon=":material/record_voice_over:")  # fmt: skip
        return
    for text in rows.filter(pl.col("gap"))["gap_text"]:
        st.warning(md_text(text), icon=":material/compare_arrows:")
    if not rows["gap"].any():
        st.caption("No function rates itself high where its data says otherwise.")
    _widgets.table(
        summary.select(
            pl.col("question_text").alias("Question"),
            pl.col("answers").alias(f"Leaders' answers, {quarter}"),
            pl.col("evidence")
            .fill_null("not measured")
            .replace("", "not measured")
            .alias("The data's evidence"),
            pl.col("evidence_score").round(0).cast(pl.Int64).alias("Evidence score (0-100)"),
        ),
        key="perception",
        name="leaders_beside_data",
    )
