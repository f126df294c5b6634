"""The registry of data sources a refresh can pull from.

A source is a function ``pull(settings, progress, **options) -> Pulled`` returning raw
canonical-shaped frames; the refresh validates and stores them. Sources are imported lazily
so that a source's optional dependencies are only needed when it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import polars as pl

from connectors.config import Settings

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


class Source(Protocol):
    def __call__(self, settings: Settings, progress: Progress, **options: Any) -> Pulled: ...


def pull_demo(settings: Settings, progress: Progress, **options: Any) -> Pulled:
    """The embedded demo org (no credentials needed)."""
    from connectors.demo import generate_demo_org

    as_of: date = options.get("as_of") or settings.demo.as_of or date.today()
    seed = int(options.get("seed") or settings.demo.seed)
    progress(f"Generating the demo org (seed {seed}, as of {as_of})", 0.1)
    frames = generate_demo_org(
        as_of=as_of, seed=seed, quarters=settings.demo.quarters, scale=settings.demo.scale
    )
    return Pulled(frames=frames, data_as_of=as_of, detail={"seed": seed})


def _lazy(module: str, attribute: str = "pull") -> Source:
    """A source whose module is imported only when it is used."""

    def pull(settings: Settings, progress: Progress, **options: Any) -> Pulled:
        import importlib

        return getattr(importlib.import_module(module), attribute)(settings, progress, **options)

    pull.__doc__ = f"{module}.{attribute}"
    return pull


SOURCES: dict[str, Source] = {
    "demo": pull_demo,
    "files": _lazy("connectors.files"),
    "salesforce": _lazy("connectors.salesforce"),
    "hubspot": _lazy("connectors.hubspot"),
}
