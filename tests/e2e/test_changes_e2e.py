""" "Changes since last review" in a real browser (issue #18 item 1): the window named in the
URL is the section's, its totals show, and a window chosen in the picker goes into the URL.
The screenshot (1440×900) is docs/images/changes.png."""

from __future__ import annotations

import re

from tests.e2e.conftest import copy_to_docs, screenshot, wait_for_app

SECTION = "Changes since last review"


def test_the_window_in_the_url_is_shown_with_its_totals(browser, app_url):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{app_url}/pipeline?window=2w")
        wait_for_app(page)
        page.get_by_role("tab", name=SECTION).click()  # the section is a tab of the page
        page.get_by_text(SECTION).first.wait_for()
        page.get_by_text("2 weeks: 2026-11-02 – 2026-11-16").first.wait_for()
        assert page.get_by_text("Read from the stage history").first.is_visible()
        picker = page.get_by_test_id("stSelectbox").filter(has_text="Review window")
        assert picker.locator("input").first.input_value() == "2 weeks"
        # the trend groups of All teams: deals, with their amount formatted for people
        for label in ("Trend up", "Trend down", "Slipped", "Idle"):
            card = page.get_by_test_id("stMetric").filter(has_text=label)
            assert card.count() == 1
            assert re.fullmatch(r"\d+ deals", card.get_by_test_id("stMetricValue").inner_text())
            assert card.get_by_test_id("stMetricDelta").inner_text().startswith("$")
        assert page.get_by_text("Totals by team (deals · amount at as-of)").is_visible()
        page.get_by_text("Forecast-category flow — 2 weeks").first.wait_for()
        assert "window=2w" in page.url
        page.get_by_test_id("stHeading").filter(has_text=SECTION).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        path = screenshot(page, "changes")
        page.screenshot(path=str(path))  # the viewport, 1440×900, at the section
        copy_to_docs(path, "changes.png")

        # another window from the picker goes into the URL and the section follows
        picker.click()
        page.get_by_role("option", name="13 weeks (a quarter)").click()
        wait_for_app(page)
        page.get_by_text("13 weeks (a quarter): 2026-08-17 – 2026-11-16").first.wait_for()
        assert "window=13w" in page.url and "window=2w" not in page.url
    finally:
        context.close()
