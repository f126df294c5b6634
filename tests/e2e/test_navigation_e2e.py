"""Navigation in a real browser (issue #17): `/scorecard` opens the Scorecard (it answered
"Page not found" while the Scorecard was the default page), and the app root moves on to
`/scorecard` keeping every URL parameter."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.e2e.conftest import wait_for_app

HEADING = "Revenue alignment scorecard"


def _no_page_not_found(page) -> None:
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_test_id("stException").count() == 0


def test_the_scorecard_path_opens_the_scorecard(page, app_url):
    page.goto(f"{app_url}/scorecard?period=2026-Q2&teams=APAC&teams=EMEA")
    wait_for_app(page)
    page.get_by_text(HEADING).first.wait_for()
    _no_page_not_found(page)
    assert urlparse(page.url).path == "/scorecard"
    assert page.get_by_text("2026-Q2 · as of 2026-11-16 · APAC, EMEA").first.is_visible()
    assert parse_qs(urlparse(page.url).query)["teams"] == ["APAC", "EMEA"]


def test_the_root_moves_on_to_the_scorecard_with_its_parameters(page, app_url):
    page.goto(f"{app_url}/?period=2026-Q2&as_of=2026-10-01&teams=APAC&window=2w")
    wait_for_app(page)
    page.get_by_text(HEADING).first.wait_for()
    page.wait_for_url("**/scorecard?*")
    _no_page_not_found(page)
    query = parse_qs(urlparse(page.url).query)
    assert query["period"] == ["2026-Q2"] and query["as_of"] == ["2026-10-01"]
    assert query["teams"] == ["APAC"] and query["window"] == ["2w"]
    assert page.get_by_text("2026-Q2 · as of 2026-10-01 · APAC").first.is_visible()
    # the sidebar marks the Scorecard as the page on view
    nav = page.get_by_test_id("stSidebarNav")
    assert nav.locator("a[aria-current='page']").inner_text().strip().endswith("Scorecard")
