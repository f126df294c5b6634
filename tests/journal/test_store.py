"""The journal on both backends (SQLite, and a real PostgreSQL on 127.0.0.1): decisions
recorded, changed, closed, reversed and reopened with every change kept; nothing updated or
deleted; concurrent writers; migrations from an empty and from the previous schema."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import polars as pl
import pytest
import sqlalchemy as sa

from journal import (
    Journal,
    JournalError,
    database_url,
    migrate,
    open_journal,
    schema_revision,
)
from journal.store import make_engine
from journal.tables import metadata

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 7, 8, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 7, 15, 9, 0, tzinfo=UTC)
T3 = datetime(2026, 7, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def journal(journal_url: str):
    j = open_journal(journal_url)
    yield j
    j.close()


def test_a_decision_keeps_its_whole_history(journal: Journal):
    d = journal.record(
        text="Marketing re-scores MQLs before handing them over",
        owner="Mia (marketing)",
        by="ana@example.com",
        about_kind="metric",
        about_id="mql_sla",
        team="EMEA",
        due_date=date(2026, 7, 31),
        metric_value=0.31,
        now=T0,
    )
    assert journal.change(d, by="bo@example.com", owner="Max", note="Mia is on leave", now=T1) == 2
    assert journal.close_decision(d, by="max@example.com", note="done", now=T2) == 3
    assert journal.reverse(d, by="ana@example.com", note="back to the old scoring", now=T3) == 4

    history = journal.history()
    assert history["seq"].to_list() == [1, 2, 3, 4]
    assert history["kind"].to_list() == ["recorded", "changed", "closed", "reversed"]
    assert history["status"].to_list() == ["open", "open", "closed", "reversed"]
    assert history["owner"].to_list() == ["Mia (marketing)", "Max", "Max", "Max"]
    assert history["by_email"].to_list() == [
        "ana@example.com",
        "bo@example.com",
        "max@example.com",
        "ana@example.com",
    ]
    assert history["at"].to_list() == [T0, T1, T2, T3]
    assert history["due_date"].to_list() == [date(2026, 7, 31)] * 4

    now = journal.decisions()
    assert now.height == 1
    row = now.row(0, named=True)
    assert row["status"] == "reversed"
    assert row["owner"] == "Max"
    assert row["recorded_at"] == T0
    assert row["recorded_by"] == "ana@example.com"
    assert row["recorded_value"] == pytest.approx(0.31)
    assert row["closed_at"] == T2
    assert row["times_reversed"] == 1
    assert row["times_reopened"] == 0

    journal.reopen(d, by="ana@example.com", note="trying again", now=T3)
    assert journal.decisions().row(0, named=True)["status"] == "open"
    assert journal.decisions().row(0, named=True)["times_reopened"] == 1


def test_two_decisions_are_kept_apart(journal: Journal):
    a = journal.record(text="A", owner="o", by="u", about_kind="team", team="EMEA", now=T0)
    b = journal.record(text="B", owner="o", by="u", about_kind="deal", about_id="006X", now=T0)
    journal.close_decision(b, by="u", now=T1)
    now = journal.decisions()
    assert now["decision_id"].to_list() == [a, b]
    assert now["status"].to_list() == ["open", "closed"]
    assert now["about_id"].to_list() == [None, "006X"]


def test_refused_changes_say_why(journal: Journal):
    d = journal.record(text="A", owner="o", by="u", about_kind="team", now=T0)
    with pytest.raises(JournalError, match="cannot be reopened"):
        journal.reopen(d, by="u")
    journal.reverse(d, by="u")
    with pytest.raises(JournalError, match="is reversed; it cannot be closed"):
        journal.close_decision(d, by="u")
    with pytest.raises(JournalError, match="no decision 999"):
        journal.close_decision(999, by="u")
    with pytest.raises(JournalError, match="must be one of team, metric, deal, handoff"):
        journal.record(text="A", owner="o", by="u", about_kind="weather")
    with pytest.raises(JournalError, match="The decision is empty"):
        journal.record(text="  ", owner="o", by="u", about_kind="team")
    with pytest.raises(JournalError, match="at most 2,000"):
        journal.record(text="x" * 2001, owner="o", by="u", about_kind="team")
    with pytest.raises(JournalError, match="cannot set"):
        journal.change(d, by="u", status="closed")
    # nothing refused was written
    assert journal.history()["kind"].to_list() == ["recorded", "reversed"]


def test_text_is_stored_exactly_as_typed(journal: Journal):
    typed = "<script>alert(1)</script> **bold** [x](javascript:1) ${{ }} 'quote' \"dq\" \n ünï 💡"
    long = "ab" * 1000  # 2,000 characters: the limit
    d = journal.record(text=typed, owner="<b>O</b>", by="u", about_kind="team", note=long)
    history = journal.history()
    assert history["text"].to_list() == [typed]
    assert history["owner"].to_list() == ["<b>O</b>"]
    assert history["note"].to_list() == [long]
    assert d == 1


def test_the_database_refuses_updates_and_deletes(journal: Journal):
    journal.record(text="A", owner="o", by="u", about_kind="team", now=T0)
    journal.answer(quarter="2026-Q3", function="sales", question="bad_news_early", score=4, by="s")
    for statement in (
        "UPDATE decision_events SET text = 'rewritten'",
        "DELETE FROM decision_events",
        "DELETE FROM decisions",
        "UPDATE leader_answers SET score = 1",
        "DELETE FROM leader_answers",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), journal.engine.begin() as c:
            c.execute(sa.text(statement))
    assert journal.history()["text"].to_list() == ["A"]
    assert journal.answers()["score"].to_list() == [4]


def test_two_sessions_writing_at_once_lose_nothing(journal_url: str):
    # Two app servers: two engines on one database, each in its own thread, both changing the
    # same decision 10 times and recording 5 decisions of their own. Every write lands and each
    # decision's events are numbered 1..n without a gap or a duplicate.
    first, second = open_journal(journal_url), open_journal(journal_url)
    shared = first.record(text="shared", owner="o", by="setup", about_kind="team")
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(j: Journal, who: str) -> None:
        try:
            barrier.wait()
            for i in range(10):
                j.change(shared, by=who, note=f"{who} {i}")
            for i in range(5):
                j.record(text=f"{who} {i}", owner=who, by=who, about_kind="team")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(j, w)) for j, w in ((first, "a"), (second, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    history = first.history()
    mine = history.filter(pl.col("decision_id") == shared)
    assert mine["seq"].to_list() == list(range(1, 22))  # 1 recorded + 2 x 10 changes
    assert mine.filter(pl.col("by_email") == "a").height == 10
    assert mine.filter(pl.col("by_email") == "b").height == 10
    assert first.decisions().height == 11  # the shared one + 2 x 5
    first.close()
    second.close()


def _columns(engine: sa.Engine) -> dict[str, list[str]]:
    inspector = sa.inspect(engine)
    return {t: sorted(c["name"] for c in inspector.get_columns(t)) for t in metadata.tables}


def test_migration_from_an_empty_database(journal_url: str):
    engine = make_engine(journal_url)
    assert schema_revision(engine) is None
    journal = open_journal(journal_url)
    assert schema_revision(engine) == "0002"
    # the migrated schema is the one the code reads and writes
    assert _columns(engine) == {
        name: sorted(c.name for c in table.columns) for name, table in metadata.tables.items()
    }
    open_journal(journal_url).close()  # opening again migrates nothing and keeps working
    assert schema_revision(engine) == "0002"
    journal.close()
    engine.dispose()


def test_migration_from_the_previous_schema_keeps_the_decisions(journal_url: str):
    engine = make_engine(journal_url)
    migrate(engine, "0001")  # the decision log before the leaders' answers existed
    assert schema_revision(engine) == "0001"
    assert not sa.inspect(engine).has_table("leader_answers")
    old = Journal(engine)
    d = old.record(text="kept across the upgrade", owner="o", by="u", about_kind="team", now=T0)
    old.close_decision(d, by="u", now=T1)

    journal = open_journal(journal_url)
    assert schema_revision(engine) == "0002"
    assert journal.history()["kind"].to_list() == ["recorded", "closed"]
    assert journal.decisions()["text"].to_list() == ["kept across the upgrade"]
    journal.answer(quarter="2026-Q3", function="sales", question="handoff_owners", score=4, by="s")
    assert journal.answers()["question"].to_list() == ["handoff_owners"]
    journal.close()
    engine.dispose()


def test_leaders_answers_are_kept_with_later_ones_added(journal: Journal):
    journal.answer(
        quarter="2026-Q3", function="sales", question="handoff_owners", score=4, by="s@x", now=T0
    )
    journal.answer(
        quarter="2026-Q3",
        function="sales",
        question="handoff_owners",
        score=3,
        by="s@x",
        comment="<i>on reflection</i>",
        now=T1,
    )
    answers = journal.answers()
    assert answers["score"].to_list() == [4, 3]
    assert answers["comment"].to_list() == ["", "<i>on reflection</i>"]
    assert answers["at"].to_list() == [T0, T1]
    with pytest.raises(JournalError, match="from 1 to 5"):
        journal.answer(
            quarter="2026-Q3", function="sales", question="handoff_owners", score=6, by="s"
        )
    with pytest.raises(JournalError, match="the function must be one of sales"):
        journal.answer(
            quarter="2026-Q3", function="<b>x</b>", question="handoff_owners", score=3, by="s"
        )
    with pytest.raises(JournalError, match="no question"):
        journal.answer(quarter="2026-Q3", function="sales", question="weather", score=3, by="s")


def test_the_database_url_comes_from_the_environment(tmp_path):
    assert database_url(tmp_path, {}) == f"sqlite:///{tmp_path / 'journal.sqlite'}"
    assert (
        database_url(tmp_path, {"DATABASE_URL": "postgresql://u@db:5432/scorecard"})
        == "postgresql+psycopg://u@db:5432/scorecard"
    )
    assert (
        database_url(tmp_path, {"DATABASE_URL": "postgresql+psycopg://u@db/s"})
        == "postgresql+psycopg://u@db/s"
    )
