"""The Scorecard page in a real browser: loads, filters live in the URL and survive navigation,
a CSV download works."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.conftest import copy_to_docs, screenshot, wait_for_app


def test_scorecard_loads_with_its_key_elements(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_text("Revenue alignment scorecard").first.wait_for()
    for label in ("Alignment score", "Handoff ownership", "Forecast integrity"):
        # the root moves on to /scorecard: wait for its page, not the root's run
        expect(page.get_by_test_id("stMetric").filter(has_text=label)).to_have_count(
            1, timeout=30_000
        )
    assert page.get_by_text("Top drivers").is_visible()
    assert page.get_by_text("Paid Social").first.is_visible()
    path = screenshot(page, "scorecard")
    page.screenshot(path=str(path))  # the viewport, 1400×1000: the README's picture
    copy_to_docs(path, "scorecard.png")


def test_filter_goes_into_the_url_and_survives_navigation(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    period = (
        page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Period")
    )
    period.click()
    page.get_by_role("option", name="2026-Q2").click()
    wait_for_app(page)
    assert "period=2026-Q2" in page.url
    assert page.get_by_text("2026-Q2 · as of 2026-11-16").first.is_visible()
    page.get_by_test_id("stSidebarNav").get_by_text("Data & refresh").click()
    wait_for_app(page)
    assert "/refresh" in page.url and "period=2026-Q2" in page.url
    page.get_by_test_id("stSidebarNav").get_by_text("Scorecard").click()
    wait_for_app(page)
    assert "period=2026-Q2" in page.url
    assert page.get_by_text("2026-Q2 · as of 2026-11-16").first.is_visible()


def test_a_shared_link_reproduces_the_view(page, app_url):
    page.goto(f"{app_url}/forecast?period=2026-Q2&teams=APAC")
    wait_for_app(page)
    assert "/forecast" in page.url
    assert page.get_by_text("2026-Q2 · as of 2026-11-16 · APAC").first.is_visible()


def test_csv_download(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    with page.expect_download() as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="Download CSV").first.click()
    download = info.value
    # the view in the name: page, what, teams, period, as-of
    assert download.suggested_filename == "scorecard-headline-all-teams-2026-Q4-asof-2026-11-16.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("Team,Win rate,")  # the table's headers
    assert "NA Mid-Market" in text
    # rates to 4 decimals, money to 2, never 16 digits
    assert not re.search(r"\.\d{5,}", text), text.splitlines()[1]
