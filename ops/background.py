"""Refreshes started from the app: a detached `python -m ops refresh` process.

The app never runs a pull in its own script thread: a refresh can take minutes and must not
block or break the page. The child writes its progress lines to a log file in the data
folder; the page polls `progress()` and reads the outcome from the run log when it ends. The
refresh lock and the run log (see `ops.jobs.run_refresh`) apply as for any refresh.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ops.config import Settings
from ops.lock import pid_alive

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"^\[\s*(\d+)%\]\s(.*)$")
# Children this process started, so finished ones are reaped (no zombies counted as running).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class BackgroundRefresh:
    """A refresh process started by the app."""

    pid: int
    source: str
    log_path: Path

    def running(self) -> bool:
        child = _CHILDREN.get(self.pid)
        if child is not None:
            return child.poll() is None
        return pid_alive(self.pid)

    def progress(self) -> tuple[float, str]:
        """The last progress line the child printed: (fraction, message)."""
        return read_progress(self.log_path)


def start(
    settings: Settings,
    source: str,
    *,
    trigger: str = "page",
    path: Path | None = None,
    preset: str | None = None,
) -> BackgroundRefresh:
    """Start `python -m ops refresh --source SOURCE --trigger TRIGGER` detached; `path` and
    `preset` (the files source: an upload's folder and mapping preset) go along."""
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"refresh-{os.getpid()}-{os.urandom(3).hex()}.log"
    env = {**os.environ, "SCORECARD_DATA_DIR": str(settings.data_dir)}
    if settings.config_path:
        env["SCORECARD_CONFIG"] = str(settings.config_path)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ops", "refresh", "--source", source,
             "--trigger", trigger, *_files_args(path, preset)],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    _CHILDREN[proc.pid] = proc
    return BackgroundRefresh(pid=proc.pid, source=source, log_path=log_path)


def _files_args(path: Path | None, preset: str | None) -> list[str]:
    args = ["--path", str(path)] if path is not None else []
    return args + (["--preset", preset] if preset else [])


def read_progress(log_path: Path) -> tuple[float, str]:
    """(fraction, message) of the last `[ 60%] message` line in `log_path`; (0, "") if none."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return 0.0, ""
    for line in reversed(lines):
        match = _LINE.match(line)
        if match:
            return int(match.group(1)) / 100, match.group(2)
    return 0.0, ""
