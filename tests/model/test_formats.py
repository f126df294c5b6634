"""One formatting layer (model/formats.py): each kind on hand-worked values, unknown,
negatives and rounding edges; the polars text columns agree with the scalar texts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import formats as f

UNKNOWNS = [None, math.nan]


@pytest.mark.parametrize("fn", [f.fmt_money, f.fmt_money_compact, f.fmt_percent, f.fmt_points,
                                f.fmt_days, f.fmt_hours, f.fmt_count, f.fmt_ratio, f.fmt_score,
                                f.fmt_change])  # fmt: skip
@pytest.mark.parametrize("value", UNKNOWNS, ids=["none", "nan"])
def test_unknown_reads_as_a_dash_never_none_nan_or_zero(fn, value):
    assert fn(value) == "—"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (13983.29, "$13,983"),  # the observed velocity: to the dollar, with a comma
        (0, "$0"),  # a known zero is $0
        (0.49, "$0"),
        (0.5, "$1"),  # half away from zero
        (-0.4, "$0"),  # no "-$0"
        (-1234.5, "-$1,235"),
        (1_234_567.8, "$1,234,568"),
    ],
)
def test_money_exact_for_tables(value, text):
    assert f.fmt_money(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (950, "$950"),
        (999.49, "$999"),
        (999.5, "$1k"),  # rounds to 1,000 dollars: the next unit, never "$1000"
        (45_600, "$46k"),
        (13_983.29, "$14k"),
        (999_499, "$999k"),
        (999_500, "$1M"),  # 999.5k rounds to 1,000k: "$1M", never "$1000k"
        (1_234_567, "$1.2M"),
        (1_250_000, "$1.3M"),  # 12.5 tenths → 13, half away from zero
        (2_000_000, "$2M"),  # the ".0" trimmed, as a chart axis writes it
        (999_949_999, "$999.9M"),
        (999_950_000, "$1B"),
        (2.5e9, "$2.5B"),
        (-45_600, "-$46k"),
        (-0.3, "$0"),
    ],
)
def test_money_compact_for_headlines(value, text):
    assert f.fmt_money_compact(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.4178, "41.8%"),
        (0.2249, "22.5%"),  # 22.49 → 22.5
        (0.42349, "42.3%"),
        (0.42351, "42.4%"),
        (0, "0.0%"),
        (1, "100.0%"),
        (-0.25, "-25.0%"),  # a bias below zero
        (-0.00004, "0.0%"),  # rounds to nothing: no sign
        (12.5, "1,250.0%"),
    ],
)
def test_percent_one_decimal(value, text):
    assert f.fmt_percent(value) == text


def test_points_of_a_rate_change_signed_with_a_real_minus():
    # 0.2249 − 0.4178 = −0.1929 → −19.29 points → "−19.3 pts" (U+2212)
    assert f.fmt_points(0.2249 - 0.4178) == "−19.3 pts"
    assert f.fmt_points(0.05) == "+5.0 pts"
    assert f.fmt_points(0.00004) == "0.0 pts"  # no "+0.0"


def test_other_kinds():
    assert f.fmt_days(12.46) == "12.5 days" and f.fmt_days(0) == "0.0 days"
    assert f.fmt_hours(3.45) == "3.5 h"  # 34.5 tenths → 35
    assert f.fmt_count(1234) == "1,234" and f.fmt_count(-2) == "-2"
    assert f.fmt_ratio(1.44) == "1.4×" and f.fmt_ratio(2.95) == "3.0×"
    assert f.fmt_score(71.5) == "72"
    assert f.fmt_change(2.45) == "+2.5" and f.fmt_change(-2.45) == "−2.5"
    assert f.fmt_change(0.04) == "0.0" and f.fmt_change(3, decimals=0) == "+3"


def test_dates_in_the_reporting_time_zone():
    late = datetime(2026, 11, 16, 23, 30, tzinfo=UTC)  # 00:30 the next day in Berlin (CET)
    assert f.fmt_date(late, "Europe/Berlin") == "2026-11-17"
    assert f.fmt_date(late) == "2026-11-16"
    assert f.fmt_date(date(2026, 1, 2)) == "2026-01-02"
    assert f.fmt_datetime(late, "Europe/Berlin") == "2026-11-17 00:30 CET"
    assert f.fmt_datetime(datetime(2026, 7, 1, 12, 0), "America/New_York") == "2026-07-01 08:00 EDT"
    assert f.fmt_date(None) == "—" and f.fmt_datetime(None) == "—"


def test_fmt_dispatches_by_kind():
    assert f.fmt(0.5, f.PERCENT) == "50.0%" and f.fmt(1500, "money") == "$1,500"
    assert f.fmt(1.234, f.NUMBER) == "1.23"


def test_kinds_carry_the_grid_and_axis_formats():
    assert (f.PERCENT.grid, f.PERCENT.step, f.PERCENT.d3) == ("percent", 0.001, ".1%")
    assert (f.MONEY.grid, f.MONEY.step, f.MONEY.d3) == ("dollar", 1, "$,.0f")
    assert f.kind_of_column("win_rate_count") is f.PERCENT
    assert f.kind_of_column("stalled_amount") is f.MONEY
    assert f.kind_of_column("velocity") is f.MONEY
    assert f.kind_of_column("median_days") is f.DAYS
    assert f.kind_of_column("coverage") is f.RATIO
    assert f.kind_of_column("won") is f.NUMBER
    assert f.kind_of_grid("percent") is f.PERCENT and f.kind_of_grid("%.1f d") is f.DAYS
    assert f.kind_of_grid("%.3e") is None
    # a page's own money, rate and day formats get the house style; counts and ratios stay
    assert f.house_kind("amount", "dollar") is f.MONEY
    assert f.house_kind("stalled_amount", "compact") is f.MONEY
    assert f.house_kind("side_a_value", "compact") is None  # a count or an amount
    assert f.house_kind("age_days", "%.0f d") is f.DAYS
    assert f.house_kind("win_rate", "percent") is f.PERCENT
    assert f.house_kind("coverage", "%.1f×") is None


def test_csv_file_name_says_the_view():
    name = f.csv_file_name("pipeline", "stalled_deals", teams=("NA Mid-Market", "EMEA"),
                           period="2026-Q4", as_of="2026-11-16")  # fmt: skip
    assert name == "pipeline-stalled-deals-EMEA+NA-Mid-Market-2026-Q4-asof-2026-11-16.csv"
    whole = f.csv_file_name("scorecard", "headline", teams=(), period="ttm", as_of="2026-11-16")
    assert whole == "scorecard-headline-all-teams-ttm-asof-2026-11-16.csv"


def test_text_columns_match_the_scalars_on_the_edges():
    values = [None, math.nan, 0, 0.5, -0.4, 999.5, 999_500, 1_250_000, 999_950_000, -1234.5]
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Float64})
    got = frame.select(
        f.money_text("v").alias("m"),
        f.money_text("v", compact=True).alias("c"),
        f.percent_text(pl.col("v") / 1e6).alias("p"),
        f.days_text("v").alias("d"),
        f.count_text("v").alias("n"),
    )
    scaled = [None if v is None else v / 1e6 for v in values]
    assert got["m"].to_list() == [f.fmt_money(v) for v in values]
    assert got["c"].to_list() == [f.fmt_money_compact(v) for v in values]
    assert got["p"].to_list() == [f.fmt_percent(v) for v in scaled]
    assert got["d"].to_list() == [f.fmt_days(v) for v in values]
    assert got["n"].to_list() == [f.fmt_count(v) for v in values]
    assert f.money_text("v").meta.output_name() == "v"  # keeps the column's name


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(min_value=-1e13, max_value=1e13, allow_nan=False), max_size=30))
def test_text_columns_always_agree_with_the_scalars(values):
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Float64})
    got = frame.select(
        m=f.money_text("v"), c=f.money_text("v", compact=True), p=f.percent_text("v")
    )
    assert got["m"].to_list() == [f.fmt_money(v) for v in values]
    assert got["c"].to_list() == [f.fmt_money_compact(v) for v in values]
    assert got["p"].to_list() == [f.fmt_percent(v) for v in values]


@settings(deadline=None, max_examples=30)
@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), max_size=20))
def test_row_order_never_changes_a_text(values):
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Float64})
    forward = frame.with_columns(t=f.money_text("v", compact=True))
    backward = frame.reverse().with_columns(t=f.money_text("v", compact=True)).reverse()
    assert forward.equals(backward)


def test_a_move_reads_then_now_and_the_change_in_its_kind():
    # 0.4178 → 0.2249: 41.8% → 22.5%, 22.49 − 41.78 = −19.29 points
    assert f.fmt_move(0.4178, 0.2249, f.PERCENT) == "41.8% → 22.5% (−19.3 pts)"
    assert f.fmt_move(1_200_000, 1_500_000, "money") == "$1.2M → $1.5M (+$300k)"
    assert f.fmt_move(12, 9.5, f.DAYS) == "12.0 days → 9.5 days (−2.5 days)"
    assert f.fmt_move(40, 83, f.SCORE) == "40 → 83 (+43)"
    assert f.fmt_move(0.5, 0.5, f.PERCENT) == "50.0% → 50.0% (0.0 pts)"
    assert f.fmt_move(None, 0.5, f.PERCENT) == "— → 50.0%"  # no change from an unknown


@pytest.mark.parametrize(
    ("before", "after", "mark"),
    [(0.4178, 0.2249, "▼"), (0.2, 0.3, "▲"), (5, 5, "•"), (None, 1, "•"), (1, math.nan, "•")],
)
def test_the_arrow_follows_the_value_never_the_score(before, after, mark):
    assert f.arrow(before, after) == mark
