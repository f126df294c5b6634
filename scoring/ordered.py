"""A row's neighbours within an ordered partition, written once for every engine.

Node bodies ask sequence questions of long tables: is this a deal's first (last) history row,
what was the previous spell's stage, which owner was last recorded on this lead. A body asks
them through `with_sequence(frame, partition, order_by, name=spec, ...)`, and the engine that
runs it decides how they are answered (`frame.implementation`):

- **polars**: sort the frame once by (partition, *order_by) — or trust an order the body
  documents (`presorted`) — and compare each row with its neighbour (`scoring.windows`:
  plain shifts, no windows). narwhals' ordered windows (`.over(partition, order_by=...)`)
  on polars measured ten times slower at M (100k deals, 573k history rows, 1.4M lead-history
  rows): the five history nodes 0.7 s → 8.3 s, lead history 65 ms → ~1 s; through this
  helper they take what the polars-only builds they replaced took (benchmarks/RESULTS.md,
  "Issue 20", "One body").
- **SQL and Spark engines** (DuckDB, PySpark, SQLFrame): the partitioned ordered window,
  `OVER (PARTITION BY … ORDER BY …)`, which they plan and sort themselves; a frame there has no
  row order to trust.

Nulls sort first, as polars sorts, unless `nulls_last`. On polars the result comes back in
(partition, *order_by) order, with each partition's rows contiguous; elsewhere in no order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import narwhals as nw
import polars as pl

from scoring import windows
from scoring.portable_windows import run_of

_ONE = "_seq_one"  # a column of 1s the window forms count and shift
_LAST = "_seq_last"  # True on a partition's last row, for `last_row_holds`


@dataclass(frozen=True)
class Seq:
    """One sequence question about a row of an ordered partition (build with the functions
    below: `previous`, `first_row`, `last_row`, `row_number`, `filled`, `last_row_holds`)."""

    kind: str
    column: str | None = None
    n: int = 1

    def sorted(self, key: str) -> pl.Expr:
        """The answer on a polars frame whose partitions are contiguous and in order."""
        if self.kind == "previous":
            return windows.shift_in(self.column, key, self.n)
        if self.kind == "first_row":
            return windows.starts_group(key)
        if self.kind == "last_row":
            return windows.ends_group(key)
        if self.kind == "row_number":
            return windows.row_number(key)
        if self.kind == "filled":
            return windows.forward_fill_in(self.column, key)
        return windows.last_in_group(self.column, key)

    def window(self, partition: str, order_by: list[str]) -> nw.Expr:
        """The answer as an ordered window (on a frame with the `_ONE` column, and `_LAST`
        for `last_row_holds`)."""
        if self.kind == "previous":
            return nw.col(self.column).shift(self.n).over(partition, order_by=order_by)
        if self.kind in ("first_row", "last_row"):
            n = 1 if self.kind == "first_row" else -1
            return nw.col(_ONE).shift(n).over(partition, order_by=order_by).is_null()
        if self.kind == "row_number":
            return nw.col(_ONE).cum_sum().over(partition, order_by=order_by)
        if self.kind == "filled":
            # SQL's `last_value(x IGNORE NULLS)` is what narwhals' forward fill asks of an
            # engine, and PostgreSQL has none: the value of the row's run instead (see
            # `scoring.portable_windows.carry_forward`; the run column is added beforehand).
            return nw.col(self.column).max().over(partition, _run(self.column))
        # The flag on the last row only, as 0/1 (PostgreSQL has no max of booleans), then the
        # partition's maximum: 1 where the last row held it, null where its flag is null.
        on_last = nw.when(nw.col(_LAST)).then(nw.col(self.column).cast(nw.Int32))
        return on_last.max().over(partition) == 1


def previous(column: str, n: int = 1) -> Seq:
    """`column` of the row `n` before this one in its partition (after, when negative);
    null at the partition's edge."""
    return Seq("previous", column, n)


def first_row() -> Seq:
    """True on the first row of each partition."""
    return Seq("first_row")


def last_row() -> Seq:
    """True on the last row of each partition."""
    return Seq("last_row")


def row_number() -> Seq:
    """1, 2, 3, … within each partition (an integer column; cast it as the result needs)."""
    return Seq("row_number")


def filled(column: str) -> Seq:
    """`column` with nulls filled from the last non-null value earlier in the partition."""
    return Seq("filled", column)


def last_row_holds(flag: str) -> Seq:
    """The boolean `flag` of the partition's last row, on every row of the partition."""
    return Seq("last_row_holds", flag)


def with_sequence(
    frame: nw.LazyFrame,
    partition: str,
    order_by: Sequence[str],
    *,
    presorted: bool = False,
    nulls_last: bool = False,
    order_columns: Callable[[nw.LazyFrame], nw.LazyFrame] | None = None,
    sort: bool = False,
    **columns: Seq,
) -> nw.LazyFrame:
    """`frame` with one column per `columns` entry, each a sequence question about the row
    within its `partition` read in `order_by` order (see the module doc for how).

    `presorted`: on polars the frame's partitions are already contiguous and in `order_by`
    order (an order the caller documents, e.g. a node's input that ends in that sort, or the
    result of an earlier `with_sequence` after order-keeping steps: filters, new columns,
    a concatenation of other partitions): no sort. `order_columns`: adds the `order_by`
    columns the frame lacks, called only where they are read (windows; polars when not
    presorted), so a presorted polars frame is not joined (a join keeps no row order).
    `sort`: the result in (partition, *order_by) order on every engine (polars' is), read
    from the order columns as they were before any answer replaced one.
    """
    order = list(order_by)
    if frame.implementation.is_polars() and presorted:
        return _on_sorted(frame, partition, columns)
    ready, added = frame, []
    if order_columns is not None:
        ready = order_columns(frame)
        added = [c for c in ready.columns if c not in frame.columns]
    if frame.implementation.is_polars():
        native = ready.to_native().sort(partition, *order, nulls_last=nulls_last)
        return _on_sorted(nw.from_native(native), partition, columns).drop(*added)
    helpers = [_ONE]
    if nulls_last:
        # Each ordering column preceded by whether it is null: False (a value) sorts first.
        flags = {f"_seq_null_{c}": nw.col(c).is_null() for c in order}
        ready = ready.with_columns(**flags)
        helpers += flags
        order = [x for c in order for x in (f"_seq_null_{c}", c)]
    ready = ready.with_columns(nw.lit(1).alias(_ONE))
    runs = {
        _run(seq.column): run_of(seq.column, partition, order)
        for seq in columns.values()
        if seq.kind == "filled" and seq.column is not None
    }
    if runs:
        ready = ready.with_columns(**runs)
        helpers += runs
    if any(seq.kind == "last_row_holds" for seq in columns.values()):
        helpers.append(_LAST)
        ready = ready.with_columns(last_row().window(partition, order).alias(_LAST))
    # Answered under other names first, so a sort reads the order columns as they were
    # (an answer may replace one: a forward fill of an ordering column), then renamed.
    temp = {name: f"_seq_answer_{name}" for name in columns}
    answers = {temp[name]: seq.window(partition, order) for name, seq in columns.items()}
    result = ready.with_columns(**answers)
    if sort:
        result = result.sort(partition, *order, nulls_last=False)
    named = {name: nw.col(t) for name, t in temp.items()}
    return result.with_columns(**named).drop(*temp.values(), *helpers, *added)


def _run(column: str) -> str:
    return f"_seq_run_{column}"


def _on_sorted(frame: nw.LazyFrame, partition: str, columns: dict[str, Seq]) -> nw.LazyFrame:
    """The answers on a polars frame whose partitions are contiguous and in order."""
    answers = {name: seq.sorted(partition).alias(name) for name, seq in columns.items()}
    return nw.from_native(frame.to_native().with_columns(**answers))
