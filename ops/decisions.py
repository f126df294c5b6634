"""The decision log and the leaders' answers for the app and the pre-read: which database the
journal lives in, writes that also go to the audit log, and the frames the pages show.

The journal (journal/) stores; scoring/decisions.py judges follow-through; this module joins
them with the scorecard of the view being reviewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from journal import Journal, database_url, open_journal
from model.calendar import Calendar
from model.leader_questions import QUESTION_IDS
from model.tables import Tables
from ops import audit
from scoring import perception
from scoring.decisions import (
    SIGNAL_COLUMNS,
    deal_follow_through,
    decisions_kept,
    follow_through,
)
from scoring.scorecard import Scorecard

ACTIONS = ("close", "reverse", "reopen")


def journal_url(data_dir: Path | str, environ: Mapping[str, str] | None = None) -> str:
    """``DATABASE_URL`` when set, else ``<data_dir>/journal.sqlite``."""
    return database_url(data_dir, environ)


def open_for(data_dir: Path | str) -> Journal:
    """The journal of this installation, migrated to the newest schema."""
    return open_journal(journal_url(data_dir))


def open_for_url(url: str) -> Journal:
    """The journal at `url` (see `journal_url`), migrated to the newest schema."""
    return open_journal(url)


def record_decision(
    journal: Journal,
    data_dir: Path | str,
    *,
    email: str | None,
    role: str | None,
    **fields: Any,
) -> int:
    """Record a decision as the signed-in user (the open app's "anonymous"), audited."""
    decision_id = journal.record(by=email or audit.ANONYMOUS, **fields)
    audit.record(
        data_dir, action="decision", email=email, role=role, detail=f"recorded #{decision_id}"
    )
    return decision_id


def update_decision(
    journal: Journal,
    data_dir: Path | str,
    decision_id: int,
    action: str,
    *,
    email: str | None,
    role: str | None,
    note: str = "",
) -> int:
    """Close, reverse or reopen a decision (a new entry), audited; returns the entry number."""
    write = {
        "close": journal.close_decision,
        "reverse": journal.reverse,
        "reopen": journal.reopen,
    }.get(action)
    if write is None:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    seq = write(decision_id, by=email or audit.ANONYMOUS, note=note)
    audit.record(
        data_dir, action="decision", email=email, role=role, detail=f"{action} #{decision_id}"
    )
    return seq


def record_answer(
    journal: Journal,
    data_dir: Path | str,
    *,
    email: str | None,
    role: str | None,
    **fields: Any,
) -> int:
    """Store a leader's answer as the signed-in user, audited."""
    answer_id = journal.answer(by=email or audit.ANONYMOUS, **fields)
    audit.record(
        data_dir,
        action="answer",
        email=email,
        role=role,
        detail=f"{fields.get('function')} {fields.get('quarter')} {fields.get('question')}",
    )
    return answer_id


def signals(card: Scorecard) -> pl.DataFrame:
    """The measured signals of a scorecard: one row per signal (`signal_id`, `label`,
    `value`, `unit`), sorted by id; what a decision about a metric is compared with."""
    rows = [
        (s.id, s.label, s.to_dict()["value"], s.unit)
        for p in card.pillars
        for s in p.signals
        if s.measured
    ]
    return pl.DataFrame(rows, schema=SIGNAL_COLUMNS, orient="row").sort("signal_id")


def in_view(decisions: pl.DataFrame, teams: tuple[str, ...]) -> pl.DataFrame:
    """The decisions a view of `teams` shows: those of its teams and those of no team (all of
    them for the whole-company view)."""
    if not teams:
        return decisions
    return decisions.filter(pl.col("team").is_null() | pl.col("team").is_in(list(teams)))


def review(
    journal: Journal,
    card: Scorecard,
    *,
    as_of: date,
    teams: tuple[str, ...] = (),
    tables: Tables | None = None,
    calendar: Calendar | None = None,
) -> pl.DataFrame:
    """Every decision of the view with its follow-through (scoring.decisions.follow_through)
    and, for a decision about a deal, what changed on it since (`deal_changes`; null without
    `tables`)."""
    decisions = in_view(journal.decisions(), teams)
    out = follow_through(decisions, signals(card), as_of=as_of)
    if tables is None:
        return out.with_columns(deal_changes=pl.lit(None, pl.String))
    deals = deal_follow_through(decisions, tables, as_of=as_of, calendar=calendar)
    return out.join(deals, on="decision_id", how="left").sort("decision_id")


def view_decisions(data_dir: Path | str, teams: tuple[str, ...] = ()) -> pl.DataFrame | None:
    """The decisions a view of `teams` judges (for the scorecard's "decisions kept"), or None
    when the decision log cannot be opened (the signal then says it was not read)."""
    try:
        journal = open_for(data_dir)
    except Exception:  # an unreachable DATABASE_URL must not stop a refresh or a pre-read
        return None
    try:
        return in_view(journal.decisions(), teams)
    finally:
        journal.close()


def journal_frames(
    data_dir: Path | str, teams: tuple[str, ...] = ()
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The view's decisions and every leader answer, for a pre-read made outside the app (the
    CLI, a schedule); (None, None) when the journal cannot be opened."""
    try:
        journal = open_for(data_dir)
    except Exception:  # an unreachable DATABASE_URL must not stop a scheduled pre-read
        return None, None
    try:
        return in_view(journal.decisions(), teams), journal.answers()
    finally:
        journal.close()


def kept(journal: Journal, *, as_of: date, teams: tuple[str, ...] = ()) -> pl.DataFrame:
    """ "Decisions kept" per team of the view (scoring.decisions.decisions_kept)."""
    return decisions_kept(in_view(journal.decisions(), teams), as_of=as_of)


def scored_signals(card: Scorecard) -> pl.DataFrame:
    """Every signal of a scorecard with its 0-100 score (`scoring.perception.signals_of`)."""
    return perception.signals_of(card)


def perception_for(
    journal: Journal, card: Scorecard, *, quarter: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The leaders' answers for `quarter` beside the scorecard's evidence: one row per question
    and function (`scoring.perception.perception`) and one per question (`summary`)."""
    rows = perception.perception(journal.answers(), scored_signals(card), quarter=quarter)
    return rows, perception.summary(rows)


def seed_demo(journal: Journal, *, as_of: date, quarter: str | None = None) -> bool:
    """Plant the demo org's decision log and leaders' answers, only into an empty journal
    (returns whether it did): five decisions around `as_of` — one kept, one closed late, one
    reversed, one overdue, one not yet due (decisions kept: 1 of 4 judged) — and the sales and
    marketing leaders' answers for the quarter of `as_of`, sales rating handoff ownership and
    early bad news high where the demo's data is poor (the planted gap). `quarter`: the
    quarter's name in the configured fiscal calendar (a calendar quarter by default)."""
    if journal.version() != "0" or not journal.answers().is_empty():
        return False
    by = "demo@example.com"

    def at(days: int) -> datetime:
        return datetime.combine(as_of + timedelta(days=days), time(10), tzinfo=UTC)

    kept = journal.record(
        text="Review every Negotiation deal older than 30 days with its owner", owner="EMEA lead",
        team="EMEA", about_kind="team", due_date=as_of - timedelta(days=30), by=by, now=at(-60),
    )  # fmt: skip
    journal.close_decision(kept, by=by, note="all 14 reviewed", now=at(-35))
    late = journal.record(
        text="Clean up close dates in the past before the forecast call", owner="NA MM lead",
        team="NA Mid-Market", about_kind="metric", about_id="stale_close_dates",
        due_date=as_of - timedelta(days=40), by=by, now=at(-55),
    )  # fmt: skip
    journal.close_decision(late, by=by, now=at(-30))
    reversed_ = journal.record(
        text="Re-score Paid Social MQLs before handing them to SDRs", owner="Marketing ops",
        about_kind="metric", about_id="follow_up_sla", due_date=as_of - timedelta(days=20),
        by=by, now=at(-50),
    )  # fmt: skip
    journal.close_decision(reversed_, by=by, now=at(-25))
    journal.reverse(reversed_, by=by, note="back to the old scoring after one week", now=at(-10))
    journal.record(
        text="Commit only deals with a signed mutual plan", owner="NA Enterprise lead",
        team="NA Enterprise", about_kind="metric", about_id="late_risk_share",
        due_date=as_of - timedelta(days=14), by=by, now=at(-45),
    )  # fmt: skip
    journal.record(
        text="SDRs follow up every MQL within 24 hours", owner="APAC SDR manager", team="APAC",
        about_kind="handoff", about_id="MQL → SAL", due_date=as_of + timedelta(days=14), by=by,
        now=at(-7),
    )  # fmt: skip
    quarter = quarter or f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}"
    answers = {
        "sales": (4, 3, 5, 4, 3, 4, 3),  # handoffs 5/5 and bad news 4/5: the data disagrees
        "marketing": (2, 2, 2, 3, 2, 3, 2),
    }
    for function, scores in answers.items():
        for question, score in zip(QUESTION_IDS, scores, strict=True):
            journal.answer(quarter=quarter, function=function, question=question, score=score,
                           by=f"{function}.leader@example.com", now=at(-1))  # fmt: skip
    return True
