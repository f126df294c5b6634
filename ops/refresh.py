"""One refresh: pull from a source, validate into the canonical model, store a snapshot.

The same function serves the command line, the app's "refresh now" and the scheduler.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from connectors.base import RefreshError
from connectors.validate import ValidationError, validate_tables
from ops.config import Settings
from ops.decisions import view_decisions
from ops.sources import SOURCES, Progress, no_progress
from snapshots.store import Snapshot, Store


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


SCORECARD_FILE = "scorecard.json"


def default_view_key(data_as_of: date, settings: Settings) -> dict[str, Any]:
    """The view everybody opens first: the quarter of the data's date, as of it, all teams."""
    from model.calendar import period_of

    period = period_of(data_as_of, fiscal_start_month=settings.scoring.fiscal_start_month)
    return {"period": period.name, "as_of": data_as_of.isoformat(), "teams": []}


def default_scorecard(
    frames: dict[str, pl.DataFrame],
    settings: Settings,
    data_as_of: date,
    origin: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], pl.DataFrame]]]:
    """The scorecard of the default view, computed once at refresh time and stored with the
    snapshot, so the first page load after a refresh computes nothing; and the intermediates
    it derived on the way (stage spells, funnel steps, ...), stored too so that other views
    start from them. (The refresh job is the one place in connectors/ that calls scoring: it
    prepares what every page needs.)"""
    from model.calendar import parse_period
    from model.params import digest
    from model.tables import Tables, derived_provenance
    from ops.engines import on_engine, open_configured
    from scoring import intermediates
    from scoring.scorecard import compute

    key = default_view_key(data_as_of, settings)
    tables = Tables.from_frames(frames, derived_provenance(origin))
    # `[engine]` other than polars: the graph's nodes are built there (in the warehouse,
    # kept as tables of its work schema) and only their results come back to be stored.
    engine = open_configured(settings.engine)
    try:
        tables = on_engine(tables, engine)
        card = compute(
            tables,
            as_of=data_as_of,
            period=parse_period(
                key["period"], fiscal_start_month=settings.scoring.fiscal_start_month
            ),
            params=settings.scoring,
            decisions=view_decisions(settings.data_dir),
        ).to_dict()
        kept = intermediates.export(tables, as_of=data_as_of, timezone=settings.scoring.timezone)
    finally:
        engine.close()
    return {"params": digest(settings.scoring), **card}, kept


def refresh(
    settings: Settings,
    source: str | None = None,
    *,
    progress: Progress = no_progress,
    before_current: Callable[[Snapshot], None] | None = None,
    clock: Callable[[], datetime] | None = None,
    **options: Any,
) -> RefreshResult:
    """Pull `source`, validate, store a new snapshot atomically and apply retention (the one
    place it is applied, `Store.apply_retention`; ages are judged at `clock()`, default now).

    `before_current` runs once the snapshot is stored and before it becomes current (the
    refresh job records the run there, so a snapshot is never current without its run).

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
    progress("Computing the scorecard", 0.7)
    try:
        card, derived = default_scorecard(
            validated.frames, settings, pulled.data_as_of, pulled.detail.get("origin")
        )
        artifacts = {SCORECARD_FILE: json.dumps(card, default=str)}
    except Exception as exc:  # a precompute is an optimization: never fail a refresh on it
        warnings.append(f"scorecard not precomputed ({type(exc).__name__}: {exc})")
        artifacts, derived = {}, []
    progress("Writing the snapshot", 0.8)
    store = Store(settings.data_dir, mode=settings.store_mode)
    snapshot = store.write(
        validated.frames,
        source=name,
        data_as_of=pulled.data_as_of,
        extra={
            "warnings": warnings,
            "detail": pulled.detail,
            "pull_seconds": round(time.perf_counter() - started, 3),
        },
        artifacts=artifacts,
        intermediates=derived,
        before_current=before_current,
    )
    try:  # the snapshot is current and its run recorded: retention failing fails nothing
        deleted = store.apply_retention(
            keep=settings.keep_snapshots,
            max_age_days=settings.max_age_days,
            now=clock() if clock is not None else None,
        )
    except OSError as exc:
        warnings.append(
            f"old snapshots not deleted ({exc.strerror or exc}); the next refresh retries"
        )
        deleted = []
    progress("Done", 1.0)
    return RefreshResult(snapshot, time.perf_counter() - started, warnings, deleted)
