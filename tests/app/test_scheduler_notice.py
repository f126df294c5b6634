"""Data & refresh says whether the scheduler runs (its heartbeat) and how to start it, and
shows an alert that could not be sent."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops.alerts import Alert, dispatch
from ops.config import AlertChannel, AlertSettings, Settings
from ops.heartbeat import write_beat
from pages._text import as_text


@pytest.fixture
def own_store(demo_store_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(demo_store_dir, folder)
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(folder))
    return folder


def _refresh_page(app):
    at = app().run()
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    return at


def test_fresh_heartbeat_says_running(own_store: Path, app):
    write_beat(own_store, datetime.now(UTC) - timedelta(seconds=20))
    at = _refresh_page(app)
    (notice,) = [as_text(s.value) for s in at.success if "Scheduler" in s.value]
    assert notice.startswith("Scheduler running (last beat ")
    assert not [w for w in at.warning if "Scheduler" in w.value]


def test_stale_heartbeat_says_not_running_and_how_to_start(own_store: Path, app):
    write_beat(own_store, datetime(2026, 11, 20, 5, 0, tzinfo=UTC))
    at = _refresh_page(app)
    (notice,) = [as_text(w.value) for w in at.warning if "Scheduler" in w.value]
    # the repository's scorecard.toml schedules in Europe/Berlin: 05:00 UTC is 06:00 CET
    assert notice.startswith("Scheduler not running since 2026-11-20 06:00 CET (last beat ")
    assert "`python -m ops schedule`" in notice
    assert not [s for s in at.success if "Scheduler" in s.value]


def test_no_heartbeat_with_jobs_configured(own_store: Path, app):
    at = _refresh_page(app)
    (notice,) = [as_text(w.value) for w in at.warning if "Scheduler" in w.value]
    assert "no scheduler has run with this data folder" in notice
    assert "`python -m ops schedule`" in notice


def test_a_failed_alert_is_shown(own_store: Path, app, monkeypatch):
    monkeypatch.delenv("SCORECARD_SLACK_WEBHOOK", raising=False)
    hook = AlertChannel(name="team chat", webhook_env="SCORECARD_SLACK_WEBHOOK")
    settings = Settings(data_dir=own_store, alerts=AlertSettings(channels=(hook,)))
    dispatch(settings, Alert("failed", "Scorecard refresh failed: demo", "boom"))
    at = _refresh_page(app)
    (notice,) = [as_text(w.value) for w in at.warning if "could not be sent" in w.value]
    assert notice.startswith("An alert could not be sent on team chat (failed, ")
    assert "SCORECARD_SLACK_WEBHOOK is not set in the environment (.env)" in notice
