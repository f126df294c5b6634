"""One refresh at a time per data folder.

The lock is `fcntl.flock` on ``data/.refresh.lock``: the kernel drops it when the holding
process exits or dies (even on SIGKILL), so a crashed refresh never leaves the folder locked.
While held, the file names its holder (pid, source, start time) so a refused refresh can say
who is running.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

LOCK_FILE = ".refresh.lock"


@dataclass(frozen=True)
class LockHolder:
    """Who holds the refresh lock."""

    pid: int
    source: str
    started_at: str  # ISO 8601
    host: str = ""

    def describe(self) -> str:
        host = self.host or "this host"
        return f"pid {self.pid} on {host}, source {self.source}, started {self.started_at}"


class LockHeld(RuntimeError):
    """Another refresh holds the lock of this data folder."""

    def __init__(self, data_dir: Path, holder: LockHolder | None) -> None:
        self.holder = holder
        who = holder.describe() if holder else "holder unknown (it is just starting)"
        super().__init__(f"another refresh is running in {data_dir} ({who}); try again later")


@contextmanager
def refresh_lock(data_dir: Path | str, *, source: str, now: datetime) -> Iterator[LockHolder]:
    """Hold the refresh lock of `data_dir` for the block; raises `LockHeld` at once if taken."""
    path = Path(data_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(Path(data_dir), _holder_soon(path)) from None
        holder = LockHolder(os.getpid(), source, now.isoformat(), socket.gethostname())
        _write(fd, json.dumps(asdict(holder)))
        try:
            yield holder
        finally:
            _write(fd, "")  # a dead holder's note stays; a clean release leaves none
    finally:
        os.close(fd)  # closing releases the flock


def lock_holder(data_dir: Path | str) -> LockHolder | None:
    """The running refresh, for display: the note in the lock file if its process is alive.

    Never takes the lock, so looking never makes a refresh skip.
    """
    holder = _read(Path(data_dir) / LOCK_FILE)
    if holder is None or holder.host not in ("", socket.gethostname()):
        return holder
    return holder if pid_alive(holder.pid) else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_soon(path: Path, *, wait: float = 0.5, step: float = 0.02) -> LockHolder | None:
    """The holder's note; a refresh that has only just taken the lock writes it within
    moments, so wait that long before saying the holder is unknown."""
    deadline = time.monotonic() + wait
    while (holder := _read(path)) is None and time.monotonic() < deadline:
        time.sleep(step)
    return holder


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode("utf-8"), 0)
    os.fsync(fd)


def _read(path: Path) -> LockHolder | None:
    try:
        return LockHolder(**json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
