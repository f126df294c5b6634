"""Group-sequence expressions agree with polars window expressions (by hand and at random)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scoring.windows import (
    any_before,
    any_so_far,
    ends_group,
    forward_fill_in,
    last_in_group,
    last_index_where,
    row_number,
    shift_in,
)


def _frame() -> pl.DataFrame:
    # Two groups, a and b, sorted by key then t; v has gaps to fill.
    return pl.DataFrame(
        {"k": ["a", "a", "a", "b", "b"], "t": [1, 2, 3, 1, 2], "v": [10, None, 30, None, 50]}
    )


def test_by_hand():
    out = _frame().with_columns(
        prev=shift_in("v", "k"),
        nxt=shift_in("t", "k", -1),
        n=row_number("k"),
        filled=forward_fill_in("v", "k"),
        seen_30=any_before(pl.col("v") == 30, "k"),
        last_t=last_in_group("t", "k"),
    )
    assert out["prev"].to_list() == [None, 10, None, None, None]
    assert out["nxt"].to_list() == [2, 3, None, 2, None]
    assert out["n"].to_list() == [1, 2, 3, 1, 2]
    # b's first value is null and must not inherit a's 30
    assert out["filled"].to_list() == [10, 10, 30, None, 50]
    assert out["seen_30"].to_list() == [False, False, False, False, False]
    assert out["last_t"].to_list() == [3, 3, 3, 2, 2]


def test_group_end_and_running_flags_by_hand():
    out = _frame().with_columns(
        end=ends_group("k"),
        seen_10=any_so_far(pl.col("v") == 10, "k"),
        # index of the latest row with a value, for gathering: b's first row has none yet
        at=last_index_where(pl.col("v").is_not_null(), "k"),
    )
    assert out["end"].to_list() == [False, False, True, False, True]
    assert out["seen_10"].to_list() == [True, True, True, False, False]
    assert out["at"].to_list() == [0, 0, 2, None, 4]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.one_of(st.none(), st.integers(0, 5))), max_size=30
    )
)
def test_agree_with_over(rows):
    frame = pl.DataFrame(
        {"k": [r[0] for r in rows], "v": [r[1] for r in rows]},
        schema={"k": pl.String, "v": pl.Int64},
    ).with_row_index("t")
    frame = frame.sort("k", "t")
    ours = frame.with_columns(
        prev=shift_in("v", "k"),
        nxt=shift_in("v", "k", -1),
        n=row_number("k").cast(pl.UInt32),
        filled=forward_fill_in("v", "k"),
        seen=any_before(pl.col("v") == 3, "k"),
        last=last_in_group("v", "k"),
        ends=ends_group("k"),
        so_far=any_so_far(pl.col("v") == 3, "k"),
        at_3=pl.col("t").gather(last_index_where(pl.col("v") == 3, "k")),
    )
    by_over = frame.with_columns(
        prev=pl.col("v").shift(1).over("k"),
        nxt=pl.col("v").shift(-1).over("k"),
        n=(pl.int_range(pl.len()) + 1).over("k").cast(pl.UInt32),
        filled=pl.col("v").forward_fill().over("k"),
        seen=(pl.col("v") == 3).fill_null(False).cum_max().shift(1, fill_value=False).over("k"),
        last=pl.col("v").last().over("k"),
        ends=(pl.int_range(pl.len()) == pl.len() - 1).over("k"),
        so_far=(pl.col("v") == 3).fill_null(False).cum_max().over("k"),
        at_3=pl.when(pl.col("v") == 3).then("t").forward_fill().over("k"),
    )
    assert_frame_equal(ours, by_over)
