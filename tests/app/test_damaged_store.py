"""A damaged data folder: the app shows the newest valid snapshot and says why, or the problem
and its fix; Data & refresh always opens (issue #15 item 5)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connectors.validate import validate_tables
from ops.runlog import recent_runs
from pages._text import as_text
from snapshots.store import Snapshot, Store


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def two_snapshots(data_dir: Path, tiny_org, monkeypatch) -> tuple[Snapshot, Snapshot]:
    monkeypatch.setenv("SCORECARD_AUTO_DEMO", "1")  # a damaged store must not become the demo
    store = Store(data_dir)
    frames = validate_tables(tiny_org).frames
    times = [datetime(2026, 3, 1, 12, minute, tzinfo=UTC) for minute in (0, 1)]
    first, second = (
        store.write(frames, source="test", data_as_of=date(2026, 3, 1), now=now) for now in times
    )
    return first, second


def test_a_damaged_current_snapshot_opens_the_previous_one_with_a_notice(two_snapshots, app):
    first, second = two_snapshots
    _truncate(second.path / "opportunities.parquet")
    at = app().run()
    assert not at.exception
    warnings = [as_text(w.value) for w in at.sidebar.warning]
    assert warnings == [
        f"snapshot {second.id} is damaged (opportunities.parquet unreadable); showing "
        f"{first.id} from 2026-03-01 12:00 UTC. Refresh to store a new one."
    ]
    assert any(f"Snapshot `{first.id}`" in c.value for c in at.sidebar.caption)
    assert at.title[0].value == "Revenue alignment scorecard"


def _garble_data_pages(path: Path) -> None:
    """Flip the bytes of a Parquet file's data pages, keeping its footer: the schema reads,
    the data does not (zstd reports the corruption)."""
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(4, len(data) - footer):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def test_a_snapshot_whose_data_pages_are_corrupt_is_passed_over(two_snapshots, app, data_dir):
    first, second = two_snapshots
    _garble_data_pages(second.path / "opportunities.parquet")
    assert Store(data_dir).damage(second) is None  # the cheap check cannot see it
    at = app().run()
    assert not at.exception
    assert [as_text(w.value) for w in at.sidebar.warning] == [
        f"snapshot {second.id} is damaged (its tables do not read); showing {first.id} from "
        "2026-03-01 12:00 UTC. Refresh to store a new one."
    ]
    assert any(f"Snapshot `{first.id}`" in c.value for c in at.sidebar.caption)


def test_a_deleted_manifest_opens_the_previous_one(two_snapshots, app):
    first, second = two_snapshots
    (second.path / "manifest.json").unlink()
    at = app().run()
    assert not at.exception
    assert any("manifest.json is missing" in as_text(w.value) for w in at.sidebar.warning)
    assert any(f"Snapshot `{first.id}`" in c.value for c in at.sidebar.caption)
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    listing = at.dataframe(key="snapshot_list").value
    assert list(listing["snapshot"]) == [first.id]


def test_no_readable_snapshot_shows_the_problem_and_data_refresh_opens(
    two_snapshots, app, data_dir
):
    for snapshot in two_snapshots:
        _truncate(snapshot.path / "leads.parquet")
    at = app().run()
    assert not at.exception
    errors = [as_text(e.value) for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("**The data cannot be read.**")
    assert "Data & refresh" in errors[0] and "SCORECARD_DATA_DIR" in errors[0]
    assert str(data_dir.parent) not in errors[0]  # no server paths beyond the folder's name
    assert Store(data_dir).current_id() == two_snapshots[1].id  # no demo built over it
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    assert at.title[-1].value == "Data & refresh"
    listing = at.dataframe(key="snapshot_list").value
    assert list(listing["readable"]) == ["no: leads.parquet unreadable"] * 2


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


def _refresh_from_the_page(at) -> str:
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    at.selectbox(key="refresh_source").set_value("demo").run()
    at.button(key="refresh_now").click().run()
    deadline = time.monotonic() + 120
    while not at.error and time.monotonic() < deadline:
        assert not at.success, at.success[0].value
        time.sleep(0.5)
        at.run()
    assert not at.exception
    return as_text(at.error[0].value)


FULL = "the data folder data is full: free space or point SCORECARD_DATA_DIR elsewhere"
READ_ONLY = (
    "the data folder data is read-only: make it writable or point SCORECARD_DATA_DIR elsewhere"
)


def test_refresh_now_on_a_full_disk_says_so_and_keeps_the_snapshot(data_dir, tiny_org, app):
    with _tmpfs(data_dir, "size=1m"):
        first = Store(data_dir).write(
            validate_tables(tiny_org).frames, source="test", data_as_of=date(2026, 3, 1)
        )
        at = app().run()
        assert not at.exception
        assert _refresh_from_the_page(at) == (
            f"Refresh failed: {FULL}\n\nThe previous snapshot is still current."
        )
        assert Store(data_dir).current_id() == first.id
        assert recent_runs(data_dir)["outcome"].to_list() == ["failed"]


def test_refresh_now_on_a_read_only_folder_says_so(data_dir, tiny_org, app):
    with _tmpfs(data_dir, "size=4m"):
        first = Store(data_dir).write(
            validate_tables(tiny_org).frames, source="test", data_as_of=date(2026, 3, 1)
        )
        subprocess.run(["mount", "-o", "remount,ro", str(data_dir)], check=True, timeout=30)
        at = app().run()
        assert not at.exception
        assert _refresh_from_the_page(at) == (
            f"Refresh failed: {READ_ONLY}\n\nThe previous snapshot is still current."
        )
        assert Store(data_dir).current_id() == first.id


def test_a_pinned_snapshot_that_breaks_is_unpinned_with_a_notice(two_snapshots, app):
    first, second = two_snapshots
    _truncate(first.path / "users.parquet")
    at = app()
    at.session_state["pinned_snapshot"] = first.id  # pinned before it broke
    at.run()
    assert not at.exception
    assert [as_text(w.value) for w in at.sidebar.warning] == [
        f"The pinned snapshot {first.id} cannot be read (users.parquet unreadable)."
    ]
    assert any(f"Snapshot `{second.id}`" in c.value for c in at.sidebar.caption)
    assert "pinned_snapshot" not in at.session_state
