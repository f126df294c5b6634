"""Perception beside evidence: what each function's leader answers about alignment, set beside
what the data says about the same question, and the gap named when they disagree.

From frames passed in (the leaders' answers from the journal, the scorecard's signals); scoring
never opens the journal's database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from model.leader_questions import LEADER_QUESTIONS

if TYPE_CHECKING:
    from scoring.scorecard import Scorecard

# The scorecard signals that are the data's evidence for each leader question.
EVIDENCE: dict[str, tuple[str, ...]] = {
    "paid_same_outcomes": ("goal_conflict", "coverage_vs_required", "win_rate"),
    "one_metric_set": ("sourced_pipeline_disagreement",),
    "handoff_owners": ("handoff_stall", "follow_up_sla", "leakage", "bounce_back_rate"),
    "one_data_version": ("data_quality_score", "stale_close_dates", "stage_skip_rate"),
    "first_tradeoff": ("goal_conflict", "slip_rate"),
    "bad_news_early": ("late_risk_share", "forecast_bias"),
    "conflicts_resolved": ("bounce_back_rate", "decisions_kept"),
}
HIGH = 4  # a leader's answer of 4 or 5 out of 5: "this works here"
POOR = 50.0  # evidence scoring below 50 out of 100: the data says it does not

SIGNAL_COLUMNS = {
    "signal_id": pl.String,
    "label": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "score": pl.Float64,
}
_QUESTIONS = pl.DataFrame(
    {
        "question": [q.id for q in LEADER_QUESTIONS],
        "question_text": [q.text for q in LEADER_QUESTIONS],
        "question_short": [q.short for q in LEADER_QUESTIONS],
        "order": list(range(len(LEADER_QUESTIONS))),
    }
)
_EVIDENCE = pl.DataFrame(
    [(q, s, i) for q, ids in EVIDENCE.items() for i, s in enumerate(ids)],
    schema={"question": pl.String, "signal_id": pl.String, "position": pl.Int64},
    orient="row",
)


def signals_of(card: Scorecard) -> pl.DataFrame:
    """Every signal of a scorecard with its 0-100 score (null when not measured): one row per
    signal, sorted by id; the data's evidence the leaders' answers are set beside."""
    rows = [
        (s.id, s.label, s.to_dict()["value"], s.unit, s.score)
        for p in card.pillars
        for s in p.signals
    ]
    return pl.DataFrame(rows, schema=SIGNAL_COLUMNS, orient="row").sort("signal_id")


def _shown(value: pl.Expr, unit: pl.Expr) -> pl.Expr:
    """A signal's value for people: a rate as "22 %", a score as "61/100"."""
    return (
        pl.when(unit == "ratio")
        .then((value * 100).round(0).cast(pl.Int64).cast(pl.String) + " %")
        .when(unit == "score")
        .then(value.round(0).cast(pl.Int64).cast(pl.String) + "/100")
        .otherwise(value.round(1).cast(pl.String))
    )


def evidence(signals: pl.DataFrame) -> pl.DataFrame:
    """The data's evidence per leader question: `evidence_score` (mean 0-100 score of its
    measured signals; null when none is measured) and `evidence` in words ("Deals stalled at a
    handoff between teams 22 %; …"). One row per question, in the form's order."""
    measured = signals.filter(pl.col("score").is_not_null())
    return (
        _QUESTIONS.join(_EVIDENCE, on="question", how="left")
        .join(measured, on="signal_id", how="left")
        .group_by("question", "question_text", "question_short", "order")
        .agg(
            evidence_score=pl.col("score").mean(),
            evidence=(pl.col("label") + " " + _shown(pl.col("value"), pl.col("unit")))
            .sort_by("position")
            .drop_nulls()
            .str.join("; "),
        )
        .sort("order")
    )


def latest_answers(answers: pl.DataFrame, *, quarter: str) -> pl.DataFrame:
    """Each function's answer to each question for `quarter`: the latest one given (an answer
    given again replaces the earlier one). One row per question and function."""
    return (
        answers.filter(pl.col("quarter") == quarter)
        .group_by("question", "function")
        .agg(pl.col("score", "comment", "by_email").sort_by("answer_id").last())
        .sort("question", "function")
    )


def perception(answers: pl.DataFrame, signals: pl.DataFrame, *, quarter: str) -> pl.DataFrame:
    """Per question and function: the leader's answer (1-5), the data's evidence, and `gap`
    (true when the function rates it 4 or 5 while its evidence scores below 50/100) with
    `gap_text` naming it in plain words. One row per question and function that answered, in
    the form's order, then by function."""
    rows = latest_answers(answers, quarter=quarter).join(
        evidence(signals), on="question", how="inner"
    )
    gap = (pl.col("score") >= HIGH) & (pl.col("evidence_score") < POOR)
    text = pl.concat_str(
        pl.col("function").str.to_titlecase(),
        pl.lit(" rates “"),
        pl.col("question_short"),
        pl.lit("” "),
        pl.col("score").cast(pl.String),
        pl.lit("/5, but the data says otherwise: "),
        pl.col("evidence"),
        pl.lit(" (evidence "),
        pl.col("evidence_score").round(0).cast(pl.Int64).cast(pl.String),
        pl.lit("/100)."),
    )
    return (
        rows.with_columns(gap=gap.fill_null(False))
        .with_columns(gap_text=pl.when(pl.col("gap")).then(text))
        .sort("order", "function")
        .drop("order")
    )


def summary(perceived: pl.DataFrame) -> pl.DataFrame:
    """One row per question answered: the answers by function ("marketing 2/5, sales 4/5")
    beside the evidence, and the gaps named. From `perception`'s frame; in the form's order."""
    order = _QUESTIONS.select("question", "order")
    return (
        perceived.join(order, on="question")
        .group_by("question", "question_text", "order")
        .agg(
            answers=(pl.col("function") + " " + pl.col("score").cast(pl.String) + "/5")
            .sort_by("function")
            .str.join(", "),
            evidence=pl.col("evidence").first(),
            evidence_score=pl.col("evidence_score").first(),
            gaps=pl.col("gap_text").sort_by("function").drop_nulls().str.join(" "),
        )
        .sort("order")
        .drop("order")
    )
