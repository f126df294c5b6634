"""Explainable deal risk: a rule-based 0–100 score per open deal, with named reasons.

AI deal scores need far more history than most companies have (Einstein: 200 won and 200
lost deals in 24 months; Gong: 50 + 150). This score adds up points for reasons a sales
leader can check in the CRM, each with its points:

* **stage age** — "62 days in Negotiation, 2.4× the company median (+28)": the current stage
  spell against the company median of finished spells in that stage (trailing 12 months);
* **pushes** — "close date pushed 3 times (+75 days) (+40)";
* **late downgrade** — "category cut from commit to best_case 9 days before close (+15)";
* **amount cut** — "amount cut 40 % (+20)" from the highest amount the deal had;
* **past close date** — "close date 12 days in the past (+32)";
* **idle** — "no change for 45 days (+10)": no stage, amount, close-date or category change.

Weights are `model.params.RiskParams` (`[risk]` in scorecard.toml). `evaluate_risk`
calibrates them on the org's own closed deals: each deal closed in the trailing 12 months is
scored as it stood 30 days before its close date, with only what was known then, and the ROC
AUC says how well the score separated lost from won deals.

Everything but the past close date reads the stage history; on a history the connector
derived (or none) the score is not measured (`risk_status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from model.calendar import Calendar, local_date
from model.params import RiskParams
from model.tables import ENGINE, Tables, opportunities_with_team
from scoring.definitions import MetricDefinition
from scoring.history import _ordered_history, opp_state_at  # history sorted once per bundle
from scoring.stages import stage_spells
from scoring.windows import shift_in

_YEAR = timedelta(days=365)
_OPEN_CATEGORIES = ("pipeline", "best_case", "most_likely", "commit")

RISK_COLUMNS = {
    "opp_id": pl.String,
    "name": pl.String,
    "team": pl.String,
    "owner_id": pl.String,
    "stage": pl.String,
    "amount": pl.Float64,
    "close_date": pl.Date,
    "score": pl.Int64,
    "reasons": pl.List(pl.String),
}

RISK_DERIVED = (
    "Deal risk is not measured: the stage history was derived from each deal's current stage, "
    "created and close dates (the export has no history file), so time in stage, pushes, "
    "downgrades, amount cuts and idle time are unknown."
)
RISK_NO_HISTORY = (
    "Deal risk is not measured: the data source provides no 'stage_history' table, so time "
    "in stage, pushes, downgrades, amount cuts and idle time are unknown."
)


def risk_status(tables: Tables) -> str | None:
    """Why deal risk is not measured on `tables`, or None when it is."""
    if tables.is_derived("stage_history"):
        return RISK_DERIVED
    if not tables.has("stage_history"):
        return RISK_NO_HISTORY
    return None


# ---------------------------------------------------------------------------------------
# Features at per-deal instants
# ---------------------------------------------------------------------------------------


def _stage_medians(
    tables: Tables, *, as_of: date, timezone: str, bases: pl.LazyFrame
) -> pl.LazyFrame:
    """Company median days of finished open-stage spells that ended in the 12 months before
    each `basis` instant. Grain: (basis, stage)."""
    company = tables.company
    spells = (
        stage_spells(company, as_of=as_of, timezone=timezone)
        .lazy()
        .filter(~pl.col("is_closed_stage") & pl.col("left_at").is_not_null())
        .select("stage", "left_at", "days_in_stage")
    )
    return (
        bases.unique()
        .join(spells, how="cross")
        .filter(
            (pl.col("left_at") < pl.col("basis")) & (pl.col("left_at") >= pl.col("basis") - _YEAR)
        )
        .group_by("basis", "stage")
        .agg(median_days=pl.col("days_in_stage").median(), spells=pl.len().cast(pl.Int64))
    )


def company_stage_medians(tables: Tables, *, as_of: date, timezone: str = "UTC") -> pl.DataFrame:
    """The yardstick of the stage-age reason: per open stage, the company median days of
    finished spells that ended in the 12 months before the end of `as_of`, and how many
    spells (`spells`) it is the median of. A stage no spell left in that year is absent.
    Grain: stage."""
    basis = pl.LazyFrame({"basis": [Calendar(timezone).end_of(as_of)]})
    return (
        _stage_medians(tables, as_of=as_of, timezone=timezone, bases=basis)
        .select("stage", "median_days", "spells")
        .with_columns(pl.col("stage").cast(pl.String))
        .sort("stage")
        .collect(engine=ENGINE)
    )


def _history_until(tables: Tables, points: pl.LazyFrame) -> pl.LazyFrame:
    """Each deal's history rows before its own instant `at`, in deal and time order, with the
    moves each row makes against the row before."""
    created = opportunities_with_team(tables).select("opp_id", "created_at")
    prev = {c: shift_in(c, "opp_id") for c in ("stage", "close_date", "rank")}
    rank = (
        pl.when(pl.col("forecast_category").cast(pl.String).is_in(_OPEN_CATEGORIES))
        .then(pl.col("forecast_category").to_physical())
        .cast(pl.Int32)
    )
    return (
        _ordered_history(tables)
        .join(points.select("opp_id", "at"), on="opp_id", how="inner", maintain_order="left")
        .join(created, on="opp_id", how="inner", maintain_order="left")
        .filter(pl.col("entered_at") < pl.col("at"))
        .with_columns(
            entered_at=pl.max_horizontal("entered_at", "created_at"),
            rank=rank,
        )
        .with_columns(
            new_spell=prev["stage"].is_null() | (pl.col("stage") != prev["stage"]),
            push_days=pl.when(pl.col("close_date") > prev["close_date"]).then(
                (pl.col("close_date") - prev["close_date"]).dt.total_days()
            ),
            downgrade_from=pl.when(pl.col("rank") < prev["rank"]).then(
                shift_in("forecast_category", "opp_id")
            ),
            prev_close=prev["close_date"],
        )
    )


def _per_deal(history: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
    """One row per deal: its state at its instant and the counts behind each reason."""
    down = pl.col("downgrade_from").is_not_null()
    days_before = (
        pl.col("prev_close") - local_date(pl.col("entered_at"), timezone)
    ).dt.total_days()
    return history.group_by("opp_id").agg(
        pl.col("stage", "amount", "close_date", "forecast_category").last(),
        max_amount=pl.col("amount").max(),
        spell_start=pl.col("entered_at").filter("new_spell").max(),
        last_change=pl.col("entered_at").max(),
        n_pushes=pl.col("push_days").is_not_null().sum().cast(pl.Int64),
        days_pushed=pl.col("push_days").sum().cast(pl.Int64),
        downgrade_from=pl.col("downgrade_from").filter(down).last(),
        downgrade_to=pl.col("forecast_category").filter(down).last(),
        downgrade_days_before=days_before.filter(down).last(),
    )


def _features(
    tables: Tables, points: pl.LazyFrame, medians: pl.LazyFrame, *, timezone: str
) -> pl.LazyFrame:
    """Open deals at their own instant `at` (one row per point), with every reason's input.

    `points` has `opp_id`, `at` (exclusive instant) and `basis` (the instant whose medians
    apply). A deal without a history row before `at` takes its current stage, amount and
    close date, and its creation as its last change.
    """
    opps = opportunities_with_team(tables).select(
        "opp_id", "name", "team", "owner_id", "created_at", "stage", "amount", "close_date",
        "forecast_category",
    )  # fmt: skip
    agg = _per_deal(_history_until(tables, points), timezone)
    closed = tables.stages.select("stage", "is_closed")
    return (
        points.join(opps, on="opp_id", how="inner")
        .filter(pl.col("created_at") < pl.col("at"))
        .join(agg, on="opp_id", how="left", suffix="_then")
        .with_columns(
            pl.coalesce(f"{c}_then", c).alias(c)
            for c in ("stage", "amount", "close_date", "forecast_category")
        )
        .with_columns(
            spell_start=pl.coalesce("spell_start", "created_at"),
            last_change=pl.coalesce("last_change", "created_at"),
            max_amount=pl.coalesce("max_amount", "amount"),
            n_pushes=pl.col("n_pushes").fill_null(0),
            days_pushed=pl.col("days_pushed").fill_null(0),
            at_date=local_date(pl.col("at") - timedelta(microseconds=1), timezone),
        )
        .join(closed, on="stage", how="left")
        .filter(~pl.col("is_closed").fill_null(False))
        .join(medians, on=["basis", "stage"], how="left")
    )


# ---------------------------------------------------------------------------------------
# Points and reasons
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reason:
    points: pl.Expr  # null when the reason does not apply
    text: pl.Expr


def _days(a: str, b: str) -> pl.Expr:
    return (pl.col(a) - pl.col(b)).dt.total_days(fractional=True)


def _reasons(p: RiskParams) -> dict[str, _Reason]:
    age = _days("at", "spell_start")
    ratio = age / pl.col("median_days")
    cut = 1 - pl.col("amount") / pl.col("max_amount")
    past = (pl.col("at_date") - pl.col("close_date")).dt.total_days()
    idle = _days("at", "last_change")
    late = pl.col("downgrade_days_before") <= p.downgrade_days
    return {
        "stage_age": _Reason(
            pl.when(ratio >= p.stage_age_min_ratio).then(
                pl.min_horizontal((ratio - 1) * p.stage_age_points, pl.lit(p.stage_age_max))
            ),
            pl.format(
                "{} days in {}, {}× the company median",
                age.floor().cast(pl.Int64),
                "stage",
                ratio.round(1),
            ),
        ),
        "pushes": _Reason(
            pl.when(pl.col("n_pushes") > 0).then(
                pl.min_horizontal(
                    pl.col("n_pushes") * p.push_points + pl.col("days_pushed") * p.push_day_points,
                    pl.lit(p.push_max),
                )
            ),
            pl.format(
                "close date pushed {} {} (+{} days)",
                "n_pushes",
                pl.when(pl.col("n_pushes") == 1).then(pl.lit("time")).otherwise(pl.lit("times")),
                "days_pushed",
            ),
        ),
        "late_downgrade": _Reason(
            pl.when(late).then(pl.lit(p.downgrade_points)),
            pl.format(
                "category cut from {} to {} {} days before close",
                pl.col("downgrade_from").cast(pl.String),
                pl.col("downgrade_to").cast(pl.String),
                "downgrade_days_before",
            ),
        ),
        "amount_cut": _Reason(
            pl.when(cut >= p.amount_cut_min).then(
                pl.min_horizontal(cut * p.amount_cut_points, pl.lit(p.amount_cut_max))
            ),
            pl.format("amount cut {} %", (cut * 100).round(0).cast(pl.Int64)),
        ),
        "past_close": _Reason(
            pl.when(past > 0).then(
                pl.min_horizontal(
                    p.past_close_points + past * p.past_close_day_points, pl.lit(p.past_close_max)
                )
            ),
            pl.format("close date {} days in the past", past),
        ),
        "idle": _Reason(
            pl.when(idle >= p.idle_days).then(pl.lit(p.idle_points)),
            pl.format("no change for {} days", idle.floor().cast(pl.Int64)),
        ),
    }


def _score(features: pl.LazyFrame, params: RiskParams) -> pl.LazyFrame:
    """`points_<reason>` (whole points, null when it does not apply), `score` (0–100) and
    `reasons`: one text per reason that applies, with its points, most points first."""
    reasons = _reasons(params)
    points = {k: r.points.round(0).cast(pl.Int64).alias(f"points_{k}") for k, r in reasons.items()}
    texts = [
        pl.when(pl.col(f"points_{k}").is_not_null()).then(
            pl.struct(
                points=pl.col(f"points_{k}"),
                text=pl.format("{} (+{})", r.text, pl.col(f"points_{k}")),
            )
        )
        for k, r in reasons.items()
    ]
    listed = pl.concat_list(texts).list.drop_nulls()
    ordered = listed.list.eval(
        pl.element().sort_by(
            pl.element().struct.field("points"), descending=True, maintain_order=True
        )
    )
    return features.with_columns(*points.values()).with_columns(
        score=pl.min_horizontal(
            pl.sum_horizontal(*(f"points_{k}" for k in reasons)), pl.lit(100)
        ).cast(pl.Int64),
        reasons=ordered.list.eval(pl.element().struct.field("text")),
    )


REASONS = ("stage_age", "pushes", "late_downgrade", "amount_cut", "past_close", "idle")


# ---------------------------------------------------------------------------------------
# Public face
# ---------------------------------------------------------------------------------------


def deal_risk(
    tables: Tables, *, as_of: date, params: RiskParams | None = None, timezone: str = "UTC"
) -> pl.DataFrame:
    """How likely each open deal is to slip or die, 0–100, and why, as of the end of `as_of`.

    One row per deal open at the end of the as-of day: its stage, amount and close date then,
    `score` (the sum of the points of its reasons, at most 100), `reasons` ("62 days in
    Negotiation, 2.4× the company median (+28)", most points first) and `points_<reason>`
    per reason (null when it does not apply). Riskiest first. Empty (full schema) when
    `risk_status` says the score is not measured.
    """
    params = params or RiskParams()
    at = Calendar(timezone).end_of(as_of)
    opps = opportunities_with_team(tables).select("opp_id")
    points = opps.with_columns(at=pl.lit(at), basis=pl.lit(at))
    medians = _stage_medians(tables, as_of=as_of, timezone=timezone, bases=points.select("basis"))
    out = (
        _score(_features(tables, points, medians, timezone=timezone), params)
        .select(*RISK_COLUMNS, *(f"points_{k}" for k in REASONS))
        .with_columns(pl.col("stage").cast(pl.String))
        .sort(["score", "opp_id"], descending=[True, False])
        .collect(engine=ENGINE)
    )
    return out.clear() if risk_status(tables) else out


@dataclass(frozen=True)
class RiskEvaluation:
    """How well the risk score separated lost from won deals `days_before` their close."""

    auc: float | None  # None when not measured
    n_won: int
    n_lost: int
    days_before: int
    start: date  # closed deals with close dates in (start, end]
    end: date
    reason: str | None  # why not measured
    scores: (
        pl.DataFrame
    )  # one row per closed deal scored: opp_id, close_date, is_won, score, reasons

    @property
    def measured(self) -> bool:
        return self.auc is not None

    def text(self) -> str:
        """One line for the CLI and the pages."""
        counts = f"{self.n_won} won, {self.n_lost} lost"
        window = f"deals closed {self.start + timedelta(days=1)}..{self.end}"
        if self.auc is None:
            return f"Deal risk AUC: not measured ({self.reason}) — {window}, {counts}"
        return (
            f"Deal risk AUC {self.auc:.3f} ({self.days_before} days before close; {window}: "
            f"{counts})"
        )


def risk_auc(scores: pl.DataFrame) -> float | None:
    """ROC AUC of `score` against `is_lost`: the chance a random lost deal scored higher
    than a random won one (ties count half). Mann–Whitney U with average ranks; None
    without both won and lost deals."""
    stats = (
        scores.lazy()
        .select(rank=pl.col("score").rank("average"), lost=pl.col("is_lost"))
        .select(
            n_lost=pl.col("lost").sum().cast(pl.Float64),
            n_won=(~pl.col("lost")).sum().cast(pl.Float64),
            rank_sum=pl.col("rank").filter("lost").sum().cast(pl.Float64),
        )
        .collect(engine=ENGINE)
        .row(0, named=True)
    )
    n_lost, n_won = stats["n_lost"], stats["n_won"]
    if not n_lost or not n_won:
        return None
    u = stats["rank_sum"] - n_lost * (n_lost + 1) / 2
    return u / (n_lost * n_won)


def evaluate_risk(
    tables: Tables,
    *,
    as_of: date,
    params: RiskParams | None = None,
    days_before: int = 30,
    timezone: str = "UTC",
) -> RiskEvaluation:
    """Calibrate the score on the org's own closed deals: every deal closed (won or lost) in
    the 12 months up to `as_of` is scored as it stood at the end of the day `days_before`
    days before its close date — its history up to then, the stage medians of spells that
    had ended before that month began — and the ROC AUC says how well that score ranked the
    deals that were later lost above those later won (0.5: no better than a coin; 1: every
    lost deal scored above every won one). Deals that did not exist yet, or were already
    closed, at that instant are left out. Every deal is scored at its own instant in one
    query (no loop over deals or dates). Not measured below `params.min_closed` won and lost.
    """
    params = params or RiskParams()
    end_at = Calendar(timezone).end_of(as_of)
    # each deal as it stood at the end of the as-of day (a later snapshot viewed as of then)
    state = opp_state_at(tables, at=end_at - timedelta(microseconds=1))
    start = as_of - _YEAR
    closed = state.filter(
        pl.col("is_closed").fill_null(False),
        pl.col("close_date") > start,
        pl.col("close_date") <= as_of,
    )
    eval_day = pl.col("close_date") - timedelta(days=days_before - 1)  # end of close − n
    at = (
        eval_day.cast(pl.Datetime("us"))
        .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )
    points = closed.select(
        "opp_id", pl.col("close_date").alias("final_close_date"), "is_won", at=at
    ).with_columns(basis=pl.col("at").dt.truncate("1mo"))
    points = points.filter(pl.col("at") < end_at)
    medians = _stage_medians(tables, as_of=as_of, timezone=timezone, bases=points.select("basis"))
    scored = (
        _score(
            _features(
                tables, points.drop("is_won", "final_close_date"), medians, timezone=timezone
            ),
            params,
        )
        .join(points.select("opp_id", "final_close_date", "is_won"), on="opp_id", how="inner")
        .select(
            "opp_id",
            "team",
            pl.col("stage").cast(pl.String).alias("stage_then"),
            pl.col("final_close_date").alias("close_date"),
            "is_won",
            pl.col("is_won").not_().alias("is_lost"),
            "score",
            "reasons",
        )
        .sort("opp_id")
        .collect(engine=ENGINE)
    )
    n_won = int(scored["is_won"].sum())
    n_lost = scored.height - n_won
    reason = risk_status(tables)
    if reason is None and min(n_won, n_lost) < params.min_closed:
        reason = (
            f"needs {params.min_closed} won and {params.min_closed} lost deals open "
            f"{days_before} days before closing in the 12 months to {as_of}"
        )
    auc = None if reason else risk_auc(scored)
    return RiskEvaluation(auc, n_won, n_lost, days_before, start, as_of, reason, scored)


# ---------------------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------------------

DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        id="deal_risk",
        name="Deal risk",
        formula="min(100, sum of points of the reasons that apply): stage age ≥ 1.5× the "
        "company median of finished spells in that stage → (ratio − 1) × 20, at most 40; "
        "close-date pushes → 10 per push + 0.2 per day pushed, at most 40; forecast category "
        "lowered within 30 days of the then close date → 15; amount cut ≥ 10 % from its "
        "highest → cut × 50, at most 20; close date in the past → 20 + 1 per day, at most "
        "40; no change for ≥ 30 days → 10 (weights: [risk] in scorecard.toml)",
        unit="score",
        grain="open deal (drill-down: the named reasons with their points)",
        date_anchor="as-of date (end of the day); medians from spells ended in the 12 months "
        "before",
        good="few deals above 50; each high score explained by its reasons",
        question="forecast_integrity",
        owner_team="sales",
        filters="deals open at the end of the as-of day; not measured when the stage history "
        "is derived from current fields, or absent",
        higher_is_better=False,
    ),
    MetricDefinition(
        id="risk_auc",
        name="Deal risk separation (ROC AUC)",
        formula="Mann–Whitney U / (n lost × n won) of each closed deal's deal risk score as "
        "of the end of its close date − 30 days vs lost (average ranks for ties): the chance "
        "a lost deal scored above a won one",
        unit="ratio",
        grain="company (one sample per deal closed in the trailing 12 months)",
        date_anchor="close date in the 12 months up to the as-of date",
        good="above 0.7; 0.5 is a coin toss",
        question="forecast_integrity",
        owner_team="ops",
        filters="deals that existed and were open 30 days before closing; not measured below "
        "10 won and 10 lost deals, or without a recorded stage history",
        higher_is_better=True,
    ),
)
