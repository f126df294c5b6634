"""The run log: every refresh (cli, page, schedule, manual) in ``data/runs.sqlite``.

One row per refresh attempt: when, which source, who triggered it, the outcome
(``running`` → ``ok`` | ``failed``; or ``skipped-locked`` when another refresh held the lock),
rows per table, the snapshot written and the error message. WAL mode lets the app read while a
refresh writes. Times are stored as ISO 8601 UTC text, so they sort as text.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from ops.sqlite_log import connect, read
from snapshots.store import StoreError

RUNS_DB = "runs.sqlite"
OUTCOMES = ("running", "ok", "failed", "skipped-locked")
TRIGGERS = ("manual", "schedule", "page", "cli")

_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    source TEXT NOT NULL,
    trigger TEXT NOT NULL,
    job TEXT,
    outcome TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    rows_json TEXT,
    total_rows INTEGER,
    snapshot_id TEXT,
    error TEXT,
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job, started_at);
CREATE TABLE IF NOT EXISTS schedule_jobs (job TEXT PRIMARY KEY, first_seen_at TEXT NOT NULL);
"""

RUNS_SCHEMA = {
    "run_id": pl.Int64,
    "started_at": pl.String,
    "ended_at": pl.String,
    "source": pl.String,
    "trigger": pl.String,
    "job": pl.String,
    "outcome": pl.String,
    "attempts": pl.Int64,
    "rows_json": pl.String,
    "total_rows": pl.Int64,
    "snapshot_id": pl.String,
    "error": pl.String,
    "pid": pl.Int64,
}
_COLUMNS = ", ".join(RUNS_SCHEMA)


@dataclass(frozen=True)
class RunRecord:
    """One row of the run log; `result` (the `RefreshResult`) only in the process that ran it."""

    run_id: int
    started_at: datetime
    ended_at: datetime | None
    source: str
    trigger: str
    job: str | None
    outcome: str
    attempts: int
    rows: dict[str, int]
    snapshot_id: str | None
    error: str | None
    pid: int
    result: Any = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def iso(moment: datetime) -> str:
    """A timezone-aware time as sortable UTC text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _connect(data_dir: Path | str) -> AbstractContextManager[sqlite3.Connection]:
    return connect(Path(data_dir) / RUNS_DB, _DDL)


def _read(data_dir: Path | str) -> AbstractContextManager[sqlite3.Connection]:
    return read(Path(data_dir) / RUNS_DB)


def _being_created(exc: sqlite3.OperationalError) -> bool:
    """The log file exists but its tables do not yet: a first refresh has just created the
    file and not yet its tables (SQLite makes the file on connect). Nothing has run yet."""
    return str(exc).startswith("no such table")


def _unreadable(data_dir: Path | str, exc: sqlite3.DatabaseError) -> StoreError:
    return StoreError(
        f"the run log {RUNS_DB} in the data folder {Path(data_dir).name} cannot be "
        f"read ({exc}): move it aside, the next refresh starts a new one"
    )


def start_run(
    data_dir: Path | str, *, source: str, trigger: str, now: datetime, job: str | None = None
) -> int:
    """Record a refresh that starts now; returns its run id."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}, not {trigger!r}")
    with _connect(data_dir) as conn:
        cursor = conn.execute(
            "INSERT INTO runs (started_at, source, trigger, job, outcome, pid)"
            " VALUES (?, ?, ?, ?, 'running', ?)",
            (iso(now), source, trigger, job, os.getpid()),
        )
        return int(cursor.lastrowid or 0)


def finish_run(
    data_dir: Path | str,
    run_id: int,
    *,
    outcome: str,
    now: datetime,
    attempts: int = 1,
    rows: Mapping[str, int] | None = None,
    snapshot_id: str | None = None,
    error: str | None = None,
) -> RunRecord:
    """Record how run `run_id` ended; returns the completed row."""
    if outcome not in OUTCOMES[1:]:
        raise ValueError(f"outcome must be one of {OUTCOMES[1:]}, not {outcome!r}")
    with _connect(data_dir) as conn:
        conn.execute(
            "UPDATE runs SET ended_at = ?, outcome = ?, attempts = ?, rows_json = ?,"
            " total_rows = ?, snapshot_id = ?, error = ? WHERE run_id = ?",
            (
                iso(now),
                outcome,
                attempts,
                json.dumps(dict(rows)) if rows is not None else None,
                sum(rows.values()) if rows is not None else None,
                snapshot_id,
                error,
                run_id,
            ),
        )
    return get_run(data_dir, run_id)


def abandon_stale(data_dir: Path | str, *, now: datetime) -> list[int]:
    """Mark every ``running`` row failed: call only while holding the refresh lock.

    Holding the lock proves no other refresh runs in this folder, so such a row was left by a
    process that was killed or crashed before it could record its outcome.
    """
    with _connect(data_dir) as conn:
        stale = conn.execute("SELECT run_id, pid FROM runs WHERE outcome = 'running'").fetchall()
        marked = []
        for run_id, pid in stale:
            # Only if still running: a refused refresh may record its outcome meanwhile.
            cursor = conn.execute(
                "UPDATE runs SET outcome = 'failed', ended_at = ?, error = ?"
                " WHERE run_id = ? AND outcome = 'running'",
                (iso(now), f"abandoned: the refresh process (pid {pid}) ended unfinished", run_id),
            )
            if cursor.rowcount:
                marked.append(run_id)
    return marked


def recent_runs(data_dir: Path | str, limit: int = 50) -> pl.DataFrame:
    """The newest `limit` runs, newest first (one row per run; `rows_json` per table).

    Times are UTC datetimes; `seconds` is the duration of finished runs. An empty frame with
    the same columns when nothing has run yet (the log file is not created by reading).
    """
    rows: list[tuple[Any, ...]] = []
    if (Path(data_dir) / RUNS_DB).exists():
        try:
            with _read(data_dir) as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM runs ORDER BY run_id DESC LIMIT ?", (limit,)
                ).fetchall()
        except sqlite3.OperationalError as exc:
            if not _being_created(exc):
                raise _unreadable(data_dir, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise _unreadable(data_dir, exc) from exc
    frame = pl.DataFrame(rows, schema=RUNS_SCHEMA, orient="row")
    times = [
        pl.col(c).str.to_datetime(time_unit="us", time_zone="UTC")
        for c in ("started_at", "ended_at")
    ]
    return (
        frame.with_columns(times)
        .with_columns(
            seconds=(pl.col("ended_at") - pl.col("started_at")).dt.total_microseconds() / 1e6
        )
        .sort("run_id", descending=True)
    )


NO_MESSAGE = "(no message recorded)"


def failure_groups(runs: pl.DataFrame) -> pl.DataFrame:
    """Each distinct failure once: one row per source and error message among the failed runs
    of `runs` (as `recent_runs` gives them), newest first, with how often it happened (`count`),
    when first and last (`first_at`, `last_at`), the newest such run (`last_run_id`), the
    triggers that met it, and whether the source's newest run in `runs` is this failure
    (`current`: still failing, rather than fixed since)."""
    newest = runs.lazy().group_by("source").agg(newest_run_id=pl.col("run_id").max())
    return (
        runs.lazy()
        .filter(pl.col("outcome") == "failed")
        .with_columns(pl.col("error").fill_null(NO_MESSAGE))
        .group_by("source", "error")
        .agg(
            count=pl.len(),
            first_at=pl.col("started_at").min(),
            last_at=pl.col("started_at").max(),
            last_run_id=pl.col("run_id").max(),
            triggers=pl.col("trigger").unique().sort(),
        )
        .join(newest, on="source", how="left")
        .with_columns(current=pl.col("last_run_id") == pl.col("newest_run_id"))
        .drop("newest_run_id")
        .sort("last_run_id", descending=True)
        .collect()
    )


def get_run(data_dir: Path | str, run_id: int) -> RunRecord:
    """One run by id."""
    record = _select_one(data_dir, "run_id = ?", (run_id,))
    if record is None:
        raise KeyError(f"no run {run_id} in the run log of {data_dir}")
    return record


def last_run(
    data_dir: Path | str, *, source: str | None = None, outcome: str | None = None
) -> RunRecord | None:
    """The newest run, optionally of one source and/or with one outcome."""
    where, params = ["1 = 1"], []
    for column, value in (("source", source), ("outcome", outcome)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return _select_one(data_dir, " AND ".join(where), tuple(params))


def last_failure(data_dir: Path | str, *, source: str | None = None) -> RunRecord | None:
    """The newest failed run (for the "last scheduled run failed" warning)."""
    return last_run(data_dir, source=source, outcome="failed")


def last_attempt_of_job(data_dir: Path | str, job: str) -> datetime | None:
    """When scheduled `job` last started a refresh (a run skipped for the lock does not count)."""
    if not (Path(data_dir) / RUNS_DB).exists():
        return None
    with _connect(data_dir) as conn:
        (started,) = conn.execute(
            "SELECT max(started_at) FROM runs WHERE job = ? AND outcome != 'skipped-locked'",
            (job,),
        ).fetchone()
    return datetime.fromisoformat(started) if started else None


def job_first_seen(data_dir: Path | str, job: str, *, now: datetime) -> datetime:
    """When the scheduler first saw `job` (recorded now if never): no run is "missed" before."""
    with _connect(data_dir) as conn:
        conn.execute(
            "INSERT OR IGNORE INTO schedule_jobs (job, first_seen_at) VALUES (?, ?)",
            (job, iso(now)),
        )
        (seen,) = conn.execute(
            "SELECT first_seen_at FROM schedule_jobs WHERE job = ?", (job,)
        ).fetchone()
    return datetime.fromisoformat(seen)


def _select_one(data_dir: Path | str, where: str, params: tuple[Any, ...]) -> RunRecord | None:
    """The newest matching run; None too when the log cannot be read (the pages' notices
    then say nothing, and Data & refresh shows why the log is unreadable)."""
    if not (Path(data_dir) / RUNS_DB).exists():
        return None
    try:
        with _read(data_dir) as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM runs WHERE {where} ORDER BY run_id DESC LIMIT 1",
                params,
            ).fetchone()
    except sqlite3.DatabaseError:
        return None
    return _record(row) if row else None


def _record(row: tuple[Any, ...]) -> RunRecord:
    values = dict(zip(RUNS_SCHEMA, row, strict=True))
    rows_json = values.pop("rows_json")
    values.pop("total_rows")
    return RunRecord(
        **{
            **values,
            "started_at": datetime.fromisoformat(values["started_at"]),
            "ended_at": datetime.fromisoformat(values["ended_at"]) if values["ended_at"] else None,
        },
        rows=json.loads(rows_json) if rows_json else {},
    )
