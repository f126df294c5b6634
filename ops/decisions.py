"""The decision log and the leaders' answers for the app and the pre-read: which database the
journal lives in, writes that also go to the audit log, and the frames the pages show.

The journal (journal/) stores; scoring/decisions.py judges follow-through; this module joins
them with the scorecard of the view being reviewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from journal import Journal, database_url, open_journal
from ops import audit
from scoring import perception
from scoring.decisions import SIGNAL_COLUMNS, decisions_kept, follow_through

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


def signals(card: Mapping[str, Any]) -> pl.DataFrame:
    """The measured signals of a scorecard JSON: one row per signal (`signal_id`, `label`,
    `value`, `unit`), sorted by id; what a decision about a metric is compared with."""
    rows = [
        (s["id"], s["label"], s["value"], s["unit"])
        for p in card.get("pillars", [])
        for s in p.get("signals", [])
        if s.get("status", "measured") == "measured"
    ]
    return pl.DataFrame(rows, schema=SIGNAL_COLUMNS, orient="row").sort("signal_id")


def in_view(decisions: pl.DataFrame, teams: tuple[str, ...]) -> pl.DataFrame:
    """The decisions a view of `teams` shows: those of its teams and those of no team (all of
    them for the whole-company view)."""
    if not teams:
        return decisions
    return decisions.filter(pl.col("team").is_null() | pl.col("team").is_in(list(teams)))


def review(
    journal: Journal, card: Mapping[str, Any], *, as_of: date, teams: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Every decision of the view with its follow-through (scoring.decisions.follow_through)."""
    return follow_through(in_view(journal.decisions(), teams), signals(card), as_of=as_of)


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


def kept(journal: Journal, *, as_of: date, teams: tuple[str, ...] = ()) -> pl.DataFrame:
    """ "Decisions kept" per team of the view (scoring.decisions.decisions_kept)."""
    return decisions_kept(in_view(journal.decisions(), teams), as_of=as_of)


def scored_signals(card: Mapping[str, Any]) -> pl.DataFrame:
    """Every signal of a scorecard JSON with its 0-100 score (null when not measured): one row
    per signal, sorted by id; the data's evidence the leaders' answers are set beside."""
    rows = [
        (s["id"], s["label"], s["value"], s["unit"], s["score"])
        for p in card.get("pillars", [])
        for s in p.get("signals", [])
    ]
    schema = perception.SIGNAL_COLUMNS
    return pl.DataFrame(rows, schema=schema, orient="row").sort("signal_id")


def perception_for(
    journal: Journal, card: Mapping[str, Any], *, quarter: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The leaders' answers for `quarter` beside the scorecard's evidence: one row per question
    and function (`scoring.perception.perception`) and one per question (`summary`)."""
    rows = perception.perception(journal.answers(), scored_signals(card), quarter=quarter)
    return rows, perception.summary(rows)
