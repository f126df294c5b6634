"""The audit log: who signed in, refreshed, exported or changed a schedule, in
``<data_dir>/audit.sqlite``.

Append-only: one row per event (when, the user's email, their role, the action, a detail),
never updated or deleted — SQLite triggers refuse both, so even a bug cannot rewrite history.
Times are ISO 8601 UTC text, so they sort as text. Stdlib ``sqlite3`` only; no Streamlit here
(the app side, which knows the signed-in user, is ``pages/_auth.py``).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ops.sqlite_log import connect

AUDIT_DB = "audit.sqlite"
ACTIONS = (
    "sign-in", "sign-out", "expired", "denied", "refresh", "export", "decision", "answer",
    "schedule",  # a schedule added, edited, paused, resumed or deleted in the app
)  # fmt: skip
ANONYMOUS = "anonymous"  # the user of an open app (sign-in not configured)

_DDL = """
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

AUDIT_SCHEMA = {
    "event_id": pl.Int64,
    "at": pl.String,
    "email": pl.String,
    "role": pl.String,
    "action": pl.String,
    "detail": pl.String,
}


def _connect(data_dir: Path | str) -> AbstractContextManager[sqlite3.Connection]:
    return connect(Path(data_dir) / AUDIT_DB, _DDL)


def record(
    data_dir: Path | str,
    *,
    action: str,
    email: str | None,
    role: str | None,
    detail: str = "",
    now: datetime | None = None,
) -> int:
    """Append one event; returns its id. `email`/`role` None = the open app's anonymous user."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    with _connect(data_dir) as conn:
        cursor = conn.execute(
            "INSERT INTO events (at, email, role, action, detail) VALUES (?, ?, ?, ?, ?)",
            (at, email or ANONYMOUS, role or "open", action, detail),
        )
        return int(cursor.lastrowid or 0)


def record_export(data_dir: Path | str, *, email: str | None, role: str | None, name: str) -> int:
    """Record that a user downloaded the file `name` (a CSV table or the scorecard JSON)."""
    return record(data_dir, action="export", email=email, role=role, detail=name)


def record_refresh(
    data_dir: Path | str,
    *,
    email: str | None,
    role: str | None,
    source: str,
    run_id: int | None = None,
    outcome: str = "",
) -> int:
    """Record that a user triggered a refresh of `source` (with its run-log id and outcome)."""
    parts = [source, f"run {run_id}" if run_id is not None else "", outcome]
    return record(
        data_dir, action="refresh", email=email, role=role, detail=" · ".join(p for p in parts if p)
    )


def recent(data_dir: Path | str, limit: int = 100, *, action: str | None = None) -> pl.DataFrame:
    """The newest `limit` events (optionally of one `action`), newest first; `at` in UTC.

    One row per event. An empty frame with the same columns when nothing was recorded yet (reading
    does not create the file).
    """
    rows: list[tuple[object, ...]] = []
    if (Path(data_dir) / AUDIT_DB).exists():
        where, params = ("WHERE action = ?", (action,)) if action else ("", ())
        with _connect(data_dir) as conn:
            rows = conn.execute(
                f"SELECT {', '.join(AUDIT_SCHEMA)} FROM events {where}"
                " ORDER BY event_id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
    frame = pl.DataFrame(rows, schema=AUDIT_SCHEMA, orient="row")
    return frame.with_columns(pl.col("at").str.to_datetime(time_unit="us", time_zone="UTC")).sort(
        "event_id", descending=True
    )
