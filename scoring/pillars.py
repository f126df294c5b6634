"""The four pillars: which signals feed each, how they are scaled, and the drivers they yield.

Each pillar function reads the scoring modules' results for one `Context` and returns the
pillar's signals and candidate drivers. Driver severities are on a common 0–1 footing
(roughly: how far the subject is from the rest of the company, as a share) so the top
drivers across pillars can be compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import polars as pl

from scoring import forecast, funnel, pipeline, quality, reconcile, stages
from scoring.calendar import Calendar, Period, previous
from scoring.model import Driver, PillarScore, Scale, Signal, money, pct
from scoring.params import ScoringParams
from scoring.tables import ALL_TEAMS, Tables

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
}


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
            spells=self.spells,
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

    def signal(
        self, id: str, pillar: str, label: str, definition_id: str, value: float | None,
        unit: str, page: str,
    ) -> Signal:  # fmt: skip
        return Signal(id, pillar, label, definition_id, value, unit, self.scales[id], page=page)


def _value(frame: pl.DataFrame, column: str, **where: str) -> float | None:
    rows = frame.filter(**where) if where else frame
    if rows.is_empty() or rows[column][0] is None:
        return None
    return float(rows[column][0])


def _share(frame: pl.DataFrame, num: str, den: str) -> float | None:
    total = frame[den].sum() if not frame.is_empty() else 0
    return float(frame[num].sum() / total) if total else None


def _top(drivers: list[Driver], n: int = 3) -> tuple[Driver, ...]:
    return tuple(sorted(drivers, key=lambda d: (-d.severity, d.text))[:n])


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
    signals = (
        ctx.signal("follow_up_sla", pillar, "MQLs followed up within the SLA", "follow_up_sla",
                   _value(sla, "sla_compliance"), "ratio", "handoffs"),
        ctx.signal("leakage", pillar, "MQLs never touched (leakage)", "leakage",
                   _value(leaks, "leak_share"), "ratio", "handoffs"),
        ctx.signal("stalled_share", pillar, "Open deals stalled in their stage", "stalled_deals",
                   _share(company, "stalled_count", "open_deals"), "ratio", "pipeline"),
        ctx.signal("handoff_stall", pillar, "Deals stalled at a handoff between teams",
                   "handoff_stall", _value(handoffs, "handoff_stalled_share", team=ALL_TEAMS),
                   "ratio", "pipeline"),
        ctx.signal("bounce_back_rate", pillar, "Leads recycled from sales back to marketing",
                   "bounce_back_rate", _value(bounces, "bounce_back_rate"), "ratio", "handoffs"),
    )  # fmt: skip
    drivers = _stall_drivers(by_team) + _sla_drivers(ctx, sla)
    notes = [m for m in (funnel.funnel_status(t, "bounce_backs"),) if m]
    return PillarScore(pillar, signals, _top(drivers), tuple(notes))


def _stall_drivers(by_team: pl.DataFrame) -> list[Driver]:
    rows = by_team.filter(
        pl.col("team") != ALL_TEAMS, pl.col("stalled_count") >= 5, pl.col("age_vs_company") >= 1.3
    ).rename({"company_stalled_share": "company_share"})
    return [
        Driver(
            pillar="handoff_ownership",
            text=(
                f"{r['team']}: {r['stalled_count']} deals stalled in {r['stage']} "
                f"({money(r['stalled_amount'])}), median age {r['age_vs_company']:.1f}× "
                f"the company median"
            ),
            severity=_stall_severity(r),
            definition_id="stalled_deals",
            subject=r["team"],
            page="pipeline",
        )
        for r in rows.iter_rows(named=True)
    ]  # fmt: skip


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
    signals = (
        ctx.signal("forecast_bias", pillar, "Mean |bias| of locked calls, last 4 quarters",
                   "forecast_bias", float(judged_bias.mean()) if len(judged_bias) else None,
                   "ratio", "forecast"),
        ctx.signal("wape", pillar, f"Forecast error across teams (WAPE), {judged.name}", "wape",
                   _value(errors, "wape"), "ratio", "forecast"),
        ctx.signal("slip_rate", pillar, f"Pipeline that slipped out of {judged.name}",
                   "slip_rate", _share(slips, "slipped_amount", "pipeline_amount"), "ratio",
                   "forecast"),
        ctx.signal("late_risk_share", pillar, "Bad news on committed deals that came late",
                   "late_risk_share", _share(late, "late_count", "risk_count"), "ratio",
                   "forecast"),
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
    return PillarScore(pillar, signals, _top(drivers), tuple(notes))


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
    """A share with its sign, as misses are read: "−25%", "+30%"."""
    text = pct(abs(value))
    return text if text == "0%" else ("−" if value < 0 else "+") + text


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
    trust = stages.stage_trust_kpis(
        t, as_of=ctx.as_of, timezone=ctx.params.timezone, spells=ctx.spells
    )
    pillar = "shared_data"
    signals = (
        ctx.signal("sourced_pipeline_disagreement", pillar,
                   "Opportunities marketing and sales disagree are marketing-sourced",
                   "reconcile.marketing_sourced_pipeline.count", disagreement, "ratio",
                   "data_trust"),
        ctx.signal("data_quality_score", pillar, "Data-quality checks passing (weighted)",
                   "data_quality.score", quality.data_quality_score(checks, partial_credit=True),
                   "score", "data_trust"),
        ctx.signal("stale_close_dates", pillar, "Open deals with a close date in the past",
                   "stale_close_dates", _value(trust, "stale_close_date_share", team=ALL_TEAMS),
                   "ratio", "data_trust"),
        ctx.signal("stage_skip_rate", pillar, "Deals that skipped a stage", "stage_skip_rate",
                   _value(trust, "stage_skip_rate", team=ALL_TEAMS), "ratio", "data_trust"),
    )  # fmt: skip
    drivers = _sourcing_drivers(counts, sourced.summary, disagreement) + _quality_drivers(checks)
    return PillarScore(pillar, signals, _top(drivers))


def _disagreement(counts: pl.DataFrame) -> float | None:
    """Share of the opportunities either team counts on which the two counts disagree."""
    if counts.is_empty() or counts["records"][0] is None:
        return None
    a, b, records = counts["side_a_value"][0], counts["side_b_value"][0], counts["records"][0]
    either = (a + b + records) / 2  # |A ∪ B| = |A ∩ B| + records, |A ∩ B| = (A + B − records) / 2
    return float(records / either) if either else None


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
    wins = pipeline.win_rate(t, period=ctx.judged)
    ratio = _coverage_ratio(cover)
    pillar = "shared_outcomes"
    signals = (
        ctx.signal("goal_conflict", pillar,
                   "Quarters where one team hit its volume while the next step's conversion fell",
                   "goal_conflict", _share(judged_conflicts.with_columns(
                       n=pl.lit(1), c=pl.col("conflict").cast(pl.Int64)), "c", "n"),
                   "ratio", "handoffs"),
        ctx.signal("coverage_vs_required", pillar, "Pipeline coverage vs the coverage needed",
                   "coverage", ratio, "ratio", "pipeline"),
        ctx.signal("win_rate", pillar, f"Win rate by count, {ctx.judged.name}", "win_rate.count",
                   _value(wins, "win_rate_count", team=ALL_TEAMS), "ratio", "pipeline"),
    )  # fmt: skip
    drivers = _conflict_drivers(conflicts) + _coverage_drivers(cover, ctx.company.coverage)
    notes = [n for n in cover.filter(team=ALL_TEAMS)["notes"].to_list() if n]
    return PillarScore(pillar, signals, _top(drivers), tuple(notes))


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
