"""Pipeline health: win rate, sales cycle, coverage, velocity and the pipeline waterfall.

Fixtures are tiny hand-made orgs; expected numbers are worked out in the comments.
Period throughout: 2026-Q3 = [2026-07-01, 2026-10-01); as-of 2026-08-15 unless stated.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from model.calendar import parse_period
from model.params import PipelineParams
from model.schema import TABLES
from model.tables import Tables
from scoring.pipeline import (
    ALL_TEAMS,
    BUCKETS,
    DEFINITIONS,
    QUOTAS_MISSING,
    closed_deals,
    coverage,
    open_pipeline_rows,
    pipeline_waterfall,
    sales_cycle,
    velocity,
    waterfall_rows,
    win_rate,
)

Q3 = parse_period("2026-Q3")
AS_OF = date(2026, 8, 15)
PARAMS = PipelineParams()  # qualified from position 2 (Discovery)

STAGES = [
    # stage, position, owner_function, is_closed, is_won
    ("Qualification", 1, "sdr", False, False),
    ("Discovery", 2, "sales", False, False),
    ("Proposal", 3, "sales", False, False),
    ("Negotiation", 4, "sales", False, False),
    ("Contracting", 5, "other", False, False),
    ("Closed Won", 6, "sales", True, True),
    ("Closed Lost", 7, "sales", True, False),
]
_CLOSED = {s[0]: (s[3], s[4]) for s in STAGES}
USERS = [("u1", "East"), ("u2", "West"), ("u3", "West"), ("u4", "North")]

# A history event: (day, stage, amount, close_date); the first one is the creation.
Event = tuple[date, str, float | None, date | None]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def deal(
    opp_id: str, owner: str, events: list[Event], sourced_by: str = "sales"
) -> tuple[dict, list[dict]]:
    """An opportunity created at its first event (noon UTC) whose current state is its last."""
    created, *_ = events[0]
    _, stage, amount, close = events[-1]
    is_closed, is_won = _CLOSED[stage]
    opp = {
        "opp_id": opp_id,
        "owner_id": owner,
        "stage": stage,
        "amount": amount,
        "created_at": _at(created),
        "close_date": close,
        "is_closed": is_closed,
        "is_won": is_won,
        "sourced_by": sourced_by,
    }
    history = [
        {"opp_id": opp_id, "stage": s, "entered_at": _at(d), "amount": a, "close_date": c}
        for d, s, a, c in events
    ]
    return opp, history


def make_tables(deals: list[tuple[dict, list[dict]]], quotas: list[dict] | None = None) -> Tables:
    frames: dict[str, pl.DataFrame] = {
        "users": pl.DataFrame(
            {"user_id": [u for u, _ in USERS], "team": [t for _, t in USERS]}
        ).with_columns(function=pl.lit("sales").cast(TABLES["users"].columns["function"].dtype)),
        "stages": pl.DataFrame(
            STAGES,
            schema=["stage", "position", "owner_function", "is_closed", "is_won"],
            orient="row",
        ).with_columns(
            pl.col("position").cast(pl.Int32),
            pl.col("owner_function").cast(TABLES["stages"].columns["owner_function"].dtype),
        ),
        "opportunities": _typed("opportunities", [o for o, _ in deals]),
        "stage_history": _typed("stage_history", [h for _, hs in deals for h in hs]),
    }
    if quotas is not None:
        frames["quotas"] = _typed("quotas", quotas)
    return Tables.from_frames(frames)


def _typed(name: str, rows: list[dict]) -> pl.DataFrame:
    """Rows (all with the same keys) typed as the canonical table; empty -> full schema."""
    schema = TABLES[name].polars_schema
    return pl.DataFrame(rows, schema={c: t for c, t in schema.items() if not rows or c in rows[0]})


def _row(frame: pl.DataFrame, **keys: str) -> dict:
    match = frame.filter(*[pl.col(k) == v for k, v in keys.items()])
    assert match.height == 1, match
    return match.row(0, named=True)


# --- win rate and sales cycle -------------------------------------------------------------

D = date


def _closed_org() -> Tables:
    return make_tables(
        [
            # East: won 100; lost 300 and 100 -> count 1/3, amount 100/500 = 0.2
            # e1 cycle: created 2026-06-01, closed 2026-07-11 -> 40 days
            deal("e1", "u1", [(D(2026, 6, 1), "Closed Won", 100.0, D(2026, 7, 11))]),
            deal("e2", "u1", [(D(2026, 6, 1), "Closed Lost", 300.0, D(2026, 7, 12))]),
            deal("e3", "u1", [(D(2026, 6, 1), "Closed Lost", 100.0, D(2026, 9, 30))]),
            # closed in Q2 and still open: not counted
            deal("e4", "u1", [(D(2026, 5, 1), "Closed Won", 999.0, D(2026, 6, 30))]),
            deal("e5", "u1", [(D(2026, 5, 1), "Proposal", 999.0, D(2026, 9, 1))]),
            deal("e6", "u1", [(D(2026, 5, 1), "Closed Won", 999.0, D(2026, 10, 1))]),
            # West: won 400 and 200, lost 400 -> count 2/3, amount 600/1000 = 0.6
            # w1: 2026-05-02 -> 2026-07-01 = 60 days; w2: 2026-07-01 -> 2026-07-31 = 30 days
            deal("w1", "u2", [(D(2026, 5, 2), "Closed Won", 400.0, D(2026, 7, 1))]),
            deal("w2", "u3", [(D(2026, 7, 1), "Closed Won", 200.0, D(2026, 7, 31))]),
            deal("w3", "u3", [(D(2026, 7, 1), "Closed Lost", 400.0, D(2026, 8, 31))]),
            # North: nothing closed -> zeros and null rates
            deal("n1", "u4", [(D(2026, 7, 1), "Discovery", 50.0, D(2026, 9, 1))]),
        ]
    )


def test_win_rate_by_count_and_by_amount_differ() -> None:
    got = win_rate(_closed_org(), period=Q3)
    # All teams: won 3 of 6 -> 0.5; amount 700 / 1500
    expected = pl.DataFrame(
        {
            "team": [ALL_TEAMS, "East", "North", "West"],
            "won": [3, 1, 0, 2],
            "lost": [3, 2, 0, 1],
            "won_amount": [700.0, 100.0, 0.0, 600.0],
            "lost_amount": [800.0, 400.0, 0.0, 400.0],
            "win_rate_count": [0.5, 1 / 3, None, 2 / 3],
            "win_rate_amount": [700 / 1500, 0.2, None, 0.6],
        }
    )
    assert_frame_equal(got, expected)


def test_win_rate_as_of_a_day_counts_the_deals_closed_by_then() -> None:
    # a1 is created 2026-07-01 in Proposal with close date 07-20, and lost on 07-20; a2 is
    # won on 07-10. As of 07-15 only a2 has closed: won 1 of 1. As of 07-31 (or with no
    # as-of: the records as they are now) a1 is lost too: won 1 of 2. A later snapshot read
    # as of an earlier day must not count a deal lost after that day.
    tables = make_tables(
        [
            deal("a1", "u1", [(D(2026, 7, 1), "Proposal", 100.0, D(2026, 7, 20)),
                              (D(2026, 7, 20), "Closed Lost", 100.0, D(2026, 7, 20))]),
            deal("a2", "u1", [(D(2026, 7, 1), "Proposal", 50.0, D(2026, 7, 10)),
                              (D(2026, 7, 10), "Closed Won", 50.0, D(2026, 7, 10))]),
        ]
    )  # fmt: skip
    early = _row(win_rate(tables, period=Q3, as_of=D(2026, 7, 15)), team=ALL_TEAMS)
    late = _row(win_rate(tables, period=Q3, as_of=D(2026, 7, 31)), team=ALL_TEAMS)
    now = _row(win_rate(tables, period=Q3), team=ALL_TEAMS)
    assert (early["won"], early["lost"], early["win_rate_count"]) == (1, 0, 1.0)
    assert (late["won"], late["lost"], late["win_rate_count"]) == (1, 1, 0.5)
    assert (now["won"], now["lost"]) == (1, 1)
    cycle = _row(sales_cycle(tables, period=Q3, as_of=D(2026, 7, 15)), team=ALL_TEAMS)
    assert (cycle["won"], cycle["cycle_days_median"]) == (1, 9.0)  # 07-01 noon → 07-10


def test_win_rate_with_no_closed_deals_is_null() -> None:
    got = win_rate(_closed_org(), period=parse_period("2030-Q1"))
    assert got["won"].to_list() == [0, 0, 0, 0]
    assert got["win_rate_count"].null_count() == 4
    assert got["win_rate_amount"].null_count() == 4


def test_sales_cycle_median_and_mean() -> None:
    got = sales_cycle(_closed_org(), period=Q3)
    expected = pl.DataFrame(
        {
            "team": [ALL_TEAMS, "East", "North", "West"],
            "won": [3, 1, 0, 2],
            # All: 40, 60, 30 -> median 40, mean 130/3; West: 60, 30 -> 45
            "cycle_days_median": [40.0, 40.0, None, 45.0],
            "cycle_days_mean": [130 / 3, 40.0, None, 45.0],
            "cycle_days_excluded": [0, 0, 0, 0],
        }
    )
    assert_frame_equal(got, expected)


def _impossible_cycle_org() -> Tables:
    # Three deals won in Q3 by East (created and closed at noon UTC):
    #   i1 2026-07-01 → 2026-07-11: 10 days
    #   i2 2026-07-01 → 2026-07-21: 20 days
    #   i3 created 2026-11-02, closed 2026-07-16: 2026-07-16 − 2026-11-02 = −109 days: impossible
    # Median of the possible cycles (10, 20) = 15, mean 15; i3 is left out and counted.
    # With i3 the median would have been 10 and the mean (10 + 20 − 109) / 3 = −26.3.
    return make_tables(
        [
            deal("i1", "u1", [(D(2026, 7, 1), "Closed Won", 100.0, D(2026, 7, 11))]),
            deal("i2", "u1", [(D(2026, 7, 1), "Closed Won", 100.0, D(2026, 7, 21))]),
            deal("i3", "u1", [(D(2026, 11, 2), "Closed Won", 100.0, D(2026, 7, 16))]),
        ]
    )


def test_sales_cycle_leaves_out_a_close_date_before_creation() -> None:
    from scoring.quality import quality_check_rows, quality_checks

    tables = _impossible_cycle_org()
    got = _row(sales_cycle(tables, period=Q3), team="East")
    assert (got["won"], got["cycle_days_median"], got["cycle_days_mean"]) == (3, 15.0, 15.0)
    assert got["cycle_days_excluded"] == 1
    # The drill-down keeps the deal, with its impossible cycle, so it can be traced.
    assert _row(closed_deals(tables, period=Q3), opp_id="i3")["cycle_days"] == -109
    # …and the data-quality check counts it: close date before creation, 1 of 3.
    checks = quality_checks(tables, as_of=date(2026, 11, 16))
    check = _row(checks, check_id="opp_close_before_created")
    assert (check["failing"], check["total"]) == (1, 3)
    rows = quality_check_rows(tables, as_of=date(2026, 11, 16), check_id="opp_close_before_created")
    assert rows["opp_id"].to_list() == ["i3"]


def test_velocity_cycle_average_leaves_out_a_close_date_before_creation() -> None:
    # The three deals above in the trailing year of 2026-Q4 (as of 2026-11-16): the average
    # cycle is (10 + 20) / 2 = 15, not (10 + 20 − 109) / 3; no open deals → velocity 0.
    got = velocity(
        _impossible_cycle_org(), period=parse_period("2026-Q4"), as_of=date(2026, 11, 16),
        params=PARAMS,
    )  # fmt: skip
    east = _row(got, team="East")
    assert (east["avg_cycle_days"], east["win_rate_count"], east["velocity"]) == (15.0, 1.0, 0.0)


def test_closed_deals_drill_down_lists_the_deals_behind_win_rate() -> None:
    got = closed_deals(_closed_org(), period=Q3)
    assert got["opp_id"].to_list() == ["e1", "e2", "e3", "w1", "w2", "w3"]
    assert _row(got, opp_id="w1")["cycle_days"] == 60


# --- coverage and velocity ----------------------------------------------------------------


def _coverage_deals() -> list[tuple[dict, list[dict]]]:
    return [
        # East pipeline at 2026-08-15, close date in Q3, qualified:
        deal("o1", "u1", [(D(2026, 6, 1), "Proposal", 200.0, D(2026, 9, 10))]),  # in: 200
        deal("o2", "u1", [(D(2026, 6, 1), "Qualification", 500.0, D(2026, 9, 1))]),  # unqualified
        deal("o3", "u1", [(D(2026, 6, 1), "Discovery", 100.0, D(2026, 11, 1))]),  # Q4 close
        deal("o4", "u1", [(D(2026, 6, 1), "Closed Won", 150.0, D(2026, 7, 20))]),  # won 150
        deal("o5", "u1", [(D(2026, 8, 20), "Negotiation", 300.0, D(2026, 9, 30))]),  # not yet
        # Negotiation at as-of (in: 250), won only on 2026-08-20 -> not closed-won yet
        deal(
            "o6",
            "u1",
            [
                (D(2026, 6, 1), "Negotiation", 250.0, D(2026, 9, 15)),
                (D(2026, 8, 20), "Closed Won", 250.0, D(2026, 8, 20)),
            ],
        ),
        # West: won 600, pipeline 100
        deal("o7", "u2", [(D(2026, 6, 1), "Closed Won", 600.0, D(2026, 7, 15))]),
        deal("o8", "u3", [(D(2026, 6, 1), "Contracting", 100.0, D(2026, 8, 30))]),
        # Trailing 4 quarters [2025-07-01, 2026-07-01), East only: won t1 400 (60 days) and
        # t2 200 (40 days), lost t3, t4 -> win rate 0.5, avg won 300, avg cycle 50 days
        deal("t1", "u1", [(D(2026, 1, 9), "Closed Won", 400.0, D(2026, 3, 10))]),
        deal("t2", "u1", [(D(2025, 10, 1), "Closed Won", 200.0, D(2025, 11, 10))]),
        deal("t3", "u1", [(D(2025, 10, 1), "Closed Lost", 900.0, D(2025, 12, 1))]),
        deal("t4", "u1", [(D(2025, 10, 1), "Closed Lost", 900.0, D(2026, 6, 30))]),
        # closed before the trailing window: ignored
        deal("t5", "u1", [(D(2025, 1, 1), "Closed Lost", 900.0, D(2025, 6, 30))]),
    ]


QUOTAS = [
    {"period": "2026-Q3", "team": "East", "owner_id": None, "amount": 1000.0},
    {"period": "2026-Q3", "team": "West", "owner_id": "u2", "amount": 300.0},
    {"period": "2026-Q3", "team": "West", "owner_id": "u3", "amount": 200.0},
    {"period": "2026-Q2", "team": "East", "owner_id": None, "amount": 5000.0},  # other period
]


def test_coverage_with_quotas() -> None:
    got = coverage(make_tables(_coverage_deals(), QUOTAS), period=Q3, as_of=AS_OF, params=PARAMS)
    expected = pl.DataFrame(
        {
            "team": [ALL_TEAMS, "East", "West"],
            # East 200 + 250; West 100
            "open_pipeline": [550.0, 450.0, 100.0],
            # East team row 1000; West = reps 300 + 200; All = 1500
            "quota": [1500.0, 1000.0, 500.0],
            "closed_won_to_date": [750.0, 150.0, 600.0],
            # West: max(500 - 600, 0) = 0
            "remaining_quota": [750.0, 850.0, 0.0],
            # West: remaining 0 -> null
            "coverage": [550 / 750, 450 / 850, None],
            "coverage_salesforce_inverse": [750 / 550, 850 / 450, 0.0],
            # trailing win rate 0.5 -> 2x; West never closed -> null
            "required_coverage": [2.0, 2.0, None],
            "open_without_amount": [0, 0, 0],
            "notes": pl.Series([None, None, None], dtype=pl.String),
        }
    )
    assert_frame_equal(got, expected)


def test_open_deals_without_an_amount_are_counted_apart_from_the_pipeline() -> None:
    # o9: East, qualified, closing in Q3, amount unknown. The pipeline stays the known
    # amounts (East 450, All 550), and o9 is counted: East 1, All teams 1, West 0.
    deals = [
        *_coverage_deals(),
        deal("o9", "u1", [(D(2026, 6, 1), "Proposal", None, D(2026, 9, 20))]),
    ]
    got = coverage(make_tables(deals, QUOTAS), period=Q3, as_of=AS_OF, params=PARAMS)
    assert got.select("team", "open_pipeline", "open_without_amount").rows() == [
        (ALL_TEAMS, 550.0, 1), ("East", 450.0, 1), ("West", 100.0, 0),
    ]  # fmt: skip


def test_coverage_without_quotas_table_says_so() -> None:
    got = coverage(make_tables(_coverage_deals()), period=Q3, as_of=AS_OF, params=PARAMS)
    assert got["open_pipeline"].to_list() == [550.0, 450.0, 100.0]
    assert got["quota"].null_count() == 3
    assert got["coverage"].null_count() == 3
    assert got["notes"].to_list() == [QUOTAS_MISSING] * 3


def test_coverage_team_without_quota_row_is_flagged() -> None:
    east_only = [q for q in QUOTAS if q["team"] == "East"]
    got = coverage(make_tables(_coverage_deals(), east_only), period=Q3, as_of=AS_OF, params=PARAMS)
    west = _row(got, team="West")
    assert west["quota"] is None and west["coverage"] is None
    assert west["notes"] == "no quota for 2026-Q3"
    # All teams quota = the quotas that exist (East 1000)
    assert _row(got, team=ALL_TEAMS)["quota"] == 1000.0


def test_open_pipeline_rows_are_the_coverage_numerator() -> None:
    got = open_pipeline_rows(make_tables(_coverage_deals()), period=Q3, as_of=AS_OF, params=PARAMS)
    assert got["opp_id"].to_list() == ["o1", "o6", "o8"]
    assert got["amount"].sum() == 550.0


def test_velocity() -> None:
    got = velocity(make_tables(_coverage_deals()), period=Q3, as_of=AS_OF, params=PARAMS)
    expected = pl.DataFrame(
        {
            "team": [ALL_TEAMS, "East", "West"],
            # open qualified at as-of, any close date: East o1, o3, o6; West o8
            "qualified_open_opps": [4, 3, 1],
            "win_rate_count": [0.5, 0.5, None],
            "avg_won_amount": [300.0, 300.0, None],
            "avg_cycle_days": [50.0, 50.0, None],
            # East: 3 x 0.5 x 300 / 50 = 9 $/day; All: 4 x 0.5 x 300 / 50 = 12
            "velocity": [12.0, 9.0, None],
        }
    )
    assert_frame_equal(got, expected)


# --- pipeline waterfall -------------------------------------------------------------------


def _waterfall_deals() -> list[tuple[dict, list[dict]]]:
    """One deal per bucket. Window: 2026-07-01 00:00 to 2026-08-15 end of day."""
    return [
        # unchanged: start 100, end 100 (its change on 08-25 is after the window)
        deal(
            "u",
            "u1",
            [
                (D(2026, 5, 1), "Proposal", 100.0, D(2026, 9, 15)),
                (D(2026, 8, 25), "Proposal", 999.0, D(2026, 9, 15)),
            ],
        ),
        # created: +200, end 200
        deal("c", "u1", [(D(2026, 7, 10), "Discovery", 200.0, D(2026, 9, 20))], "marketing"),
        # pulled in from Q4 and raised to 330: pulled in +300 (amount at start), +30, end 330
        deal(
            "p",
            "u1",
            [
                (D(2026, 5, 1), "Discovery", 300.0, D(2026, 11, 15)),
                (D(2026, 7, 20), "Discovery", 330.0, D(2026, 9, 1)),
            ],
            "marketing",
        ),
        # pushed out to Q4 (and cut to 350, which does not matter): start 400, -400
        deal(
            "o",
            "u1",
            [
                (D(2026, 5, 1), "Negotiation", 400.0, D(2026, 8, 31)),
                (D(2026, 8, 1), "Negotiation", 350.0, D(2026, 10, 15)),
            ],
        ),
        # increased: start 500, +150, end 650
        deal(
            "i",
            "u1",
            [
                (D(2026, 5, 1), "Proposal", 500.0, D(2026, 9, 30)),
                (D(2026, 7, 15), "Proposal", 650.0, D(2026, 9, 30)),
            ],
        ),
        # decreased: start 600, -180, end 420
        deal(
            "d",
            "u1",
            [
                (D(2026, 5, 1), "Discovery", 600.0, D(2026, 8, 20)),
                (D(2026, 8, 5), "Discovery", 420.0, D(2026, 8, 20)),
            ],
        ),
        # won: start 700, -700
        deal(
            "w",
            "u1",
            [
                (D(2026, 5, 1), "Negotiation", 700.0, D(2026, 9, 10)),
                (D(2026, 8, 10), "Closed Won", 700.0, D(2026, 8, 10)),
            ],
            "marketing",
        ),
        # lost: start 800, -800
        deal(
            "l",
            "u1",
            [
                (D(2026, 5, 1), "Contracting", 800.0, D(2026, 7, 31)),
                (D(2026, 7, 31), "Closed Lost", 800.0, D(2026, 7, 31)),
            ],
        ),
        # created and won inside the window at a higher amount: created +60, won -60
        deal(
            "x",
            "u1",
            [
                (D(2026, 7, 5), "Discovery", 50.0, D(2026, 9, 1)),
                (D(2026, 7, 25), "Closed Won", 60.0, D(2026, 7, 25)),
            ],
        ),
        # reopened (West): lost in June, reopened into Q3 -> pulled in +90, end 90
        deal(
            "r",
            "u2",
            [
                (D(2026, 3, 1), "Proposal", 90.0, D(2026, 6, 10)),
                (D(2026, 6, 10), "Closed Lost", 90.0, D(2026, 6, 10)),
                (D(2026, 7, 12), "Proposal", 90.0, D(2026, 9, 25)),
            ],
        ),
        # never in range: unqualified all along; created after the window
        deal("z", "u1", [(D(2026, 5, 1), "Qualification", 1000.0, D(2026, 9, 1))]),
        deal("late", "u1", [(D(2026, 8, 20), "Proposal", 1000.0, D(2026, 9, 1))]),
    ]


# start = u100 + o400 + i500 + d600 + w700 + l800 = 3100
# end   = u100 + c200 + p330 + i650 + d420 + r90  = 1790
# 3100 + 260 + 390 + 180 - 180 - 400 - 760 - 800 = 1790
ALL_BUCKETS = {
    "start": 3100.0,
    "created": 260.0,  # c 200 + x 60
    "pulled_in": 390.0,  # p 300 + r 90
    "increased": 180.0,  # i 150 + p 30
    "decreased": -180.0,
    "pushed_out": -400.0,
    "won": -760.0,  # w 700 + x 60
    "lost": -800.0,
    "end": 1790.0,
}


def _buckets(frame: pl.DataFrame, **keys: str) -> dict[str, float]:
    rows = frame.filter(*[pl.col(k) == v for k, v in keys.items()])
    return dict(zip(rows["bucket"].cast(pl.String), rows["amount"], strict=True))


def test_waterfall_one_deal_per_bucket_balances() -> None:
    got = pipeline_waterfall(make_tables(_waterfall_deals()), period=Q3, as_of=AS_OF, params=PARAMS)
    assert got.columns == ["team", "bucket", "amount", "deals"]
    assert _buckets(got, team=ALL_TEAMS) == ALL_BUCKETS
    # West holds only the reopened deal
    west = {b: 0.0 for b in BUCKETS} | {"pulled_in": 90.0, "end": 90.0}
    assert _buckets(got, team="West") == west
    east = _buckets(got, team="East")
    assert east["pulled_in"] == 300.0 and east["end"] == 1700.0
    for team in (ALL_TEAMS, "East", "West"):
        b = _buckets(got, team=team)
        assert sum(v for k, v in b.items() if k != "end") == pytest.approx(b["end"])


def test_waterfall_rows_place_each_deal() -> None:
    rows = waterfall_rows(make_tables(_waterfall_deals()), period=Q3, as_of=AS_OF, params=PARAMS)
    placed = {
        (r["opp_id"], r["bucket"]): r["amount_delta"]
        for r in rows.with_columns(pl.col("bucket").cast(pl.String)).iter_rows(named=True)
    }
    assert placed == {
        ("c", "created"): 200.0,
        ("c", "end"): 200.0,
        ("d", "start"): 600.0,
        ("d", "decreased"): -180.0,
        ("d", "end"): 420.0,
        ("i", "start"): 500.0,
        ("i", "increased"): 150.0,
        ("i", "end"): 650.0,
        ("l", "start"): 800.0,
        ("l", "lost"): -800.0,
        ("o", "start"): 400.0,
        ("o", "pushed_out"): -400.0,
        ("p", "pulled_in"): 300.0,
        ("p", "increased"): 30.0,
        ("p", "end"): 330.0,
        ("r", "pulled_in"): 90.0,
        ("r", "end"): 90.0,
        ("u", "start"): 100.0,
        ("u", "end"): 100.0,
        ("w", "start"): 700.0,
        ("w", "won"): -700.0,
        ("x", "created"): 60.0,
        ("x", "won"): -60.0,
    }
    # drill-down carries the before/after state
    pushed = _row(rows.with_columns(pl.col("bucket").cast(pl.String)), opp_id="o", bucket="start")
    assert pushed["close_date_start"] == D(2026, 8, 31)
    assert pushed["close_date_end"] == D(2026, 10, 15)


def test_waterfall_by_source() -> None:
    got = pipeline_waterfall(
        make_tables(_waterfall_deals()),
        period=Q3,
        as_of=AS_OF,
        params=PARAMS,
        by=("sourced_by",),
    )
    assert got.columns == ["sourced_by", "bucket", "amount", "deals"]
    # marketing: w at start 700, c created 200, p pulled in 300 and +30, w won -700
    # -> end 530 (c 200 + p 330)
    marketing = {b: 0.0 for b in BUCKETS} | {
        "start": 700.0,
        "created": 200.0,
        "pulled_in": 300.0,
        "increased": 30.0,
        "won": -700.0,
        "end": 530.0,
    }
    assert _buckets(got, sourced_by="marketing") == marketing
    sales = _buckets(got, sourced_by="sales")
    assert sales == {b: ALL_BUCKETS[b] - marketing[b] for b in BUCKETS}


def test_waterfall_by_team_and_source_adds_all_teams_per_source() -> None:
    got = pipeline_waterfall(
        make_tables(_waterfall_deals()),
        period=Q3,
        as_of=AS_OF,
        params=PARAMS,
        by=("team", "sourced_by"),
    )
    assert _buckets(got, team=ALL_TEAMS, sourced_by="marketing")["end"] == 530.0
    assert _buckets(got, team="West", sourced_by="sales")["pulled_in"] == 90.0
    # groups: (All, East) x (marketing, sales) + (West, sales) = 5, x 9 buckets
    assert got.height == 9 * 5


def test_waterfall_empty_period() -> None:
    got = pipeline_waterfall(
        make_tables(_waterfall_deals()),
        period=parse_period("2030-Q1"),
        as_of=D(2030, 2, 1),
        params=PARAMS,
    )
    assert got.is_empty()
    assert got.columns == ["team", "bucket", "amount", "deals"]


def test_waterfall_as_of_before_period_shows_only_start_and_end() -> None:
    # window collapses to the period start: nothing moves, start == end == 3100
    got = pipeline_waterfall(
        make_tables(_waterfall_deals()), period=Q3, as_of=D(2026, 6, 1), params=PARAMS
    )
    buckets = _buckets(got, team=ALL_TEAMS)
    assert buckets["start"] == buckets["end"] == 3100.0
    assert all(v == 0.0 for k, v in buckets.items() if k not in ("start", "end"))


def test_waterfall_rejects_unknown_grouping() -> None:
    with pytest.raises(ValueError, match="by must be"):
        pipeline_waterfall(
            make_tables(_waterfall_deals()), period=Q3, as_of=AS_OF, params=PARAMS, by=("stage",)
        )


def test_definitions() -> None:
    ids = {d.id for d in DEFINITIONS}
    assert ids == {
        "win_rate.count",
        "win_rate.amount",
        "sales_cycle_days",
        "coverage",
        "coverage.salesforce_inverse",
        "required_coverage",
        "pipeline_velocity",
        "pipeline_waterfall",
    }
    questions = {d.id: d.question for d in DEFINITIONS}
    assert questions["pipeline_waterfall"] == "forecast_integrity"
    assert questions["coverage"] == questions["win_rate.count"] == "shared_outcomes"


# --- properties -----------------------------------------------------------------------------

# open stages twice as likely as closing ones, so most deals spend time in the pipeline
_STAGE_NAMES = [s[0] for s in STAGES if not s[3]] * 2 + ["Closed Won", "Closed Lost"]


_CLOSE_DATES = [D(2026, 6, 15), D(2026, 7, 20), D(2026, 8, 31), D(2026, 9, 30), D(2026, 10, 1)]


@st.composite
def random_deal(draw: st.DrawFn, opp_id: str) -> tuple[dict, list[dict]]:
    """A deal with 1-4 history rows on strictly increasing days (no same-instant ties),
    created and closing around 2026-Q3 so every bucket is reachable."""
    day = draw(st.sampled_from([D(2026, 5, 1), D(2026, 6, 30), D(2026, 7, 1), D(2026, 8, 1)]))
    events: list[Event] = []
    for _ in range(draw(st.integers(1, 4))):
        stage = draw(st.sampled_from(_STAGE_NAMES))
        amount = draw(st.sampled_from([100.0, 200.0, 300.0, 0.0, None]))
        events.append((day, stage, amount, draw(st.sampled_from(_CLOSE_DATES))))
        day += timedelta(days=draw(st.sampled_from([1, 15, 30, 60])))
    owner = draw(st.sampled_from([u for u, _ in USERS]))
    return deal(opp_id, owner, events, draw(st.sampled_from(["marketing", "sales", "partner"])))


@st.composite
def random_org(draw: st.DrawFn) -> list[tuple[dict, list[dict]]]:
    n = draw(st.integers(0, 8))
    return [draw(random_deal(f"opp{i}")) for i in range(n)]


_AS_OF = st.sampled_from([D(2026, 6, 1), D(2026, 7, 31), D(2026, 8, 15), D(2026, 12, 1)])


@settings(max_examples=75, deadline=None)
@given(org=random_org(), as_of=_AS_OF)
def test_waterfall_always_balances(org: list, as_of: date) -> None:
    tables = make_tables(org)
    got = pipeline_waterfall(
        tables, period=Q3, as_of=as_of, params=PARAMS, by=("team", "sourced_by")
    )
    signed = pl.when(pl.col("bucket") == "end").then(-pl.col("amount")).otherwise("amount")
    residual = got.group_by("team", "sourced_by").agg(signed.sum().abs().alias("r"))
    assert residual.filter(pl.col("r") > 1e-6).is_empty(), residual
    rows = waterfall_rows(tables, period=Q3, as_of=as_of, params=PARAMS)
    per_deal = rows.group_by("opp_id").agg(
        pl.when(pl.col("bucket") == "end")
        .then(-pl.col("amount_delta"))
        .otherwise("amount_delta")
        .sum()
    )
    assert per_deal.filter(pl.col("amount_delta").abs() > 1e-6).is_empty()


def _shuffled(tables: Tables, seed: int) -> Tables:
    rng = random.Random(seed)

    def shuffle(frame: pl.LazyFrame) -> pl.DataFrame:
        df = frame.collect()
        order = list(range(df.height))
        rng.shuffle(order)
        return df[order]

    return Tables.from_frames(
        {
            name: shuffle(frame)
            for name, frame in tables.frames.items()
            if name not in tables.missing
        }
    )


@settings(max_examples=15, deadline=None)
@given(org=random_org(), as_of=_AS_OF, seed=st.integers(0, 10_000))
def test_results_do_not_depend_on_row_order(org: list, as_of: date, seed: int) -> None:
    tables = make_tables(org, QUOTAS)
    shuffled = _shuffled(tables, seed)
    for metric in (coverage, velocity, waterfall_rows, pipeline_waterfall):
        a = metric(tables, period=Q3, as_of=as_of, params=PARAMS)
        b = metric(shuffled, period=Q3, as_of=as_of, params=PARAMS)
        assert_frame_equal(a, b)
    for simple in (win_rate, sales_cycle):
        assert_frame_equal(simple(tables, period=Q3), simple(shuffled, period=Q3))
