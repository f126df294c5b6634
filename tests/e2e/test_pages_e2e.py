"""Every page in a real browser: loads with its key elements and no error; a row selection
drills down to the records behind it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot, wait_for_app

PAGES = [
    ("pipeline", "Pipeline flow", "Stalls by team and stage"),
    ("handoffs", "Handoffs", "Follow-up SLA"),
    ("forecast", "Forecast", "Forecast vs actual"),
    ("campaigns", "Campaigns & sourcing", "Campaign funnel"),
    ("data_trust", "Data trust", "Same number, two counts"),
    ("refresh", "Data & refresh", "Snapshots"),
]


@pytest.mark.parametrize(("path", "title", "section"), PAGES)
def test_page_loads_with_key_elements(page, app_url, path, title, section):
    page.goto(f"{app_url}/{path}")
    wait_for_app(page)
    page.get_by_text(section).first.wait_for()
    assert page.locator("[data-testid='stMain'] h1").first.inner_text().startswith(title)
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stSidebar").get_by_text("Data as of").is_visible()
    if path != "refresh":
        charts = page.get_by_test_id("stVegaLiteChart")
        charts.first.wait_for()  # a busy machine draws the section's text before its chart
        assert charts.count() >= 1
        # A chart in a tab not shown is drawn when its tab opens: open each tab in turn.
        tabs = page.get_by_test_id("stMain").get_by_role("tab")
        for tab in [None, *(tabs.nth(t) for t in range(tabs.count()))]:
            if tab is not None:
                tab.click()
                page.wait_for_timeout(300)
            shown = page.locator("[data-testid='stVegaLiteChart']:visible")
            for i in range(shown.count()):  # each cached spec is drawn by Vega, not an error
                shown.nth(i).locator("canvas, svg").first.wait_for(state="attached")
    screenshot(page, path)


def test_row_selection_drills_down_to_the_deals(page, app_url):
    page.goto(f"{app_url}/pipeline")
    wait_for_app(page)
    assert page.get_by_text("Stalled deals — all: ").is_visible()
    grid = page.locator(".st-key-stalls_by_team [data-testid='stDataFrameResizable']")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # row marker of the first row
    wait_for_app(page)
    heading = page.get_by_text("Stalled deals — APAC · ").first
    heading.wait_for()
    assert "Discovery" in heading.inner_text() or "Qualification" in heading.inner_text()
    screenshot(page, "pipeline_drilldown")
