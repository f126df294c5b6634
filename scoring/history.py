"""Reconstruct what the pipeline looked like at an earlier moment, from `stage_history`.

`stage_history` (Salesforce OpportunityHistory) carries the then-current stage, amount,
close date and forecast category on every row, so the state of a deal at time *t* is its
last history row at or before *t*. Ties on `entered_at` are broken by stage position, then
amount, so the result never depends on input row order.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from model.calendar import Calendar
from model.graph import Node, get
from model.tables import Tables, opportunities_with_team

STATE_COLUMNS = ("stage", "amount", "close_date", "forecast_category")
ORDERED_HISTORY = "ordered_stage_history"  # the name of the `ORDERED` node


def end_of_day(day: date, timezone: str = "UTC") -> datetime:
    """The last microsecond of `day` in the reporting time zone (as a UTC instant): the
    instant an as-of date stands for, an inclusive bound (`Calendar.end_of` minus 1 µs)."""
    return Calendar(timezone).end_of(day) - timedelta(microseconds=1)


EVENT_ORDER = ("entered_at", "position", "stage", "close_date", "amount", "forecast_category")
"""How a deal's history rows are read, everywhere: by time, then stage position, then the
row's own values, so rows that share an instant are read in one order whatever order the
source gave them (row order never changes a result)."""


def _ordered_history_lazy(tables: Tables) -> pl.LazyFrame:
    positions = tables.stages.select("stage", "position")
    return (
        tables.stage_history.join(positions, on="stage", how="left")
        .sort("opp_id", *EVENT_ORDER, nulls_last=False)
        .drop("position")
    )


ORDERED = Node(
    name=ORDERED_HISTORY,
    grain="one row per stage-history row, in deal and time order (EVENT_ORDER)",
    reads=("stage_history", "stages"),
    build=_ordered_history_lazy,
    team="deal",
    persist=True,
    code=("scoring/history.py",),
)


def _ordered_history(tables: Tables) -> pl.LazyFrame:
    """The stage history in deal and time order, sorted once per bundle for every instant."""
    return get(tables, ORDERED)


def opp_state_at(tables: Tables, *, at: datetime) -> pl.LazyFrame:
    """One row per opportunity that existed at `at`, with its stage, amount, close date and
    forecast category as they were then, plus `team`, `is_closed` and `is_won` of that stage.

    A deal with no history row at or before `at` takes its earliest history row (history
    often starts a little after creation); a deal with no history at all takes its current
    values. Read off the ordered history (a filter and each deal's last row), once per
    bundle and instant.
    """
    return get(tables, STATES, at)


def _state_at(tables: Tables, at: datetime) -> pl.LazyFrame:
    history = _ordered_history(tables)
    # Sorted by opp_id then time, so a deal's last (first) row is where the next (previous)
    # row belongs to another deal: cheaper than a group_by with many groups.
    last_row = pl.col("opp_id").ne_missing(pl.col("opp_id").shift(-1))
    first_row = pl.col("opp_id").ne_missing(pl.col("opp_id").shift(1))
    state = pl.col(list(STATE_COLUMNS))
    before = (
        history.filter(pl.col("entered_at") <= at)
        .filter(last_row)
        .select("opp_id", state.name.suffix("_before"))
    )
    earliest = history.filter(first_row).select("opp_id", state.name.suffix("_first"))
    stages = tables.stages.select("stage", "is_closed", "is_won")
    opps = (
        opportunities_with_team(tables)
        .filter(pl.col("created_at") <= at)
        .select("opp_id", "name", "owner_id", "team", "created_at", "sourced_by", *STATE_COLUMNS)
    )
    return (
        opps.join(before, on="opp_id", how="left")
        .join(earliest, on="opp_id", how="left")
        .with_columns(pl.coalesce(f"{c}_before", f"{c}_first", c).alias(c) for c in STATE_COLUMNS)
        .drop(pl.selectors.ends_with("_before", "_first"))
        .join(stages, on="stage", how="left")
        .sort("opp_id")
    )


STATES = Node(
    name="opp_state_at",
    grain="one row per opportunity that existed at the instant, as it stood then",
    reads=(ORDERED_HISTORY, "opportunities", "users", "stages"),
    build=_state_at,
    coords=("at",),
    team="team",
    persist=True,  # at the end of the as-of day (stalled deals, trust and slippage read it)
    code=("scoring/history.py",),
)
