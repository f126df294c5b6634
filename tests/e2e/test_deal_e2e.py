"""In a real browser: a deal in a drill-down table links to its page (issue #18 item 3).

Pipeline flow → select the first team × stage row → its stalled deals; the first deal's link
cell opens the deal page in a new tab, titled with the name the cell showed, with its stage
timeline drawn. The screenshot (1440×900) goes to docs/images/deal.png.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.e2e.conftest import ARTIFACTS, copy_to_docs, wait_for_app

# The stalled-deals table: the table just above its CSV button (plain tables carry no key class).
STALLED = (
    "xpath=//div[contains(@class,'st-key-csv_stalled')]/preceding-sibling::div"
    "[.//*[@data-testid='stDataFrameResizable']][1]//*[@data-testid='stDataFrameResizable']"
)
HEADER, ROW = 35, 35  # px: the grid's header and row heights


def test_deal_page_reached_from_a_drill_down(browser, app_url):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{app_url}/pipeline")
        wait_for_app(page)
        teams = page.locator(".st-key-stalls_by_team [data-testid='stDataFrameResizable']")
        teams.scroll_into_view_if_needed()
        box = teams.bounding_box()
        page.mouse.click(box["x"] + 15, box["y"] + HEADER + ROW // 2)  # the first row
        wait_for_app(page)
        page.get_by_text("Stalled deals — APAC · ").first.wait_for()

        grid = page.locator(STALLED)
        grid.scroll_into_view_if_needed()
        # The grid's accessible cells: the first is the first deal's link to its page.
        href = grid.locator("[role='gridcell']").first.inner_text()
        assert href.startswith("deal?id=")
        query = parse_qs(urlsplit(href).query)
        name, deal_id = query["name"][0], query["id"][0]
        assert query["period"] == ["2026-Q4"] and query["since"] == ["2026-11-09"]

        box = grid.bounding_box()
        x, y = box["x"] + 40, box["y"] + HEADER + ROW // 2  # on the link text
        page.mouse.move(x, y)  # the link cell reacts to a click on its text once hovered
        page.wait_for_timeout(300)
        with context.expect_page() as opened:
            page.mouse.click(x, y)
        deal = opened.value
        deal.set_default_timeout(60_000)
        wait_for_app(deal)
        assert urlsplit(deal.url).path == "/deal"
        assert parse_qs(urlsplit(deal.url).query)["id"] == [deal_id]
        assert deal.locator("[data-testid='stMain'] h1").first.inner_text() == name
        assert deal.get_by_test_id("stException").count() == 0
        deal.get_by_text("Stage timeline").first.wait_for()
        deal.get_by_text("Every change").first.wait_for()
        chart = deal.get_by_test_id("stVegaLiteChart").first
        chart.locator("canvas, svg").first.wait_for(state="attached")
        deal.wait_for_timeout(500)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "deal.png"
        deal.screenshot(path=str(shot))  # the viewport: 1440×900
        copy_to_docs(shot, "deal.png")
        deal.screenshot(path=str(ARTIFACTS / "deal_full.png"), full_page=True)
    finally:
        context.close()


def test_unknown_deal_says_so(page, app_url):
    page.goto(f"{app_url}/deal?id=NO-SUCH-DEAL")
    wait_for_app(page)
    assert page.get_by_text("No deal with id NO-SUCH-DEAL in this snapshot").first.is_visible()
    assert page.get_by_test_id("stException").count() == 0
