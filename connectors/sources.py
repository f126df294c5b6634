"""The registry of data sources a refresh can pull from.

A source is a function ``pull(settings, progress, **options) -> Pulled`` returning raw
canonical-shaped frames; the refresh validates and stores them. Sources are imported lazily
so that a source's optional dependencies are only needed when it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
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
}
