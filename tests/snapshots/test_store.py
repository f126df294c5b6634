"""The snapshot store: atomic writes, current pointer, history kept, retention."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors.validate import validate_tables
from model.schema import conform
from snapshots.store import NoSnapshot, Snapshot, Store, StoreError

AS_OF = date(2026, 3, 1)


def _write(store: Store, org, minute: int = 0):
    frames = validate_tables(org).frames
    now = datetime(2026, 3, 1, 12, minute, tzinfo=UTC)
    return store.write(frames, source="test", data_as_of=AS_OF, now=now)


def test_empty_store_says_so(tmp_path: Path):
    store = Store(tmp_path)
    assert store.list() == []
    with pytest.raises(NoSnapshot, match="run a refresh first"):
        store.current()


def test_write_then_read_round_trip(tmp_path: Path, tiny_org):
    store = Store(tmp_path)
    snap = _write(store, tiny_org)
    assert store.current().id == snap.id
    manifest = json.loads((snap.path / "manifest.json").read_text())
    assert manifest["source"] == "test"
    assert manifest["schema_version"] == 1
    assert manifest["tables"]["opportunities"] == {"rows": 2}
    assert "forecasts" in manifest["missing_tables"]
    assert manifest["data_as_of"] == "2026-03-01"
    for name, frame in snap.read_all().items():
        assert_frame_equal(frame, conform(name, tiny_org[name]))


def test_second_write_keeps_the_first(tmp_path: Path, tiny_org):
    store = Store(tmp_path)
    first = _write(store, tiny_org, minute=0)
    second = _write(store, tiny_org, minute=1)
    assert [s.id for s in store.list()] == [second.id, first.id]
    assert store.current().id == second.id
    assert second.manifest["previous_snapshot"] == first.id
    assert store.previous(second).id == first.id


def test_failure_midway_leaves_previous_snapshot_current(tmp_path: Path, tiny_org, monkeypatch):
    store = Store(tmp_path)
    good = _write(store, tiny_org, minute=0)
    calls = {"n": 0}
    real = pl.DataFrame.write_parquet

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        _write(store, tiny_org, minute=5)
    monkeypatch.undo()
    assert store.current().id == good.id
    assert [s.id for s in store.list()] == [good.id]
    assert not [p for p in store.snapshots_dir.iterdir() if p.name.startswith(".")]
    assert store.current().read_all()["opportunities"].height == 2


def test_killed_writer_leaves_previous_snapshot_current(tmp_path: Path, tiny_org):
    """A process killed while writing (SIGKILL, no cleanup) never exposes its snapshot."""
    store = Store(tmp_path)
    good = _write(store, tiny_org)
    script = textwrap.dedent(
        f"""
        import os, signal, polars as pl
        from datetime import date
        from snapshots.store import Store
        real = pl.DataFrame.write_parquet
        def dying(self, *a, **k):
            real(self, *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)
        pl.DataFrame.write_parquet = dying
        frames = {{"users": pl.read_parquet({str(good.path / "users.parquet")!r})}}
        Store({str(tmp_path)!r}).write(frames, source="x", data_as_of=date(2026, 3, 2))
        """
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, env={**os.environ}, check=False)
    assert proc.returncode == -9
    assert store.current().id == good.id
    assert [s.id for s in store.list()] == [good.id]
    leftovers = [p for p in store.snapshots_dir.iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1  # hidden, never listed; cleaned by retention once old


def test_corrupt_manifest_is_reported(tmp_path: Path, tiny_org):
    store = Store(tmp_path)
    snap = _write(store, tiny_org)
    (snap.path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"manifest\.json is not valid JSON"):
        store.current()


def test_retention_keeps_newest_and_current(tmp_path: Path, tiny_org):
    store = Store(tmp_path)
    ids = [_write(store, tiny_org, minute=m).id for m in range(5)]
    deleted = store.apply_retention(keep=2, now=datetime(2026, 3, 1, 13, tzinfo=UTC))
    assert sorted(deleted) == ids[:3]
    assert [s.id for s in store.list()] == [ids[4], ids[3]]


def test_retention_by_age_never_deletes_current(tmp_path: Path, tiny_org):
    store = Store(tmp_path)
    ids = [_write(store, tiny_org, minute=m).id for m in range(3)]
    later = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=30)
    deleted = store.apply_retention(keep=10, max_age_days=7, now=later)
    assert sorted(deleted) == ids[:2]
    assert store.current().id == ids[2]


def test_intermediates_are_stored_listed_and_read_back(tmp_path: Path, tiny_org):
    store = Store(tmp_path)
    derived = pl.DataFrame({"opp_id": ["O1", "O2"], "days": [1.5, 2.0]})
    meta = {"kind": "stage_spells", "as_of": "2026-03-01", "timezone": "UTC", "code_version": "x"}
    snap = store.write(
        validate_tables(tiny_org).frames, source="test", data_as_of=AS_OF,
        intermediates=[(meta, derived)],
    )  # fmt: skip
    [entry] = snap.manifest["intermediates"]
    assert entry == {"file": "intermediates/stage_spells-0.parquet", "rows": 2, **meta}
    [(read_meta, frame)] = snap.read_intermediates()
    assert read_meta == meta
    assert_frame_equal(frame, derived)


def test_an_unreadable_intermediate_is_skipped(tmp_path: Path, tiny_org):
    store = Store(tmp_path)
    meta = {"kind": "funnel_steps", "as_of": "2026-03-01", "timezone": "UTC"}
    snap = store.write(
        validate_tables(tiny_org).frames, source="test", data_as_of=AS_OF,
        intermediates=[(meta, pl.DataFrame({"a": [1]}))],
    )  # fmt: skip
    (snap.path / snap.manifest["intermediates"][0]["file"]).write_bytes(b"not parquet")
    assert snap.read_intermediates() == []
    assert set(snap.read_all()) == set(snap.tables)  # the tables are untouched


def test_retention_keeps_intermediates_only_for_the_newest_snapshots(tmp_path: Path, tiny_org):
    store = Store(tmp_path)
    meta = {"kind": "stage_spells", "as_of": "2026-03-01", "timezone": "UTC"}
    frames = validate_tables(tiny_org).frames
    for minute in range(4):
        store.write(frames, source="test", data_as_of=AS_OF,
                    now=datetime(2026, 3, 1, 12, minute, tzinfo=UTC),
                    intermediates=[(meta, pl.DataFrame({"a": [minute]}))])  # fmt: skip
    deleted = store.apply_retention(keep=10, keep_intermediates=2)
    assert deleted == []
    newest, second, *older = store.list()
    for snap in (newest, second):
        assert [m for m, _ in snap.read_intermediates()] == [meta]
    for snap in older:
        assert "intermediates" not in snap.manifest
        assert not (snap.path / "intermediates").exists()
        assert snap.read_intermediates() == []
        assert set(snap.read_all()) == set(snap.tables)  # the tables stay


# -- damaged, full and read-only stores (issue #15) ----------------------------------------


def _truncate(path: Path) -> None:
    """Cut a Parquet file in half: its footer (the schema) is gone, as after a crash."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_damaged_current_snapshot_falls_back_to_the_newest_valid_one(tmp_path, tiny_org):
    store = Store(tmp_path)
    first = _write(store, tiny_org, minute=0)
    second = _write(store, tiny_org, minute=1)
    third = _write(store, tiny_org, minute=2)
    _truncate(third.path / "opportunities.parquet")
    _truncate(second.path / "leads.parquet")
    assert store.damage(third) == "opportunities.parquet unreadable"
    assert store.damage(first) is None
    chosen = store.readable()
    assert chosen.snapshot.id == first.id
    assert chosen.notice is not None
    assert chosen.notice.startswith(
        f"snapshot {third.id} is damaged (opportunities.parquet unreadable); "
        f"showing {first.id} from 2026-03-01 12:00 UTC"
    )
    assert store.previous(third).id == first.id  # a damaged one is never the comparison


def test_a_valid_current_snapshot_has_no_notice(tmp_path, tiny_org):
    store = Store(tmp_path)
    _write(store, tiny_org, minute=0)
    second = _write(store, tiny_org, minute=1)
    chosen = store.readable()
    assert (chosen.snapshot.id, chosen.notice) == (second.id, None)


def test_a_deleted_manifest_or_table_falls_back(tmp_path, tiny_org):
    store = Store(tmp_path)
    first = _write(store, tiny_org, minute=0)
    second = _write(store, tiny_org, minute=1)
    (second.path / "manifest.json").unlink()
    chosen = store.readable()
    assert chosen.snapshot.id == first.id
    assert "is damaged (its folder or manifest.json is missing)" in chosen.notice
    assert [s.id for s in store.list()] == [first.id]  # listing never raises on it
    (first.path / "leads.parquet").unlink()
    with pytest.raises(StoreError, match=r"no earlier snapshot .* is readable: run a refresh"):
        store.readable()


def test_a_reader_reported_damage_moves_to_the_next_snapshot(tmp_path, tiny_org):
    store = Store(tmp_path)
    first = _write(store, tiny_org, minute=0)
    second = _write(store, tiny_org, minute=1)
    chosen = store.readable(also_damaged=[second.id])
    assert chosen.snapshot.id == first.id
    assert "its tables do not read" in chosen.notice


def test_a_failure_before_current_keeps_the_previous_snapshot(tmp_path, tiny_org):
    store = Store(tmp_path)
    first = _write(store, tiny_org, minute=0)

    def refuse(snapshot):
        assert snapshot.path.is_dir()  # complete in its folder, not yet current
        assert store.current_id() == first.id
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        store.write(
            validate_tables(tiny_org).frames, source="test", data_as_of=AS_OF,
            now=datetime(2026, 3, 1, 12, 5, tzinfo=UTC), before_current=refuse,
        )  # fmt: skip
    assert store.current_id() == first.id
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == [first.id]


def _killed_before_current(store: Store, tiny_org, minute: int) -> Snapshot:
    """A refresh killed between renaming its folder into place and moving CURRENT."""

    def killed(snapshot: Snapshot) -> None:
        raise KeyboardInterrupt  # stands for the kill: nothing after this line runs ...

    with pytest.raises(KeyboardInterrupt), pytest.MonkeyPatch.context() as patch:
        patch.setattr(Store, "_delete", lambda self, folder: None)  # ... not even the cleanup
        store.write(
            validate_tables(tiny_org).frames, source="test", data_as_of=AS_OF,
            now=datetime(2026, 3, 1, 12, minute, tzinfo=UTC), before_current=killed,
        )  # fmt: skip
    return store.get(f"20260301T12{minute:02d}00000000Z-test")


def test_an_orphan_newer_than_current_is_not_listed_and_is_cleaned(tmp_path, tiny_org):
    store = Store(tmp_path)
    first = _write(store, tiny_org, minute=0)
    orphans = [_killed_before_current(store, tiny_org, minute) for minute in (1, 2)]
    assert all(o.path.is_dir() for o in orphans)
    assert [s.id for s in store.list()] == [first.id]
    assert store.readable().snapshot.id == first.id
    assert store.clean_orphans() == [orphans[1].id, orphans[0].id]
    assert not any(o.path.exists() for o in orphans)
    assert store.current().id == first.id


def test_a_snapshot_named_later_after_a_clock_change_is_no_orphan(tmp_path, tiny_org):
    store = Store(tmp_path)
    later = _write(store, tiny_org, minute=5)
    now = _write(store, tiny_org, minute=1)  # the clock was set back
    assert [s.id for s in store.list()] == [later.id, now.id]
    assert store.clean_orphans() == []
    assert later.path.is_dir()


def test_the_next_refresh_deletes_an_orphan(tmp_path, tiny_org, monkeypatch):
    from ops.jobs import run_refresh
    from ops.sources import SOURCES, Pulled

    data = tmp_path / "data"
    store = Store(data)
    first = _write(store, tiny_org, minute=0)
    orphan = _killed_before_current(store, tiny_org, minute=1)
    monkeypatch.setitem(SOURCES, "tiny", lambda settings, progress, **_: Pulled(
        frames=dict(tiny_org), data_as_of=AS_OF))  # fmt: skip
    record = run_refresh(_settings_for(data, monkeypatch), "tiny", trigger="cli")
    assert record.ok, record.error
    assert [s.id for s in store.list()] == [record.snapshot_id, first.id]
    assert not orphan.path.exists()


def test_retention_deletes_through_a_hidden_trash_folder(tmp_path, tiny_org):
    store = Store(tmp_path)
    old = _write(store, tiny_org, minute=0)
    new = _write(store, tiny_org, minute=1)
    assert store.apply_retention(keep=1) == [old.id]
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == [new.id]


def test_a_kill_during_retention_never_leaves_a_partial_snapshot_listed(tmp_path, tiny_org):
    """Retention in a real process, SIGKILLed while deleting (after it removed one file of
    the old snapshot): everything still listed is complete, and the next run cleans up."""
    store = Store(tmp_path)
    old = _write(store, tiny_org, minute=0)
    new = _write(store, tiny_org, minute=1)
    script = textwrap.dedent(
        f"""
        import os, shutil, sys, time
        from pathlib import Path
        from snapshots import store as store_module
        real = shutil.rmtree

        def slow_rmtree(path, *args, **kwargs):
            files = sorted(Path(path).glob("*.parquet"))
            files[0].unlink()  # part of the folder is gone ...
            print("deleting", flush=True)
            time.sleep(60)  # ... when the kill comes

        store_module.shutil.rmtree = slow_rmtree
        store_module.Store({str(tmp_path)!r}).apply_retention(keep=1)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "deleting"
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -9
    listed = store.list()
    assert [s.id for s in listed] == [new.id]
    assert all(store.damage(s) is None for s in listed)
    assert any(p.name.startswith(".trash-") for p in store.snapshots_dir.iterdir())
    store.apply_retention(keep=1)
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == [new.id]
    assert not old.path.exists()


@contextlib.contextmanager
def _tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small tmpfs at `folder` (root only, as in CI), unmounted at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {exc}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)


def _settings_for(data: Path, monkeypatch: pytest.MonkeyPatch):
    from ops.config import load_settings

    monkeypatch.setenv("SCORECARD_DATA_DIR", str(data))
    return load_settings()


def test_a_full_disk_gives_one_message_and_keeps_the_previous_snapshot(
    tmp_path, tiny_org, monkeypatch
):
    from ops.jobs import run_refresh
    from ops.runlog import recent_runs

    with _tmpfs(tmp_path / "data", "size=1m") as data:
        store = Store(data)
        first = _write(store, tiny_org)
        settings = _settings_for(data, monkeypatch)
        record = run_refresh(settings, "demo", trigger="cli", as_of=date(2026, 11, 16))
        assert record.outcome == "failed"
        assert record.error == (
            "the data folder data is full: free space or point SCORECARD_DATA_DIR elsewhere"
        )
        assert store.current_id() == first.id
        assert [p.name for p in store.snapshots_dir.iterdir()] == [first.id]
        runs = recent_runs(data)
        assert "running" not in runs["outcome"].to_list()
        assert runs["outcome"][0] == "failed"


def test_a_read_only_folder_gives_one_message_and_still_reads(tmp_path, tiny_org, monkeypatch):
    from ops.jobs import run_refresh
    from ops.runlog import finish_run, last_run, recent_runs, start_run

    with _tmpfs(tmp_path / "data", "size=8m") as data:
        store = Store(data)
        first = _write(store, tiny_org)
        now = datetime(2026, 3, 1, 13, tzinfo=UTC)
        finish_run(data, start_run(data, source="test", trigger="cli", now=now), outcome="ok",
                   now=now, snapshot_id=first.id)  # fmt: skip
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True, timeout=30)
        settings = _settings_for(data, monkeypatch)
        record = run_refresh(settings, "demo", trigger="cli", as_of=date(2026, 11, 16))
        assert record.outcome == "failed"
        assert record.error == (
            "the data folder data is read-only: make it writable or point "
            "SCORECARD_DATA_DIR elsewhere"
        )
        assert store.readable().snapshot.id == first.id
        assert store.readable().notice is None
        # the run log still reads (SQLite's WAL mode cannot open its -shm file here)
        assert recent_runs(data)["outcome"].to_list() == ["ok"]
        assert last_run(data).snapshot_id == first.id


def test_a_run_log_that_cannot_record_success_leaves_the_previous_snapshot_current(
    tmp_path, tiny_org, monkeypatch
):
    """The run log fills the disk just as the ok row is written (as seen with 4 MB free): the
    new snapshot never becomes current, and the row is finished as failed, not `running`."""
    import sqlite3

    from ops import jobs
    from ops.runlog import recent_runs

    data = tmp_path / "data"
    store = Store(data)
    first = _write(store, tiny_org)
    real_finish = jobs.finish_run

    def full_on_ok(*args, **kwargs):
        if kwargs["outcome"] == "ok":
            raise sqlite3.OperationalError("database or disk is full")
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(jobs, "finish_run", full_on_ok)
    record = jobs.run_refresh(
        _settings_for(data, monkeypatch), "demo", trigger="cli", as_of=date(2026, 11, 16)
    )
    assert record.error == (
        "the data folder data is full: free space or point SCORECARD_DATA_DIR elsewhere"
    )
    assert store.current_id() == first.id
    assert [s.id for s in store.list()] == [first.id]
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == [first.id]
    assert recent_runs(data)["outcome"].to_list() == ["failed"]


def _scorecard_cli(data: Path) -> subprocess.CompletedProcess[str]:
    env = {"SCORECARD_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "ops", "scorecard", "--format", "json"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip


def test_the_cli_scorecard_reads_the_newest_valid_snapshot_and_says_so(tmp_path, tiny_org):
    data = tmp_path / "data"
    store = Store(data)
    first = _write(store, tiny_org, minute=0)
    second = _write(store, tiny_org, minute=1)
    _truncate(second.path / "opportunities.parquet")
    out = _scorecard_cli(data)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["snapshot"] == first.id
    assert out.stderr.strip() == (
        f"scorecard: snapshot {second.id} is damaged (opportunities.parquet unreadable); "
        f"showing {first.id} from 2026-03-01 12:00 UTC. Refresh to store a new one."
    )
    _truncate(first.path / "opportunities.parquet")
    out = _scorecard_cli(data)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and str(tmp_path) not in out.stderr
    assert "no earlier snapshot in the data folder data is readable: run a refresh" in out.stderr


def test_snapshot_permissions_follow_store_mode(tmp_path, tiny_org, monkeypatch):
    from ops.config import ConfigError, load_settings

    default = _write(Store(tmp_path / "default"), tiny_org)
    assert default.path.stat().st_mode & 0o777 == 0o700  # as before: mkdtemp's folder
    config = tmp_path / "scorecard.toml"
    config.write_text('[store]\nmode = "0750"\n')
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(tmp_path / "shared"))
    settings = load_settings()
    assert settings.store_mode == 0o750
    from ops.jobs import run_refresh
    from ops.sources import SOURCES, Pulled

    monkeypatch.setitem(SOURCES, "tiny", lambda settings, progress, **_: Pulled(
        frames=dict(tiny_org), data_as_of=AS_OF))  # fmt: skip
    record = run_refresh(settings, "tiny", trigger="cli")
    assert record.ok, record.error
    snap = Store(settings.data_dir).current()
    assert snap.path.stat().st_mode & 0o777 == 0o750
    modes = {(p.is_dir(), p.stat().st_mode & 0o777) for p in snap.path.rglob("*")}
    assert modes == {(False, 0o640), (True, 0o750)}  # tables, manifest; intermediates/
    config.write_text("[store]\nmode = 750\n")  # a TOML integer reads as the same octal
    assert load_settings().store_mode == 0o750
    config.write_text('[store]\nmode = "rwx"\n')
    with pytest.raises(ConfigError, match="octal"):
        load_settings()


def test_readers_never_fail_while_refreshes_replace_and_delete_snapshots(tmp_path, tiny_org):
    """keep_snapshots = 1: another process stores a snapshot and deletes the previous one in
    a loop; every read here (as the CLI reads) gets a whole snapshot."""
    from ops.cli_scorecard import _readable_bundle

    store = Store(tmp_path)
    _write(store, tiny_org)
    script = textwrap.dedent(
        f"""
        from datetime import date
        from tests.conftest import tiny_org
        from snapshots.store import Store
        from connectors.validate import validate_tables

        store = Store({str(tmp_path)!r})
        frames = validate_tables(tiny_org.__wrapped__()).frames
        print("writing", flush=True)
        while True:
            store.write(frames, source="test", data_as_of=date(2026, 3, 1))
            store.apply_retention(keep=1)
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        seen, reads, deadline = set(), 0, time.monotonic() + 60
        while (reads < 150 or len(seen) < 4) and time.monotonic() < deadline:
            snap, tables = _readable_bundle(store)
            assert tables.frames["opportunities"].collect().height == 2
            seen.add(snap.id)
            reads += 1
        assert writer.poll() is None  # the writer kept going the whole time
    finally:
        writer.kill()
        writer.wait(timeout=30)
        writer.stdout.close()
    assert len(seen) >= 4  # the reads really raced several refreshes
