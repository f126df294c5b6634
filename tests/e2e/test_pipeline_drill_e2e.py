"""A click on a chart mark in a real browser (issue #16): on Pipeline flow, clicking a cell of
the stall heatmap (the answer above the fold) lists the cell's stalled deals and puts the pick
in the URL (`?drill=stall_heatmap:<team>|<stage>`), so the address reproduces it; opening that
address anew shows the same records."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.e2e.conftest import wait_for_app

# The stalled-deals table: the table just above its CSV button (plain tables carry no key class).
STALLED = (
    "xpath=//div[contains(@class,'st-key-csv_stalled')]/preceding-sibling::div"
    "[.//*[@data-testid='stDataFrameResizable']][1]//*[@data-testid='stDataFrameResizable']"
)
HEADING = re.compile(r"Stalled deals — (.+) · (.+): (\d+)")


def _heading(page) -> re.Match[str]:
    text = page.get_by_text(HEADING).first
    text.wait_for()
    found = HEADING.search(text.inner_text())
    assert found, text.inner_text()
    return found


def test_a_heatmap_click_lists_its_deals_and_goes_into_the_url(browser, app_url):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{app_url}/pipeline")
        wait_for_app(page)
        page.get_by_text("Stalled deals — all: ").first.wait_for()  # nothing picked yet
        chart = page.locator(".st-key-answer [data-testid='stVegaLiteChart']").first
        chart.locator("canvas, svg").first.wait_for(state="attached")
        page.wait_for_timeout(800)  # Vega binds its click handlers once drawn
        box = chart.bounding_box()
        # the middle of the grid (teams down, stages across; the legend sits to the right)
        page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.35)
        page.wait_for_function("() => window.location.search.includes('drill=stall_heatmap')")
        wait_for_app(page)
        team, stage, count = _heading(page).groups()
        drill = parse_qs(urlsplit(page.url).query)["drill"]
        assert drill == [f"stall_heatmap:{team}|{stage}"]
        # the deals listed are the cell's: its team in the rows of the table
        assert int(count) > 0
        grid = page.locator(STALLED)
        cells = grid.locator("[role='gridcell']").all_inner_texts()
        assert team in cells

        again = context.new_page()
        again.goto(page.url)  # the address, opened anew: the same records
        wait_for_app(again)
        assert _heading(again).groups() == (team, stage, count)
    finally:
        context.close()
