"""Scoring parameters: thresholds, SLAs and weights, with documented defaults.

Read from ``scorecard.toml`` by `ops.config`; scoring only receives this object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date
from types import MappingProxyType

from model.calendar import Calendar


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
    # A team's (or rep's) latest submission older than this many days at as-of is "stale"
    # (HubSpot: "submission not updated").
    stale_days: int = 7


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
class RiskParams:
    """Points of each named reason in the deal risk score (`scoring.risk`; 0–100, capped).

    Defaults are round numbers a sales leader can reason about, checked on the demo org's
    closed deals (`python -m ops risk --evaluate`); recalibrate them on your own.
    """

    # Age in the current stage against the company median of finished spells in that stage
    # (trailing 12 months): from `stage_age_min_ratio`× the median, (ratio − 1) ×
    # `stage_age_points` points, at most `stage_age_max`.
    stage_age_min_ratio: float = 1.5
    stage_age_points: float = 20.0
    stage_age_max: float = 40.0
    # Close-date pushes (a later close date than the row before): per push and per day pushed.
    push_points: float = 10.0
    push_day_points: float = 0.2
    push_max: float = 40.0
    # A forecast category lowered (e.g. commit → best case) within `downgrade_days` of the
    # close date the deal had then.
    downgrade_points: float = 15.0
    downgrade_days: int = 30
    # Amount cut from the highest amount the deal had: share cut × `amount_cut_points`, from a
    # cut of `amount_cut_min` on, at most `amount_cut_max`.
    amount_cut_min: float = 0.10
    amount_cut_points: float = 50.0
    amount_cut_max: float = 20.0
    # A close date already in the past: `past_close_points` plus per day past, at most the max.
    past_close_points: float = 20.0
    past_close_day_points: float = 1.0
    past_close_max: float = 40.0
    # No change at all (stage, amount, close date, category) for `idle_days` or more.
    idle_days: int = 30
    idle_points: float = 10.0
    # The calibration (`evaluate_risk`) needs this many won and this many lost deals.
    min_closed: int = 10


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
    risk: RiskParams = field(default_factory=RiskParams)

    @property
    def calendar(self) -> Calendar:
        """The reporting calendar (time zone and fiscal year) these settings describe."""
        return Calendar(self.timezone, self.fiscal_start_month)


def digest(params: object) -> str:
    """A stable fingerprint of settings (any frozen dataclass of them): equal settings give
    equal digests however they were written (`30` and `30.0`, mapping order), so a stored
    result is found again after a restart and not used for other settings."""
    text = json.dumps(_plain(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        plain = {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
        return {"__type__": type(value).__name__, **plain}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)
