"""`run_refresh`: the one way a refresh runs, whoever asks (cli, page, schedule, manual).

It takes the data folder's refresh lock, records the run in the run log, calls
`ops.refresh.refresh` (retrying transient source errors with backoff; it applies the
snapshot retention, judged at this job's clock) and records the outcome. A refresh that finds
the lock taken is not queued: it is recorded as ``skipped-locked`` with a message naming the
running refresh.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

from ops.config import Settings
from ops.lock import LockHeld, refresh_lock
from ops.refresh import RefreshError, RefreshResult, refresh
from ops.runlog import RunRecord, abandon_stale, finish_run, start_run
from ops.sources import Progress, no_progress
from snapshots.store import (
    Snapshot,
    StorageFull,
    StorageReadOnly,
    Store,
    StoreError,
    storage_problem,
)

Clock = Callable[[], datetime]
# Errors worth another try: the network or the source was briefly unavailable. A source marks
# its own such errors with a class attribute `transient = True` on a RefreshError subclass.
TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
# Failures a refresh reports and survives; anything else is a bug and is re-raised after logging.
EXPECTED: tuple[type[BaseException], ...] = (RefreshError, StoreError, *TRANSIENT)
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|WEBHOOK", re.I)


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` may go away on retry; a validation error never does."""
    return isinstance(exc, TRANSIENT) or getattr(exc, "transient", False) is True


def _forms(value: str) -> set[str]:
    """A secret as an error may quote it: as typed, URL-encoded, base64-encoded."""
    raw = value.encode("utf-8")
    return {
        value,
        quote(value),
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    }


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with the values of secret-looking environment variables replaced by ***, in
    every form an error may quote them (as typed, URL-encoded, base64), longest first."""
    forms = {
        form
        for name, value in (os.environ if environ is None else environ).items()
        if _SECRET_NAME.search(name) and len(value) >= 4
        for form in _forms(value)
    }
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def run_refresh(
    settings: Settings,
    source: str | None = None,
    *,
    trigger: str,
    progress: Progress = no_progress,
    clock: Clock = utc_now,
    job: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    **options: Any,
) -> RunRecord:
    """Refresh `source` under the lock and record it; returns the run log row.

    The outcome is ``ok`` (with `.result`, the `RefreshResult`), ``failed`` (with `.error`, a
    message without credentials; the previous snapshot stays current) or ``skipped-locked``.
    `options` go to the source (e.g. ``full=True``, ``as_of=...``). A snapshot becomes current
    only after its ``ok`` row is recorded, so the log never lacks the run behind `CURRENT`.
    A full or read-only data folder gives one clear message ("the data folder data is full:
    ..."), whether the lock, the run log or the snapshot could not be written; the row is
    recorded when the run log can still be written, else only the returned record says it.
    """
    name = source or settings.default_source
    try:
        try:
            with refresh_lock(settings.data_dir, source=name, now=clock()):
                return _locked_run(settings, name, trigger, job, progress, clock, sleep, options)
        except LockHeld as exc:
            data_dir = settings.data_dir
            run_id = start_run(data_dir, source=name, trigger=trigger, now=clock(), job=job)
            return finish_run(
                data_dir,
                run_id,
                outcome="skipped-locked",
                now=clock(),
                attempts=0,
                error=str(exc),
            )
    except (OSError, sqlite3.Error) as exc:
        problem = storage_problem(exc, settings.data_dir)
        if problem is None:
            raise
        return _unrecorded(name, trigger, job, clock(), str(problem))


def _unrecorded(name: str, trigger: str, job: str | None, now: datetime, error: str) -> RunRecord:
    """A failed run the run log could not record (its folder is full or read-only)."""
    return RunRecord(
        run_id=0, started_at=now, ended_at=now, source=name, trigger=trigger, job=job,
        outcome="failed", attempts=0, rows={}, snapshot_id=None, error=error, pid=os.getpid(),
    )  # fmt: skip


def _locked_run(
    settings: Settings,
    name: str,
    trigger: str,
    job: str | None,
    progress: Progress,
    clock: Clock,
    sleep: Callable[[float], None],
    options: dict[str, Any],
) -> RunRecord:
    data_dir = settings.data_dir
    abandon_stale(data_dir, now=clock())
    Store(data_dir).clean_orphans()  # snapshots of refreshes killed before they were current
    run_id = start_run(data_dir, source=name, trigger=trigger, now=clock(), job=job)
    recorded: list[RunRecord] = []

    def record_ok(snapshot: Snapshot, attempts: int) -> None:
        rows = {table: info["rows"] for table, info in snapshot.manifest["tables"].items()}
        recorded.append(
            finish_run(
                data_dir, run_id, outcome="ok", now=clock(), attempts=attempts, rows=rows,
                snapshot_id=snapshot.id,
            )
        )  # fmt: skip

    result, attempts, error = _try_refresh(
        settings, name, progress, sleep, clock, options, record_ok
    )
    if error is not None:
        error = storage_problem(error, data_dir) or error
        message = _message(error, attempts)
        try:
            record = finish_run(
                data_dir, run_id, outcome="failed", now=clock(), attempts=attempts, error=message
            )
        except (OSError, sqlite3.Error) as exc:
            if storage_problem(exc, data_dir) is None:
                raise
            record = _unrecorded(name, trigger, job, clock(), message)
        if not isinstance(error, EXPECTED):
            raise error  # a bug: the caller's log gets the traceback, the run log the outcome
        return record
    assert result is not None and recorded
    return replace(recorded[-1], result=result)


def _try_refresh(
    settings: Settings,
    name: str,
    progress: Progress,
    sleep: Callable[[float], None],
    clock: Clock,
    options: dict[str, Any],
    record_ok: Callable[[Snapshot, int], None],
) -> tuple[RefreshResult | None, int, Exception | None]:
    """Refresh, retrying transient errors with doubling backoff: (result, attempts, error)."""
    policy = settings.schedules
    attempt = 1
    while True:
        try:
            result = refresh(
                settings,
                name,
                progress=progress,
                before_current=functools.partial(_with_attempts, record_ok, attempt),
                clock=clock,
                **options,
            )
            return result, attempt, None
        except Exception as exc:
            if not is_transient(exc) or attempt > policy.retries:
                return None, attempt, exc
            wait = policy.backoff_seconds * 2 ** (attempt - 1)
            progress(f"{name}: {type(exc).__name__}, retry {attempt} in {wait:g} s", 0.0)
            sleep(wait)
            attempt += 1


def _with_attempts(
    record_ok: Callable[[Snapshot, int], None], attempts: int, snapshot: Snapshot
) -> None:
    record_ok(snapshot, attempts)


def _message(exc: Exception, attempts: int) -> str:
    plain = isinstance(exc, RefreshError | StorageFull | StorageReadOnly)
    text = str(exc) if plain else f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, EXPECTED):
        text = f"unexpected error, see the process log: {text}"
    tail = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
    return redact(text + tail)
