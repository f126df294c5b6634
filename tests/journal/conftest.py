"""The journal's tests run twice: on SQLite in a temporary folder and on a real PostgreSQL
started on 127.0.0.1 for the session (skipped, with the reason, where it is not installed)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.pgserver import PgServer

_names = itertools.count(1)


def _fresh_postgres_database(server: PgServer) -> str:
    """A new empty database on the session's server; its URL for SQLAlchemy (psycopg 3)."""
    url = server.database(f"journal_test_{next(_names)}")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty journal database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite'}"
    return _fresh_postgres_database(request.getfixturevalue("pg"))
