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
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from connectors.schema import SCHEMA_VERSION, TABLES, conform

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
INTERMEDIATES = "intermediates"
KEEP_INTERMEDIATES = 3  # newest snapshots that keep their intermediates (see apply_retention)


class StoreError(RuntimeError):
    """The data folder cannot be read or written as asked."""


class NoSnapshot(StoreError):
    """The store holds no snapshot yet."""


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

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.snapshots_dir = self.root / "snapshots"

    # -- reading -----------------------------------------------------------------------
    def current_id(self) -> str | None:
        try:
            text = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
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
            raise StoreError(f"snapshot {snapshot_id} not found in {self.snapshots_dir}") from exc
        except json.JSONDecodeError as exc:
            raise StoreError(f"snapshot {snapshot_id}: manifest.json is not valid JSON") from exc
        return Snapshot(id=snapshot_id, path=path, manifest=manifest)

    def list(self) -> list[Snapshot]:
        """All complete snapshots, newest first."""
        if not self.snapshots_dir.exists():
            return []
        ids = sorted(
            (p.name for p in self.snapshots_dir.iterdir() if not p.name.startswith(".")),
            reverse=True,
        )
        return [self.get(i) for i in ids if (self.snapshots_dir / i / MANIFEST).exists()]

    def previous(self, snapshot: Snapshot) -> Snapshot | None:
        """The snapshot stored just before `snapshot`, if any."""
        older = [s for s in self.list() if s.id < snapshot.id]
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
    ) -> Snapshot:
        """Store validated canonical `frames` as a new snapshot and make it current.

        `artifacts` are small derived files (name → text) stored with the snapshot, e.g. the
        scorecard precomputed at refresh time; `intermediates` are derived frames with their
        metadata (see `scoring.intermediates`), listed in the manifest. Atomic: the snapshot
        becomes visible only once complete; on any error nothing changes and the temporary
        folder is removed.
        """
        now = now or datetime.now(UTC)
        snapshot_id = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{source}"
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{snapshot_id}.", dir=self.snapshots_dir))
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
            _fsync_dir(tmp)
            final = self.snapshots_dir / snapshot_id
            os.replace(tmp, final)
            _fsync_dir(self.snapshots_dir)
            self._set_current(snapshot_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
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
        deleted = []
        for index, snap in enumerate(self.list()):
            too_many = index >= keep
            too_old = max_age_days is not None and snap.created_at < now - timedelta(
                days=max_age_days
            )
            if snap.id != current and (too_many or too_old):
                shutil.rmtree(snap.path)
                deleted.append(snap.id)
            elif snap.id != current and index >= keep_intermediates:
                self._drop_intermediates(snap)
        self.clean_temporary()
        return deleted

    def _drop_intermediates(self, snap: Snapshot) -> None:
        """Unlist a snapshot's intermediates (manifest replaced atomically), then delete them."""
        if "intermediates" not in snap.manifest:
            return
        manifest = {k: v for k, v in snap.manifest.items() if k != "intermediates"}
        _write_text(snap.path / MANIFEST, json.dumps(manifest, indent=2), atomic=True)
        shutil.rmtree(snap.path / INTERMEDIATES, ignore_errors=True)

    def clean_temporary(self, *, older_than: timedelta = timedelta(hours=6)) -> None:
        """Remove folders left by refreshes that died midway (never visible to readers).

        Only folders older than `older_than`, so a refresh still running is not disturbed.
        """
        if not self.snapshots_dir.exists():
            return
        cutoff = (datetime.now(UTC) - older_than).timestamp()
        for p in self.snapshots_dir.iterdir():
            if p.name.startswith(".") and p.stat().st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True)


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
