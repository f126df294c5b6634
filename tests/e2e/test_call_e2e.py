"""This quarter's call in a real browser: the section heads the Forecast page with its table,
stale badge, reps → manager → team roll-up and weekly chart; choosing a team redraws the
chart; a team in the URL narrows the call to that team. Saves docs/images/call.png."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import ARTIFACTS, copy_to_docs, wait_for_app

HEADING = "This quarter's call — 2026-Q4"


def _open(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page)
    page.get_by_text(HEADING).first.wait_for()
    assert page.get_by_test_id("stException").count() == 0


def test_the_call_heads_the_forecast_page(browser, app_url):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        _open(page, f"{app_url}/forecast")
        # the call's section comes before every other section of the page
        heads = page.locator("[data-testid='stMain'] h3").all_inner_texts()
        assert heads[0].startswith(HEADING), heads
        # the call's table answers above the fold; its roll-up and trend are the first tab's
        page.locator(".st-key-answer").get_by_test_id("stDataFrame").first.wait_for()
        section = page.locator(".st-key-call_section")
        # the lapsed reps of EMEA and NA Enterprise (demo pattern 7) carry the stale badge
        badge = page.get_by_text("Stale: 2 submissions not updated").first
        badge.wait_for()
        assert "21 days" in badge.inner_text()
        page.get_by_text("Roll-up: reps' submissions → manager adjustment → team call").wait_for()
        section.get_by_test_id("stDataFrame").first.wait_for()  # the roll-up's table
        chart = section.get_by_test_id("stVegaLiteChart")
        chart.locator("canvas, svg").first.wait_for(state="attached")
        page.wait_for_timeout(800)  # let Vega finish drawing before the picture
        path = ARTIFACTS / "call.png"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))  # the viewport: 1440 × 900
        copy_to_docs(path, "call.png")
        assert Path(path).stat().st_size > 20_000
    finally:
        context.close()


def test_choosing_a_team_redraws_the_trend(page, app_url):
    _open(page, f"{app_url}/forecast")
    picker = page.locator(".st-key-call_team")
    picker.scroll_into_view_if_needed()
    picker.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="EMEA", exact=True).click()
    wait_for_app(page)
    assert picker.locator("input").first.input_value() == "EMEA"
    chart = page.locator(".st-key-call_section").get_by_test_id("stVegaLiteChart")
    chart.locator("canvas, svg").first.wait_for(state="attached")
    assert page.get_by_test_id("stException").count() == 0
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    chart.screenshot(path=str(ARTIFACTS / "call_trend_emea.png"))


def test_a_team_view_shows_that_teams_call(page, app_url):
    _open(page, f"{app_url}/forecast?teams=APAC")
    # APAC has no reps submitting: no stale badge and no roll-up, and the total is APAC's
    page.get_by_text("APAC: won").first.wait_for()
    assert page.get_by_text("Stale:").count() == 0
    assert page.get_by_text("Roll-up: reps' submissions").count() == 0
