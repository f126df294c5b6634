"""Writing and reading the journal: decisions with their history, and the leaders' answers.

``open_journal`` connects (SQLite in the data folder unless a database URL is given), brings the
schema to the newest migration, and returns a ``Journal``. Every write appends: recording,
changing, closing, reversing or reopening a decision adds one event carrying the decision's whole
state after it, with who made it. Readers return polars frames sorted by their grain.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import IntegrityError

from journal.tables import decision_events, decisions, leader_answers
from model.leader_questions import QUESTION_IDS
from model.schema import FUNCTIONS

JOURNAL_DB = "journal.sqlite"
ABOUT_KINDS = ("team", "metric", "deal", "handoff")
EVENT_KINDS = ("recorded", "changed", "closed", "reversed", "reopened")
STATUSES = ("open", "closed", "reversed")
MAX_TEXT = 2000  # a decision, a note or a comment: enough for a paragraph, not a document
MAX_NAME = 320  # an owner or an email
MAX_ID = 200  # a team name, a metric id, a deal id
_RETRIES = 5  # appends that lost a race for the next event number try again

# The questions' ids are what the answers store (model.leader_questions).
QUESTIONS = QUESTION_IDS

DECISION_COLUMNS: dict[str, pl.DataType] = {
    "decision_id": pl.Int64(),
    "seq": pl.Int64(),
    "at": pl.String(),
    "by_email": pl.String(),
    "kind": pl.String(),
    "status": pl.String(),
    "text": pl.String(),
    "owner": pl.String(),
    "due_date": pl.Date(),
    "team": pl.String(),
    "about_kind": pl.String(),
    "about_id": pl.String(),
    "metric_value": pl.Float64(),
    "note": pl.String(),
}
ANSWER_COLUMNS: dict[str, pl.DataType] = {
    "answer_id": pl.Int64(),
    "at": pl.String(),
    "by_email": pl.String(),
    "quarter": pl.String(),
    "function": pl.String(),
    "question": pl.String(),
    "score": pl.Int64(),
    "comment": pl.String(),
}
# What an event may change; the rest (id, sequence, time, author, kind) the journal sets.
_STATE = ("status", "text", "owner", "due_date", "team", "about_kind", "about_id", "metric_value")

# Which status each kind of change may start from.
_ALLOWED_FROM: Mapping[str, tuple[str, ...]] = {
    "changed": ("open",),
    "closed": ("open",),
    "reversed": ("open", "closed"),
    "reopened": ("closed", "reversed"),
}


class JournalError(ValueError):
    """A write the journal refuses, with a message the user can act on."""


def database_url(data_dir: Path | str, environ: Mapping[str, str] | None = None) -> str:
    """``DATABASE_URL`` when set (PostgreSQL shared by several app servers), else SQLite in the
    data folder. A bare ``postgresql://`` URL is read with psycopg 3, the driver we pin."""
    url = (os.environ if environ is None else environ).get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{Path(data_dir) / JOURNAL_DB}"
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url


def _sqlite_engine(url: str) -> sa.Engine:
    path = sa.make_url(url).database
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    # pysqlite's own transaction handling starts late and cannot wait for a writer; take the
    # write lock at BEGIN (IMMEDIATE) so concurrent writers queue instead of failing.
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_engine(url: str) -> sa.Engine:
    """An engine for `url` (SQLite with a write lock taken at BEGIN, or PostgreSQL)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return sa.create_engine(url, pool_pre_ping=True)


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (``alembic upgrade``); on PostgreSQL under an advisory lock
    so two app servers starting together do not both migrate."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "alembic"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(190019)"))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def schema_revision(engine: sa.Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def open_journal(url: str) -> Journal:
    """The journal at `url`, migrated to the newest schema."""
    engine = make_engine(url)
    migrate(engine)
    return Journal(engine)


def _now(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def _text(value: Any, what: str, limit: int, *, required: bool = True) -> str:
    text = "" if value is None else str(value)
    if required and not text.strip():
        raise JournalError(f"{what} is empty: say what it is")
    if len(text) > limit:
        raise JournalError(f"{what} is {len(text):,} characters; at most {limit:,} are kept")
    return text


def _optional(value: Any, what: str, limit: int) -> str | None:
    text = _text(value, what, limit, required=False).strip()
    return text or None


@dataclass(frozen=True)
class Journal:
    """The decision log and the leaders' answers in one database."""

    engine: sa.Engine

    def close(self) -> None:
        self.engine.dispose()

    # --- decisions -----------------------------------------------------------------------

    def record(
        self,
        *,
        text: str,
        owner: str,
        by: str,
        about_kind: str,
        about_id: str | None = None,
        team: str | None = None,
        due_date: date | None = None,
        metric_value: float | None = None,
        note: str = "",
        now: datetime | None = None,
    ) -> int:
        """Record a new decision or action; returns its id. `by` is the signed-in user."""
        state = self._checked(
            {
                "status": "open",
                "text": text,
                "owner": owner,
                "due_date": due_date,
                "team": team,
                "about_kind": about_kind,
                "about_id": about_id,
                "metric_value": metric_value,
            }
        )
        author = _text(by, "Who recorded it", MAX_NAME)
        at = _now(now)
        with self.engine.begin() as conn:
            decision_id = conn.execute(
                decisions.insert()
                .values(created_at=at, created_by=author)
                .returning(decisions.c.decision_id)
            ).scalar_one()
            conn.execute(
                decision_events.insert().values(
                    decision_id=decision_id,
                    seq=1,
                    at=at,
                    by_email=author,
                    kind="recorded",
                    note=_text(note, "The note", MAX_TEXT, required=False),
                    **state,
                )
            )
        return int(decision_id)

    def change(
        self,
        decision_id: int,
        *,
        by: str,
        note: str = "",
        now: datetime | None = None,
        **fields: Any,
    ) -> int:
        """Change what a decision says (text, owner, due date, what it is about); a new event."""
        unknown = set(fields) - set(_STATE) | ({"status"} & set(fields))
        if unknown:
            raise JournalError(f"a change cannot set {sorted(unknown)}; close, reverse or reopen")
        return self._append(decision_id, "changed", by=by, note=note, now=now, fields=fields)

    def close_decision(
        self, decision_id: int, *, by: str, note: str = "", now: datetime | None = None
    ) -> int:
        """Mark a decision done (closed); on time when closed by its due date."""
        return self._append(
            decision_id, "closed", by=by, note=note, now=now, fields={"status": "closed"}
        )

    def reverse(
        self, decision_id: int, *, by: str, note: str = "", now: datetime | None = None
    ) -> int:
        """Record that a decision was reversed (it did not hold)."""
        return self._append(
            decision_id, "reversed", by=by, note=note, now=now, fields={"status": "reversed"}
        )

    def reopen(
        self, decision_id: int, *, by: str, note: str = "", now: datetime | None = None
    ) -> int:
        """Reopen a closed or reversed decision."""
        return self._append(
            decision_id, "reopened", by=by, note=note, now=now, fields={"status": "open"}
        )

    def _append(
        self,
        decision_id: int,
        kind: str,
        *,
        by: str,
        note: str,
        now: datetime | None,
        fields: Mapping[str, Any],
    ) -> int:
        author = _text(by, "Who made the change", MAX_NAME)
        note = _text(note, "The note", MAX_TEXT, required=False)
        for attempt in range(_RETRIES):
            try:
                with self.engine.begin() as conn:
                    # Writers of one decision queue on its row (PostgreSQL: FOR UPDATE; SQLite's
                    # write lock is taken at BEGIN already), so the next event number is read
                    # by one writer at a time; the retry below is the last line, not the plan.
                    conn.execute(
                        sa.select(decisions.c.decision_id)
                        .where(decisions.c.decision_id == decision_id)
                        .with_for_update()
                    )
                    latest = (
                        conn.execute(
                            sa.select(decision_events)
                            .where(decision_events.c.decision_id == decision_id)
                            .order_by(decision_events.c.seq.desc())
                            .limit(1)
                        )
                        .mappings()
                        .first()
                    )
                    if latest is None:
                        raise JournalError(f"there is no decision {decision_id}")
                    if latest["status"] not in _ALLOWED_FROM[kind]:
                        raise JournalError(
                            f"decision {decision_id} is {latest['status']}; it cannot be {kind}"
                        )
                    state = self._checked({**{k: latest[k] for k in _STATE}, **fields})
                    conn.execute(
                        decision_events.insert().values(
                            decision_id=decision_id,
                            seq=latest["seq"] + 1,
                            at=_now(now),
                            by_email=author,
                            kind=kind,
                            note=note,
                            **state,
                        )
                    )
                    return int(latest["seq"] + 1)
            except IntegrityError:
                # another session appended the same event number first: read again and retry
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _checked(state: Mapping[str, Any]) -> dict[str, Any]:
        if state["about_kind"] not in ABOUT_KINDS:
            raise JournalError(
                f"what a decision is about must be one of {', '.join(ABOUT_KINDS)}, "
                f"not {state['about_kind']!r}"
            )
        due = state["due_date"]
        if due is not None and not isinstance(due, date):
            raise JournalError(f"the due date must be a date, not {due!r}")
        value = state["metric_value"]
        return {
            "status": state["status"],
            "text": _text(state["text"], "The decision", MAX_TEXT),
            "owner": _text(state["owner"], "The owner", MAX_NAME).strip(),
            "due_date": due,
            "team": _optional(state["team"], "The team", MAX_ID),
            "about_kind": state["about_kind"],
            "about_id": _optional(state["about_id"], "What it is about", MAX_ID),
            "metric_value": None if value is None else float(value),
        }

    def history(self) -> pl.DataFrame:
        """Every event of every decision: one row per decision per change, by decision and seq."""
        query = sa.select(*(decision_events.c[c] for c in DECISION_COLUMNS))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pl.DataFrame(rows, schema=DECISION_COLUMNS, orient="row")
        return frame.with_columns(
            pl.col("at").str.to_datetime(time_unit="us", time_zone="UTC")
        ).sort("decision_id", "seq")

    def version(self) -> str:
        """A short tag that changes whenever a decision event is written ("0" for none): what a
        cache of anything computed from the decisions is keyed by."""
        query = sa.select(sa.func.count(), sa.func.max(decision_events.c.event_id))
        with self.engine.connect() as conn:
            count, last = conn.execute(query).one()
        return "0" if not count else f"{count}:{last}"

    def decisions(self) -> pl.DataFrame:
        """One row per decision: its state now, when and by whom it was recorded, when it was
        last closed, and how often it was reversed or reopened."""
        return current_decisions(self.history())

    # --- leaders' answers ----------------------------------------------------------------

    def answer(
        self,
        *,
        quarter: str,
        function: str,
        question: str,
        score: int,
        by: str,
        comment: str = "",
        now: datetime | None = None,
    ) -> int:
        """Store one leader's answer (1-5 and a comment) to one question for one quarter."""
        if question not in QUESTIONS:
            raise JournalError(f"there is no question {question!r}")
        if function not in FUNCTIONS:
            raise JournalError(
                f"the function must be one of {', '.join(FUNCTIONS)}, not {function!r}"
            )
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise JournalError(f"an answer is a whole number from 1 to 5, not {score!r}")
        values = {
            "at": _now(now),
            "by_email": _text(by, "Who answered", MAX_NAME),
            "quarter": _text(quarter, "The quarter", 16),
            "function": _text(function, "The function", 32),
            "question": question,
            "score": score,
            "comment": _text(comment, "The comment", MAX_TEXT, required=False),
        }
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    leader_answers.insert().values(**values).returning(leader_answers.c.answer_id)
                ).scalar_one()
            )

    def answers(self) -> pl.DataFrame:
        """Every answer ever given: one row per answer, by answer id (later answers win)."""
        query = sa.select(*(leader_answers.c[c] for c in ANSWER_COLUMNS))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pl.DataFrame(rows, schema=ANSWER_COLUMNS, orient="row")
        return frame.with_columns(
            pl.col("at").str.to_datetime(time_unit="us", time_zone="UTC")
        ).sort("answer_id")


def current_decisions(history: pl.DataFrame) -> pl.DataFrame:
    """One row per decision from its events: the latest event's state, plus `recorded_at`,
    `recorded_by`, `recorded_value` (the linked metric then), `closed_at` (the latest close),
    `times_reversed` and `times_reopened`; sorted by decision id."""
    summary = history.group_by("decision_id").agg(
        recorded_at=pl.col("at").sort_by("seq").first(),
        recorded_by=pl.col("by_email").sort_by("seq").first(),
        recorded_value=pl.col("metric_value").sort_by("seq").first(),
        closed_at=pl.col("at").filter(pl.col("kind") == "closed").max(),
        times_reversed=(pl.col("kind") == "reversed").sum().cast(pl.Int64),
        times_reopened=(pl.col("kind") == "reopened").sum().cast(pl.Int64),
        changed_at=pl.col("at").max(),
    )
    latest = history.sort("decision_id", "seq").group_by("decision_id").last()
    return (
        latest.drop("kind", "note", "at", "by_email")
        .join(summary, on="decision_id", how="left")
        .sort("decision_id")
    )
