"""A pre-read schedule added in a real browser: ops fills the form on Data & refresh, it is
written to the app's own scorecard.toml (comments kept), listed, and audited."""

from __future__ import annotations

import shutil
from pathlib import Path

from ops import audit
from ops.config import load_settings
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


def test_add_a_preread_schedule_in_the_browser(page, e2e_store: Path, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(e2e_store, data)
    config = tmp_path / "scorecard.toml"
    config.write_text(CONFIG)
    with running_app(data, SCORECARD_CONFIG=str(config)) as url:
        page.goto(f"{url}/refresh")
        wait_for_app(page)
        if "/refresh" not in page.url:  # a fresh server may open on the home page first
            page.get_by_test_id("stSidebarNav").get_by_text("Data & refresh").click()
            wait_for_app(page)
        tab = page.get_by_role("tab", name="Schedules")
        if tab.count():  # the page may hold the schedules in a tab of their own
            tab.click()
        page.get_by_text("No pre-read schedule yet").wait_for()
        adding = page.get_by_test_id("stExpander").filter(has_text="Add a pre-read schedule")
        adding.get_by_text("Add a pre-read schedule").click()
        adding.get_by_role("textbox", name="Cron").fill("0 7 * * mon")
        adding.get_by_role("textbox", name="Folder").fill("prereads/exec")
        adding.get_by_role("textbox", name="Mail to").fill("cro@example.com")
        adding.get_by_role("textbox", name="Period").fill("ttm")
        adding.get_by_role("button", name="Add pre-read schedule").click()
        page.get_by_text("Saved: added pre-read preread 0 7 * * mon").wait_for()
        wait_for_app(page)
        listing = page.get_by_test_id("stDataFrame").filter(has_text="preread 0 7 * * mon")
        assert listing.count() >= 1 and listing.first.is_visible()
        screenshot(page, "preread-schedules")
    (pre,) = load_settings(config, environ={}).schedules.prereads
    assert (pre.id, pre.cron, pre.out_dir, pre.recipients, pre.period, pre.formats) == (
        "preread 0 7 * * mon", "0 7 * * mon", tmp_path / "prereads" / "exec",
        ("cro@example.com",), "ttm", ("pdf",),
    )  # fmt: skip
    text = config.read_text()
    assert text.startswith("# Hand-written: this comment stays.\n")
    assert "# weekdays at 06:00" in text
    assert audit.recent(data, action="schedule")["detail"].to_list() == [
        "added pre-read preread 0 7 * * mon"
    ]
