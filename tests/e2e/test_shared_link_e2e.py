"""Shared links in a real browser (issue #17 item 2): make a link to a view with a drill-down,
let a refresh write a newer snapshot, open the link: the same numbers and drill-down, a notice
that newer data exists, and its link opens this view on the newer data."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from snapshots.store import Store
from tests.appserver import running_app
from tests.e2e.conftest import screenshot, wait_for_app


@pytest.fixture
def own_app(e2e_store: Path, tmp_path: Path):
    """The app on a copy of the demo store (this test refreshes it)."""
    folder = tmp_path / "data"
    shutil.copytree(e2e_store, folder)
    with running_app(folder) as url:
        yield url, folder


def _link(page) -> str:
    block = page.get_by_test_id("stSidebar").get_by_test_id("stCode")
    return block.locator("code").inner_text().strip()


def _scores(page) -> list[str]:
    cards = page.get_by_test_id("stMetric")
    return [cards.nth(i).get_by_test_id("stMetricValue").inner_text() for i in range(cards.count())]


def test_a_link_reproduces_the_view_after_a_newer_snapshot(browser, own_app):
    url, folder = own_app
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        # the drill-down: a row of the stalls table selected on Pipeline flow
        page.goto(f"{url}/pipeline?period=2026-Q3&teams=APAC")
        wait_for_app(page)
        grid = page.locator(".st-key-stalls_by_team [data-testid='stDataFrameResizable']")
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # row marker of the first row
        wait_for_app(page)
        heading = page.get_by_text("Stalled deals — APAC · ").first
        heading.wait_for()
        drilled = heading.inner_text()
        page.wait_for_function("() => window.location.search.includes('drill=')")
        link = _link(page)
        query = parse_qs(urlsplit(link).query)
        assert urlsplit(link).path == "/pipeline"
        assert query["period"] == ["2026-Q3"] and query["teams"] == ["APAC"]
        assert query["as_of"] == ["2026-11-16"] and query["snapshot"] == [
            Store(folder).current_id()
        ]
        assert query["drill"][0].startswith("stalls_by_team:APAC|")
        page.goto(f"{url}/scorecard?period=2026-Q3&teams=APAC")
        wait_for_app(page)
        page.get_by_text("Revenue alignment scorecard").first.wait_for()
        scores, scorecard_link = _scores(page), _link(page)

        frames = validate_tables(generate_demo_org(as_of=date(2026, 11, 23), seed=8)).frames
        Store(folder).write(frames, source="demo", data_as_of=date(2026, 11, 23))

        fresh = context.new_page()
        fresh.goto(scorecard_link)
        wait_for_app(fresh)
        fresh.get_by_text("Revenue alignment scorecard").first.wait_for()
        assert _scores(fresh) == scores
        assert fresh.get_by_text("2026-Q3 · as of 2026-11-16 · APAC").first.is_visible()
        sidebar = fresh.get_by_test_id("stSidebar")
        assert sidebar.get_by_text("A newer snapshot exists: data as of 2026-11-23").is_visible()
        screenshot(fresh, "shared_link_newer_snapshot")

        fresh.goto(link)  # the drill-down link: the same rows drilled into
        wait_for_app(fresh)
        fresh.get_by_text(drilled).first.wait_for()

        fresh.goto(scorecard_link)
        wait_for_app(fresh)
        newest = sidebar.get_by_role("link", name="Open this view on the newest data")
        href = newest.get_attribute("href")  # Streamlit opens markdown links in a new tab
        assert urlsplit(href).path == "/scorecard"
        fresh.goto(href)
        wait_for_app(fresh)
        fresh.get_by_text("2026-Q3 · as of 2026-11-23 · APAC").first.wait_for()
        assert "snapshot=" not in fresh.url and "teams=APAC" in fresh.url
        assert sidebar.get_by_text("A newer snapshot exists").count() == 0
    finally:
        context.close()
