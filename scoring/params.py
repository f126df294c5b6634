"""Scoring parameters: thresholds, SLAs and weights, with documented defaults.

Read from ``scorecard.toml`` by `connectors.config`; scoring only receives this object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from scoring.calendar import Calendar


def _frozen(d: Mapping[str, float] | None = None) -> Mapping[str, float]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class StallParams:
    """When a deal counts as stalled.

    Default threshold per stage: p75 of days-in-stage of won deals over the trailing
    `lookback_quarters`; `thresholds_days` overrides it per stage; `fallback_days` applies
    where fewer than `min_won_samples` won deals passed through the stage.
    """

    thresholds_days: Mapping[str, float] = field(default_factory=_frozen)
    lookback_quarters: int = 4
    quantile: float = 0.75
    min_won_samples: int = 5
    fallback_days: float = 30.0


@dataclass(frozen=True)
class FunnelParams:
    """Demand-funnel settings: follow-up SLA and which lead statuses mean "back to marketing"."""

    sla_hours: float = 24.0
    sla_hours_by_source: Mapping[str, float] = field(default_factory=_frozen)
    recycle_statuses: tuple[str, ...] = ("Recycled", "Nurture")
    sales_statuses: tuple[str, ...] = ("Working", "Accepted", "Qualified")


@dataclass(frozen=True)
class ForecastParams:
    """Forecast judging: the category compared to actuals and the default lock week."""

    category: str = "commit"
    lock_week: int = 3
    late_days: int = 14  # bad news within this many days of period end counts as late
    # A team whose locked call is off by more than this share of what closed (|bias| > band)
    # "misses"; the company roll-up reports how much of the closed amount sits in such teams.
    miss_band: float = 0.10


@dataclass(frozen=True)
class PipelineParams:
    """Pipeline health: the first stage position that counts as qualified pipeline."""

    qualified_from_position: int = 2


@dataclass(frozen=True)
class ScoreParams:
    """Pillar weights, and per-signal scales overriding the defaults in `scoring.pillars`:
    ``{signal_id: (worst, best)}`` — the value scoring 0 and the value scoring 100."""

    scales: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    weights: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {
                "shared_outcomes": 1.0,
                "shared_data": 1.0,
                "handoff_ownership": 1.0,
                "forecast_integrity": 1.0,
            }
        )
    )


@dataclass(frozen=True)
class ScoringParams:
    """Everything scoring needs besides the data and the as-of date."""

    fiscal_start_month: int = 1
    timezone: str = "UTC"
    stall: StallParams = field(default_factory=StallParams)
    funnel: FunnelParams = field(default_factory=FunnelParams)
    forecast: ForecastParams = field(default_factory=ForecastParams)
    pipeline: PipelineParams = field(default_factory=PipelineParams)
    score: ScoreParams = field(default_factory=ScoreParams)

    @property
    def calendar(self) -> Calendar:
        """The reporting calendar (time zone and fiscal year) these settings describe."""
        return Calendar(self.timezone, self.fiscal_start_month)
