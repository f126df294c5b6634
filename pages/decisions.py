"""Decisions: what earlier reviews decided and whether it held.

Above the fold, the answer: how many decisions are open, how many are overdue and the share
kept, and each open decision with its follow-through (overdue, the linked metric then and now,
reversed or reopened). Below, in tabs: the closed and reversed ones, "decisions kept" per team,
closing/reversing/reopening (each a new entry), and every decision's history.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from journal import JournalError
from ops import decisions as ops_decisions
from pages import _auth, _data, _decision_log, _widgets
from pages._text import md_text

who = _auth.require()
view = _data.current_view()
st.title("Decisions")
st.caption(
    f"What the reviews decided, and whether it held · as of {view.as_of} · "
    f"{md_text(', '.join(view.teams)) if view.teams else 'all teams'}"
)
try:
    journal = _data.journal()
except Exception as exc:  # a database that cannot be reached: say so, never its URL
    st.error(
        f"The decision log's database cannot be opened ({type(exc).__name__}). "
        "Check DATABASE_URL, or unset it to use the data folder.",
        icon=":material/error:",
    )
    st.stop()
card = _data.scorecard(view)
review = ops_decisions.review(
    journal, card, as_of=view.as_of_date, teams=view.teams,
    tables=_data.team_tables(view.data_dir, view.snapshot_id, view.teams),
    calendar=_data.settings().scoring.calendar,
)  # fmt: skip
kept = ops_decisions.kept(journal, as_of=view.as_of_date, teams=view.teams)

open_now = review.filter(pl.col("status") == "open")
with st.container(key="answer"):
    left, middle, right = st.columns(3)
    left.metric(
        "Open decisions",
        f"{open_now.height:,}",
        help="Recorded and not yet closed or reversed.",
        border=True,
    )
    middle.metric(
        "Overdue",
        f"{open_now['overdue'].sum():,}",
        help="Open decisions past their due date.",
        border=True,
    )
    if kept.is_empty():
        right.metric(
            "Decisions kept", "not measured", help=_widgets.help_for("decisions_kept"), border=True
        )
        right.caption("No decision is due, closed or reversed yet.")
    else:
        k, n = int(kept["kept"].sum()), int(kept["judged"].sum())
        right.metric(
            "Decisions kept", _widgets.pct(k / n), help=_widgets.help_for("decisions_kept"),
            border=True,
        )  # fmt: skip
        right.caption(f"{k:,} of {n:,} judged decisions closed on time and not reversed")
    if review.is_empty():
        st.info(
            "No decisions recorded yet. Record one below, or on any review page under "
            "“Record a decision”.",
            icon=":material/gavel:",
        )
    else:
        st.markdown("**Open decisions**")
        _widgets.table(_decision_log.shown(open_now), key="decisions_open", name="open_decisions")

if not review.is_empty():
    done, by_team, update, histories = st.tabs(
        ["Closed and reversed", "Decisions kept by team", "Close, reverse or reopen",
         "History of a decision"]
    )  # fmt: skip
    with done:
        _widgets.table(
            _decision_log.shown(review.filter(pl.col("status") != "open")),
            key="decisions_done",
            name="closed_decisions",
        )
    with by_team:
        st.markdown("**Decisions kept by team**", help=_widgets.help_for("decisions_kept"))
        if kept.is_empty():
            st.caption("No decision is due, closed or reversed yet.")
        else:
            _widgets.table(
                kept.select(
                    pl.col("team").alias("Team"),
                    pl.col("kept").alias("Kept"),
                    pl.col("judged").alias("Judged"),
                    (pl.col("rate") * 100).round(0).cast(pl.Int64).alias("Kept %"),
                ),
                key="decisions_kept",
                name="decisions_kept",
            )

    labels = dict(
        zip(review["decision_id"], "#" + review["decision_id"].cast(pl.String) + " · "
            + review["status"] + " · " + review["text"].str.slice(0, 80), strict=True)
    )  # fmt: skip
    with update, st.form("decision_update", clear_on_submit=True):
        chosen = st.selectbox("Decision", list(labels), format_func=labels.get)
        action = st.radio(
            "What happened", ops_decisions.ACTIONS, horizontal=True,
            format_func={"close": "Done (close)", "reverse": "Reversed", "reopen": "Reopen"}.get,
        )  # fmt: skip
        note = st.text_input("Note", max_chars=2000)
        if st.form_submit_button("Record it"):
            try:
                ops_decisions.update_decision(
                    journal, _data.settings().data_dir, int(chosen), action,
                    email=who.email, role=who.role.value if who.role else None, note=note,
                )  # fmt: skip
                st.rerun()
            except JournalError as exc:
                st.error(md_text(exc), icon=":material/error:")

    with histories:
        pick = st.selectbox("Decision", list(labels), format_func=labels.get, key="history_of")
        history = journal.history().filter(pl.col("decision_id") == pick)
        _widgets.table(
            history.select(
                pl.col("at").alias("When"),  # local date and time (_widgets.column_defaults)
                pl.col("by_email").alias("Who"),
                pl.col("kind").alias("Change"),
                pl.col("status").alias("Status"),
                pl.col("text").alias("Decision"),
                pl.col("owner").alias("Owner"),
                pl.col("due_date").alias("Due"),
                pl.col("note").alias("Note"),
            ),
            key="decision_history",
            name="decision_history",
        )

_decision_log.record_expander("decisions")
