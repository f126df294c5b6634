"""Schedules in a real browser: ops adds a schedule on Data & refresh, it is written to
scorecard.toml (comments kept) and listed; a failure's message is readable without
scrolling sideways."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ops import audit
from ops.config import load_settings
from ops.runlog import finish_run, start_run
from tests.appserver import running_app
from tests.e2e.conftest import screenshot, wait_for_app

CONFIG = """\
# Hand-written: this comment stays.
[schedule]
timezone = "Europe/Berlin"

[[schedule.jobs]]
source = "demo"
cron = "0 6 * * mon-fri"   # weekdays at 06:00
"""
LONG_ERROR = "WarehouseError: could not connect to db.example.com:5432 " + "detail " * 60


def test_add_a_schedule_in_the_browser(page, e2e_store: Path, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(e2e_store, data)
    config = tmp_path / "scorecard.toml"
    config.write_text(CONFIG)
    started = datetime.now(UTC) - timedelta(hours=2)
    run = start_run(data, source="warehouse", trigger="schedule", now=started)
    finish_run(data, run, outcome="failed", now=started + timedelta(minutes=1), error=LONG_ERROR)
    with running_app(data, SCORECARD_CONFIG=str(config)) as url:
        page.goto(f"{url}/refresh")
        wait_for_app(page)
        if "/refresh" not in page.url:  # a fresh server may open on the home page first
            page.get_by_test_id("stSidebarNav").get_by_text("Data & refresh").click()
            wait_for_app(page)
        page.get_by_role("tab", name="Schedules").click()  # the schedules are in that tab
        adding = page.get_by_test_id("stExpander").filter(has_text="Add a schedule")
        adding.get_by_text("Add a schedule").click()
        adding.get_by_role("textbox", name="Cron").fill("15 7 * * mon-fri")
        adding.get_by_test_id("stCheckbox").filter(has_text="Full refresh").locator(
            "label"
        ).first.click()
        adding.get_by_role("button", name="Add schedule").click()
        page.get_by_text("Saved: added demo 15 7 * * mon-fri full").wait_for()
        wait_for_app(page)
        # listed, and among the next runs
        listing = page.get_by_test_id("stDataFrame").filter(has_text="demo 15 7 * * mon-fri")
        assert listing.count() == 2 and listing.first.is_visible()
        # the failure: its whole message wraps inside the page, no sideways scrolling
        page.get_by_role("tab", name="Last runs").click()  # failures are listed with the runs
        failure = page.get_by_test_id("stExpander").filter(has_text="Still failing · warehouse")
        message = failure.get_by_test_id("stCode")
        assert message.is_visible() and "detail detail" in message.inner_text()
        box = message.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1400
        overflow = page.evaluate(
            "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
            " return m.scrollWidth - m.clientWidth; }"
        )
        assert overflow <= 0
        screenshot(page, "schedules")
        failure.scroll_into_view_if_needed()
        screenshot(page, "schedules-failures")
    jobs = load_settings(config, environ={}).schedules.jobs
    assert [(j.id, j.full) for j in jobs] == [
        ("demo 0 6 * * mon-fri", False),
        ("demo 15 7 * * mon-fri full", True),
    ]
    text = config.read_text()
    assert text.startswith("# Hand-written: this comment stays.\n")
    assert "# weekdays at 06:00" in text
    assert audit.recent(data, action="schedule")["detail"].to_list() == [
        "added demo 15 7 * * mon-fri full"
    ]
