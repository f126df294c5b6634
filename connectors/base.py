"""What every source shares: the `Pulled` frames it returns, progress reporting, the
last snapshot an incremental source merges into (`LastPull`), the configuration a source
reads (`SourceSettings`) and the `RefreshError` a source raises.

A source is a function ``pull(settings, progress, **options) -> Pulled`` returning raw
canonical-shaped frames; the refresh (ops/refresh.py) validates and stores them. A source
knows its own system and the canonical schema (model/), nothing about storage, metrics or
orchestration: what it needs of those is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from model.params import ScoringParams
from model.schema import FUNCTIONS, SOURCED_BY


class RefreshError(RuntimeError):
    """A refresh failed; the previous snapshot is still current."""


class SourceSettings(Protocol):
    """What a source reads of the configuration (`ops.config.Settings` provides it): its own
    ``[sources.<name>]`` table, the file relative paths start from, and the reporting
    calendar in the scoring parameters."""

    @property
    def sources(self) -> Mapping[str, Mapping[str, Any]]: ...

    @property
    def config_path(self) -> Path | None: ...

    @property
    def scoring(self) -> ScoringParams: ...


Progress = Callable[[str, float], None]


def no_progress(message: str, fraction: float) -> None:
    """A progress callback that reports nothing."""


@dataclass
class Pulled:
    """What a source returns: frames by canonical table name and the date the data is as of."""

    frames: dict[str, pl.DataFrame]
    data_as_of: date
    detail: dict[str, Any] = field(default_factory=dict)


# The dates at which something happened, by table: the data is as of the latest of them.
# A close date counts only for a closed deal (an open deal's is a plan, not an event).
EVENT_DATES: dict[str, tuple[str, ...]] = {
    "opportunities": ("created_at", "close_date"),
    "stage_history": ("entered_at",),
    "leads": ("created_at", "converted_at"),
    "lead_history": ("entered_at",),
    "campaign_members": ("responded_at",),
    "forecasts": ("submitted_at",),
}


def latest_event(frames: Mapping[str, pl.DataFrame], timezone: str,
                 today: date | None = None) -> tuple[date, str] | None:  # fmt: skip
    """The latest event date in the data (in `timezone`), never after `today` (the machine's
    clock), and where it comes from; None when the data holds no dates.

    A source without a clock of its own (an export, read any day later) is as of this date,
    so an export of 2017 shows 2017's quarters rather than the day it was unzipped."""
    today = today or datetime.now().astimezone().date()
    found: list[tuple[date, str]] = []
    for table, columns in EVENT_DATES.items():
        frame = frames.get(table)
        for column in columns:
            if frame is None or column not in frame.columns:
                continue
            col = pl.col(column)
            if isinstance(frame.schema[column], pl.Datetime):
                col = col.dt.convert_time_zone(timezone).dt.date()
            elif frame.schema[column] != pl.Date:
                continue
            if column == "close_date" and "is_closed" in frame.columns:
                col = col.filter(pl.col("is_closed").fill_null(False))
            latest = frame.select(col.max()).item()
            if latest is not None:
                found.append((latest, f"{table}.{column}"))
    if not found:
        return None
    latest, where = max(found)
    if latest > today:
        return today, f"today: the latest event date in the data ({where}, {latest}) is later"
    return latest, f"the latest event date in the data, {where}"


@dataclass(frozen=True)
class LastPull:
    """The current snapshot as an incremental source sees it: which source wrote it, the
    detail that source recorded (watermarks, mapping fingerprint...), and its tables, read
    only when the pull is incremental."""

    source: str
    detail: Mapping[str, Any]
    read_all: Callable[[], dict[str, pl.DataFrame]]


class Source(Protocol):
    def __call__(self, settings: SourceSettings, progress: Progress, **options: Any) -> Pulled: ...


def roles_problem(
    functions: Mapping[str, str],
    stage_owners: Mapping[str, str],
    default_function: str,
    sourced_by_lead_source: Mapping[str, str],
) -> str | None:
    """What is wrong with a CRM mapping's functions (roles and stage owners → sales, marketing,
    ...) and sourced-by rules, or None; shared by the Salesforce and HubSpot mappings."""
    wrong = {k: v for k, v in {**functions, **stage_owners}.items() if v not in FUNCTIONS}
    if wrong or default_function not in FUNCTIONS:
        return f"functions must be one of {FUNCTIONS}; got {wrong or default_function}"
    if any(v not in SOURCED_BY for v in sourced_by_lead_source.values()):
        return f"sourced_by_rules values must be one of {SOURCED_BY}"
    return None
