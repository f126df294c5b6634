"""The pre-read carries the leaders' answers beside the data's evidence and names the gap, in
the PDF and the HTML, on the demo org with answers planted by hand."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import polars as pl
import pytest
from pypdf import PdfReader

from connectors.demo import generate_demo_org
from journal.store import ANSWER_COLUMNS
from model.calendar import parse_period
from model.tables import Tables
from ops.decisions import scored_signals
from reports import build as preread_build
from reports.render import plain
from scoring.perception import SIGNAL_COLUMNS, perception, summary
from scoring.preread import Freshness, assemble, leader_lines
from scoring.scorecard import compare, compute

AS_OF = date(2026, 11, 16)


@pytest.fixture(scope="module")
def pre():
    card = compute(
        Tables.from_frames(generate_demo_org(as_of=AS_OF)),
        as_of=AS_OF,
        period=parse_period("2026-Q4"),
    )
    # sales rates handoff ownership 5/5, marketing 2/5; the demo's handoff evidence is poor
    answers = pl.DataFrame(
        [
            (1, None, "s@x", "2026-Q4", "sales", "handoff_owners", 5, "<b>all good</b>"),
            (2, None, "m@x", "2026-Q4", "marketing", "handoff_owners", 2, ""),
        ],
        schema={**ANSWER_COLUMNS, "at": pl.Datetime("us", "UTC")},
        orient="row",
    )
    leaders = summary(perception(answers, scored_signals(card), quarter="2026-Q4"))
    fresh = Freshness(
        source="demo", data_as_of=str(AS_OF), refreshed_at=str(datetime.now(UTC)), snapshot_id="x"
    )
    return assemble(card, compare(card, None), freshness=fresh, app_url="", leaders=leaders)


def _flat(text: str) -> str:
    return " ".join(plain(text).split())


def test_the_gap_and_the_answers_are_in_the_pdf(pre):
    assert pre.leader_gaps and pre.leader_gaps[0].startswith(
        "Sales rates “ownership of handoffs is clear” 5/5, but the data says otherwise"
    )
    reader = PdfReader(io.BytesIO(preread_build.render(pre, "pdf")))
    first = _flat(reader.pages[0].extract_text())
    assert "Leaders' view beside the data" in first
    assert _flat("Gap: Sales rates “ownership of handoffs is clear” 5/5") in first
    assert "leaders: marketing 2/5, sales 5/5" in first


def test_the_html_shows_it_as_text(pre):
    page = preread_build.render(pre, "html").decode("utf-8")
    assert "Leaders&#x27; view beside the data" in page or "Leaders' view beside the data" in page
    assert "marketing 2/5, sales 5/5" in page
    assert "<b>all good</b>" not in page  # comments are not in the pre-read at all


def test_no_answers_no_section():
    assert leader_lines(None) == ((), ())
    no_signals = pl.DataFrame(schema=SIGNAL_COLUMNS)
    empty = summary(perception(pl.DataFrame(schema=ANSWER_COLUMNS), no_signals, quarter="x"))
    assert leader_lines(empty) == ((), ())


def test_the_cli_preread_reads_the_journal(tmp_path, monkeypatch):
    from connectors.validate import validate_tables
    from ops import cli
    from ops.decisions import open_for_url, seed_demo
    from snapshots.store import Store

    data = tmp_path / "data"
    Store(data).write(
        validate_tables(generate_demo_org(as_of=AS_OF)).frames, source="demo", data_as_of=AS_OF
    )
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(data))
    monkeypatch.setenv("DATABASE_URL", url)
    seed_demo(open_for_url(url), as_of=AS_OF, quarter="2026-Q4")
    out = tmp_path / "pre.pdf"
    assert cli.main(["preread", "--out", str(out)]) == 0
    text = " ".join(plain(p.extract_text()) for p in PdfReader(str(out)).pages)
    flat = " ".join(text.split())
    assert _flat("Gap: Sales rates “ownership of handoffs is clear” 5/5") in flat
    # decisions kept is measured in the Forecast integrity pillar: 1 of 4 -> 25 %
    assert "Decisions closed on time and not reversed 25.0%" in flat
