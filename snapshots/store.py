"""The snapshot store: one folder of Parquet files per refresh, swapped in atomically.

Layout of the data folder::

    data/
      CURRENT                      # id of the current snapshot (replaced atomically)
      snapshots/
        20261123T170102123456Z-demo/
          manifest.json            # source, times, row counts, schema version
          opportunities.parquet    # one file per canonical table the source provides
          ...
          scorecard.json           # artifacts: the default view's scorecard, precomputed
          intermediates/           # derived frames every page starts from (stage spells,
            stage_spells-0.parquet #   lead funnel steps, ...), listed in the manifest

A snapshot is written into a hidden temporary folder and renamed into place only when every
file is complete; `CURRENT` is then replaced with `os.replace`. A refresh that fails at any
point leaves the previous snapshot current and readable, and leaves no half-written folder.

Readers never trust a folder blindly: a snapshot is *valid* when its manifest reads and every
table it lists is there with a readable Parquet footer (`Store.damage`). `Store.readable` gives
the current snapshot if valid, else the newest valid one before it, with a notice saying why.
Retention renames a snapshot to a hidden ``.trash-…`` name before deleting it, so a kill
midway never leaves a half-deleted snapshot listed; a snapshot newer than `CURRENT` written on
top of it (left by a kill between the rename and `CURRENT`) is never listed, and the next
refresh deletes it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from model.schema import SCHEMA_VERSION, TABLES, conform

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
INTERMEDIATES = "intermediates"
KEEP_INTERMEDIATES = 3  # newest snapshots that keep their intermediates (see apply_retention)
TRASH = ".trash-"  # prefix of a snapshot folder being deleted (hidden from readers)
_MANIFEST_KEYS = ("created_at", "data_as_of", "source", "tables")
# Store.damage results by (folder, (size, mtime) of each table file): "" means valid.
_CHECKED: dict[tuple[str, tuple[tuple[int, int], ...]], str] = {}


class StoreError(RuntimeError):
    """The data folder cannot be read or written as asked."""


class NoSnapshot(StoreError):
    """The store holds no snapshot yet."""


class StorageFull(StoreError):
    """The data folder's disk is full."""


class StorageReadOnly(StoreError):
    """The data folder cannot be written (read-only mount or no permission)."""


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
# How polars (Rust's io errors) and SQLite name the same conditions in their messages.
_FULL_TEXTS = ("no space left", "os error 28", "disk is full", "quota exceeded", "os error 122")
_READ_ONLY_TEXTS = ("read-only file system", "os error 30", "readonly database",
                    "permission denied", "os error 13")  # fmt: skip


def storage_problem(exc: BaseException, data_dir: Path | str) -> StoreError | None:
    """`exc` as one clear message when it means the data folder is full or read-only, else
    None. Looks through the causes: a Parquet writer or SQLite may wrap the OS error."""
    name = Path(data_dir).name or str(data_dir)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StorageFull | StorageReadOnly):
            return seen
        code = getattr(seen, "errno", None) if isinstance(seen, OSError) else None
        text = str(seen).lower()
        if isinstance(seen, OSError | sqlite3.Error | pl.exceptions.PolarsError):
            if code in _FULL_ERRNOS or any(t in text for t in _FULL_TEXTS):
                return StorageFull(
                    f"the data folder {name} is full: free space or point "
                    "SCORECARD_DATA_DIR elsewhere"
                )
            if code in _READ_ONLY_ERRNOS or any(t in text for t in _READ_ONLY_TEXTS):
                return StorageReadOnly(
                    f"the data folder {name} is read-only: make it writable or point "
                    "SCORECARD_DATA_DIR elsewhere"
                )
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True)
class Readable:
    """The snapshot to show, and why it is not the current one (None when it is)."""

    snapshot: Snapshot
    notice: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """A stored snapshot: its id, folder and manifest."""

    id: str
    path: Path
    manifest: dict[str, Any]

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.manifest["created_at"])

    @property
    def data_as_of(self) -> date:
        return date.fromisoformat(self.manifest["data_as_of"])

    @property
    def source(self) -> str:
        return str(self.manifest["source"])

    @property
    def tables(self) -> list[str]:
        return list(self.manifest["tables"])

    def scan(self, table: str) -> pl.LazyFrame:
        """Lazy scan of one table of this snapshot."""
        return pl.scan_parquet(self.path / f"{table}.parquet")

    def artifact(self, file_name: str) -> str | None:
        """A derived file stored with the snapshot, or None."""
        path = self.path / file_name
        return path.read_text(encoding="utf-8") if path.exists() else None

    def read_all(self, *, skip: Iterable[str] = ()) -> dict[str, pl.DataFrame]:
        """Every table the snapshot holds (but those in `skip`)."""
        skipped = set(skip)
        return {
            name: pl.read_parquet(self.path / f"{name}.parquet")
            for name in self.tables
            if name not in skipped
        }

    def read_intermediates(self) -> list[tuple[dict[str, Any], pl.DataFrame]]:
        """The derived frames stored with the snapshot, each with its metadata. One that
        cannot be read is skipped: they only save work, the tables are the data."""
        out = []
        for entry in self.manifest.get("intermediates", []):
            try:
                frame = pl.read_parquet(self.path / entry["file"])
            except (OSError, pl.exceptions.PolarsError):
                continue
            out.append(({k: v for k, v in entry.items() if k not in ("file", "rows")}, frame))
        return out


class Store:
    """Snapshots in a data folder."""

    def __init__(self, root: Path | str, *, mode: int | None = None) -> None:
        self.root = Path(root)
        self.snapshots_dir = self.root / "snapshots"
        self.mode = mode  # permissions of new snapshot folders (`[store] mode`); None: 0700

    # -- reading -----------------------------------------------------------------------
    def current_id(self) -> str | None:
        try:
            text = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not text"
            raise StoreError(
                f"{CURRENT} in the data folder {self.root.name} cannot be read ({reason})"
            ) from exc
        return text or None

    def current(self) -> Snapshot:
        """The current snapshot. Raises `NoSnapshot` on an empty store."""
        snapshot_id = self.current_id()
        if snapshot_id is None:
            raise NoSnapshot(f"no snapshot in {self.root} yet: run a refresh first")
        return self.get(snapshot_id)

    def get(self, snapshot_id: str) -> Snapshot:
        path = self.snapshots_dir / snapshot_id
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise StoreError(f"snapshot {snapshot_id} not found in {self.root.name}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(f"snapshot {snapshot_id}: manifest.json is not valid JSON") from exc
        except OSError as exc:
            raise StoreError(
                f"snapshot {snapshot_id}: manifest.json unreadable ({exc.strerror})"
            ) from exc
        missing = [k for k in _MANIFEST_KEYS if not isinstance(manifest, dict) or k not in manifest]
        if missing:
            raise StoreError(f"snapshot {snapshot_id}: manifest.json lacks {', '.join(missing)}")
        return Snapshot(id=snapshot_id, path=path, manifest=manifest)

    def list(self) -> list[Snapshot]:
        """All complete snapshots, newest first. Skipped: hidden folders (being written or
        being deleted), folders newer than the current one (a refresh killed before it made
        its snapshot current) and folders whose manifest does not read."""
        current = self._current_or_none()
        out = []
        for snapshot_id in self._listed_ids():
            try:
                snap = self.get(snapshot_id)
            except StoreError:
                continue
            if not _is_orphan(snap, current):
                out.append(snap)
        return out

    def _current_or_none(self) -> str | None:
        try:
            return self.current_id()
        except StoreError:
            return None  # listing still works; `readable` says what is wrong

    def _listed_ids(self) -> list[str]:
        try:
            names = [p.name for p in self.snapshots_dir.iterdir() if p.is_dir()]
        except FileNotFoundError:
            return []
        return sorted((n for n in names if not n.startswith(".")), reverse=True)

    def damage(self, snapshot: Snapshot) -> str | None:
        """Why `snapshot` cannot be read ("stage_history.parquet unreadable"), or None when
        every table it lists is there with a readable Parquet footer. Cheap (footers only),
        and remembered per file size and time, so checking on every page load costs little."""
        files = [f"{table}.parquet" for table in snapshot.tables]
        try:
            stamps = tuple(_stamp(snapshot.path / f) for f in files)
        except OSError:
            stamps = None
        if stamps is not None and (hit := _CHECKED.get((str(snapshot.path), stamps))) is not None:
            return hit or None
        problem = ""
        for file_name in files:
            try:
                pl.read_parquet_schema(snapshot.path / file_name)
            except FileNotFoundError:
                problem = f"{file_name} missing"
                break
            except (OSError, pl.exceptions.PolarsError):
                problem = f"{file_name} unreadable"
                break
        if stamps is not None:
            if len(_CHECKED) > 256:
                _CHECKED.clear()
            _CHECKED[(str(snapshot.path), stamps)] = problem
        return problem or None

    def readable(self, *, also_damaged: Iterable[str] = ()) -> Readable:
        """The snapshot to read: the current one when valid, else the newest valid one before
        it, with a notice naming what is wrong. `also_damaged` are ids a reader found broken
        beyond their footers. Raises `NoSnapshot` on an empty store and `StoreError` (saying
        what is wrong and how to fix it) when no snapshot is valid."""
        known_bad = set(also_damaged)
        for _ in range(20):
            current = self.current_id()
            if current is None:
                raise NoSnapshot(f"no snapshot in {self.root.name} yet: run a refresh first")
            problem = self._problem(current, known_bad)
            if problem is None:
                try:
                    return Readable(self.get(current))
                except StoreError:  # retention took it between the check and the read
                    problem = "its folder or manifest.json is missing"
            if self.current_id() == current:
                break  # else a refresh moved CURRENT (and retention took the old one): again
        for snapshot_id in self._listed_ids():
            if snapshot_id >= current:
                continue
            if self._problem(snapshot_id, known_bad) is None:
                fallback = self.get(snapshot_id)
                return Readable(
                    fallback,
                    f"snapshot {current} is damaged ({problem}); showing {fallback.id} "
                    f"from {fallback.created_at:%Y-%m-%d %H:%M} UTC. Refresh to store a new one.",
                )
        raise StoreError(
            f"snapshot {current} is damaged ({problem}) and no earlier snapshot in the data "
            f"folder {self.root.name} is readable: run a refresh (Data & refresh, or "
            "python -m ops refresh) to store a new one"
        )

    def _problem(self, snapshot_id: str, known_bad: set[str]) -> str | None:
        if snapshot_id in known_bad:
            return "its tables do not read"
        try:
            return self.damage(self.get(snapshot_id))
        except StoreError as exc:
            head, _, tail = str(exc).partition(": ")
            return (
                tail
                if head == f"snapshot {snapshot_id}"
                else "its folder or manifest.json is missing"
            )

    def previous(self, snapshot: Snapshot) -> Snapshot | None:
        """The valid snapshot stored just before `snapshot`, if any."""
        older = [s for s in self.list() if s.id < snapshot.id and self.damage(s) is None]
        return older[0] if older else None

    # -- writing -----------------------------------------------------------------------
    def write(
        self,
        frames: Mapping[str, pl.DataFrame],
        *,
        source: str,
        data_as_of: date,
        extra: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        artifacts: Mapping[str, str] | None = None,
        intermediates: Sequence[tuple[Mapping[str, Any], pl.DataFrame]] = (),
        before_current: Callable[[Snapshot], None] | None = None,
    ) -> Snapshot:
        """Store validated canonical `frames` as a new snapshot and make it current.

        `artifacts` are small derived files (name → text) stored with the snapshot, e.g. the
        scorecard precomputed at refresh time; `intermediates` are derived frames with their
        metadata (see `scoring.intermediates`), listed in the manifest. Atomic: the snapshot
        becomes visible only once complete; on any error nothing changes and the temporary
        folder is removed.

        `before_current` runs once the snapshot is complete in its folder and before `CURRENT`
        names it (the refresh job records the run there): if it raises, the folder is removed
        and the previous snapshot stays current.
        """
        now = now or datetime.now(UTC)
        snapshot_id = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{source}"
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{snapshot_id}.", dir=self.snapshots_dir))
        final = self.snapshots_dir / snapshot_id
        try:
            tables = {}
            for name, frame in frames.items():
                if name not in TABLES:
                    raise StoreError(f"{name} is not a canonical table")
                conform(name, frame).write_parquet(tmp / f"{name}.parquet", compression="zstd")
                tables[name] = {"rows": frame.height}
            manifest = {
                "snapshot_id": snapshot_id,
                "schema_version": SCHEMA_VERSION,
                "source": source,
                "created_at": now.isoformat(),
                "data_as_of": data_as_of.isoformat(),
                "tables": tables,
                "missing_tables": sorted(set(TABLES) - set(tables)),
                "previous_snapshot": self.current_id(),
                **dict(extra or {}),
            }
            for file_name, text in (artifacts or {}).items():
                _write_text(tmp / file_name, text)
            stored = []
            for i, (meta, frame) in enumerate(intermediates):
                file_name = f"{INTERMEDIATES}/{meta.get('kind', 'frame')}-{i}.parquet"
                (tmp / INTERMEDIATES).mkdir(exist_ok=True)
                frame.write_parquet(tmp / file_name, compression="zstd")
                stored.append({"file": file_name, "rows": frame.height, **meta})
            if stored:
                manifest["intermediates"] = stored
            _write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, default=str))
            if self.mode is not None:
                _set_mode(tmp, self.mode)
            _fsync_dir(tmp)
            os.replace(tmp, final)
            _fsync_dir(self.snapshots_dir)
            if before_current is not None:
                before_current(self.get(snapshot_id))
            self._set_current(snapshot_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                if final.exists() and self.current_id() != snapshot_id:
                    self._delete(final)
            except (OSError, StoreError):
                pass  # a read-only folder: it stays, hidden as newer than CURRENT
            raise
        return self.get(snapshot_id)

    def _set_current(self, snapshot_id: str) -> None:
        _write_text(self.root / CURRENT, snapshot_id + "\n", atomic=True)

    def apply_retention(
        self,
        *,
        keep: int,
        max_age_days: int | None = None,
        now: datetime | None = None,
        keep_intermediates: int = KEEP_INTERMEDIATES,
    ) -> list[str]:
        """Delete old snapshots: keep the newest `keep`, and drop those older than
        `max_age_days`; the current snapshot is never deleted. Returns deleted ids.

        Intermediates (about as large as the tables) are kept only for the newest
        `keep_intermediates` snapshots and the current one: older snapshots are read less
        often, and without them their views are simply derived from the tables."""
        now = now or datetime.now(UTC)
        current = self.current_id()
        deleted = self.clean_orphans()
        for index, snap in enumerate(self.list()):
            too_many = index >= keep
            too_old = max_age_days is not None and snap.created_at < now - timedelta(
                days=max_age_days
            )
            if snap.id != current and (too_many or too_old):
                self._delete(snap.path)
                deleted.append(snap.id)
            elif snap.id != current and index >= keep_intermediates:
                self._drop_intermediates(snap)
        self.clean_temporary()
        return deleted

    def _delete(self, folder: Path) -> None:
        """Rename `folder` to a hidden trash name, then delete it: a kill midway leaves a
        hidden folder (removed by the next `clean_temporary`), never a listed, partial one."""
        trash = folder.with_name(f"{TRASH}{folder.name}.{os.getpid()}")
        os.replace(folder, trash)
        _fsync_dir(folder.parent)
        shutil.rmtree(trash, ignore_errors=True)

    def clean_orphans(self) -> list[str]:
        """Delete snapshots written by refreshes killed before they made them current (call
        under the refresh lock, before a refresh). Returns their ids."""
        current = self._current_or_none()
        orphans = []
        for snapshot_id in self._listed_ids():
            if current is None or snapshot_id <= current:
                break
            try:
                snap = self.get(snapshot_id)
            except StoreError:
                continue
            if _is_orphan(snap, current):
                self._delete(snap.path)
                orphans.append(snap.id)
        return orphans

    def _drop_intermediates(self, snap: Snapshot) -> None:
        """Unlist a snapshot's intermediates (manifest replaced atomically), then delete them."""
        if "intermediates" not in snap.manifest:
            return
        manifest = {k: v for k, v in snap.manifest.items() if k != "intermediates"}
        _write_text(snap.path / MANIFEST, json.dumps(manifest, indent=2), atomic=True)
        shutil.rmtree(snap.path / INTERMEDIATES, ignore_errors=True)

    def clean_temporary(self, *, older_than: timedelta = timedelta(hours=6)) -> None:
        """Remove folders left by refreshes that died midway (never visible to readers):
        trash at once, temporary folders only when older than `older_than`, so a refresh
        still running is not disturbed.
        """
        if not self.snapshots_dir.exists():
            return
        cutoff = (datetime.now(UTC) - older_than).timestamp()
        for p in self.snapshots_dir.iterdir():
            if p.name.startswith(TRASH) or (p.name.startswith(".") and p.stat().st_mtime < cutoff):
                shutil.rmtree(p, ignore_errors=True)


def _is_orphan(snap: Snapshot, current: str | None) -> bool:
    """Whether `snap` was stored by a refresh killed before it moved `CURRENT`: newer than the
    current snapshot and written on top of it. (A snapshot merely named later, say after the
    clock was set back, was written on top of another and is kept.)"""
    return (
        current is not None
        and snap.id > current
        and (snap.manifest.get("previous_snapshot") == current)
    )


def _set_mode(folder: Path, mode: int) -> None:
    """`mode` on `folder` and the folders in it; their files get it without execute bits."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(mode if path.is_dir() else mode & 0o666)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _write_text(path: Path, text: str, *, atomic: bool = False) -> None:
    target = path.with_name(f".{path.name}.tmp") if atomic else path
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if atomic:
        os.replace(target, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
