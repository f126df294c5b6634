"""Reconstruct what the pipeline looked like at an earlier moment, from `stage_history`.

`stage_history` (Salesforce OpportunityHistory) carries the then-current stage, amount,
close date and forecast category on every row, so the state of a deal at time *t* is its
last history row at or before *t*. Ties on `entered_at` are broken by stage position, then
amount, so the result never depends on input row order.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import narwhals as nw
import polars as pl

from model.calendar import Calendar
from model.graph import Node, get, sorted_by
from model.schema import OPP_FORECAST_CATEGORIES
from model.tables import UNASSIGNED_TEAM, Tables
from scoring import portable_time
from scoring.ordered import Seq, first_row, last_row, with_sequence

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


_FORECAST_ORDER = "_forecast_order"
ORDER_BY = ("entered_at", "position", "stage", "close_date", "amount", _FORECAST_ORDER)
"""EVENT_ORDER as window ordering columns: the forecast category by its place in the
category list (polars sorts an Enum so), the same on engines that hold it as text."""


def with_event_order(history: nw.LazyFrame) -> nw.LazyFrame:
    """History rows with the columns EVENT_ORDER windows sort by (`ORDER_BY`)."""
    category = nw.col("forecast_category")
    rank = nw.when(category == OPP_FORECAST_CATEGORIES[0]).then(nw.lit(0))
    for i, name in enumerate(OPP_FORECAST_CATEGORIES[1:], 1):
        rank = rank.when(category == name).then(nw.lit(i))
    return history.with_columns(rank.cast(nw.Int32).alias(_FORECAST_ORDER))


def instant_us(at: datetime) -> int:
    """A UTC instant as microseconds since 1970."""
    return (at - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def opportunities_with_team_nw(
    opportunities: nw.LazyFrame, users: nw.LazyFrame, stages: nw.LazyFrame
) -> nw.LazyFrame:
    """`model.tables.opportunities_with_team` for node bodies (narwhals, any engine)."""
    owners = users.select("user_id", "team")
    positions = stages.select(
        "stage", "position", nw.col("owner_function").alias("stage_owner_function")
    )
    return (
        opportunities.join(owners, left_on="owner_id", right_on="user_id", how="left")
        .join(positions, on="stage", how="left")
        .with_columns(nw.col("team").fill_null(UNASSIGNED_TEAM))
    )


def ordered_history(stage_history: nw.LazyFrame, stages: nw.LazyFrame) -> nw.LazyFrame:
    """The stage history in deal and time order (EVENT_ORDER): the same rows, sorted once
    per bundle for every instant."""
    positions = stages.select("stage", "position")
    return (
        stage_history.join(positions, on="stage", how="left")
        .sort("opp_id", *EVENT_ORDER, nulls_last=False)
        .drop("position")
    )


def _arrange_ordered(frame: pl.LazyFrame, tables: Tables) -> pl.LazyFrame:
    """Rows collected from another engine, put in EVENT_ORDER by the same body on polars."""
    return ordered_history(nw.from_native(frame), nw.from_native(tables.stages)).to_native()


ORDERED = Node(
    name=ORDERED_HISTORY,
    grain="one row per stage-history row, in deal and time order (EVENT_ORDER)",
    reads=("stage_history", "stages"),
    body=ordered_history,
    arrange=_arrange_ordered,
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
    """`opp_state_at` built afresh and not held by the bundle (the call's weekly trend reads
    many instants): the node's body on the bundle's frames."""
    return STATES.build(tables, at)


def state_at(
    ordered_stage_history: nw.LazyFrame,
    opportunities: nw.LazyFrame,
    users: nw.LazyFrame,
    stages: nw.LazyFrame,
    *,
    at: datetime,
) -> nw.LazyFrame:
    """Each deal as it stood at `at` (see `opp_state_at`): its last history row at or
    before `at`, else its earliest, else its current values."""
    engine = ordered_stage_history.implementation
    at_us = instant_us(at)
    state = list(STATE_COLUMNS)
    # The ordered history is in deal and EVENT_ORDER order (its node ends in that sort, a
    # filter keeps it): on polars its neighbours are read as they stand. Windows read the
    # order from stage positions, joined again under another key name: SQLFrame names a
    # projection by its expression, so the same select joined twice in one plan (here and in
    # the ordered history) confuses its table aliases.
    positions = stages.select(nw.col("stage").alias("_stage"), "position")

    def event_order(history: nw.LazyFrame) -> nw.LazyFrame:
        joined = history.join(positions, left_on="stage", right_on="_stage", how="left")
        return with_event_order(joined)

    def edge(history: nw.LazyFrame, row: Seq, suffix: str) -> nw.LazyFrame:
        """The deal's `row` (first or last) of `history`, its state columns suffixed."""
        flagged = with_sequence(
            history, "opp_id", ORDER_BY, presorted=True, order_columns=event_order, _edge=row
        )
        return flagged.filter(nw.col("_edge")).select(
            "opp_id", *(nw.col(c).alias(f"{c}_{suffix}") for c in state)
        )

    entered_by_then = portable_time.epoch_us("entered_at", engine) <= at_us
    before = edge(ordered_stage_history.filter(entered_by_then), last_row(), "before")
    earliest = edge(ordered_stage_history, first_row(), "first")
    closed = stages.select("stage", "is_closed", "is_won")
    opps = (
        opportunities_with_team_nw(opportunities, users, stages)
        .filter(portable_time.epoch_us("created_at", engine) <= at_us)
        .select("opp_id", "name", "owner_id", "team", "created_at", "sourced_by", *state)
    )
    return (
        opps.join(before, on="opp_id", how="left")
        .join(earliest, on="opp_id", how="left")
        .with_columns(nw.coalesce(f"{c}_before", f"{c}_first", c).alias(c) for c in state)
        .drop(*(f"{c}_{w}" for c in state for w in ("before", "first")))
        .join(closed, on="stage", how="left")
        .sort("opp_id")
    )


STATES = Node(
    name="opp_state_at",
    grain="one row per opportunity that existed at the instant, as it stood then",
    reads=(ORDERED_HISTORY, "opportunities", "users", "stages"),
    body=state_at,
    upstream=lambda at: {ORDERED_HISTORY: (ORDERED, ())},
    arrange=sorted_by("opp_id"),
    coords=("at",),
    team="team",
    persist=True,  # at the end of the as-of day (stalled deals, trust and slippage read it)
    code=("scoring/history.py", "scoring/ordered.py", "scoring/windows.py"),
)
