"""One refresh: pull from a source, validate into the canonical model, store a snapshot.

The same function serves the command line, the app's "refresh now" and the scheduler.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from connectors.config import Settings
from connectors.sources import SOURCES, Progress, no_progress
from connectors.store import Snapshot, Store
from connectors.validate import ValidationError, validate_tables


class RefreshError(RuntimeError):
    """A refresh failed; the previous snapshot is still current."""


@dataclass(frozen=True)
class RefreshResult:
    snapshot: Snapshot
    seconds: float
    warnings: list[str]
    deleted: list[str]

    def summary(self) -> str:
        rows = self.snapshot.manifest["tables"]
        width = max(len(t) for t in rows)
        lines = [f"  {t:<{width}}  {info['rows']:>10,} rows" for t, info in rows.items()]
        missing = self.snapshot.manifest.get("missing_tables") or []
        tail = [f"  not provided by this source: {', '.join(missing)}"] if missing else []
        warn = [f"  warning: {w}" for w in self.warnings]
        return "\n".join(
            [
                f"Snapshot {self.snapshot.id} ({self.snapshot.source}, data as of "
                f"{self.snapshot.data_as_of}) stored in {self.seconds:.1f} s:",
                *lines,
                *tail,
                *warn,
            ]
        )


def refresh(
    settings: Settings,
    source: str | None = None,
    *,
    progress: Progress = no_progress,
    **options: Any,
) -> RefreshResult:
    """Pull `source`, validate, store a new snapshot atomically and apply retention.

    Raises:
        RefreshError: naming the source and the cause; nothing is stored.
    """
    name = source or settings.default_source
    if name not in SOURCES:
        raise RefreshError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}")
    started = time.perf_counter()
    progress(f"Pulling from {name}", 0.0)
    pulled = SOURCES[name](settings, progress, **options)
    progress("Validating against the canonical model", 0.6)
    try:
        validated = validate_tables(pulled.frames, source=name)
    except ValidationError as exc:
        raise RefreshError(str(exc)) from exc
    warnings = [str(w) for w in validated.warnings]
    progress("Writing the snapshot", 0.8)
    store = Store(settings.data_dir)
    snapshot = store.write(
        validated.frames,
        source=name,
        data_as_of=pulled.data_as_of,
        extra={
            "warnings": warnings,
            "detail": pulled.detail,
            "pull_seconds": round(time.perf_counter() - started, 3),
        },
    )
    deleted = store.apply_retention(
        keep=settings.keep_snapshots, max_age_days=settings.max_age_days
    )
    progress("Done", 1.0)
    return RefreshResult(snapshot, time.perf_counter() - started, warnings, deleted)
