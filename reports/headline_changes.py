"""The change column of the scorecard's team table: per team, which headline figures moved
since the previous snapshot, each with its arrow (▲ up, ▼ down) and whether that is good news
("better", "worse"; nothing for a figure that is good neither way, e.g. forecast bias), from
the two scorecard JSONs. Words rather than coloured marks: a table cell has no colour, and an
emoji font is not on every screen.

A figure measured on one side only gets no arrow and says which side lacks it; a figure that
did not move is left out. The directions are the metric definitions' (`higher_is_better`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from scoring.definitions import registry


@dataclass(frozen=True)
class Figure:
    column: str  # the headline column
    label: str  # how the change column names it
    definition: str  # its metric definition (direction, help)
    unit: str  # "pts" (a rate: percentage points), "x" (coverage), "count", "$/day"


FIGURES = (
    Figure("win_rate_count", "Win rate", "win_rate.count", "pts"),
    Figure("coverage", "Coverage", "coverage", "x"),
    Figure("velocity", "Velocity", "pipeline_velocity", "$/day"),
    Figure("stalled_deals", "Stalled deals", "stalled_deals", "count"),
    Figure("handoff_stalled_share", "Handoff stalls", "handoff_stall", "pts"),
    Figure("forecast_accuracy", "Accuracy", "forecast_accuracy", "pts"),
    Figure("forecast_bias", "Bias", "forecast_bias", "pts"),
)
FIRST_SNAPSHOT = "first snapshot: nothing to compare"
NO_CHANGE = "no change"


def _amount(delta: pl.Expr, unit: str) -> pl.Expr:
    """The size of a change as people read it: "+3.5 pts", "−0.4×", "+2", "+$13k/day"."""
    sign = pl.when(delta > 0).then(pl.lit("+")).otherwise(pl.lit("−"))
    size = delta.abs()
    if unit == "pts":
        return pl.format("{}{} pts", sign, (size * 100).round(1))
    if unit == "x":
        return pl.format("{}{}×", sign, size.round(1))
    if unit == "$/day":  # as scoring.model.money: $950, $46k, $1.2M
        money = (
            pl.when(size >= 1e6)
            .then(pl.format("{}M", (size / 1e6).round(1)))
            .when(size >= 1e3)
            .then(pl.format("{}k", (size / 1e3).round(0).cast(pl.Int64)))
            .otherwise(size.round(0).cast(pl.Int64).cast(pl.String))
        )
        return pl.format("{}${}/day", sign, money)
    return pl.format("{}{}", sign, size.round(0).cast(pl.Int64))


def _figure_change(figure: Figure, higher_is_better: bool | None) -> pl.Expr:
    now, before = pl.col(figure.column), pl.col(f"{figure.column}_before")
    delta = now - before
    if higher_is_better is None:
        verdict = pl.lit("")
    else:
        better = (delta > 0) if higher_is_better else (delta < 0)
        verdict = pl.when(better).then(pl.lit(" (better)")).otherwise(pl.lit(" (worse)"))
    arrow = pl.when(delta > 0).then(pl.lit("▲")).otherwise(pl.lit("▼"))
    label = pl.lit(figure.label)
    return (
        pl.when(now.is_null() & before.is_null())
        .then(None)
        .when(now.is_null())
        .then(pl.lit(f"{figure.label}: not measured now"))
        .when(before.is_null())
        .then(pl.lit(f"{figure.label}: not measured before"))
        .when(delta.abs() < 1e-9)
        .then(None)
        .otherwise(pl.format("{} {} {}{}", label, arrow, _amount(delta, figure.unit), verdict))
    )


def _figures(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """`team` and the figures' columns (as floats; null where a row lacks one)."""
    frame = pl.DataFrame(list(rows), infer_schema_length=None)
    if "team" not in frame.columns:
        frame = pl.DataFrame({"team": pl.Series([], dtype=pl.String)})
    return frame.select(
        pl.col("team").cast(pl.String),
        *(
            (pl.col(f.column) if f.column in frame.columns else pl.lit(None))
            .cast(pl.Float64)
            .alias(f.column)
            for f in FIGURES
        ),
    )


def change_column(
    now: Sequence[dict[str, Any]], before: Sequence[dict[str, Any]] | None
) -> pl.DataFrame:
    """One row per team of `now` (the headline rows of a scorecard JSON): `team` and `change`,
    the figures that moved since `before` (the previous snapshot's rows; None for the first
    snapshot), e.g. "Win rate ▲ +3.5 pts (better) · Stalled deals ▲ +2 (worse)"."""
    current = _figures(now)
    if before is None:
        return current.select("team", change=pl.lit(FIRST_SNAPSHOT))
    earlier = _figures(before)
    joined = current.join(earlier, on="team", how="left", suffix="_before", maintain_order="left")
    known = set(earlier["team"].to_list())
    definitions = registry()
    parts = [_figure_change(f, definitions[f.definition].higher_is_better) for f in FIGURES]
    text = pl.concat_str(parts, separator=" · ", ignore_nulls=True)
    return joined.select(
        "team",
        change=pl.when(~pl.col("team").is_in(list(known)))
        .then(pl.lit("not in the previous snapshot"))
        .when(text == "")
        .then(pl.lit(NO_CHANGE))
        .otherwise(text),
    )


def with_changes(
    now: Sequence[dict[str, Any]], before: Sequence[dict[str, Any]] | None
) -> pl.DataFrame:
    """The headline rows of a scorecard JSON as a frame, with their `change` column."""
    rows = pl.DataFrame(list(now), infer_schema_length=None)
    if rows.is_empty():
        return rows
    change = change_column(now, before)
    return rows.with_columns(pl.col("team").cast(pl.String)).join(
        change, on="team", how="left", maintain_order="left"
    )


def metric_delta(delta: float, unit: str) -> str:
    """A change as `st.metric`'s delta: signed with an ASCII "+"/"-" (which sets the arrow),
    in the figure's unit: "+3.5 pts", "-0.4×", "+2", "-$1.2M", "+$13k/day"."""
    sign, size = ("+" if delta > 0 else "-"), abs(delta)
    if unit == "pts":
        return f"{sign}{size * 100:.1f} pts"
    if unit == "x":
        return f"{sign}{size:.1f}×"
    if unit in ("$", "$/day"):
        money = f"{size / 1e6:.1f}M" if size >= 1e6 else (
            f"{size / 1e3:.0f}k" if size >= 1e3 else f"{size:.0f}"
        )  # fmt: skip
        return f"{sign}${money}{'/day' if unit == '$/day' else ''}"
    return f"{sign}{size:.0f}"
