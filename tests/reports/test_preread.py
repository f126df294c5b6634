"""The executive pre-read: the PDF and the HTML show the scorecard JSON's numbers.

Two demo-org snapshots (data as of 2026-11-09, then 2026-11-16) in a temporary store, so the
"what changed" section has content; the view is EMEA + APAC in 2026-Q4, as of 2026-11-16.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pypdf import PdfReader

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from model.calendar import parse_period
from model.params import ScoringParams
from model.tables import Tables
from ops.config import PrereadSettings, Settings
from reports import build as preread_build
from reports.render import plain
from scoring.preread import Freshness, assemble, live_url
from scoring.scorecard import Scorecard, compare, compute
from snapshots.store import Store

AS_OF = date(2026, 11, 16)
TEAMS = ("EMEA", "APAC")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("preread") / "data"
    for day in (date(2026, 11, 9), AS_OF):
        frames = validate_tables(generate_demo_org(as_of=day)).frames
        written = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
        Store(folder).write(frames, source="demo", data_as_of=day, now=written)
    return folder


@pytest.fixture(scope="module")
def card(store: Path) -> dict:
    """The scorecard JSON for the same view, computed directly (as the app does)."""
    tables = Tables.from_frames(Store(store).current().read_all())
    period = parse_period("2026-Q4", fiscal_start_month=1)
    return compute(tables, as_of=AS_OF, period=period, teams=TEAMS).to_dict()


@pytest.fixture(scope="module")
def pre(store: Path):
    settings = Settings(data_dir=store, preread=PrereadSettings(app_url="http://scorecard.test/"))
    return preread_build.build(settings, teams=TEAMS)


@pytest.fixture(scope="module")
def pdf_pages(pre) -> list[str]:
    reader = PdfReader(io.BytesIO(preread_build.render(pre, "pdf")))
    return [_flat(page.extract_text()) for page in reader.pages]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.svgs += tag == "svg"

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


@pytest.fixture(scope="module")
def html_parsed(pre) -> _Text:
    parser = _Text()
    parser.feed(preread_build.render(pre, "html").decode("utf-8"))
    return parser


def _flat(text: str) -> str:
    """Whitespace collapsed (PDF lines wrap anywhere) and the core font's ASCII spellings, so
    the comparison holds whichever font the PDF was written with."""
    return " ".join(plain(text).split())


def _score_after(text: str, name: str) -> str:
    match = re.search(re.escape(_flat(name)) + r" (\d+\.\d|n/a)", text)
    assert match, f"no score after {name!r}"
    return match.group(1)


def _json_score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def test_the_view_is_the_one_asked_for(card: dict, pre):
    assert pre.card.to_dict() == card  # the very scorecard the app computes for these filters
    assert card["teams"] == ["APAC", "EMEA"] and card["period"] == "2026-Q4"


def test_pdf_summary_page_has_the_pillar_scores_and_drivers_of_the_json(card, pdf_pages):
    summary = pdf_pages[0]
    for pillar in card["pillars"]:
        assert _score_after(summary, pillar["name"]) == _json_score(pillar["score"])
    assert card["drivers"], "the demo org plants findings: the view must have drivers"
    for i, driver in enumerate(card["drivers"], 1):
        assert _flat(f"{i}. {driver['text']}") in summary
    assert f"Alignment score {_json_score(card['overall'])}" in summary


def test_pdf_has_one_page_per_pillar_after_the_summary(card, pdf_pages):
    starts = [next(i for i, t in enumerate(pdf_pages) if t.startswith(_flat(p["name"])))
              for p in card["pillars"]]  # fmt: skip
    # summary alone on page 1, the changes since the last review on page 2
    assert starts == sorted(starts) and starts[0] == 2
    for pillar, start in zip(card["pillars"], starts, strict=True):
        page = pdf_pages[start]
        assert page.startswith(_flat(f"{pillar['name']} — {_json_score(pillar['score'])}"))
        for driver in pillar["drivers"]:
            assert _flat(driver["text"]) in page
        for signal in pillar["signals"]:
            assert f"{_flat(signal['label'])} " in page


def test_html_has_the_same_scores_drivers_and_inline_charts(card, html_parsed):
    text = _flat(" ".join(html_parsed.parts))
    for pillar in card["pillars"]:
        assert _score_after(text, pillar["name"]) == _json_score(pillar["score"])
        for driver in pillar["drivers"]:
            assert _flat(driver["text"]) in text
    for driver in card["drivers"]:
        assert _flat(driver["text"]) in text
    assert html_parsed.svgs == 4  # one key chart per pillar, inline


def test_html_is_self_contained(pre):
    page = preread_build.render(pre, "html").decode("utf-8")
    assert "<script" not in page and 'src="http' not in page and "<link" not in page
    assert "@media print" in page


def test_changes_and_freshness_are_shown(pre, pdf_pages):
    assert pre.changes[0].startswith(("▲", "▼"))  # the two snapshots differ
    assert "change since the snapshot of 2026-11-09 06:00 UTC" in pdf_pages[0]
    assert _flat(pre.changes[0]) in pdf_pages[0]
    assert "Data as of 2026-11-16" in pdf_pages[0]


def test_link_opens_the_live_view_with_the_same_filters(pre, pdf_pages):
    url = urlsplit(pre.link)
    assert (url.scheme, url.netloc, url.path) == ("http", "scorecard.test", "/")
    assert parse_qs(url.query) == {
        "period": ["2026-Q4"],
        "as_of": ["2026-11-16"],
        "teams": ["APAC", "EMEA"],
    }
    assert pre.link in pdf_pages[0].replace(" ", "")


def test_live_url_repeats_the_teams_key_like_the_apps_multiselect():
    # Streamlit writes a bound multiselect as one key per value (urlencode with doseq).
    url = live_url("http://x:8501", period="2026-Q3", as_of="2026-09-30", teams=["NA East", "B"])
    assert url == "http://x:8501/?period=2026-Q3&as_of=2026-09-30&teams=NA+East&teams=B"
    assert live_url("http://x", period="P", as_of="D", teams=[]) == "http://x/?period=P&as_of=D"


def test_first_snapshot_says_there_is_nothing_to_compare(card):
    fresh = Freshness("s1", "demo", "2026-11-16 06:00 UTC", "2026-11-16")
    scorecard = Scorecard.from_dict(card)
    pre = assemble(scorecard, compare(scorecard, None), freshness=fresh, app_url="http://x")
    assert pre.since.startswith("first snapshot")
    assert pre.changes == ("First snapshot: there is nothing earlier to compare with yet.",)
    assert {p.change for p in pre.pillars} == {"—"}


def test_unknown_format_is_refused(pre):
    with pytest.raises(ValueError, match="unknown pre-read format"):
        preread_build.render(pre, "docx")


def test_chart_builders_load_without_streamlit():
    code = (
        "import sys; from reports import build, funnel_charts, metrics, pipeline_charts as p; "
        "assert 'streamlit' not in sys.modules, 'streamlit imported'; "
        "print(p.team_scale(['B', 'A']).to_dict()['range'][:2])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    # The pages' own team palette (pages/_widgets.py PALETTE), first two colors for A, B.
    assert "['#4e79a7', '#f28e2b']" in done.stdout


def test_no_stall_chart_where_time_in_stage_is_unknown(tiny_org):
    # The tiny org has open deals, so its pre-read shows where they sit too long; the same
    # data with a stage history derived from dates leaves that chart out (stall_status).
    def titles(tables: Tables) -> list[str]:
        charts = preread_build.key_charts(
            tables,
            as_of=date(2026, 3, 1),
            period=parse_period("2026-Q1"),
            params=ScoringParams(),
            all_teams=["EMEA"],
        )
        return [c.title for c in charts]

    stall_chart = "Where open deals sit too long (team × stage)"
    recorded = Tables.from_frames(tiny_org)
    assert stall_chart in titles(recorded)
    derived = Tables.from_frames(tiny_org, {"stage_history": "derived: no history file"})
    assert stall_chart not in titles(derived)


def test_a_closed_deals_only_export_reads_not_measured_with_the_reasons():
    # tests/closed_only.py: closed deals, no leads/forecasts/quotas, a derived history.
    # Measured: win rate and data quality (2 of 4 pillars); the rest says why not.
    from tests.closed_only import ORIGIN, frames

    tables = Tables.from_frames(frames(), provenance=ORIGIN)
    card = compute(tables, as_of=AS_OF, period=parse_period("2026-Q4"))
    fresh = Freshness("s1", "files", "2026-11-16 06:00 UTC", "2026-11-16")
    pre = assemble(card, compare(card, None), freshness=fresh, app_url="http://x")
    assert pre.overall.endswith("(2 of 4 pillars)")
    forecast = next(p for p in pre.pillars if p.id == "forecast_integrity")
    assert forecast.score == "not measured"
    bias = next(row for row in forecast.signals if row[0].startswith("Mean |bias|"))
    assert bias[1:] == ("not measured: the source has no forecast submissions", "—")
    outcomes = next(p for p in pre.pillars if p.id == "shared_outcomes")
    win = next(row for row in outcomes.signals if row[0].startswith("Win rate"))
    assert win[1] == "75.0% (3 of 4)"  # Q3: O1, O2, O4 won, O3 lost
    assert pre.missing[0].startswith("Handoff ownership is not measured: no lead has a recorded")
    assert pre.no_drivers.startswith("No driver among the measured signals (2 of 4 pillars)")
    html = plain(preread_build.render(pre, "html").decode())
    assert "Forecast integrity is not measured: the source has no forecast submissions" in html
    assert "No driver stands out" not in html
