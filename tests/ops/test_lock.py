"""One refresh at a time: the lock refuses a second refresh, names the holder, dies with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ops.config import Settings
from ops.jobs import run_refresh
from ops.lock import LOCK_FILE, LockHeld, lock_holder, refresh_lock
from ops.runlog import get_run, last_run, recent_runs
from ops.sources import SOURCES, Pulled
from snapshots.store import Store

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

# A refresh in its own process: source "sleepy" sleeps, then returns the org saved as Parquet.
# It says when it is ready and waits for a "go" file, so two children can start together.
CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import date
    from pathlib import Path
    import polars as pl
    from ops import sources
    from ops.config import Settings
    from ops.jobs import run_refresh

    data, org, work = (Path(arg) for arg in sys.argv[1:4])
    pause = float(sys.argv[4])

    def pull(settings, progress, **options):
        (work / f"pulling-{os.getpid()}").touch()
        time.sleep(pause)
        frames = {p.stem: pl.read_parquet(p) for p in org.glob("*.parquet")}
        return sources.Pulled(frames=frames, data_as_of=date(2026, 3, 1))

    sources.SOURCES["sleepy"] = pull
    (work / f"ready-{os.getpid()}").touch()
    while not (work / "go").exists():
        time.sleep(0.005)
    record = run_refresh(Settings(data_dir=data), "sleepy", trigger="manual")
    print(json.dumps({"pid": os.getpid(), "outcome": record.outcome, "error": record.error}))
    """
)


@pytest.fixture
def work(tmp_path: Path, tiny_org) -> Path:
    (tmp_path / "org").mkdir()
    for name, frame in tiny_org.items():
        frame.write_parquet(tmp_path / "org" / f"{name}.parquet")
    return tmp_path


def _child(work: Path, pause: float) -> subprocess.Popen[str]:
    args = [str(work / "data"), str(work / "org"), str(work), str(pause)]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch, tiny_org) -> str:
    def pull(settings, progress, **options):
        return Pulled(frames=dict(tiny_org), data_as_of=date(2026, 3, 1))

    monkeypatch.setitem(SOURCES, "quick", pull)
    return "quick"


def test_two_refreshes_started_together_one_runs_one_reports_the_lock(work: Path):
    children = [_child(work, pause=1.5) for _ in range(2)]
    _wait_for(lambda: len(list(work.glob("ready-*"))) == 2)
    (work / "go").touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    by_outcome = {r["outcome"]: r for r in results}
    assert set(by_outcome) == {"ok", "skipped-locked"}
    message = by_outcome["skipped-locked"]["error"]
    assert "another refresh is running" in message
    assert f"pid {by_outcome['ok']['pid']}" in message and "source sleepy" in message
    assert "started 20" in message  # the holder's start time
    assert len(list(work.glob("pulling-*"))) == 1  # the refused one never pulled
    assert sorted(recent_runs(work / "data")["outcome"]) == ["ok", "skipped-locked"]
    assert len(Store(work / "data").list()) == 1


def test_killed_refresh_keeps_previous_snapshot_and_frees_the_lock(work: Path, quick):
    settings = Settings(data_dir=work / "data")
    before = run_refresh(settings, quick, trigger="manual")
    (work / "go").touch()
    child = _child(work, pause=60)
    _wait_for(lambda: any(work.glob("pulling-*")))  # midway: lock held, run row "running"
    killed = last_run(settings.data_dir)
    assert killed.outcome == "running" and killed.pid == child.pid
    assert lock_holder(settings.data_dir).pid == child.pid
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)

    assert Store(settings.data_dir).current_id() == before.snapshot_id
    assert lock_holder(settings.data_dir) is None  # its note names a dead process
    after = run_refresh(settings, quick, trigger="manual")  # starts at once, not skipped
    assert after.ok and Store(settings.data_dir).current_id() == after.snapshot_id
    abandoned = get_run(settings.data_dir, killed.run_id)
    assert abandoned.outcome == "failed"
    assert abandoned.error == f"abandoned: the refresh process (pid {child.pid}) ended unfinished"


def test_held_lock_makes_a_refresh_skip_without_pulling(tmp_path: Path, monkeypatch):
    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setitem(SOURCES, "never", lambda *a, **k: pytest.fail("pulled under a held lock"))
    with refresh_lock(settings.data_dir, source="salesforce", now=NOW):
        record = run_refresh(settings, "never", trigger="page")
    assert record.outcome == "skipped-locked" and record.attempts == 0
    assert record.error == (
        f"another refresh is running in {settings.data_dir} (pid {os.getpid()} on "
        f"{os.uname().nodename}, source salesforce, started 2026-03-02T06:00:00+00:00); "
        "try again later"
    )
    assert Store(settings.data_dir).list() == []
    assert record.snapshot_id is None


def test_lock_is_exclusive_and_released(tmp_path: Path):
    with refresh_lock(tmp_path, source="demo", now=NOW) as holder:
        assert lock_holder(tmp_path) == holder
        with (
            pytest.raises(LockHeld, match="source demo"),
            refresh_lock(tmp_path, source="x", now=NOW),
        ):
            pass
    assert lock_holder(tmp_path) is None
    assert (tmp_path / LOCK_FILE).read_text() == ""  # released cleanly: no stale note
    with refresh_lock(tmp_path, source="x", now=NOW):  # free again
        pass


def test_reading_the_holder_never_takes_the_lock(tmp_path: Path):
    assert lock_holder(tmp_path) is None  # no lock file yet: nothing running
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_holder_that_has_only_just_taken_the_lock_is_still_named(tmp_path: Path):
    """The refused refresh waits a moment for the note of a holder that is just starting
    (it takes the lock, then writes who it is), instead of calling it unknown."""
    import fcntl
    import threading

    path = tmp_path / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held, no note yet
    note = {"pid": 4242, "source": "demo", "started_at": "2026-11-23T20:00:00+00:00",
            "host": "here"}  # fmt: skip
    writer = threading.Timer(0.15, lambda: path.write_text(json.dumps(note)))
    writer.start()
    try:
        with (
            pytest.raises(LockHeld, match="pid 4242"),
            refresh_lock(tmp_path, source="demo", now=datetime.now(UTC)),
        ):
            pass
    finally:
        writer.join()
        os.close(fd)
