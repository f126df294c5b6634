"""Refreshes started from the app run in a detached process, report progress and log the run."""

from __future__ import annotations

import time
from pathlib import Path

from ops.background import read_progress, start
from ops.config import load_settings
from ops.runlog import recent_runs
from snapshots.store import Store


def test_progress_is_the_last_progress_line(tmp_path: Path):
    log = tmp_path / "r.log"
    assert read_progress(log) == (0.0, "")
    log.write_text("[  0%] Pulling from demo\nnoise\n[ 60%] Validating\n", encoding="utf-8")
    assert read_progress(log) == (0.6, "Validating")


def test_background_refresh_stores_a_snapshot_and_logs_the_run(data_dir: Path):
    run = start(load_settings(), "demo", trigger="page")
    deadline = time.monotonic() + 120
    while run.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not run.running()
    assert run.progress() == (1.0, "Done")
    assert Store(data_dir).current().source == "demo"
    runs = recent_runs(data_dir)
    assert runs["trigger"].to_list() == ["page"] and runs["outcome"].to_list() == ["ok"]
