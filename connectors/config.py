"""Configuration: `scorecard.toml` read once into a typed `Settings`; secrets from the environment.

`.env` is loaded with python-dotenv (it never overrides variables already set). Only
``SCORECARD_*`` variables and source credentials are read from the environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from scoring.params import (
    ForecastParams,
    FunnelParams,
    PipelineParams,
    ScoreParams,
    ScoringParams,
    StallParams,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "scorecard.toml"


class ConfigError(ValueError):
    """`scorecard.toml` is unreadable or holds a value of the wrong kind."""


@dataclass(frozen=True)
class DemoSettings:
    seed: int = 7
    quarters: int = 8
    scale: float = 1.0
    as_of: date | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the refresh command and the app read from configuration."""

    data_dir: Path
    config_path: Path | None = None
    default_source: str = "demo"
    keep_snapshots: int = 30
    max_age_days: int | None = 400
    demo: DemoSettings = field(default_factory=DemoSettings)
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    scoring: ScoringParams = field(default_factory=ScoringParams)


def _section(raw: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    node: Any = raw
    for key in keys:
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
    if not isinstance(node, Mapping):
        raise ConfigError(f"[{'.'.join(keys)}] must be a table")
    return dict(node)


def _scoring(raw: Mapping[str, Any]) -> ScoringParams:
    stalls = _section(raw, "stalls")
    funnel = _section(raw, "funnel")
    calendar = _section(raw, "calendar")
    try:
        return ScoringParams(
            fiscal_start_month=int(calendar.get("fiscal_start_month", 1)),
            timezone=str(calendar.get("timezone", "UTC")),
            stall=StallParams(
                thresholds_days={k: float(v) for k, v in stalls.pop("thresholds_days", {}).items()},
                **stalls,
            ),
            funnel=FunnelParams(
                sla_hours=float(funnel.get("sla_hours", 24)),
                sla_hours_by_source={
                    k: float(v) for k, v in funnel.get("sla_hours_by_source", {}).items()
                },
                recycle_statuses=tuple(funnel.get("recycle_statuses", ("Recycled", "Nurture"))),
                sales_statuses=tuple(
                    funnel.get("sales_statuses", ("Working", "Accepted", "Qualified"))
                ),
            ),
            forecast=ForecastParams(**_section(raw, "forecast")),
            pipeline=PipelineParams(**_section(raw, "pipeline")),
            score=ScoreParams(
                weights=_section(raw, "score", "weights") or ScoreParams().weights,
                scales={k: tuple(v) for k, v in _section(raw, "score", "scales").items()},
            ),
        )
    except TypeError as exc:  # an unknown key in a section
        raise ConfigError(f"scorecard.toml: {exc}") from exc


def load_settings(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read `scorecard.toml` (or `path`) and the environment into `Settings`.

    ``SCORECARD_CONFIG`` names another config file; ``SCORECARD_DATA_DIR`` overrides
    ``[store].data_dir``. A missing config file gives the defaults.
    """
    if environ is None:
        load_dotenv(PROJECT_ROOT / ".env", override=False)
        environ = os.environ
    config_path = Path(path or environ.get("SCORECARD_CONFIG") or DEFAULT_CONFIG)
    raw: dict[str, Any] = {}
    if config_path.exists():
        try:
            raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: {exc}") from exc
    store = _section(raw, "store")
    data_dir = Path(environ.get("SCORECARD_DATA_DIR") or store.get("data_dir", "data"))
    if not data_dir.is_absolute():
        data_dir = (config_path.parent if config_path.exists() else Path.cwd()) / data_dir
    sources = _section(raw, "sources")
    demo = dict(sources.get("demo", {}))
    as_of = demo.pop("as_of", None)
    return Settings(
        data_dir=data_dir,
        config_path=config_path if config_path.exists() else None,
        default_source=str(sources.get("default", "demo")),
        keep_snapshots=int(store.get("keep_snapshots", 30)),
        max_age_days=store.get("max_age_days", 400),
        demo=DemoSettings(
            as_of=date.fromisoformat(str(as_of)) if as_of else None,
            **{k: demo[k] for k in ("seed", "quarters", "scale") if k in demo},
        ),
        sources={k: v for k, v in sources.items() if isinstance(v, Mapping)},
        scoring=_scoring(raw),
    )
