"""Data & refresh in a real browser: "Refresh now" stores a new snapshot and logs the run."""

from __future__ import annotations

import shutil
from pathlib import Path

from ops.runlog import recent_runs
from snapshots.store import Store
from tests.appserver import running_app
from tests.e2e.conftest import screenshot, wait_for_app


def test_refresh_now_from_the_page(page, e2e_store: Path, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(e2e_store, data)
    before = Store(data).current_id()
    with running_app(data) as url:
        page.goto(f"{url}/refresh")
        wait_for_app(page)
        if "/refresh" not in page.url:  # a fresh server may open on the home page first
            page.get_by_test_id("stSidebarNav").get_by_text("Data & refresh").click()
            wait_for_app(page)
        page.get_by_test_id("stButton").filter(has_text="Refresh now").click()
        page.get_by_text("Stored snapshot").wait_for(timeout=120_000)
        wait_for_app(page)
        screenshot(page, "refresh")
        store = Store(data)
        assert store.current_id() != before
        assert page.get_by_text(store.current_id()).first.is_visible()
    runs = recent_runs(data)
    assert runs["trigger"][0] == "page" and runs["outcome"][0] == "ok"
