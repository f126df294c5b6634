"""The metric results pages can ask for, by name: thin adapters from a view to `scoring/`.

Each entry takes the (team-filtered) tables, a `MetricContext` and keyword options, and
returns a frame. Pages call them through `pages._data.metric`, which caches by scalars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from model.calendar import Calendar, Period
from model.params import ScoringParams
from model.tables import Tables
from scoring import (
    call,
    changes,
    deal,
    forecast,
    funnel,
    pipeline,
    quality,
    reconcile,
    risk,
    sourcing,
    stages,
)


@dataclass(frozen=True)
class MetricContext:
    """The dates and settings of a view."""

    as_of: date
    period: Period
    params: ScoringParams

    @property
    def tz(self) -> str:
        return self.params.timezone

    @property
    def calendar(self) -> Calendar:
        return self.params.calendar

    @property
    def judged(self) -> Period:
        """The quarter the forecast metrics judge (`Calendar.judged`: the selected quarter
        when it is complete by the end of as-of, else the latest complete one; for a longer
        period the latest complete quarter ending inside it)."""
        return self.calendar.judged(self.period, self.as_of)

    @property
    def quarter(self) -> Period:
        """The selected quarter, or for a longer period the quarter holding its last day
        (or as-of, when that is earlier): where quarter-based series end."""
        if self.period.is_quarter:
            return self.period
        return self.calendar.quarter_of(min(self.period.last_day, self.as_of))

    @property
    def call_quarter(self) -> Period:
        """The quarter of the call: the one containing the as-of date, whatever the period."""
        return call.call_period(self.as_of, self.calendar)

    def recent(self, n: int = 4) -> list[Period]:
        """`n` periods ending with the selected one, oldest first (for a custom, ttm or all
        period, ranges of equal length)."""
        return self.calendar.trailing(self.period, n)

    def recent_quarters(self, n: int = 4) -> list[Period]:
        """`n` quarters ending with `quarter`, oldest first (forecasts are made per quarter)."""
        return self.calendar.trailing(self.quarter, n)


Metric = Callable[..., pl.DataFrame]


def _spells(t: Tables, c: MetricContext) -> pl.DataFrame:
    return stages.stage_spells(t, as_of=c.as_of, timezone=c.tz)


def _stalled(t: Tables, c: MetricContext) -> pl.DataFrame:
    fsm = c.params.fiscal_start_month
    return stages.stalled_deals(
        t, as_of=c.as_of, params=c.params.stall, fiscal_start_month=fsm, timezone=c.tz
    )


def _stall_thresholds(t: Tables, c: MetricContext) -> pl.DataFrame:
    """The company's thresholds, which a team's view judges its deals by too."""
    fsm, company = c.params.fiscal_start_month, t.company
    return stages.stall_thresholds(
        _spells(company, c), tables=company, as_of=c.as_of, params=c.params.stall,
        fiscal_start_month=fsm, timezone=c.tz,
    )  # fmt: skip


def _stalls_by_team(t: Tables, c: MetricContext) -> pl.DataFrame:
    """Stalls per team and stage, compared with the whole company's."""
    company = None if t.company is t else (_stalled(t.company, c), _spells(t.company, c))
    return stages.stalls_by_team(_stalled(t, c), _spells(t, c), company=company)


def _quality_rows(t: Tables, c: MetricContext, *, check_id: str) -> pl.DataFrame:
    return quality.quality_check_rows(t, as_of=c.as_of, check_id=check_id)


def _conversion(t: Tables, c: MetricContext, *, by: tuple[str, ...] = ()) -> pl.DataFrame:
    return funnel.conversion(t, period=c.period, as_of=c.as_of, by=by, timezone=c.tz)


def _conversion_leads(
    t: Tables, c: MetricContext, *, step: str | None = None, group: tuple[Any, ...] | None = None
) -> pl.DataFrame:
    kwargs: dict[str, Any] = {"step": step}
    if group:
        kwargs["group"] = dict(group)
    return funnel.conversion_leads(t, period=c.period, as_of=c.as_of, timezone=c.tz, **kwargs)


METRICS: dict[str, Metric] = {
    # pipeline flow
    "spells": _spells,
    "days_in_stage": lambda t, c, by=("stage", "team"): stages.days_in_stage_distribution(
        _spells(t, c), by=by
    ),
    "stall_thresholds": _stall_thresholds,
    "stalled_deals": _stalled,
    "stalls_by_team": _stalls_by_team,
    "handoff_stalls": lambda t, c: stages.handoff_stalls_by_team(_stalled(t, c), _spells(t, c)),
    "waterfall": lambda t, c, by=("team",): pipeline.pipeline_waterfall(
        t, period=c.period, as_of=c.as_of, params=c.params.pipeline, by=by, timezone=c.tz
    ),
    "waterfall_rows": lambda t, c: pipeline.waterfall_rows(
        t, period=c.period, as_of=c.as_of, params=c.params.pipeline, timezone=c.tz
    ),
    "win_rate": lambda t, c: pipeline.win_rate(t, period=c.period, as_of=c.as_of, timezone=c.tz),
    "closed_deals": lambda t, c: pipeline.closed_deals(
        t, period=c.period, timezone=c.tz, as_of=c.as_of
    ),
    "sales_cycle": lambda t, c: pipeline.sales_cycle(
        t, period=c.period, timezone=c.tz, as_of=c.as_of
    ),
    "coverage": lambda t, c: pipeline.coverage(
        t, period=c.period, as_of=c.as_of, params=c.params.pipeline, timezone=c.tz
    ),
    "open_pipeline": lambda t, c: pipeline.open_pipeline_rows(
        t, period=c.period, as_of=c.as_of, params=c.params.pipeline, timezone=c.tz
    ),
    "velocity": lambda t, c: pipeline.velocity(
        t, period=c.period, as_of=c.as_of, params=c.params.pipeline, timezone=c.tz
    ),
    # handoffs
    "conversion": _conversion,
    "conversion_leads": _conversion_leads,
    "conversion_compare": lambda t, c: funnel.conversion_compare(
        t, period=c.period, as_of=c.as_of, timezone=c.tz
    ),
    "funnel_skip_rate": lambda t, c: funnel.funnel_skip_rate(t, as_of=c.as_of, timezone=c.tz),
    "follow_up_sla": lambda t, c, by=("source",): funnel.follow_up_sla(
        t, period=c.period, as_of=c.as_of, params=c.params.funnel, by=by, timezone=c.tz
    ),
    "follow_up_sla_leads": lambda t, c, team=None: funnel.follow_up_sla_leads(
        t, period=c.period, as_of=c.as_of, params=c.params.funnel, timezone=c.tz, team=team
    ),
    "leakage": lambda t, c, by=("source", "team"): funnel.leakage(
        t, period=c.period, as_of=c.as_of, params=c.params.funnel, by=by, timezone=c.tz
    ),
    "leakage_leads": lambda t, c, team=None: funnel.leakage_leads(
        t, period=c.period, as_of=c.as_of, params=c.params.funnel, timezone=c.tz, team=team
    ),
    "bounce_backs": lambda t, c, by=("team", "source"): funnel.bounce_backs(
        t, period=c.period, as_of=c.as_of, params=c.params.funnel, by=by, timezone=c.tz
    ),
    "bounce_back_leads": lambda t, c, team=None: funnel.bounce_back_leads(
        t, period=c.period, as_of=c.as_of, params=c.params.funnel, timezone=c.tz, team=team
    ),
    "ownership_by_team": lambda t, c: funnel.ownership_by_team(
        t, period=c.period, as_of=c.as_of, params=c.params.funnel, timezone=c.tz
    ),
    "goal_conflict": lambda t, c: funnel.goal_conflict(
        t, periods=c.recent_quarters(4), as_of=c.as_of, timezone=c.tz
    ),
    # forecast
    "forecast_variance": lambda t, c: forecast.forecast_variance(
        t, periods=c.recent_quarters(4), as_of=c.as_of, params=c.params.forecast, timezone=c.tz
    ),
    "forecast_accuracy": lambda t, c: forecast.forecast_accuracy(
        t, periods=c.recent_quarters(8), as_of=c.as_of, params=c.params.forecast, timezone=c.tz
    ),
    "wape": lambda t, c: forecast.wape(
        t, periods=c.recent_quarters(8), as_of=c.as_of, params=c.params.forecast, timezone=c.tz
    ),
    "forecast_trend": lambda t, c: forecast.forecast_trend(
        t, periods=c.recent_quarters(8), as_of=c.as_of, params=c.params.forecast, timezone=c.tz
    ),
    "actuals": lambda t, c: forecast.actuals(
        t, periods=c.recent_quarters(4), as_of=c.as_of, timezone=c.tz
    ),
    "slipped_deals": lambda t, c: forecast.slipped_deals(
        t, period=c.judged, as_of=c.as_of, timezone=c.tz
    ),
    "slip_summary": lambda t, c: forecast.slip_summary(
        t, period=c.judged, as_of=c.as_of, timezone=c.tz
    ),
    "late_risk": lambda t, c: forecast.late_risk(
        t, period=c.judged, as_of=c.as_of, params=c.params.forecast, timezone=c.tz
    ),
    "late_risk_summary": lambda t, c: forecast.late_risk_summary(
        t, period=c.judged, as_of=c.as_of, params=c.params.forecast, timezone=c.tz
    ),
    "forecast_miss": lambda t, c: forecast.forecast_miss_decomposition(
        t, period=c.judged, as_of=c.as_of, params=c.params.forecast, timezone=c.tz
    ),
    "forecast_miss_deals": lambda t, c: forecast.forecast_miss_deals(
        t, period=c.judged, as_of=c.as_of, params=c.params.forecast, timezone=c.tz
    ),
    # this quarter's call (the quarter containing as-of)
    "call": lambda t, c: call.call(
        t, as_of=c.as_of, params=c.params.forecast, calendar=c.calendar, period=c.call_quarter
    ),
    "call_deals": lambda t, c: call.call_deals(
        t, as_of=c.as_of, calendar=c.calendar, period=c.call_quarter
    ),
    "call_submissions": lambda t, c: call.submissions(
        t, as_of=c.as_of, params=c.params.forecast, calendar=c.calendar, period=c.call_quarter
    ),
    "call_adjustments": lambda t, c: call.manager_adjustments(
        t, as_of=c.as_of, calendar=c.calendar, period=c.call_quarter
    ),
    "call_trend": lambda t, c: call.call_trend(
        t, as_of=c.as_of, calendar=c.calendar, period=c.call_quarter
    ),
    # campaigns & sourcing
    "sourced_pipeline": lambda t, c, by=("sourced_by",): sourcing.sourced_pipeline(
        t, period=c.period, as_of=c.as_of, by=by, timezone=c.tz
    ),
    "sourced_pipeline_opps": lambda t, c: sourcing.sourced_pipeline_opps(
        t, period=c.period, as_of=c.as_of, timezone=c.tz
    ),
    "campaign_funnel": lambda t, c: sourcing.campaign_funnel(
        t, period=c.period, as_of=c.as_of, timezone=c.tz
    ),
    "campaign_funnel_leads": lambda t, c: sourcing.campaign_funnel_leads(
        t, period=c.period, as_of=c.as_of, timezone=c.tz
    ),
    # data trust
    "reconciliations": lambda t, c: reconcile.reconciliations(
        t, period=c.period, as_of=c.as_of, params=c.params
    ),
    "marketing_sourced_rows": lambda t, c: (
        reconcile.marketing_sourced_pipeline(
            t, period=c.period, as_of=c.as_of, params=c.params
        ).rows
    ),
    "converted_rows": lambda t, c: (
        reconcile.converted_leads_vs_opportunities(
            t, period=c.period, as_of=c.as_of, params=c.params
        ).rows
    ),
    "win_rate_variants": lambda t, c: reconcile.win_rate_variants(
        t, period=c.period, params=c.params
    ),
    "quality_checks": lambda t, c: quality.quality_checks(t, as_of=c.as_of),
    "quality_check_rows": _quality_rows,
    "stage_trust_kpis": lambda t, c: stages.stage_trust_kpis(t, as_of=c.as_of, timezone=c.tz),
    "stage_trust_flags": lambda t, c: stages.stage_trust_flags(t, as_of=c.as_of, timezone=c.tz),
    # one deal (the deal page) and the deal columns of deal tables: on the whole company, so
    # a deal is found and scored the same whatever teams the view shows
    "deal_marks": lambda t, c, since: deal.deal_marks(
        t.company,
        since=date.fromisoformat(since),
        until=c.as_of,
        calendar=c.calendar,
        risk=c.params.risk,
    ),
    "deal_summary": lambda t, c, deal_id: deal.deal_summary(
        t.company, deal_id, as_of=c.as_of, calendar=c.calendar
    ),
    "deal_timeline": lambda t, c, deal_id: deal.deal_timeline(
        t.company, deal_id, as_of=c.as_of, calendar=c.calendar
    ),
    "deal_history": lambda t, c, deal_id: deal.deal_history(
        t.company, deal_id, as_of=c.as_of, calendar=c.calendar
    ),
    "deal_changes": lambda t, c, since: changes.deal_changes(
        t.company, since=date.fromisoformat(since), until=c.as_of, calendar=c.calendar
    ),
    "deal_risk": lambda t, c: risk.deal_risk(
        t.company, as_of=c.as_of, params=c.params.risk, timezone=c.tz
    ),
    "find_deals": lambda t, c, query: deal.find_deals(t.company, query),
    "freshness": lambda t, c, refreshed_at=None: quality.freshness(
        t,
        as_of=c.as_of,
        refreshed_at=datetime.fromisoformat(refreshed_at) if refreshed_at else None,
        timezone=c.tz,
    ),
}
