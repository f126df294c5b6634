"""The decision log and the leaders' answers in a real browser: record a decision on the
Scorecard page, find it on the Decisions page with its follow-through (as typed, in the CSV),
answer the quarterly questions, and see the gap on the Scorecard page and in the pre-read PDF."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.render import plain
from tests.appserver import running_app
from tests.e2e.conftest import screenshot, wait_for_app

TYPED = "**Re-score MQLs** <img src=x onerror=alert(1)> $$x$$ :red[now]"


@pytest.fixture(scope="module")
def journal_app(e2e_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An app server of its own: a copy of the demo store and a fresh journal (it writes)."""
    root = tmp_path_factory.mktemp("journal-e2e")
    data = root / "data"
    shutil.copytree(e2e_store, data)
    with running_app(data, DATABASE_URL=f"sqlite:///{root / 'journal.sqlite'}") as url:
        yield url


def _choose(page, box, option: str) -> None:
    """Pick `option` in a selectbox (its list can close again while the page settles)."""
    for _ in range(3):
        box.locator("input").click()
        choice = page.get_by_role("option", name=option)
        try:
            choice.wait_for(timeout=5_000)
            choice.click(timeout=5_000)  # the list can be redrawn under the pointer: again
        except Exception:  # the list did not open, or closed before the click: try again
            continue
        return
    raise AssertionError(f"could not choose {option!r}")


def _nav(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    wait_for_app(page)


def test_record_follow_answer_and_see_the_gap(page, journal_app, tmp_path: Path):
    page.goto(journal_app)
    wait_for_app(page)
    # 1. record a decision about a metric on the Scorecard page
    page.get_by_text("Record a decision").click()
    page.get_by_label("Decision or action").fill(TYPED)
    page.get_by_label("Owner", exact=True).fill("Mia")
    about = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("About", exact=True))
    _choose(page, about, "A metric")
    page.get_by_role("button", name="Record the decision").click()
    wait_for_app(page)
    page.get_by_text("Decision recorded.").wait_for()

    # 2. the Decisions page lists it, open and not overdue, exactly as typed
    _nav(page, "Decisions")
    metric = page.get_by_test_id("stMetric").filter(has_text="Open decisions")
    assert metric.get_by_test_id("stMetricValue").inner_text() == "1"
    with page.expect_download() as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="Download CSV").first.click()
    csv = Path(info.value.path()).read_text(encoding="utf-8")
    assert TYPED.replace('"', '""') in csv and "Mia" in csv
    assert page.locator("img[src='x']").count() == 0  # shown as text, never markup
    screenshot(page, "decisions")

    # 3. the sales leader answers: ownership of handoffs 5/5
    _nav(page, "Leaders' answers")
    slider = (
        page.get_by_test_id("stSlider")
        .filter(has_text="Does every handoff have a clear owner?")
        .get_by_role("slider")
    )
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    page.get_by_role("button", name="Save the answers").click()
    wait_for_app(page)
    page.get_by_text("Answers saved.").wait_for()

    # 4. the Scorecard names the gap (the demo's handoff evidence is poor) ...
    _nav(page, "Scorecard")
    page.get_by_role("tab", name="Leaders' view").click()  # the section's tab below the answer
    gap = page.get_by_text("Sales rates “ownership of handoffs is clear” 5/5")
    gap.first.wait_for()
    assert "the data says otherwise" in gap.first.inner_text()
    screenshot(page, "scorecard_leaders_gap")

    # 5. ... and so does the pre-read PDF
    with page.expect_download() as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="Download pre-read").click()
    reader = PdfReader(io.BytesIO(Path(info.value.path()).read_bytes()))
    first = " ".join(plain(reader.pages[0].extract_text()).split())
    assert "Leaders' view beside the data" in first
    assert " ".join(plain("Gap: Sales rates “ownership of handoffs is clear” 5/5").split()) in first
