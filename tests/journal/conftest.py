"""The journal's tests run twice: on SQLite in a temporary folder and on a real PostgreSQL
started on 127.0.0.1 for the session (skipped, with the reason, where it is not installed)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.postgres import missing_reason, running_postgres

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with running_postgres() as url:
        yield url


def _fresh_postgres_database(server_url: str) -> str:
    """A new empty database on the session's server; its URL."""
    name = f"journal_test_{next(_names)}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sa.make_url(server_url).set(database=name))


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty journal database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite'}"
    return _fresh_postgres_database(request.getfixturevalue("postgres_server"))
