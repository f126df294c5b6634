"""Small append-mostly logs in the data folder (run log, audit log) as SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


@contextmanager
def connect(path: Path, ddl: str) -> Iterator[sqlite3.Connection]:
    """A connection to the log at `path` (created with `ddl` if new), in WAL mode so the app
    reads while a refresh writes; the block runs as one transaction, committed on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(ddl)
        with conn:
            yield conn
