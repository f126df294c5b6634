"""The scheduler's heartbeat: a small file it rewrites atomically on every tick.

`python -m ops schedule` writes ``scheduler.heartbeat`` (JSON: when, process id, host) in the
data folder at start and every `TICK_SECONDS`; Data & refresh reads it to say whether a
scheduler is running. A beat older than `STALE_AFTER` (three ticks missed) means it is not.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HEARTBEAT_FILE = "scheduler.heartbeat"
TICK_SECONDS = 60
STALE_AFTER = timedelta(seconds=3 * TICK_SECONDS)
START_COMMAND = "python -m ops schedule"


@dataclass(frozen=True)
class Beat:
    """The scheduler's last sign of life."""

    at: datetime
    pid: int
    host: str

    def running(self, now: datetime) -> bool:
        """Whether the scheduler beat recently enough to count as running at `now`."""
        return now - self.at <= STALE_AFTER


def write_beat(data_dir: Path | str, now: datetime) -> Path:
    """Record a beat at `now` (timezone-aware): a temporary file renamed over the old one, so
    a reader never sees half a file."""
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / HEARTBEAT_FILE
    text = json.dumps({"at": now.isoformat(), "pid": os.getpid(), "host": socket.gethostname()})
    temporary = path.with_name(f".{HEARTBEAT_FILE}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def read_beat(data_dir: Path | str) -> Beat | None:
    """The last beat, or None when no scheduler ever beat here (or the file is unreadable)."""
    try:
        raw = json.loads((Path(data_dir) / HEARTBEAT_FILE).read_text(encoding="utf-8"))
        return Beat(datetime.fromisoformat(raw["at"]), int(raw["pid"]), str(raw["host"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Liveness:
    """Whether the scheduler runs, in a sentence for the Data & refresh page."""

    running: bool
    text: str
    beat: Beat | None = None


def _ago(seconds: float) -> str:
    """42 s, 5 min, 3 h, 2 days."""
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def liveness(data_dir: Path | str, now: datetime, timezone: str = "UTC") -> Liveness:
    """Running (a beat within `STALE_AFTER`), not running since the last beat, or never seen
    here; times in `timezone`."""
    beat = read_beat(data_dir)
    if beat is None:
        return Liveness(False, "Scheduler not running: no scheduler has run with this data folder.")
    at = beat.at.astimezone(ZoneInfo(timezone))
    ago = _ago((now - beat.at).total_seconds())
    if beat.running(now):
        text = f"Scheduler running (last beat {at:%Y-%m-%d %H:%M:%S %Z}, {ago} ago, process "
        return Liveness(True, f"{text}{beat.pid} on {beat.host}).", beat)
    return Liveness(
        False, f"Scheduler not running since {at:%Y-%m-%d %H:%M %Z} (last beat {ago} ago).", beat
    )
