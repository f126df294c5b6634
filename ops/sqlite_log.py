"""Small append-mostly logs in the data folder (run log, audit log) as SQLite files."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


@contextmanager
def connect(path: Path, ddl: str) -> Iterator[sqlite3.Connection]:
    """A connection to the log at `path` (created with `ddl` if new), in WAL mode so the app
    reads while a refresh writes; the block runs as one transaction, committed on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=BUSY_SECONDS)) as conn:
        _use_wal(conn)
        conn.executescript(ddl)
        with conn:
            yield conn


BUSY_SECONDS = 30.0


@contextmanager
def read(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that only reads the log at `path`. On a read-only folder SQLite cannot
    create the shared-memory file WAL mode needs, so the file is then read as immutable
    (nobody can be writing to it there)."""
    conn = sqlite3.connect(path, timeout=BUSY_SECONDS)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    with closing(conn):
        yield conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL mode. SQLite answers "database is locked" at once, without waiting
    for the busy timeout, when two processes switch a new log file together (two refreshes
    started at the same moment), so the switch is retried for up to `BUSY_SECONDS`."""
    deadline = time.monotonic() + BUSY_SECONDS
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
