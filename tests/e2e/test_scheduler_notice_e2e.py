"""Data & refresh in a real browser: the scheduler's liveness notice, stale then fresh."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ops.heartbeat import write_beat
from tests.appserver import running_app
from tests.e2e.conftest import screenshot, wait_for_app


def _open_refresh(page, url: str) -> None:
    page.goto(f"{url}/refresh")
    wait_for_app(page)
    if "/refresh" not in page.url:  # a fresh server may open on the home page first
        page.get_by_test_id("stSidebarNav").get_by_text("Data & refresh").click()
        wait_for_app(page)


def test_scheduler_notice_stale_then_running(page, e2e_store: Path, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(e2e_store, data)
    # 05:00 UTC is 06:00 in Europe/Berlin, the time zone of the repository's [schedule]
    write_beat(data, datetime(2026, 11, 20, 5, 0, tzinfo=UTC))
    with running_app(data) as url:
        _open_refresh(page, url)
        alert = page.get_by_test_id("stAlert").filter(has_text="Scheduler not running since")
        alert.wait_for()
        shown = alert.inner_text().replace("\u2060", "")  # md_text's joiner after ":"
        assert "Scheduler not running since 2026-11-20 06:00 CET (last beat" in shown
        assert "Start it on the server with python -m ops schedule" in shown
        screenshot(page, "refresh-scheduler-stopped")

        write_beat(data, datetime.now(UTC) - timedelta(seconds=5))
        page.reload()
        wait_for_app(page)
        running = page.get_by_test_id("stAlert").filter(has_text="Scheduler running")
        running.wait_for()
        assert "last beat" in running.inner_text()
        assert page.get_by_text("Scheduler not running").count() == 0
