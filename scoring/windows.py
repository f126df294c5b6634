"""Per-group sequence expressions for frames sorted by a key column (then time).

Polars 2.1 window expressions (`.over(key)`) are slow with hundreds of thousands of groups
(about 1 s per expression on a million history rows); the same results come ~15× faster by
sorting once and comparing each row's key with its neighbour's. Every function here assumes
the frame is sorted by `key` and then by the sequence order, and never mixes groups.
"""

from __future__ import annotations

import polars as pl


def _index() -> pl.Expr:
    return pl.int_range(pl.len(), dtype=pl.Int64)


def starts_group(key: str) -> pl.Expr:
    """True on the first row of each group."""
    return pl.col(key).ne_missing(pl.col(key).shift(1))


def _group_start_index(key: str) -> pl.Expr:
    return pl.when(starts_group(key)).then(_index()).forward_fill()


def shift_in(expr: pl.Expr | str, key: str, n: int = 1) -> pl.Expr:
    """`expr` from `n` rows before (after, when negative) in the same group; null at the edge."""
    expr = pl.col(expr) if isinstance(expr, str) else expr
    return pl.when(pl.col(key).eq_missing(pl.col(key).shift(n))).then(expr.shift(n))


def row_number(key: str) -> pl.Expr:
    """1, 2, 3, … within each group."""
    return _index() - _group_start_index(key) + 1


def forward_fill_in(expr: pl.Expr | str, key: str) -> pl.Expr:
    """`expr` with nulls filled from the last non-null value earlier in the same group."""
    expr = pl.col(expr) if isinstance(expr, str) else expr
    last_set = pl.when(expr.is_not_null()).then(_index()).forward_fill()
    return pl.when(last_set >= _group_start_index(key)).then(expr.forward_fill())


def any_before(flag: pl.Expr, key: str) -> pl.Expr:
    """True where `flag` held on some earlier row of the same group (not this row)."""
    last_true = pl.when(flag).then(_index()).forward_fill().shift(1)
    return (last_true >= _group_start_index(key)).fill_null(False)


def last_in_group(expr: pl.Expr | str, key: str) -> pl.Expr:
    """The value of `expr` on the last row of each group, on every row of the group."""
    expr = pl.col(expr) if isinstance(expr, str) else expr
    ends = pl.col(key).ne_missing(pl.col(key).shift(-1))
    end_index = pl.when(ends).then(_index()).backward_fill()
    return expr.gather(end_index)


def ends_group(key: str) -> pl.Expr:
    """True on the last row of each group."""
    return pl.col(key).ne_missing(pl.col(key).shift(-1))


def any_so_far(flag: pl.Expr, key: str) -> pl.Expr:
    """True where `flag` held on this row or an earlier one of the same group; on a group's
    last row, whether it held anywhere in the group."""
    return flag.fill_null(False) | any_before(flag.fill_null(False), key)


def last_index_where(flag: pl.Expr, key: str) -> pl.Expr:
    """Row index of the latest row (this one included) of the same group where `flag` held;
    null before the first. Gather with it instead of forward-filling wide columns."""
    return forward_fill_in(pl.when(flag).then(_index()), key)
