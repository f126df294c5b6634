"""The alignment scorecard: four pillar scores, their drivers and headline metrics by team.

`compute` judges one snapshot's tables for an as-of date, a period and optionally a set of
teams; `compare` says what changed against the same view of an earlier snapshot; `to_dict`
gives the stable JSON (schema ``scorecard/1``) used by the CLI, the pre-read and automation.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from model.calendar import Period
from model.params import ScoringParams
from model.tables import ALL_TEAMS, Tables, lead_teams, opportunities_with_team
from scoring import pipeline, stages
from scoring.model import MIN_PILLARS_FOR_OVERALL, Driver, PillarScore, Scale, coverage_text
from scoring.pillars import DEFAULT_SCALES, PILLAR_FUNCTIONS, Context, missing_input

JSON_SCHEMA = "scorecard/1"
# `forecast.wape` columns the "All teams" headline row carries as `forecast_<column>`: the
# spread of team biases behind the pooled bias (null on team rows).
COMPANY_SPREAD = ("bias_min", "bias_min_team", "bias_max", "bias_max_team", "off_share")


@dataclass(frozen=True)
class Scorecard:
    """The scorecard for one view (as-of, period, teams)."""

    as_of: date
    period: Period
    judged_period: Period
    teams: tuple[str, ...]
    pillars: tuple[PillarScore, ...]
    headline: pl.DataFrame
    weights: dict[str, float] = field(default_factory=dict)
    # The top drivers as stored (`from_dict`): stored severities are rounded, so ranking the
    # pillars' drivers again could order near-ties differently from when it was computed.
    stored_drivers: tuple[Driver, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def measured_pillars(self) -> tuple[PillarScore, ...]:
        return tuple(p for p in self.pillars if p.score is not None)

    @property
    def coverage(self) -> str:
        """How many pillars the overall score covers, e.g. "3 of 4 pillars"."""
        return coverage_text(len(self.measured_pillars), len(self.pillars))

    @property
    def overall(self) -> float | None:
        """Weighted mean of the measured pillars' scores; None (not shown) when fewer than
        `MIN_PILLARS_FOR_OVERALL` pillars are measured."""
        scored = [(p.score, self.weights.get(p.id, 1.0)) for p in self.measured_pillars]
        total = sum(w for _, w in scored)
        if len(scored) < MIN_PILLARS_FOR_OVERALL or not total:
            return None
        return round(sum(s * w for s, w in scored) / total, 1)

    @property
    def drivers(self) -> tuple[Driver, ...]:
        """The three most severe drivers across all pillars."""
        if self.stored_drivers is not None:
            return self.stored_drivers
        every = [d for p in self.pillars for d in p.drivers]
        return tuple(sorted(every, key=lambda d: (-d.severity, d.text))[:3])

    def pillar(self, pillar_id: str) -> PillarScore:
        return next(p for p in self.pillars if p.id == pillar_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": JSON_SCHEMA,
            "as_of": self.as_of.isoformat(),
            "period": self.period.name,
            "judged_period": self.judged_period.name,
            # kind, first day, exclusive end and last day of both (see `Period.to_dict`)
            "period_range": self.period.to_dict(),
            "judged_range": self.judged_period.to_dict(),
            "teams": list(self.teams),
            "overall": self.overall,
            "coverage": {
                "measured": len(self.measured_pillars),
                "pillars": len(self.pillars),
                "text": self.coverage,
            },
            "pillars": [p.to_dict() for p in self.pillars],
            "drivers": [d.to_dict() for d in self.drivers],
            "headline": self.headline.to_dicts(),
            "weights": dict(self.weights),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scorecard:
        """The scorecard `to_dict` described (a stored one, or one cached as JSON): a typed
        object for the pages, the pre-read and the alerts, so none of them reads dict keys."""
        return cls(
            as_of=date.fromisoformat(d["as_of"]),
            period=Period.from_dict(d["period_range"]),
            judged_period=Period.from_dict(d["judged_range"]),
            teams=tuple(d["teams"]),
            pillars=tuple(PillarScore.from_dict(p) for p in d["pillars"]),
            headline=pl.DataFrame(d["headline"], infer_schema_length=None),
            weights=dict(d.get("weights") or {}),
            stored_drivers=tuple(Driver.from_dict(x) for x in d["drivers"]),
        )


def filter_teams(tables: Tables, teams: Sequence[str]) -> Tables:
    """Only the records of `teams` (all when empty): their opportunities, history, forecasts
    and quotas, and the leads that belong to them (`tables.lead_teams`: leads a team owned
    at some step or converted into its deals) with those leads' history and campaign
    responses.

    The filtered bundle keeps the company bundle as its `baseline`: stall thresholds,
    company medians and every "vs the company" comparison are read from there, so a team's
    view shows the same figures as the company view's row for that team. Its frames are
    collected once; filtering a bundle already filtered to the same teams returns it.
    """
    keep = sorted(set(teams))
    if not teams or tuple(keep) == tables.team_scope:
        return tables
    company = tables.company
    opps = opportunities_with_team(company).filter(pl.col("team").is_in(keep))
    ids = opps.select("opp_id")
    leads = lead_teams(company).filter(pl.col("team").is_in(keep)).select("lead_id").unique()
    frames = dict(company.frames)
    frames["opportunities"] = company.opportunities.join(ids, on="opp_id", how="semi")
    frames["stage_history"] = company.stage_history.join(ids, on="opp_id", how="semi")
    frames["forecasts"] = company.forecasts.filter(pl.col("team").is_in(keep))
    frames["quotas"] = company.quotas.filter(pl.col("team").is_in(keep))
    for name in ("leads", "lead_history", "campaign_members"):
        frames[name] = company.frames[name].join(leads, on="lead_id", how="semi")
    return Tables(
        frames=frames,
        missing=company.missing,
        provenance=company.provenance,
        baseline=company,
        team_scope=tuple(keep),
        engine=company.engine,
    ).materialized()  # the filters run once, not in every metric


def headline(ctx: Context) -> pl.DataFrame:
    """Headline metrics by team: win rate, coverage, velocity, stalled pipeline, handoff
    stalls, forecast accuracy and bias (locked call of the latest complete quarter). For "All
    teams": 1 − WAPE (the teams' misses added up), the pooled bias, and its spread — the
    lowest and highest team bias with their teams and the share of what closed in teams off
    by more than the miss band (`forecast_bias_min`, …, `forecast_off_share`).

    Each rate comes with its counts: won / lost, open_pipeline / remaining_quota,
    handoff_stalled_count / open_handoff_deals, forecast / actual. Stalled amounts sum the
    known amounts (`stalled_without_amount` counts the others); stall columns are null when
    the stage history was not recorded (stalls cannot be dated)."""
    t, p, pp, tz = ctx.tables, ctx.period, ctx.params.pipeline, ctx.params.timezone
    stall_totals = (
        stages.stalls_by_team(ctx.stalled, ctx.spells)
        .group_by("team")
        .agg(
            stalled_deals=pl.col("stalled_count").sum(),
            stalled_amount=pl.col("stalled_amount").sum(),
            stalled_without_amount=pl.col("stalled_without_amount").sum(),
            unknown=pl.col("stalled_amount").is_null().all(),
        )
        .with_columns(stalled_amount=pl.when(~pl.col("unknown")).then("stalled_amount"))
        .drop("unknown")
    )
    handoffs = stages.handoff_stalls_by_team(ctx.stalled, ctx.spells).select(
        "team", "handoff_stalled_share", "handoff_stalled_count", "open_handoff_deals"
    )
    judged = pl.col("period") == ctx.judged.name
    acc = ctx.history_accuracy.filter(judged)  # the same rows as computing the judged alone
    parts = [
        pipeline.win_rate(t, period=p, as_of=ctx.as_of, timezone=tz).select(
            "team", "win_rate_count", "won", "lost"
        ),
        ctx.coverage.select(
            "team",
            "coverage",
            "required_coverage",
            "open_pipeline",
            "remaining_quota",
            "open_without_amount",
        ),
        pipeline.velocity(t, period=p, as_of=ctx.as_of, params=pp, timezone=tz).select(
            "team", "velocity"
        ),
        stall_totals,
        handoffs,
        acc.select(
            "team",
            pl.col("accuracy").alias("forecast_accuracy"),
            pl.col("bias").alias("forecast_bias"),
            "forecast",
            "actual",
        ),
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, on="team", how="full", coalesce=True)
    # The company's call judged from the teams' own misses: 1 − WAPE (misses add up), the
    # pooled bias Σ(F − A) / ΣA (misses net out) and, beside it, the spread it can hide.
    company = ctx.judged_wape.filter(pl.col("wape").is_not_null()).select(
        team=pl.lit(ALL_TEAMS),
        company_accuracy=1 - pl.col("wape"),
        company_bias=pl.col("bias"),
        company_forecast=pl.col("forecast"),
        company_actual=pl.col("actual"),
        **{f"forecast_{c}": pl.col(c) for c in COMPANY_SPREAD},
    )
    out = (
        out.join(company, on="team", how="left")
        .with_columns(
            forecast_accuracy=pl.coalesce("company_accuracy", "forecast_accuracy"),
            forecast_bias=pl.coalesce("company_bias", "forecast_bias"),
            forecast=pl.coalesce("company_forecast", "forecast"),
            actual=pl.coalesce("company_actual", "actual"),
        )
        .drop("company_accuracy", "company_bias", "company_forecast", "company_actual")
    )
    # A team without open deals has no stalls ($0 is real); an unknown amount stays null.
    no_open = pl.col("stalled_deals").is_null()
    out = out.with_columns(
        pl.col("stalled_deals").fill_null(0),
        pl.col("stalled_without_amount").fill_null(0),
        stalled_amount=pl.when(no_open).then(pl.lit(0.0)).otherwise("stalled_amount"),
    )
    if missing_input(ctx.evidence, "stalled_share"):
        stall_columns = ("stalled_deals", "stalled_amount", "stalled_without_amount")
        out = out.with_columns(pl.lit(None).cast(out.schema[c]).alias(c) for c in stall_columns)
    if missing_input(ctx.evidence, "handoff_stall"):
        out = out.with_columns(
            pl.lit(None).cast(out.schema[c]).alias(c)
            for c in ("handoff_stalled_share", "handoff_stalled_count", "open_handoff_deals")
        )
    return out.sort(pl.col("team") == ALL_TEAMS, "team")


def compute(
    tables: Tables,
    *,
    as_of: date,
    period: Period,
    params: ScoringParams | None = None,
    teams: Sequence[str] = (),
    decisions: pl.DataFrame | None = None,
) -> Scorecard:
    """The scorecard for `period` judged with the data known at the end of `as_of`.

    `decisions`: the view's decisions from the decision log (one row per decision), for the
    "decisions kept" signal; None leaves it not measured."""
    params = params or ScoringParams()
    scales = {**DEFAULT_SCALES, **{k: Scale(*v) for k, v in params.score.scales.items()}}
    ctx = Context(filter_teams(tables, teams), as_of, period, params, scales, decisions)
    ctx.stalled  # noqa: B018 - shared intermediates first, so the threads below only read them
    ctx.company.stalled  # noqa: B018 - and the company's, a team view's baseline
    ctx.evidence  # noqa: B018
    # Pillars are independent polars queries; polars releases the GIL, so threads overlap them.
    with ThreadPoolExecutor(max_workers=len(PILLAR_FUNCTIONS) + 1) as pool:
        pillars = [pool.submit(fn, ctx) for fn in PILLAR_FUNCTIONS]
        heads = pool.submit(headline, ctx)
        results = tuple(f.result() for f in pillars)
    return Scorecard(
        as_of=as_of,
        period=period,
        judged_period=ctx.judged,
        teams=tuple(sorted(teams)),
        pillars=results,
        headline=heads.result(),
        weights=dict(params.score.weights),
    )


def compare(current: Scorecard, previous: Scorecard | None) -> dict[str, Any]:
    """What changed between two scorecards of the same view: the overall and pillar score
    deltas (None where either is not measured; `*_before` says which), the signals that moved
    most (by score points), and per team the headline deltas and the earlier headline rows."""
    if previous is None:
        return {"previous": None, "pillars": {}, "signals": [], "headline": {}, "overall": None,
                "overall_before": None, "pillars_before": {}, "headline_before": []}  # fmt: skip
    before = {p.id: p.score for p in previous.pillars}
    pillars = {p.id: _delta(p.score, before.get(p.id)) for p in current.pillars}
    old = {s.id: s for p in previous.pillars for s in p.signals}
    moved = []
    for p in current.pillars:
        for s in p.signals:
            then = old.get(s.id)
            delta = _delta(s.score, then.score if then else None)
            if delta and then is not None:
                moved.append({"id": s.id, "label": s.label, "pillar": p.id,
                              "value": s.to_dict()["value"],
                              "previous_value": then.to_dict()["value"],
                              "score_change": delta})  # fmt: skip
    moved.sort(key=lambda m: (-abs(m["score_change"]), m["id"]))
    return {
        "previous": previous.as_of.isoformat(),
        "pillars": pillars,
        "signals": moved,
        "headline": _headline_deltas(current.headline.to_dicts(), previous.headline.to_dicts()),
        "overall": _delta(current.overall, previous.overall),
        "overall_before": previous.overall,
        "pillars_before": before,
        "headline_before": previous.headline.to_dicts(),
    }


def _headline_deltas(now: list[dict], before: list[dict]) -> dict[str, dict[str, float | None]]:
    """Per team, the change of each numeric headline metric (None where either is missing)."""
    old = {row["team"]: row for row in before}
    out: dict[str, dict[str, float | None]] = {}
    for row in now:
        prior = old.get(row["team"], {})
        out[row["team"]] = {
            k: _delta(v, prior.get(k)) if isinstance(v, int | float) else None
            for k, v in row.items()
            if k != "team"
        }
    return out


def _delta(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 4)
