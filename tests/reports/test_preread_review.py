"""The pre-read's "Changes since last review" (issue #18 item 1): per team, deals and amounts
per change kind and trend group, and the largest deals pushed out by name, in the PDF and the
HTML.

On the hand-made deals of tests/scoring/test_changes.py (one review week, 2026-08-07 →
2026-08-14, teams East = u1 and West = u2), read from the history:
  East: a amount up / stage forward / category up (150), b pushed (200, twice: 08-31 →
        09-30), e amount down / stage back / category down (350), k pulled in (70), g idle.
  West: c new + lost (80), d reopened (300), f won (500), j new (60), h idle (90).
And on two demo snapshots (2026-11-09, 2026-11-16), as the scheduled pre-read builds it.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path

import polars as pl
import pytest
from pypdf import PdfReader

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from model.calendar import Calendar
from ops.config import PrereadSettings, Settings
from reports import build as preread_build
from reports.render import plain
from reports.snapshot_tables import read_bundle
from scoring.changes import CHANGES_DERIVED, snapshot_changes_summary
from scoring.preread import review_section
from scoring.review import ReviewWindow, review_changes
from scoring.scorecard import filter_teams
from snapshots.store import Store
from tests.scoring.test_changes import HAND, SINCE, UNTIL, make_tables

AS_OF = date(2026, 11, 16)
TEAMS = ("EMEA", "APAC")
WEEK = ReviewWindow(since=SINCE, until=UNTIL, name="1w")


def _flat(text: str) -> str:
    return " ".join(plain(text).split())


def test_the_section_on_hand_made_deals():
    section = review_section(review_changes(make_tables(HAND), window=WEEK, calendar=Calendar()))
    assert section.title == "Changes since last review — 1 week: 2026-08-07 – 2026-08-14"
    assert section.source.startswith("Read from the stage history")
    assert section.columns == ("Change", "East", "West", "All teams")
    rows = {row[0]: row[1:] for row in section.rows}
    assert rows["Pushed out"] == ("1 · $200", "—", "1 · $200")
    assert rows["New"] == ("—", "2 · $140", "2 · $140")  # c 80 + j 60
    assert rows["Won"] == ("—", "1 · $500", "1 · $500")
    assert rows["Reopened"] == ("—", "1 · $300", "1 · $300")
    # trends: East a, k up (150 + 70), e down (350), b slipped, g idle (120);
    # West f, j up (500 + 60), c down (80), h idle (90)
    assert rows["Trend up"] == ("2 · $220", "2 · $560", "4 · $780")
    assert rows["Slipped"] == ("1 · $200", "—", "1 · $200")
    assert rows["Idle"] == ("1 · $120", "1 · $90", "2 · $210")
    assert section.pushed == (
        "East: b (u1), $200: close 2026-08-31 → 2026-09-30 (+30 days)",
        "West: no deal pushed out",
    )


def test_not_measured_says_why_instead_of_zeros():
    blind = make_tables(HAND, provenance={"stage_history": "derived from current stage"})
    section = review_section(review_changes(blind, window=WEEK, calendar=Calendar()))
    assert section.reason.startswith(CHANGES_DERIVED)
    assert section.rows == () and section.pushed == ()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("review") / "data"
    for day in (date(2026, 11, 9), AS_OF):
        frames = validate_tables(generate_demo_org(as_of=day)).frames
        written = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
        Store(folder).write(frames, source="demo", data_as_of=day, now=written)
    return folder


@pytest.fixture(scope="module")
def pre(store: Path):
    settings = Settings(data_dir=store, preread=PrereadSettings(app_url="http://scorecard.test/"))
    return preread_build.build(settings, teams=TEAMS)


def test_the_pre_read_compares_the_two_snapshots(store: Path, pre):
    review = pre.review
    assert review.title == "Changes since last review — 1 week: 2026-11-09 – 2026-11-16"
    assert review.source.startswith("Compared with the snapshot of 2026-11-09")
    assert review.columns == ("Change", "APAC", "EMEA", "All teams")
    # the cells are the snapshots' comparison, computed here directly
    snaps = sorted(Store(store).list(), key=lambda s: s.id)
    earlier, later = (read_bundle(s) for s in snaps)
    direct = snapshot_changes_summary(earlier, filter_teams(later, TEAMS))
    pushed = direct.filter(pl.col("kind") == "close_pushed").sort("team")
    row = next(r for r in review.rows if r[0] == "Pushed out")
    assert pushed["team"].to_list() == ["APAC", "All teams", "EMEA"]
    apac, everyone, emea = pushed.iter_rows(named=True)
    assert row[1].startswith(f"{apac['deals']} · ") and row[2].startswith(f"{emea['deals']} · ")
    assert row[3].startswith(f"{everyone['deals']} · ") and everyone["deals"] > 0
    # the largest pushed deals are named (the deal's and the owner's name, not ids)
    assert [line.split(":")[0] for line in review.pushed] == ["APAC", "EMEA"]
    assert "→" in review.pushed[0] and " (U0" not in review.pushed[0]


def test_both_outputs_show_the_section(pre):
    reader = PdfReader(io.BytesIO(preread_build.render(pre, "pdf")))
    page = _flat(reader.pages[1].extract_text())
    assert page.startswith(_flat(pre.review.title))
    assert _flat(pre.review.source) in page
    assert _flat(" ".join(pre.review.rows[0])) in page  # Trend up, per team
    assert _flat(pre.review.pushed[0])[:40] in page
    html = plain(preread_build.render(pre, "html").decode("utf-8"))
    assert "<section class='review'>" in html
    assert plain(pre.review.title) in html
    assert "<td>Pushed out</td>" in html


def test_a_derived_history_with_one_snapshot_is_not_measured_in_both_outputs(tmp_path: Path):
    from tests.closed_only import write_store

    folder = write_store(tmp_path / "data")
    pre = preread_build.build(Settings(data_dir=folder))
    assert pre.review.reason.startswith(CHANGES_DERIVED)
    html = plain(unescape(preread_build.render(pre, "html").decode("utf-8")))
    assert f"Not measured: {plain(CHANGES_DERIVED)}" in html
    reader = PdfReader(io.BytesIO(preread_build.render(pre, "pdf")))
    assert "Not measured: Deal changes are not measured" in _flat(reader.pages[1].extract_text())
