"""The shared "Record a decision" expander every review page shows, and the follow-through
table the Decisions page draws. Writes go through ops/decisions.py (audited, as the signed-in
user); text people type is stored as typed and shown as text."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from journal import ABOUT_KINDS, JournalError
from journal.store import MAX_ID, MAX_NAME, MAX_TEXT
from model.calendar import local_date
from ops import decisions as ops_decisions
from pages import _auth, _data
from pages._text import md_text

ABOUT_LABELS = {"team": "A team", "metric": "A metric", "deal": "A deal", "handoff": "A handoff"}
NO_TEAM = "(no team)"
SAVED = "_decision_saved"  # session key: the confirmation shown after the rerun


def _teams(who: _auth.Identity) -> list[str]:
    """The teams this user may record decisions for: a lead their own, others every team."""
    teams = list(st.session_state.get("all_teams", []))
    if who.role is _auth.Role.LEAD and who.team:
        return [t for t in teams if t == who.team] or [who.team]
    return teams


def record_expander(page: str, *, about_kind: str = "team", about_id: str | None = None) -> None:
    """ "Record a decision" on `page`: what was decided, its owner, a due date and what it is
    about (a team, a metric of the scorecard, a deal, a handoff)."""
    who = _auth.current_user()
    if not who.may_view:
        return
    view = _data.current_view()
    signals = ops_decisions.signals(_data.scorecard(view))
    metric_labels = dict(zip(signals["signal_id"], signals["label"], strict=True))
    key = f"decision_{page}"
    if st.session_state.get(SAVED) == page:
        st.session_state.pop(SAVED)
        st.success("Decision recorded. It is on the Decisions page with its follow-through.")
    with (
        st.expander("Record a decision", icon=":material/gavel:"),
        st.form(key, clear_on_submit=True),
    ):
        text = st.text_area("Decision or action", max_chars=MAX_TEXT, key=f"{key}_text")
        left, right = st.columns(2)
        owner = left.text_input("Owner", max_chars=MAX_NAME, key=f"{key}_owner")
        due = right.date_input(
            "Due date", value=view.as_of_date + timedelta(days=14), key=f"{key}_due"
        )
        teams = [NO_TEAM, *_teams(who)]
        default_team = view.teams[0] if len(view.teams) == 1 and view.teams[0] in teams else None
        team = left.selectbox(
            "Team", teams, index=teams.index(default_team) if default_team else 0,
            key=f"{key}_team",
        )  # fmt: skip
        kind = right.selectbox(
            "About", ABOUT_KINDS, index=ABOUT_KINDS.index(about_kind),
            format_func=ABOUT_LABELS.get, key=f"{key}_about",
        )  # fmt: skip
        metric = left.selectbox(
            "Metric (when it is about a metric)", list(metric_labels),
            format_func=metric_labels.get, key=f"{key}_metric",
            index=list(metric_labels).index(about_id) if about_id in metric_labels else 0,
        )  # fmt: skip
        subject = right.text_input(
            "Deal id or handoff (when it is about one)", max_chars=MAX_ID,
            value=about_id if about_kind in ("deal", "handoff") and about_id else "",
            key=f"{key}_subject",
        )  # fmt: skip
        submitted = st.form_submit_button("Record the decision", type="primary")
    if not submitted:
        return
    value = None
    chosen: str | None = subject
    if kind == "metric":
        chosen = metric
        value = signals.filter(pl.col("signal_id") == metric)["value"].first()
    elif kind == "team":
        chosen = None
    try:
        ops_decisions.record_decision(
            _data.journal(),
            _data.settings().data_dir,
            email=who.email,
            role=who.role.value if who.role else None,
            text=text,
            owner=owner,
            due_date=due,
            team=None if team == NO_TEAM else team,
            about_kind=kind,
            about_id=chosen,
            metric_value=value,
        )
    except JournalError as exc:
        st.error(md_text(exc), icon=":material/error:")
        return
    st.session_state[SAVED] = page
    st.rerun()


def _shown_value(value: str, unit: str) -> pl.Expr:
    """A metric's value for people: a rate as "42 %", anything else with one decimal."""
    return (
        pl.when(pl.col(value).is_null())
        .then(pl.lit("—"))
        .when(pl.col(unit) == "ratio")
        .then((pl.col(value) * 100).round(0).cast(pl.Int64).cast(pl.String) + " %")
        .otherwise(pl.col(value).round(1).cast(pl.String))
    )


def shown(review: pl.DataFrame) -> pl.DataFrame:
    """The follow-through frame as the Decisions page shows it: one row per decision."""
    about = (
        pl.when(pl.col("about_kind") == "metric")
        .then(pl.col("metric_label").fill_null(pl.col("about_id")))
        .when(pl.col("about_kind") == "team")
        .then(pl.col("team").fill_null(NO_TEAM))
        .otherwise(pl.col("about_kind") + " " + pl.col("about_id").fill_null(""))
    )
    return review.select(
        pl.col("decision_id").alias("#"),
        pl.col("text").alias("Decision"),
        pl.col("owner").alias("Owner"),
        pl.col("team").fill_null(NO_TEAM).alias("Team"),
        about.alias("About"),
        pl.col("due_date").alias("Due"),
        pl.col("status").alias("Status"),
        pl.when(pl.col("overdue"))
        .then(pl.col("days_overdue").cast(pl.String) + " days overdue")
        .otherwise(pl.lit(""))
        .alias("Overdue"),
        _shown_value("value_then", "metric_unit").alias("Metric then"),
        _shown_value("value_now", "metric_unit").alias("Metric now"),
        pl.col("deal_changes").fill_null("").alias("Deal changes since"),
        pl.concat_str(
            pl.when(pl.col("times_reversed") > 0).then(
                pl.lit("reversed ") + pl.col("times_reversed").cast(pl.String) + "×"
            ),
            pl.when(pl.col("times_reopened") > 0).then(
                pl.lit("reopened ") + pl.col("times_reopened").cast(pl.String) + "×"
            ),
            separator=", ",
            ignore_nulls=True,
        ).alias("Reversed / reopened"),
        pl.col("recorded_by").alias("Recorded by"),
        local_date(pl.col("recorded_at"), _data.settings().scoring.timezone).alias("Recorded"),
    )
