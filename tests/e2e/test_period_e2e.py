"""Any period in a real browser: a custom range named in the URL is the page's period, and
stays in the URL when moving to another page."""

from __future__ import annotations

from tests.e2e.conftest import screenshot, wait_for_app

CUSTOM = "2026-03-01..2026-06-30"
SHOWN = "custom range (2026-03-01 – 2026-06-30) · as of 2026-11-16"


def test_a_custom_period_in_the_url_is_shown(page, app_url):
    page.goto(f"{app_url}/pipeline?period={CUSTOM}")
    wait_for_app(page)
    assert "/pipeline" in page.url
    page.get_by_text(SHOWN).first.wait_for()
    sidebar = page.get_by_test_id("stSidebar")
    picker = sidebar.get_by_test_id("stSelectbox").filter(has_text="Period")
    assert picker.locator("input").first.input_value() == "2026-03-01 – 2026-06-30 (custom)"
    assert f"period={CUSTOM}" in page.url
    page.get_by_test_id("stSidebarNav").get_by_text("Scorecard").click()
    wait_for_app(page)
    assert f"period={CUSTOM}" in page.url
    assert page.get_by_text(SHOWN).first.is_visible()
    screenshot(page, "custom_period")


def test_trailing_twelve_months_from_the_picker(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Period").click()
    page.get_by_role("option", name="Trailing twelve months").click()
    wait_for_app(page)
    assert "period=ttm" in page.url
    shown = "trailing twelve months (2025-11-17 – 2026-11-16) · as of 2026-11-16"
    page.get_by_text(shown).first.wait_for()


def test_a_custom_range_typed_in_the_picker_becomes_the_period(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    sidebar = page.get_by_test_id("stSidebar")
    # The range is two date fields of year / month / day segments; typing fills them in turn.
    start = sidebar.get_by_role("spinbutton", name="year, Custom range (from – to) start date")
    start.click()
    page.keyboard.type("20260301")
    end = sidebar.get_by_role("spinbutton", name="year, Custom range (from – to) end date")
    end.click()
    page.keyboard.type("20260630")
    page.keyboard.press("Escape")  # the calendar popup that opened
    page.get_by_text("Revenue alignment scorecard").first.click()  # leaving the field commits
    wait_for_app(page)
    page.get_by_text(SHOWN).first.wait_for()
    assert f"period={CUSTOM}" in page.url
