"""The demo org's planted decision log and leaders' answers, on both backends: decisions kept
1 of 4, and the sales leader's planted gaps against the demo's data."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from connectors.demo import generate_demo_org
from journal import open_journal
from model.calendar import parse_period
from model.tables import Tables
from ops.decisions import perception_for, seed_demo
from scoring.decisions import decisions_kept
from scoring.scorecard import compute

AS_OF = date(2026, 11, 16)


@pytest.fixture(scope="module")
def demo_tables() -> Tables:
    return Tables.from_frames(generate_demo_org(as_of=AS_OF))


def test_the_demo_journal_is_planted_once_with_its_gap(journal_url: str, demo_tables: Tables):
    journal = open_journal(journal_url)
    assert seed_demo(journal, as_of=AS_OF, quarter="2026-Q4")
    assert not seed_demo(journal, as_of=AS_OF, quarter="2026-Q4")  # never over existing data
    assert journal.decisions().height == 5

    # EMEA closed on time (kept); NA Mid-Market closed 10 days late; the Paid Social re-score
    # (no team) was reversed; NA Enterprise is 14 days overdue; APAC's is not due yet.
    kept = decisions_kept(journal.decisions(), as_of=AS_OF)
    assert kept.select("team", "kept", "judged").rows() == [
        ("(no team)", 0, 1), ("EMEA", 1, 1), ("NA Enterprise", 0, 1), ("NA Mid-Market", 0, 1)
    ]  # fmt: skip

    card = compute(
        demo_tables, as_of=AS_OF, period=parse_period("2026-Q4"), decisions=journal.decisions()
    )
    signal = next(s for s in card.pillar("forecast_integrity").signals if s.id == "decisions_kept")
    assert (signal.numerator, signal.denominator, signal.value) == (1, 4, 0.25)

    rows, summary = perception_for(journal, card, quarter="2026-Q4")
    gaps = rows.filter(pl.col("gap"))
    # the planted gap: sales says handoff ownership 5/5 and bad news early 4/5; the demo's
    # evidence scores 42/100 and 41/100. Marketing rates itself low: no gap.
    assert gaps.select("function", "question").rows() == [
        ("sales", "handoff_owners"),
        ("sales", "bad_news_early"),
    ]
    line = summary.filter(pl.col("question") == "handoff_owners").row(0, named=True)
    assert line["answers"] == "marketing 2/5, sales 5/5"
    journal.close()
