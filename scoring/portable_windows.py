"""Window and count expressions for node bodies that every engine runs the same (narwhals).

Written from what every SQL engine has, because PostgreSQL (through SQLFrame) lacks two things
narwhals' own forms need there:

- `fill_null(strategy="forward")` is SQL's `last_value(x IGNORE NULLS)`, which PostgreSQL
  does not have: `carry_forward` numbers each row by how many values were seen so far in
  its partition (a running count, which skips nulls) and takes the one value of that run;
- `bool.cast(Int64)` is a cast PostgreSQL refuses (boolean to bigint): `count_true` counts
  with a CASE instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import narwhals as nw


def carry_forward(
    frame: nw.LazyFrame, column: str, partition: str, order_by: Sequence[str]
) -> nw.LazyFrame:
    """`frame` with each null of `column` replaced by the last value before it in its
    `partition`, rows in `order_by` order (nulls first), as polars' `fill_null(strategy=
    "forward")` over the sorted partition; null before the first value.

    A row's run is the number of values up to and including it (a running count skips
    nulls); a run holds one value and the nulls after it, so the run's maximum is that value.
    Tied rows share their values, so their order does not change the result."""
    run = f"_{column}_run"
    return (
        frame.with_columns(run_of(column, partition, order_by).alias(run))
        .with_columns(nw.col(column).max().over(partition, run))
        .drop(run)
    )


def run_of(column: str, partition: str, order_by: Sequence[str]) -> nw.Expr:
    """Each row's run for `carry_forward`: how many values of `column` its partition holds
    up to and including the row (`order_by` order)."""
    return nw.col(column).cum_count().over(partition, order_by=list(order_by))


def count_true(flag: nw.Expr) -> nw.Expr:
    """How many rows `flag` is true for, as an Int64 (null counts as not true)."""
    return nw.when(flag).then(nw.lit(1, nw.Int64)).otherwise(nw.lit(0, nw.Int64)).sum()
