"""The scheduler's heartbeat (ops/heartbeat.py) and its tick (ops/schedule.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ops.alerts import recent_alerts
from ops.config import AlertChannel, AlertSettings, Settings
from ops.heartbeat import HEARTBEAT_FILE, liveness, read_beat, write_beat
from ops.runlog import finish_run, start_run
from ops.schedule import tick
from tests.ops.conftest import Receiver

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def test_beat_is_written_atomically_and_read_back(tmp_path: Path):
    assert read_beat(tmp_path) is None
    write_beat(tmp_path, NOW)
    write_beat(tmp_path, NOW + timedelta(minutes=1))
    assert [p.name for p in tmp_path.iterdir()] == [HEARTBEAT_FILE]  # no temporary left over
    beat = read_beat(tmp_path)
    assert beat is not None and beat.at == NOW + timedelta(minutes=1) and beat.pid > 0
    (tmp_path / HEARTBEAT_FILE).write_text("{half a fi", encoding="utf-8")
    assert read_beat(tmp_path) is None


def test_liveness_fresh_stale_and_never(tmp_path: Path):
    never = liveness(tmp_path, NOW)
    assert not never.running and never.text.startswith("Scheduler not running: no scheduler")
    write_beat(tmp_path, NOW - timedelta(seconds=42))
    fresh = liveness(tmp_path, NOW, "Europe/Berlin")
    assert fresh.running
    # 09:29:18 UTC is 10:29:18 in Berlin (CET, UTC+1)
    assert fresh.text.startswith("Scheduler running (last beat 2026-11-24 10:29:18 CET, 42 s ago")
    # three missed ticks (3 minutes after the beat) and it counts as stopped
    beat = NOW - timedelta(seconds=42)
    assert liveness(tmp_path, beat + timedelta(minutes=3)).running
    assert not liveness(tmp_path, beat + timedelta(minutes=3, seconds=1)).running
    stale = liveness(tmp_path, NOW + timedelta(hours=2), "Europe/Berlin")
    assert not stale.running
    assert stale.text == "Scheduler not running since 2026-11-24 10:29 CET (last beat 2 h ago)."


def test_tick_beats_and_checks_staleness(tmp_path: Path, receiver: Receiver, monkeypatch):
    monkeypatch.setenv("SCORECARD_SLACK_WEBHOOK", receiver.url)
    hook = AlertChannel(name="team chat", webhook_env="SCORECARD_SLACK_WEBHOOK")
    settings = Settings(
        data_dir=tmp_path / "data",
        alerts=AlertSettings(channels=(hook,), stale_after_hours=1),
    )
    run = start_run(settings.data_dir, source="demo", trigger="schedule", now=NOW)
    finish_run(settings.data_dir, run, outcome="ok", now=NOW)

    tick(settings, clock=lambda: NOW + timedelta(minutes=30))
    raw = json.loads((settings.data_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    assert raw["at"] == "2026-11-24T10:00:00+00:00" and receiver.posts == []

    tick(settings, clock=lambda: NOW + timedelta(minutes=61))
    assert read_beat(settings.data_dir).at == NOW + timedelta(minutes=61)
    (post,) = receiver.posts
    assert "no successful refresh for 1 hour*" in post["text"]
    assert recent_alerts(settings.data_dir)["event"].to_list() == ["stale"]


def test_tick_survives_an_unwritable_folder(tmp_path: Path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    tick(Settings(data_dir=blocked), clock=lambda: NOW)  # logs, does not raise
