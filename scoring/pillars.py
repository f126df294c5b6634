"""The four pillars: which signals feed each, how they are scaled, and the drivers they yield.

Each pillar function reads the scoring modules' results for one `Context` and returns the
pillar's signals and candidate drivers. Driver severities are on a common 0–1 footing
(roughly: how far the subject is from the rest of the company, as a share) so the top
drivers across pillars can be compared.

**Measured or not measured.** Each signal declares, in `NEEDS`, the inputs it needs *with
data* (not just the table: a lead with a recorded first touch, a stage history the source
recorded rather than one the connector derived, forecasts, closed deals of both outcomes...).
Without them the signal is "not measured" with the reason, has no score and is left out of
its pillar, instead of scoring 0 or 100 from nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from functools import cached_property

import polars as pl

from model.calendar import Calendar, Period, previous
from model.params import ScoringParams
from model.tables import ALL_TEAMS, ENGINE, Tables
from scoring import forecast, funnel, pipeline, quality, reconcile, stages
from scoring.decisions import decisions_kept
from scoring.model import Driver, PillarScore, Scale, Signal, money, not_measured, pct

# Default scales (worst → 0, best → 100); `[score.scales]` in scorecard.toml overrides them.
DEFAULT_SCALES: dict[str, Scale] = {
    "follow_up_sla": Scale(0.50, 0.95),
    "leakage": Scale(0.20, 0.0),
    "stalled_share": Scale(0.50, 0.10),
    "handoff_stall": Scale(0.50, 0.05),
    "bounce_back_rate": Scale(0.25, 0.0),
    "forecast_bias": Scale(0.30, 0.03),
    "wape": Scale(0.40, 0.05),
    "slip_rate": Scale(0.50, 0.10),
    "late_risk_share": Scale(0.70, 0.10),
    "sourced_pipeline_disagreement": Scale(0.30, 0.0),
    "data_quality_score": Scale(0.0, 100.0),
    "stale_close_dates": Scale(0.30, 0.0),
    "stage_skip_rate": Scale(0.40, 0.0),
    "goal_conflict": Scale(0.50, 0.0),
    "coverage_vs_required": Scale(0.25, 1.0),
    "win_rate": Scale(0.10, 0.40),
    "decisions_kept": Scale(0.40, 0.90),
}


@dataclass(frozen=True)
class Evidence:
    """What the data holds, beyond which tables exist: one yes/no per input a signal may need.

    Read from the whole tables bundle (not the view's period): it tells what the source
    records at all, so a quarter with no activity is still measured (and honestly 0).
    """

    mql_dates: bool  # some lead has a recorded MQL time
    touches: bool  # some lead has a recorded first touch or SAL time (never a back-filled one)
    sal_dates: bool  # some lead has a recorded SAL time
    lead_history: bool  # lead status history rows
    campaign_responses: bool  # campaign members and leads converted to opportunities
    sourced_labels: bool  # some opportunity says who sourced it
    opportunities: bool
    open_deals: bool
    won_deals: bool
    lost_deals: bool
    recorded_stage_history: bool  # the source's own stage history, not one the connector derived
    close_date_history: bool  # ... that records close dates
    change_history: bool  # ... with more than one row for some deal (it records changes)
    forecasts: bool
    quotas: bool


def evidence(tables: Tables) -> Evidence:
    """One small aggregate per table: which of the inputs in `Evidence` the data holds."""

    def any_(expr: pl.Expr) -> pl.Expr:
        return expr.any().fill_null(False)

    def rows(name: str, alias: str) -> pl.LazyFrame:
        return tables.frames[name].select((pl.len() > 0).alias(alias))

    leads = tables.leads.select(
        mql_dates=any_(pl.col("mql_at").is_not_null()),
        touches=any_(pl.col("first_touch_at").is_not_null() | pl.col("sal_at").is_not_null()),
        sal_dates=any_(pl.col("sal_at").is_not_null()),
        converted=any_(pl.col("converted_opp_id").is_not_null()),
    )
    opps = tables.opportunities.select(
        opportunities=pl.len() > 0,
        open_deals=any_(~pl.col("is_closed")),
        won_deals=any_(pl.col("is_closed") & pl.col("is_won")),
        lost_deals=any_(pl.col("is_closed") & ~pl.col("is_won")),
        sourced_labels=any_(pl.col("sourced_by").is_not_null()),
    )
    # A stage history the connector derived (one row per deal) records no changes.
    recorded = pl.lit(not tables.is_derived("stage_history"))
    history = tables.stage_history.select(
        recorded_stage_history=(pl.len() > 0) & recorded,
        close_date_history=any_(pl.col("close_date").is_not_null()) & recorded,
        change_history=(pl.len() > pl.col("opp_id").n_unique()) & recorded,
    )
    others = [
        rows("lead_history", "lead_history"),
        rows("campaign_members", "members"),
        rows("forecasts", "forecasts"),
        rows("quotas", "quotas"),
    ]
    every = pl.concat([leads, opps, history, *others], how="horizontal")
    row = every.collect(engine=ENGINE).row(0, named=True)
    row["campaign_responses"] = row.pop("converted") and row.pop("members")
    return Evidence(**{f.name: bool(row[f.name]) for f in fields(Evidence)})


@dataclass(frozen=True)
class Need:
    """An input a signal needs with data: `holds` reads it off the `Evidence`; `reason` says
    what is missing when it does not hold."""

    reason: str
    holds: Callable[[Evidence], bool]


MQL_DATES = Need("no lead has a recorded MQL date", lambda e: e.mql_dates)
TOUCHES = Need("no lead has a recorded first touch or SAL time", lambda e: e.touches)
SAL_DATES = Need("no lead has a recorded SAL date", lambda e: e.sal_dates)
LEAD_HISTORY = Need("the source has no lead status history", lambda e: e.lead_history)
CAMPAIGN_RESPONSES = Need("no converted lead is a campaign member", lambda e: e.campaign_responses)
SOURCED_LABELS = Need("no opportunity says who sourced it", lambda e: e.sourced_labels)
OPPORTUNITIES = Need("the source has no opportunities", lambda e: e.opportunities)
OPEN_DEALS = Need("the export has no open deals", lambda e: e.open_deals)
WON_AND_LOST = Need(
    "the export lacks closed deals of both outcomes (won and lost)",
    lambda e: e.won_deals and e.lost_deals,
)
CLOSED_DEALS = Need("the export has no closed deals", lambda e: e.won_deals or e.lost_deals)
STAGE_HISTORY = Need(
    "the source has no recorded stage history (a derived one-row-per-deal history cannot "
    "date stage changes)",
    lambda e: e.recorded_stage_history,
)
CLOSE_DATE_HISTORY = Need(
    "the stage history does not record close-date changes", lambda e: e.close_date_history
)
CHANGE_HISTORY = Need(
    "the stage history records no forecast-category or stage changes",
    lambda e: e.change_history,
)
FORECASTS = Need("the source has no forecast submissions", lambda e: e.forecasts)
QUOTAS = Need("the source has no quotas", lambda e: e.quotas)

# What each signal needs with data, next to nothing else so a reader sees it at once.
NEEDS: dict[str, tuple[Need, ...]] = {
    # handoff ownership
    "follow_up_sla": (MQL_DATES, TOUCHES),
    "leakage": (MQL_DATES, TOUCHES),
    "stalled_share": (STAGE_HISTORY, OPEN_DEALS),
    "handoff_stall": (STAGE_HISTORY, OPEN_DEALS),
    "bounce_back_rate": (LEAD_HISTORY,),
    # forecast integrity
    "forecast_bias": (FORECASTS, CLOSED_DEALS),
    "wape": (FORECASTS, CLOSED_DEALS),
    "slip_rate": (STAGE_HISTORY, CLOSE_DATE_HISTORY),
    "late_risk_share": (STAGE_HISTORY, CHANGE_HISTORY),
    "decisions_kept": (),  # the decision log, passed in: not an input of the CRM
    # shared metrics & data
    "sourced_pipeline_disagreement": (CAMPAIGN_RESPONSES, SOURCED_LABELS),
    "data_quality_score": (OPPORTUNITIES,),
    "stale_close_dates": (OPEN_DEALS,),
    "stage_skip_rate": (STAGE_HISTORY,),
    # shared outcomes
    "goal_conflict": (MQL_DATES, SAL_DATES),
    "coverage_vs_required": (QUOTAS, OPEN_DEALS, WON_AND_LOST),
    "win_rate": (WON_AND_LOST,),
}


def missing_input(found: Evidence, signal_id: str) -> str | None:
    """Why signal `signal_id` cannot be measured on data with `found` (the first need that
    fails), or None when the data holds all it needs."""
    return next((n.reason for n in NEEDS[signal_id] if not n.holds(found)), None)


def unmeasured_reason(tables: Tables, signal_id: str) -> str | None:
    """`missing_input` for a tables bundle: what pages ask before showing a count as 0."""
    return missing_input(evidence(tables), signal_id)


@dataclass(frozen=True)
class Context:
    """Everything one scorecard run judges: the data, the dates and the settings.

    `period` is the selected period (a quarter, fiscal year, custom range, ttm or all data);
    `judged` the quarter the forecast signals judge (`Calendar.judged`: the selected quarter
    when it ends by the end of `as_of`, else the latest complete quarter, inside the period
    for a longer one); `history` the four complete quarters ending with it.
    """

    tables: Tables
    as_of: date
    period: Period
    params: ScoringParams
    scales: Mapping[str, Scale]
    # The view's decisions (one row per decision, journal.current_decisions), or None when
    # the decision log was not read: "decisions kept" is then not measured.
    decisions: pl.DataFrame | None = None

    @property
    def fsm(self) -> int:
        return self.params.fiscal_start_month

    @property
    def calendar(self) -> Calendar:
        return self.params.calendar

    @property
    def judged(self) -> Period:
        return self.calendar.judged(self.period, self.as_of)

    @property
    def history(self) -> list[Period]:
        return [previous(self.judged, k, fiscal_start_month=self.fsm) for k in (3, 2, 1, 0)]

    @cached_property
    def company(self) -> Context:
        """The same run over the whole company (this one when it is not filtered to teams):
        the baseline a team's drivers are compared with."""
        if self.tables.company is self.tables:
            return self
        return Context(self.tables.company, self.as_of, self.period, self.params, self.scales)

    @property
    def company_stalls(self) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """The company's (stalled, spells) for `stages.stalls_by_team`, None when unfiltered."""
        return None if self.company is self else (self.company.stalled, self.company.spells)

    # Intermediates several pillars read, computed once per run.
    @cached_property
    def spells(self) -> pl.DataFrame:
        return stages.stage_spells(self.tables, as_of=self.as_of, timezone=self.params.timezone)

    @cached_property
    def stalled(self) -> pl.DataFrame:
        return stages.stalled_deals(
            self.tables,
            as_of=self.as_of,
            params=self.params.stall,
            fiscal_start_month=self.fsm,
            timezone=self.params.timezone,
        )

    @cached_property
    def history_accuracy(self) -> pl.DataFrame:
        """Locked-call accuracy per team × quarter of `history` (the judged one last)."""
        return forecast.forecast_accuracy(
            self.tables, periods=self.history, as_of=self.as_of, params=self.params.forecast,
            timezone=self.params.timezone,
        )  # fmt: skip

    @cached_property
    def judged_wape(self) -> pl.DataFrame:
        return forecast.wape(
            self.tables, periods=[self.judged], as_of=self.as_of, params=self.params.forecast,
            timezone=self.params.timezone,
        )  # fmt: skip

    @cached_property
    def coverage(self) -> pl.DataFrame:
        return pipeline.coverage(
            self.tables, period=self.period, as_of=self.as_of, params=self.params.pipeline,
            timezone=self.params.timezone,
        )  # fmt: skip

    @cached_property
    def evidence(self) -> Evidence:
        return evidence(self.tables)

    def signal(
        self, id: str, pillar: str, label: str, definition_id: str, value: float | None,
        unit: str, page: str, *, counts: tuple[float | None, float | None] = (None, None),
        empty: str = "nothing in this view to measure it on",
    ) -> Signal:  # fmt: skip
        """The signal, or it "not measured" with the reason: an input in `NEEDS` the data
        lacks, else `empty` when the view has nothing to measure (no value)."""
        made = Signal(id, pillar, label, definition_id, value, unit, self.scales[id], page=page,
                      numerator=counts[0], denominator=counts[1])  # fmt: skip
        reason = missing_input(self.evidence, id)
        if reason is None and (value is None or math.isnan(value)):
            reason = empty
        return made if reason is None else not_measured(made, reason)


def _value(frame: pl.DataFrame, column: str, **where: str) -> float | None:
    rows = frame.filter(**where) if where else frame
    if rows.is_empty() or rows[column][0] is None:
        return None
    return float(rows[column][0])


def _share(frame: pl.DataFrame, num: str, den: str) -> float | None:
    total = frame[den].sum() if not frame.is_empty() else 0
    return float(frame[num].sum() / total) if total else None


def _sums(frame: pl.DataFrame, num: str, den: str, **where: str) -> tuple[float, float]:
    """The numerator and denominator of a rate: `num` and `den` summed over the rows."""
    rows = frame.filter(**where) if where else frame
    return float(rows[num].sum() or 0), float(rows[den].sum() or 0)


def _top(
    drivers: list[Driver], signals: tuple[Signal, ...], ctx: Context, n: int = 3
) -> tuple[Driver, ...]:
    """The `n` most severe drivers, leaving out those of a signal the data cannot measure (a
    stall found on a derived history is no finding). What the data holds is judged on the
    whole company: a driver compares a team with the company, so it does not vanish from a
    team's view only because the view's own total is empty (a team view shows the company
    view's findings about its teams)."""
    unmeasured = {
        s.definition_id for s in signals if missing_input(ctx.company.evidence, s.id) is not None
    }
    kept = [d for d in drivers if d.definition_id not in unmeasured]
    return tuple(sorted(kept, key=lambda d: (-d.severity, d.text))[:n])


# ---------------------------------------------------------------- handoff ownership


def handoff_ownership(ctx: Context) -> PillarScore:
    """Is ownership of each handoff clear and kept? SLA, leakage, stalls, bounce-backs."""
    t, p, fp, tz = ctx.tables, ctx.period, ctx.params.funnel, ctx.params.timezone
    sla = funnel.follow_up_sla(t, period=p, as_of=ctx.as_of, params=fp, by=(), timezone=tz)
    leaks = funnel.leakage(t, period=p, as_of=ctx.as_of, params=fp, by=(), timezone=tz)
    bounces = funnel.bounce_backs(t, period=p, as_of=ctx.as_of, params=fp, by=(), timezone=tz)
    by_team = stages.stalls_by_team(ctx.stalled, ctx.spells, company=ctx.company_stalls)
    handoffs = stages.handoff_stalls_by_team(ctx.stalled, ctx.spells)
    company = by_team.filter(team=ALL_TEAMS)
    pillar = "handoff_ownership"
    no_mqls = f"no recorded MQL in {p.name} whose SLA has passed"
    no_open = "no open deal in this view"
    signals = (
        ctx.signal("follow_up_sla", pillar, "MQLs followed up within the SLA", "follow_up_sla",
                   _value(sla, "sla_compliance"), "ratio", "handoffs",
                   counts=_sums(sla, "met", "due"), empty=no_mqls),
        ctx.signal("leakage", pillar, "MQLs never touched (leakage)", "leakage",
                   _value(leaks, "leak_share"), "ratio", "handoffs",
                   counts=_sums(leaks, "leaked", "mqls"), empty=no_mqls),
        ctx.signal("stalled_share", pillar, "Open deals stalled in their stage", "stalled_deals",
                   _share(company, "stalled_count", "open_deals"), "ratio", "pipeline",
                   counts=_sums(company, "stalled_count", "open_deals"), empty=no_open),
        ctx.signal("handoff_stall", pillar, "Deals stalled at a handoff between teams",
                   "handoff_stall", _value(handoffs, "handoff_stalled_share", team=ALL_TEAMS),
                   "ratio", "pipeline", counts=_sums(handoffs, "handoff_stalled_count",
                                                     "open_handoff_deals", team=ALL_TEAMS),
                   empty="no open deal sits in a stage entered through a handoff"),
        ctx.signal("bounce_back_rate", pillar, "Leads recycled from sales back to marketing",
                   "bounce_back_rate", _value(bounces, "bounce_back_rate"), "ratio", "handoffs",
                   counts=_sums(bounces, "bounced", "leads_with_sales"),
                   empty=f"no lead was with sales in {p.name}"),
    )  # fmt: skip
    drivers = _stall_drivers(by_team) + _sla_drivers(ctx, sla)
    notes = [m for m in (funnel.funnel_status(t, "bounce_backs"),) if m]
    return PillarScore(pillar, signals, _top(drivers, signals, ctx), tuple(notes))


# A team's stalls in a stage are a finding only when they stand out from chance: at least
# this many standard errors above what the company's stalled share predicts for its open deals.
STALL_EXCESS_Z = 2.0


def _stall_excess_z() -> pl.Expr:
    """(stalled − n·p) / √(n·p·(1 − p)): how far a team's stalled count in a stage sits above
    the count the company's stalled share p predicts for its n open deals there, in standard
    errors of a binomial count. At demo volume a team-stage of 20–50 deals wanders 1.3× the
    company's median age by chance; a real pattern sits well above 2."""
    n, p = pl.col("open_deals"), pl.col("company_stalled_share")
    spread = (n * p * (1 - p)).sqrt()
    return pl.when(spread > 0).then((pl.col("stalled_count") - n * p) / spread)


def _stall_drivers(by_team: pl.DataFrame) -> list[Driver]:
    rows = by_team.filter(
        pl.col("team") != ALL_TEAMS,
        pl.col("stalled_count") >= 5,
        pl.col("age_vs_company") >= 1.3,
        _stall_excess_z() >= STALL_EXCESS_Z,
    ).rename({"company_stalled_share": "company_share"})
    return [
        Driver(
            pillar="handoff_ownership",
            text=(
                f"{r['team']}: {r['stalled_count']} deals stalled in {r['stage']} "
                f"({_stalled_amount(r)}), median age {r['age_vs_company']:.1f}× "
                f"the company median"
            ),
            severity=_stall_severity(r),
            definition_id="stalled_deals",
            subject=r["team"],
            page="pipeline",
        )
        for r in rows.iter_rows(named=True)
    ]  # fmt: skip


def _stalled_amount(row: dict) -> str:
    """ "$1.2M", "$1.2M + 3 without amount" or "3 without amount" (unknown is never $0)."""
    known = None if row["stalled_amount"] is None else money(row["stalled_amount"])
    unknown = row.get("stalled_without_amount") or 0
    parts = [p for p in (known, f"{unknown} without amount" if unknown else None) if p]
    return " + ".join(parts)


def _stall_severity(row: dict) -> float:
    """Half the excess age over the company median, plus the excess share stalled."""
    excess = (row["age_vs_company"] - 1) / 2 + row["stalled_share"] - row["company_share"]
    return min(1.0, max(0.0, excess))


def _sla_drivers(ctx: Context, overall: pl.DataFrame) -> list[Driver]:
    t, p, tz = ctx.tables, ctx.period, ctx.params.timezone
    company = _value(overall, "sla_compliance")
    if company is None:
        return []
    sla = funnel.follow_up_sla(
        t, period=p, as_of=ctx.as_of, params=ctx.params.funnel, by=("source",), timezone=tz
    )
    conv = funnel.conversion(t, period=p, as_of=ctx.as_of, by=("source",), timezone=tz).filter(
        from_step="mql"
    )
    conv_all = funnel.conversion(t, period=p, as_of=ctx.as_of, timezone=tz).filter(from_step="mql")
    rate_all = _value(conv_all, "rate")
    rows = sla.join(conv.select("source", "rate"), on="source", how="left").filter(
        pl.col("due") >= 20, pl.col("sla_compliance") < company - 0.15
    )
    hours = ctx.params.funnel.sla_hours
    return [
        Driver(
            pillar="handoff_ownership",
            text=(
                f"{r['source']}: {pct(r['sla_compliance'])} of MQLs followed up within "
                f"{hours:g} h (all channels: {pct(company)}), median wait "
                f"{r['median_hours_to_touch']:.0f} h; MQL→SAL {pct(r['rate'])} vs {pct(rate_all)}"
            ),
            severity=min(1.0, company - r["sla_compliance"]),
            definition_id="follow_up_sla",
            subject=r["source"],
            page="handoffs",
        )
        for r in rows.iter_rows(named=True)
    ]


# ---------------------------------------------------------------- forecast integrity


def forecast_integrity(ctx: Context) -> PillarScore:
    """Does bad news surface early, and do calls hold? Bias, WAPE, slippage, late risk."""
    t, fp, judged = ctx.tables, ctx.params.forecast, ctx.judged
    acc = ctx.history_accuracy
    judged_bias = acc.filter(pl.col("bias").is_not_null())["bias"].abs()
    errors = ctx.judged_wape
    tz = ctx.params.timezone
    slips = forecast.slip_summary(t, period=judged, as_of=ctx.as_of, timezone=tz)
    late = forecast.late_risk_summary(t, period=judged, as_of=ctx.as_of, params=fp, timezone=tz)
    pillar = "forecast_integrity"
    # Mean |bias| over the team-quarters judged: Σ|bias| / number of team-quarters.
    bias_counts = (float(judged_bias.sum()), float(len(judged_bias)))
    signals = (
        ctx.signal("forecast_bias", pillar, "Mean |bias| of locked calls, last 4 quarters",
                   "forecast_bias", float(judged_bias.mean()) if len(judged_bias) else None,
                   "ratio", "forecast", counts=bias_counts,
                   empty="no locked call with actuals in the last 4 quarters"),
        ctx.signal("wape", pillar, f"Forecast error across teams (WAPE), {judged.name}", "wape",
                   _value(errors, "wape"), "ratio", "forecast",
                   counts=_sums(errors, "abs_error", "actual"),
                   empty=f"no locked call with actuals in {judged.name}"),
        ctx.signal("slip_rate", pillar, f"Pipeline that slipped out of {judged.name}",
                   "slip_rate", _share(slips, "slipped_amount", "pipeline_amount"), "ratio",
                   "forecast", counts=_sums(slips, "slipped_amount", "pipeline_amount"),
                   empty=f"no open pipeline with an amount closing in {judged.name} at its start"),
        ctx.signal("late_risk_share", pillar, "Bad news on committed deals that came late",
                   "late_risk_share", _share(late, "late_count", "risk_count"), "ratio",
                   "forecast", counts=_sums(late, "late_count", "risk_count"),
                   empty=f"no committed deal went bad in {judged.name}"),
        _decisions_kept_signal(ctx, pillar),
    )  # fmt: skip
    trend = forecast.forecast_trend(t, periods=ctx.history, as_of=ctx.as_of, params=fp, timezone=tz)
    company_slips = (
        slips
        if ctx.company is ctx
        else forecast.slip_summary(ctx.company.tables, period=judged, as_of=ctx.as_of, timezone=tz)
    )
    drivers = (
        _bias_drivers(ctx, trend, late)
        + _offsetting_drivers(ctx, errors)
        + _slip_drivers(slips, judged, company_slips)
    )
    notes = [m for m in (forecast.forecast_status(t),) if m]
    return PillarScore(pillar, signals, _top(drivers, signals, ctx), tuple(notes))


def _decisions_kept_signal(ctx: Context, pillar: str) -> Signal:
    """Decisions kept: of the review's decisions judged by the as-of day, the share closed on
    time and never reversed (scoring.decisions); not measured until the log has one."""
    label = "Decisions closed on time and not reversed"
    if ctx.decisions is None:
        made = ctx.signal("decisions_kept", pillar, label, "decisions_kept", None, "ratio",
                          "decisions")  # fmt: skip
        return not_measured(made, "the decision log was not read for this scorecard")
    kept = decisions_kept(ctx.decisions, as_of=ctx.as_of)
    n_kept, judged = float(kept["kept"].sum()), float(kept["judged"].sum())
    return ctx.signal(
        "decisions_kept", pillar, label, "decisions_kept", n_kept / judged if judged else None,
        "ratio", "decisions", counts=(n_kept, judged),
        empty="no decision in the decision log is due, closed or reversed yet",
    )  # fmt: skip


def _bias_drivers(ctx: Context, trend: pl.DataFrame, late: pl.DataFrame) -> list[Driver]:
    rows = trend.filter(pl.col("pattern").is_in(["sandbagging", "over_forecasting"])).join(
        late.select("team", "late_count"), on="team", how="left"
    )
    week = ctx.params.forecast.lock_week
    out = []
    for r in rows.iter_rows(named=True):
        low = r["pattern"] == "sandbagging"
        n = r["periods_under"] if low else r["periods_over"]
        text = (
            f"{r['team']} forecasts {'low' if low else 'high'}: its week-{week} "
            f"{ctx.params.forecast.category} was {pct(abs(r['mean_bias']))} "
            f"{'below' if low else 'above'} what closed, in {n} of {r['periods_judged']} quarters"
        )
        if not low and r["late_count"]:
            text += f"; {r['late_count']} committed deals went bad late in {ctx.judged.name}"
        out.append(
            Driver("forecast_integrity", text, min(1.0, abs(r["mean_bias"]) * 2),
                   "forecast_bias", r["team"], "forecast")
        )  # fmt: skip
    return out


def _signed(value: float) -> str:
    """A share with its sign, as misses are read: "−25.0%", "+30.0%"."""
    text = pct(abs(value))
    return text if text == pct(0) else ("−" if value < 0 else "+") + text


def _offsetting_drivers(ctx: Context, errors: pl.DataFrame) -> list[Driver]:
    """Teams missing in opposite directions (one below −band, one above +band) in the judged
    period: the pooled bias nets them out, so name them. Severity: the smaller of the two
    misses, the part the pooled figure hides."""
    band = ctx.params.forecast.miss_band
    rows = errors.filter(pl.col("bias_min") < -band, pl.col("bias_max") > band)
    return [
        Driver(
            "forecast_integrity",
            f"Teams miss in opposite directions in {r['period']}: {r['bias_min_team']} "
            f"{_signed(r['bias_min'])}, {r['bias_max_team']} {_signed(r['bias_max'])}; the "
            f"company's pooled bias {_signed(r['bias'])} hides them ({pct(r['off_share'])} of "
            f"what closed sits in teams off by more than {pct(band)})",
            min(1.0, -r["bias_min"], r["bias_max"]),
            "forecast_bias.spread",
            ALL_TEAMS,
            "forecast",
        )
        for r in rows.iter_rows(named=True)
    ]


def _slip_drivers(
    slips: pl.DataFrame, judged: Period, company_slips: pl.DataFrame | None = None
) -> list[Driver]:
    """Teams whose pipeline slipped far more than the whole company's (`company_slips`,
    the same as `slips` in the company view)."""
    company = _share(
        slips if company_slips is None else company_slips, "slipped_amount", "pipeline_amount"
    )
    if company is None:
        return []
    rows = slips.filter(pl.col("slipped_count") >= 5, pl.col("slip_rate") >= 1.5 * company)
    return [
        Driver(
            "forecast_integrity",
            f"{r['team']}: {pct(r['slip_rate'])} of its {judged.name} pipeline slipped "
            f"(all teams: {pct(company)}), {r['pushes_per_deal']:.1f} close-date pushes per "
            f"slipped deal",
            min(1.0, r["slip_rate"] - company),
            "slip_rate",
            r["team"],
            "forecast",
        )
        for r in rows.iter_rows(named=True)
    ]


# ---------------------------------------------------------------- shared metrics & data


def shared_data(ctx: Context) -> PillarScore:
    """Do teams read one version of the data? Reconciliation gaps, quality, trust KPIs."""
    t, p = ctx.tables, ctx.period
    sourced = reconcile.marketing_sourced_pipeline(t, period=p, as_of=ctx.as_of)
    counts = sourced.summary.filter(unit="count")
    disagreement = _disagreement(counts)
    checks = quality.quality_checks(t, as_of=ctx.as_of)
    trust = stages.stage_trust_kpis(t, as_of=ctx.as_of, timezone=ctx.params.timezone)
    pillar = "shared_data"
    company = trust.filter(team=ALL_TEAMS)
    skip_rate = _value(company, "stage_skip_rate")
    deals = float(company["deals"].sum() or 0)
    signals = (
        ctx.signal("sourced_pipeline_disagreement", pillar,
                   "Opportunities marketing and sales disagree are marketing-sourced",
                   "reconcile.marketing_sourced_pipeline.count", disagreement, "ratio",
                   "data_trust", counts=_disagreement_counts(counts),
                   empty=f"no opportunity either team counts as marketing-sourced in {p.name}"),
        ctx.signal("data_quality_score", pillar, "Data-quality checks passing (weighted)",
                   "data_quality.score", quality.data_quality_score(checks, partial_credit=True),
                   "score", "data_trust", empty="no data-quality check applies to this data"),
        ctx.signal("stale_close_dates", pillar, "Open deals with a close date in the past",
                   "stale_close_dates", _value(company, "stale_close_date_share"),
                   "ratio", "data_trust",
                   counts=_sums(company, "stale_close_dates", "open_deals"),
                   empty="no open deal in this view"),
        ctx.signal("stage_skip_rate", pillar, "Deals that skipped a stage", "stage_skip_rate",
                   skip_rate, "ratio", "data_trust",
                   counts=(None if skip_rate is None else round(skip_rate * deals), deals),
                   empty="no deal in this view"),
    )  # fmt: skip
    drivers = _sourcing_drivers(counts, sourced.summary, disagreement) + _quality_drivers(checks)
    return PillarScore(pillar, signals, _top(drivers, signals, ctx))


def _disagreement(counts: pl.DataFrame) -> float | None:
    """Share of the opportunities either team counts on which the two counts disagree."""
    if counts.is_empty() or counts["records"][0] is None:
        return None
    a, b, records = counts["side_a_value"][0], counts["side_b_value"][0], counts["records"][0]
    either = (a + b + records) / 2  # |A ∪ B| = |A ∩ B| + records, |A ∩ B| = (A + B − records) / 2
    return float(records / either) if either else None


def _disagreement_counts(counts: pl.DataFrame) -> tuple[float | None, float | None]:
    """Numerator and denominator of `_disagreement`: deals disagreed on, deals either counts."""
    if counts.is_empty() or counts["records"][0] is None:
        return None, None
    a, b, records = counts["side_a_value"][0], counts["side_b_value"][0], counts["records"][0]
    return float(records), float((a + b + records) / 2)


def _sourcing_drivers(
    counts: pl.DataFrame, summary: pl.DataFrame, share: float | None
) -> list[Driver]:
    if share is None or share < 0.05:
        return []
    amounts = summary.filter(unit="currency")
    a, b = counts.row(0, named=True), amounts.row(0, named=True)
    text = (
        f"Marketing-sourced pipeline: marketing counts {a['side_a_value']:.0f} opportunities "
        f"({money(b['side_a_value'])}), sales counts {a['side_b_value']:.0f} "
        f"({money(b['side_b_value'])}); they disagree on {a['records']} deals, "
        f"{pct(share)} of those either counts"
    )
    return [
        Driver("shared_data", text, min(1.0, share), "reconcile.marketing_sourced_pipeline.count",
               "Marketing vs Sales", "data_trust")
    ]  # fmt: skip


def _quality_drivers(checks: pl.DataFrame) -> list[Driver]:
    rows = checks.filter(pl.col("share") >= 0.05).sort("share", descending=True).head(2)
    return [
        Driver(
            "shared_data",
            f"Data quality: {r['description']} — {r['failing']:,} of {r['total']:,} "
            f"({pct(r['share'])})",
            min(1.0, r["share"]),
            f"data_quality.{r['check_id']}",
            r["table"],
            "data_trust",
        )
        for r in rows.iter_rows(named=True)
    ]


# ---------------------------------------------------------------- shared outcomes


def shared_outcomes(ctx: Context) -> PillarScore:
    """Are teams measured on the same revenue outcomes? Goal conflicts, coverage, win rate."""
    t = ctx.tables
    conflicts = funnel.goal_conflict(
        t, periods=ctx.history, as_of=ctx.as_of, timezone=ctx.params.timezone
    )
    judged_conflicts = conflicts.filter(pl.col("conflict").is_not_null())
    cover = ctx.coverage
    wins = pipeline.win_rate(t, period=ctx.judged, as_of=ctx.as_of, timezone=ctx.params.timezone)
    ratio = _coverage_ratio(cover)
    pillar = "shared_outcomes"
    quarters = judged_conflicts.with_columns(n=pl.lit(1), c=pl.col("conflict").cast(pl.Int64))
    company = cover.filter(team=ALL_TEAMS)
    won, lost = _sums(wins, "won", "lost", team=ALL_TEAMS)
    signals = (
        ctx.signal("goal_conflict", pillar,
                   "Quarters where one team hit its volume while the next step's conversion fell",
                   "goal_conflict", _share(quarters, "c", "n"), "ratio", "handoffs",
                   counts=_sums(quarters, "c", "n"),
                   empty="no quarter with MQLs and SALs to compare with the one before"),
        ctx.signal("coverage_vs_required", pillar, "Pipeline coverage vs the coverage needed",
                   "coverage", ratio, "ratio", "pipeline",
                   counts=(_value(company, "coverage"), _value(company, "required_coverage")),
                   empty=f"no remaining quota or win rate to judge {ctx.period.name} by"),
        ctx.signal("win_rate", pillar, f"Win rate by count, {ctx.judged.name}", "win_rate.count",
                   _value(wins, "win_rate_count", team=ALL_TEAMS), "ratio", "pipeline",
                   counts=(won, won + lost), empty=f"no deal closed in {ctx.judged.name}"),
    )  # fmt: skip
    drivers = _conflict_drivers(conflicts) + _coverage_drivers(cover, ctx.company.coverage)
    notes = [n for n in cover.filter(team=ALL_TEAMS)["notes"].to_list() if n]
    return PillarScore(pillar, signals, _top(drivers, signals, ctx), tuple(notes))


def _coverage_ratio(cover: pl.DataFrame) -> float | None:
    row = cover.filter(team=ALL_TEAMS)
    if row.is_empty() or row["coverage"][0] is None or not row["required_coverage"][0]:
        return None
    return float(row["coverage"][0] / row["required_coverage"][0])


def _conflict_drivers(conflicts: pl.DataFrame) -> list[Driver]:
    out = []
    for r in conflicts.filter(pl.col("conflict")).iter_rows(named=True):
        if r["marketing_conflict"]:
            out.append(Driver(
                "shared_outcomes",
                f"{r['period']}: marketing delivered more MQLs ({r['mqls']:,}) while MQL→SAL "
                f"conversion fell to {pct(r['mql_to_sal'])}",
                0.3, "goal_conflict", "Marketing", "handoffs"))  # fmt: skip
        if r["sdr_conflict"]:
            out.append(Driver(
                "shared_outcomes",
                f"{r['period']}: SDRs passed more SALs ({r['sals']:,}) while SAL→SQL conversion "
                f"fell to {pct(r['sal_to_sql'])}",
                0.3, "goal_conflict", "SDR", "handoffs"))  # fmt: skip
    return out


def _coverage_drivers(
    cover: pl.DataFrame, company_cover: pl.DataFrame | None = None
) -> list[Driver]:
    """Teams whose coverage, relative to what their win rate needs, is well below the
    company's (`company_cover`, the same as `cover` in the company view): they are short
    of pipeline compared with their peers."""
    company = _coverage_ratio(cover if company_cover is None else company_cover)
    if company is None:
        return []
    rows = cover.filter(
        pl.col("team") != ALL_TEAMS,
        (pl.col("coverage") / pl.col("required_coverage")) < 0.75 * company,
    )
    return [
        Driver(
            "shared_outcomes",
            f"{r['team']}: pipeline covers {r['coverage']:.1f}× the remaining quota, "
            f"{r['required_coverage']:.1f}× is needed at its win rate (company: "
            f"{pct(company)} of what is needed)",
            min(1.0, company - r["coverage"] / r["required_coverage"]),
            "coverage",
            r["team"],
            "pipeline",
        )
        for r in rows.iter_rows(named=True)
    ]


PILLAR_FUNCTIONS = (shared_outcomes, shared_data, handoff_ownership, forecast_integrity)
