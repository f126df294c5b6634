"""Forecast integrity on tiny hand-made orgs; expected numbers worked out in comments.

Calendar: 2026-Q1 = [Jan 1, Apr 1), Q2 = [Apr 1, Jul 1), Q3 = [Jul 1, Oct 1).
Weeks of Q2: week 1 = Apr 1–7, week 2 = Apr 8–14, week 3 = Apr 15–21, week 5 = Apr 29–May 5.
"""

from __future__ import annotations

import random
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from model.calendar import parse_period
from model.params import ForecastParams
from model.tables import Tables
from scoring import forecast as fc
from scoring.definitions import MetricDefinition
from tests.conftest import frame, ts

Q1, Q2, Q3 = (parse_period(f"2026-Q{q}") for q in (1, 2, 3))
PARAMS = ForecastParams()  # commit, lock week 3, late within 14 days

STAGES = {  # stage: (position, is_closed, is_won)
    "Qualify": (1, False, False),
    "Negotiate": (2, False, False),
    "Won": (3, True, True),
    "Lost": (4, True, False),
}


def users() -> pl.DataFrame:
    rows = [("UE", "East"), ("UW", "West"), ("UN", "North"), ("R1", "South"), ("R2", "South")]
    return frame("users", [{"user_id": u, "team": t, "function": "sales"} for u, t in rows])


def stages() -> pl.DataFrame:
    return frame(
        "stages",
        [
            {"stage": s, "position": p, "owner_function": "sales", "is_closed": c, "is_won": w}
            for s, (p, c, w) in STAGES.items()
        ],
    )


def opp(opp_id, owner, stage, amount, close, *, cat="commit", src="sales", created="2026-01-01"):
    _, closed, won = STAGES[stage]
    return {
        "opp_id": opp_id,
        "owner_id": owner,
        "stage": stage,
        "amount": float(amount),
        "created_at": ts(f"{created}T00:00:00"),
        "close_date": close,
        "is_closed": closed,
        "is_won": won,
        "forecast_category": cat,
        "sourced_by": src,
    }


def hist(opp_id, at, stage, amount, close, cat="commit"):
    return {
        "opp_id": opp_id,
        "stage": stage,
        "entered_at": ts(at),
        "amount": float(amount),
        "close_date": close,
        "forecast_category": cat,
    }


def sub(team, period, at, amount, *, category="commit", owner=None):
    return {
        "period": period,
        "team": team,
        "owner_id": owner,
        "submitted_at": ts(at),
        "category": category,
        "amount": float(amount),
    }


def tables(opps, history=(), forecasts=None) -> Tables:
    frames = {
        "users": users(),
        "stages": stages(),
        "opportunities": frame("opportunities", list(opps)),
        "stage_history": frame("stage_history", list(history)),
    }
    if forecasts is not None:
        frames["forecasts"] = frame("forecasts", list(forecasts))
    return Tables.from_frames(frames)


# ---------------------------------------------------------------------------------------
# Accuracy fixture: Q1 and Q2 complete, Q3 in progress (as of 2026-07-15)
# ---------------------------------------------------------------------------------------
# Won deals (no history: current values stand):
#   East  Q1: E0 1000            Q2: E1 600 + E2 400 = 1000     Q3 (to date): E3 250
#   West  Q1: W0 200             Q2: W1 500
#   North Q2: nothing won (actual 0)
# Commit submissions:
#   East  Q1 800 (bias (800−1000)/1000 = −0.2)
#   East  Q2 Apr 2 1000, Apr 6 1200 (both week 1: the later, 1200, stands), Apr 30 900 (week 5)
#         → at lock week 3: 1200; variance 200, accuracy 1 − 200/1000 = 0.8, bias +0.2, ratio 1.2
#   West  Q1 100 (bias (100−200)/200 = −0.5)
#   West  Q2 Apr 10 400 (week 2) → variance −100, accuracy 0.8, bias −0.2, ratio 0.8
#   North Q2 Apr 3 300 → actual 0: variance 300, accuracy/bias/ratio null
#   East  Q3 Jul 2 3000 → in progress, nothing judged
#   South Q2: R1 Apr 2 100 (week 1), R2 Apr 9 50 (week 2) → week 1: 100, week 2: 100 + 50 = 150
AS_OF = date(2026, 7, 15)


def accuracy_tables(*, with_north: bool = True, with_forecasts: bool = True) -> Tables:
    opps = [
        opp("E0", "UE", "Won", 1000, date(2026, 2, 10)),
        opp("E1", "UE", "Won", 600, date(2026, 5, 1)),
        opp("E2", "UE", "Won", 400, date(2026, 6, 30)),
        opp("E3", "UE", "Won", 250, date(2026, 7, 10)),
        opp("W0", "UW", "Won", 200, date(2026, 3, 31)),
        opp("W1", "UW", "Won", 500, date(2026, 4, 1)),
        opp("X1", "UW", "Lost", 999, date(2026, 5, 1)),  # lost: never an actual
    ]
    subs = [
        sub("East", "2026-Q1", "2026-01-05T09:00:00", 800),
        sub("East", "2026-Q2", "2026-04-02T09:00:00", 1000),
        sub("East", "2026-Q2", "2026-04-06T09:00:00", 1200),
        sub("East", "2026-Q2", "2026-04-30T09:00:00", 900),
        sub("East", "2026-Q2", "2026-04-06T09:00:00", 5000, category="pipeline"),
        sub("West", "2026-Q1", "2026-01-05T09:00:00", 100),
        sub("West", "2026-Q2", "2026-04-10T09:00:00", 400),
        sub("East", "2026-Q3", "2026-07-02T09:00:00", 3000),
        sub("East", "2026-Q3", "2026-07-20T09:00:00", 9999),  # after as-of: unseen
    ]
    if with_north:
        subs.append(sub("North", "2026-Q2", "2026-04-03T09:00:00", 300))
    return tables(opps, forecasts=subs if with_forecasts else None)


def test_actuals_per_team_and_period():
    got = fc.actuals(accuracy_tables(), periods=[Q1, Q2, Q3], as_of=AS_OF)
    expected = pl.DataFrame(
        {
            "team": ["East", "East", "East", "West", "West"],
            "period": ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q1", "2026-Q2"],
            "actual": [1000.0, 1000.0, 250.0, 200.0, 500.0],
            "won_count": [1, 2, 1, 1, 1],
            "is_complete": [True, True, False, True, True],
        },
        schema_overrides={"won_count": pl.Int32},
    )
    assert_frame_equal(got, expected)


def test_accuracy_over_and_under_forecasting_teams():
    got = fc.forecast_accuracy(accuracy_tables(), periods=[Q2], as_of=AS_OF, params=PARAMS)
    east, north, west = got.rows(named=True)
    # East over-forecast: 1200 vs 1000 (the week-1 1200 stands at lock; week 5's 900 is later)
    assert (east["team"], east["week"], east["forecast"], east["actual"]) == (
        "East",
        1,
        1200.0,
        1000.0,
    )
    assert east["variance"] == 200.0
    assert east["accuracy"] == pytest.approx(0.8)
    assert east["bias"] == pytest.approx(0.2)
    assert east["ratio"] == pytest.approx(1.2)
    assert east["accuracy_vs_forecast"] == pytest.approx(1 - 200 / 1200)
    assert east["variance_pct"] == pytest.approx(200 / 1200)
    # West under-forecast: 400 vs 500
    assert (west["forecast"], west["actual"], west["variance"]) == (400.0, 500.0, -100.0)
    assert west["accuracy"] == pytest.approx(0.8)
    assert west["bias"] == pytest.approx(-0.2)
    assert west["ratio"] == pytest.approx(0.8)
    # North: nothing won → accuracy, bias and ratio are null, not inf
    assert (north["forecast"], north["actual"], north["variance"]) == (300.0, 0.0, 300.0)
    assert north["accuracy"] is None and north["bias"] is None and north["ratio"] is None


def test_in_progress_period_is_flagged_and_not_judged():
    got = fc.forecast_accuracy(accuracy_tables(), periods=[Q3], as_of=AS_OF, params=PARAMS)
    # East Q3: 3000 submitted Jul 2; the Jul 20 submission is after the as-of date.
    assert got.select("team", "forecast", "actual", "is_complete").rows() == [
        ("East", 3000.0, 250.0, False)
    ]
    assert got.select("variance", "accuracy", "bias", "ratio").row(0) == (None,) * 4


def test_variance_keeps_latest_submission_in_each_week():
    got = fc.forecast_variance(accuracy_tables(), periods=[Q2], as_of=AS_OF, params=PARAMS)
    east = got.filter(team="East", category="commit")
    # week 1: Apr 2 (1000) and Apr 6 (1200) → 1200; week 5: 900 → variance −100, accuracy 0.9
    assert east.select("week", "forecast", "variance").rows() == [
        (1, 1200.0, 200.0),
        (5, 900.0, -100.0),
    ]
    assert east["accuracy"].to_list() == pytest.approx([0.8, 0.9])
    assert east["submitted_at"][0] == ts("2026-04-06T09:00:00")
    # every category is reported against the same actual: pipeline 5000 vs 1000 → ratio 5
    pipe = got.filter(team="East", category="pipeline")
    assert pipe.select("week", "forecast", "ratio").rows() == [(1, 5000.0, 5.0)]


def test_team_forecast_sums_each_submitters_latest_call():
    south = [
        sub("South", "2026-Q2", "2026-04-02T09:00:00", 100, owner="R1"),
        sub("South", "2026-Q2", "2026-04-09T09:00:00", 50, owner="R2"),
    ]
    got = fc.forecast_variance(
        tables([], forecasts=south), periods=[Q2], as_of=AS_OF, params=PARAMS
    )
    # week 1: R1 100; week 2: R1's 100 carried + R2's 50 = 150
    assert got.select("week", "forecast", "submitters").rows() == [(1, 100.0, 1), (2, 150.0, 2)]


def test_a_managers_call_is_the_team_figure_not_added_to_the_reps():
    # South: reps R1, R2 report to manager M. Week 1: R1 100 (no call yet → reps' sum 100).
    # Week 2: R2 50 and M's call 180, which holds the reps' numbers → 180, not 100 + 50 + 180.
    # Week 3: only R1 updates (120): M's call of week 2 still stands → 180.
    south = [
        sub("South", "2026-Q2", "2026-04-02T09:00:00", 100, owner="R1"),
        sub("South", "2026-Q2", "2026-04-09T09:00:00", 50, owner="R2"),
        sub("South", "2026-Q2", "2026-04-10T09:00:00", 180, owner="M"),
        sub("South", "2026-Q2", "2026-04-16T09:00:00", 120, owner="R1"),
    ]
    people = [("M", None), ("R1", "M"), ("R2", "M")]
    frames = dict(tables([], forecasts=south).frames)
    frames["users"] = frame(
        "users",
        [{"user_id": u, "team": "South", "function": "sales", "manager_id": m} for u, m in people],
    )
    t = Tables.from_frames({k: v for k, v in frames.items() if k not in {"quotas", "leads"}})
    levels = fc.submission_levels(t).collect().sort("submitted_at")
    assert levels["level"].to_list() == ["owner", "owner", "team", "owner"]
    got = fc.forecast_variance(t, periods=[Q2], as_of=AS_OF, params=PARAMS)
    assert got.select("week", "forecast", "submitters").rows() == [
        (1, 100.0, 1),
        (2, 180.0, 1),
        (3, 180.0, 1),
    ]


def test_wape_across_two_teams():
    t = accuracy_tables(with_north=False)
    got = fc.wape(t, periods=[Q2, Q3], as_of=AS_OF, params=PARAMS)
    q2, q3 = got.rows(named=True)
    # Q2: |1200 − 1000| + |400 − 500| = 300 over ΣA = 1500 → 0.2; bias (200 − 100) / 1500
    assert (q2["teams"], q2["abs_error"], q2["actual"]) == (2, 300.0, 1500.0)
    assert q2["wape"] == pytest.approx(0.2)
    assert q2["bias"] == pytest.approx(100 / 1500)
    # Q3 in progress: not judged
    assert (q3["is_complete"], q3["wape"], q3["bias"]) == (False, None, None)


# ---------------------------------------------------------------------------------------
# Roll-ups: misses in opposite directions add up in WAPE and net out in the pooled bias
# ---------------------------------------------------------------------------------------
# Q2 (complete at AS_OF), each team's commit call submitted in week 1 stands at lock:
#   East  F 600, A 800 → F − A = −200, bias −200 / 800 = −0.25 (25 % low)
#   West  F 780, A 600 → F − A = +180, bias +180 / 600 = +0.30 (30 % high)
# ΣA = 1400, ΣF = 1380.
#   pooled bias = (−200 + 180) / 1400 = −20 / 1400 = −0.0142857 (≈ −1 %: looks fine)
#   WAPE = (200 + 180) / 1400 = 380 / 1400 = 0.271429 → company accuracy 1 − WAPE = 0.728571
#   spread: min −0.25 (East), max +0.30 (West); both beyond the ±10 % band → teams_off 2 of
#   2 judged, off_actual 1400, off_share 1400 / 1400 = 1.0
# With North on target too (F 630, A 600: +30, bias +0.05, inside the band):
#   ΣA = 2000; WAPE = (200 + 180 + 30) / 2000 = 0.205; pooled (−200 + 180 + 30) / 2000 =
#   +0.005; teams_off 2 of 3, off_actual 1400, off_share 1400 / 2000 = 0.7


def offsetting_tables(*, with_north: bool = False) -> Tables:
    opps = [
        opp("OE", "UE", "Won", 800, date(2026, 5, 10)),
        opp("OW", "UW", "Won", 600, date(2026, 5, 20)),
    ]
    subs = [
        sub("East", "2026-Q2", "2026-04-02T09:00:00", 600),
        sub("West", "2026-Q2", "2026-04-02T09:00:00", 780),
    ]
    if with_north:
        opps.append(opp("ON", "UN", "Won", 600, date(2026, 6, 1)))
        subs.append(sub("North", "2026-Q2", "2026-04-02T09:00:00", 630))
    return tables(opps, forecasts=subs)


def test_rollup_adds_offsetting_misses_and_shows_the_spread():
    (q2,) = fc.wape(offsetting_tables(), periods=[Q2], as_of=AS_OF, params=PARAMS).rows(named=True)
    assert (q2["teams"], q2["forecast"], q2["actual"]) == (2, 1380.0, 1400.0)
    assert (q2["abs_error"], q2["signed_error"]) == (380.0, -20.0)
    assert q2["bias"] == pytest.approx(-20 / 1400)  # pooled: looks on target
    assert q2["wape"] == pytest.approx(380 / 1400)  # the misses add up
    assert 1 - q2["wape"] == pytest.approx(0.728571, abs=1e-6)
    assert (q2["bias_min_team"], q2["bias_max_team"]) == ("East", "West")
    assert q2["bias_min"] == pytest.approx(-0.25) and q2["bias_max"] == pytest.approx(0.30)
    assert (q2["teams_judged"], q2["teams_off"], q2["off_actual"]) == (2, 2, 1400.0)
    assert q2["off_share"] == pytest.approx(1.0)


def test_rollup_off_share_counts_only_teams_beyond_the_band():
    (q2,) = fc.wape(
        offsetting_tables(with_north=True), periods=[Q2], as_of=AS_OF, params=PARAMS
    ).rows(named=True)
    assert q2["wape"] == pytest.approx(0.205) and q2["bias"] == pytest.approx(0.005)
    assert (q2["teams_judged"], q2["teams_off"], q2["off_actual"]) == (3, 2, 1400.0)
    assert q2["off_share"] == pytest.approx(0.7)
    # A band of 26 %: East (25 % low) is inside it now; only West's 600 of 2000 is off.
    wide = ForecastParams(miss_band=0.26)
    (q2,) = fc.wape(
        offsetting_tables(with_north=True), periods=[Q2], as_of=AS_OF, params=wide
    ).rows(named=True)
    assert (q2["teams_off"], q2["off_actual"]) == (1, 600.0)
    assert q2["off_share"] == pytest.approx(0.3)


def test_rollup_spread_of_an_in_progress_period_is_not_measured():
    got = fc.wape(accuracy_tables(), periods=[Q3], as_of=AS_OF, params=PARAMS)
    spread = ["bias_min", "bias_min_team", "bias_max", "bias_max_team", "teams_off", "off_share"]
    assert got.select(spread).row(0) == (None,) * len(spread)
    assert got["teams_judged"].to_list() == [0]


def test_rollup_spread_leaves_out_a_team_with_nothing_won():
    # accuracy_tables' Q2: East +0.2, West −0.2, North F 300 with A 0 (no bias) → 2 judged.
    (q2,) = fc.wape(accuracy_tables(), periods=[Q2], as_of=AS_OF, params=PARAMS).rows(named=True)
    assert (q2["teams"], q2["teams_judged"]) == (3, 2)
    assert (q2["bias_min_team"], q2["bias_max_team"]) == ("West", "East")
    # North's 300 still counts in WAPE: (200 + 100 + 300) / 1500 = 0.4
    assert q2["wape"] == pytest.approx(0.4)


def test_trend_shows_persistent_negative_bias():
    t = accuracy_tables(with_north=False)
    got = fc.forecast_trend(t, periods=[Q1, Q2, Q3], as_of=AS_OF, params=PARAMS)
    east, west = got.rows(named=True)
    # West: Q1 −0.5, Q2 −0.2 → mean −0.35, sandbagging. East: Q1 −0.2, Q2 +0.2 → mixed.
    assert west["period"] == ["2026-Q1", "2026-Q2"]
    assert west["bias"] == pytest.approx([-0.5, -0.2])
    assert west["accuracy"] == pytest.approx([0.5, 0.8])
    assert west["mean_bias"] == pytest.approx(-0.35)
    assert (west["periods_under"], west["pattern"]) == (2, "sandbagging")
    assert east["bias"] == pytest.approx([-0.2, 0.2])
    assert east["mean_bias"] == pytest.approx(0.0)
    assert (east["periods_over"], east["periods_under"], east["pattern"]) == (1, 1, "mixed")


def test_missing_forecasts_table_is_not_available():
    present = accuracy_tables()
    absent = accuracy_tables(with_forecasts=False)
    assert fc.forecast_status(present) is None
    assert "forecasts" in fc.forecast_status(absent)
    for metric in (fc.forecast_variance, fc.forecast_accuracy, fc.wape, fc.forecast_trend):
        full = metric(present, periods=[Q1, Q2], as_of=AS_OF, params=PARAMS)
        empty = metric(absent, periods=[Q1, Q2], as_of=AS_OF, params=PARAMS)
        assert empty.is_empty() and not full.is_empty()
        assert empty.schema == full.schema
    empty = fc.forecast_miss_decomposition(absent, period=Q2, as_of=AS_OF, params=PARAMS)
    assert empty.is_empty()


# ---------------------------------------------------------------------------------------
# Slippage (Q3, as of 2026-10-05: complete)
# ---------------------------------------------------------------------------------------
# East, open at Jul 1 with close date in Q3:
#   S1 1000: close Aug 15 → (Aug 1) Sep 20 (+36 days) → (Aug 20) Sep 5 (−15, a pull-in: not a
#            push) → (Sep 10) Oct 20 (+45) → slipped, pushes 2, push_days 36 + 45 = 81
#   K1  500: close Sep 1, won Sep 1 → not slipped
#   T1  500: close Sep 25, never touched, still open after the period ended → slipped, 0 pushes
# P1 (East) had close date Oct 15 at Jul 1 and was pulled in to Aug 30: never in scope.
# East: pipeline 2000, slipped 1500 → slip_rate 0.75; pushes per slipped deal (2 + 0) / 2 = 1
def slip_tables() -> Tables:
    opps = [
        opp("S1", "UE", "Negotiate", 1000, date(2026, 10, 20)),
        opp("K1", "UE", "Won", 500, date(2026, 9, 1)),
        opp("T1", "UE", "Negotiate", 500, date(2026, 9, 25)),
        opp("P1", "UE", "Negotiate", 700, date(2026, 8, 30)),
    ]
    history = [
        hist("S1", "2026-06-01T10:00:00", "Negotiate", 1000, date(2026, 8, 15)),
        hist("S1", "2026-08-01T10:00:00", "Negotiate", 1000, date(2026, 9, 20)),
        hist("S1", "2026-08-20T10:00:00", "Negotiate", 1000, date(2026, 9, 5)),
        hist("S1", "2026-09-10T10:00:00", "Negotiate", 1000, date(2026, 10, 20)),
        hist("K1", "2026-06-01T10:00:00", "Negotiate", 500, date(2026, 9, 1)),
        hist("K1", "2026-09-01T10:00:00", "Won", 500, date(2026, 9, 1), "closed"),
        hist("T1", "2026-06-01T10:00:00", "Negotiate", 500, date(2026, 9, 25)),
        hist("P1", "2026-06-01T10:00:00", "Negotiate", 700, date(2026, 10, 15)),
        hist("P1", "2026-07-10T10:00:00", "Negotiate", 700, date(2026, 8, 30)),
    ]
    return tables(opps, history)


def test_slipped_deal_with_two_pushes_and_pulled_in_deal_not_slipped():
    got = fc.slipped_deals(slip_tables(), period=Q3, as_of=date(2026, 10, 5))
    assert got.select(
        "opp_id", "amount_at_start", "close_date_at_start", "close_date_now", "pushes", "push_days"
    ).rows() == [
        ("S1", 1000.0, date(2026, 8, 15), date(2026, 10, 20), 2, 81),
        ("T1", 500.0, date(2026, 9, 25), date(2026, 9, 25), 0, 0),
    ]


def test_slip_summary_rate_and_pushes_per_deal():
    got = fc.slip_summary(slip_tables(), period=Q3, as_of=date(2026, 10, 5))
    row = got.row(0, named=True)
    assert (row["team"], row["pipeline_count"], row["pipeline_amount"]) == ("East", 3, 2000.0)
    assert (row["slipped_count"], row["slipped_amount"]) == (2, 1500.0)
    assert row["slip_rate"] == pytest.approx(0.75)
    assert row["pushes_per_deal"] == pytest.approx(1.0)


def test_nothing_slipped_mid_period():
    # Aug 10: S1's close date is Sep 20 (still in Q3) and Q3 is not over → nothing slipped.
    assert fc.slipped_deals(slip_tables(), period=Q3, as_of=date(2026, 8, 10)).is_empty()


# ---------------------------------------------------------------------------------------
# Late-surfaced risk (Q3, period end Oct 1, as of Oct 5, late = within 14 days)
# ---------------------------------------------------------------------------------------
# D1 East 800: commit at start; Sep 26 downgraded to best_case → Oct 1 − Sep 26 = 5 days: late
# D2 East 300: pipeline at start, commit Jul 5; lost Aug 1 → 61 days: early
# D3 West 400: commit at start, won Sep 5 → no risk
# D4 West 600: commit at start with close date Sep 30, never updated, period over → "missed",
#              surfaced Oct 1, 0 days: late
# D5 West 200: commit at start; Jul 20 close date pushed to Oct 15 → 73 days: early
# Summary: East 2 deals, 1100, median (5 + 61) / 2 = 33, late share 0.5
#          West 2 deals,  800, median (0 + 73) / 2 = 36.5, late share 0.5
def late_tables() -> Tables:
    opps = [
        opp("D1", "UE", "Negotiate", 800, date(2026, 9, 15), cat="best_case"),
        opp("D2", "UE", "Lost", 300, date(2026, 8, 1), cat="omitted"),
        opp("D3", "UW", "Won", 400, date(2026, 9, 5), cat="closed"),
        opp("D4", "UW", "Negotiate", 600, date(2026, 9, 30)),
        opp("D5", "UW", "Negotiate", 200, date(2026, 10, 15)),
    ]
    history = [
        hist("D1", "2026-06-01T10:00:00", "Negotiate", 800, date(2026, 9, 15)),
        hist("D1", "2026-09-26T10:00:00", "Negotiate", 800, date(2026, 9, 15), "best_case"),
        hist("D2", "2026-06-01T10:00:00", "Qualify", 300, date(2026, 9, 10), "pipeline"),
        hist("D2", "2026-07-05T10:00:00", "Negotiate", 300, date(2026, 9, 10)),
        hist("D2", "2026-08-01T10:00:00", "Lost", 300, date(2026, 8, 1), "omitted"),
        hist("D3", "2026-06-01T10:00:00", "Negotiate", 400, date(2026, 9, 5)),
        hist("D3", "2026-09-05T10:00:00", "Won", 400, date(2026, 9, 5), "closed"),
        hist("D4", "2026-06-01T10:00:00", "Negotiate", 600, date(2026, 9, 30)),
        hist("D5", "2026-06-01T10:00:00", "Negotiate", 200, date(2026, 8, 31)),
        hist("D5", "2026-07-20T10:00:00", "Negotiate", 200, date(2026, 10, 15)),
    ]
    return tables(opps, history)


def test_late_downgrade_flagged_early_loss_not():
    got = fc.late_risk(late_tables(), period=Q3, as_of=date(2026, 10, 5), params=PARAMS)
    assert got.select(
        "opp_id", "reason", "surfaced_date", "days_before_period_end", "late"
    ).rows() == [
        ("D1", "downgraded", date(2026, 9, 26), 5, True),
        ("D2", "lost", date(2026, 8, 1), 61, False),
        ("D4", "missed", date(2026, 10, 1), 0, True),
        ("D5", "pushed", date(2026, 7, 20), 73, False),
    ]
    assert got.filter(opp_id="D2")["committed_at"][0] == ts("2026-07-05T10:00:00")


def test_late_risk_summary():
    got = fc.late_risk_summary(late_tables(), period=Q3, as_of=date(2026, 10, 5), params=PARAMS)
    assert got.select("team", "risk_count", "risk_amount", "late_count").rows() == [
        ("East", 2, 1100.0, 1),
        ("West", 2, 800.0, 1),
    ]
    assert got["median_days_before_end"].to_list() == pytest.approx([33.0, 36.5])
    assert got["late_share"].to_list() == pytest.approx([0.5, 0.5])


def test_late_days_parameter_moves_the_line():
    # With late_days = 4 the 5-days-before downgrade is no longer late.
    got = fc.late_risk(
        late_tables(), period=Q3, as_of=date(2026, 10, 5), params=ForecastParams(late_days=4)
    )
    assert got.filter(opp_id="D1")["late"].to_list() == [False]


# ---------------------------------------------------------------------------------------
# Forecast miss decomposition (Q3, lock week 3 ends Jul 21, as of Oct 5)
# ---------------------------------------------------------------------------------------
# East commit call Jul 10 (week 2): F = 2000. In commit at Jul 21:
#   A1 1000 marketing, close Aug 15 → won Aug 15 at 1200: amount change +200
#   A2  500 sales,     close Sep 1  → pushed to Oct 15 (open): slipped 500
#   A3  300 marketing, close Sep 10 → lost Sep 5: lost 300
#   A4  100 sales,     won Jul 10 (already won at lock, counts as committed): change 0
# Not in commit at lock: A5 400 partner (pipeline) → won Sep 20: unforecast win 400
# A = 1200 + 100 + 400 = 1700; miss = 1700 − 2000 = −300
# explained = 400 − 500 − 300 − 0 + 200 = −200 → residual = −300 − (−200) = −100
#           = Σ committed at lock (1000 + 500 + 300 + 100 = 1900) − F (2000)
def miss_tables() -> Tables:
    opps = [
        opp("A1", "UE", "Won", 1200, date(2026, 8, 15), cat="closed", src="marketing"),
        opp("A2", "UE", "Negotiate", 500, date(2026, 10, 15)),
        opp("A3", "UE", "Lost", 300, date(2026, 9, 5), cat="omitted", src="marketing"),
        opp("A4", "UE", "Won", 100, date(2026, 7, 10), cat="closed"),
        opp("A5", "UE", "Won", 400, date(2026, 9, 20), cat="closed", src="partner"),
    ]
    history = [
        hist("A1", "2026-06-01T10:00:00", "Negotiate", 1000, date(2026, 8, 15)),
        hist("A1", "2026-08-15T10:00:00", "Won", 1200, date(2026, 8, 15), "closed"),
        hist("A2", "2026-06-01T10:00:00", "Negotiate", 500, date(2026, 9, 1)),
        hist("A2", "2026-08-20T10:00:00", "Negotiate", 500, date(2026, 10, 15)),
        hist("A3", "2026-06-01T10:00:00", "Negotiate", 300, date(2026, 9, 10)),
        hist("A3", "2026-09-05T10:00:00", "Lost", 300, date(2026, 9, 5), "omitted"),
        hist("A4", "2026-06-01T10:00:00", "Negotiate", 100, date(2026, 7, 10)),
        hist("A4", "2026-07-10T10:00:00", "Won", 100, date(2026, 7, 10), "closed"),
        hist("A5", "2026-06-01T10:00:00", "Qualify", 400, date(2026, 9, 20), "pipeline"),
        hist("A5", "2026-09-20T10:00:00", "Won", 400, date(2026, 9, 20), "closed"),
    ]
    subs = [sub("East", "2026-Q3", "2026-07-10T09:00:00", 2000)]
    return tables(opps, history, subs)


def test_miss_decomposition_sums_exactly_to_the_miss():
    got = fc.forecast_miss_decomposition(
        miss_tables(), period=Q3, as_of=date(2026, 10, 5), params=PARAMS
    )
    cols = ["sourced_by", "forecast", "actual", "miss", *fc.MISS_COMPONENTS, "residual"]
    assert got.select(cols).rows() == [
        # source   F       A       miss    unfc   slip   lost   open  chg    resid
        ("(all)", 2000.0, 1700.0, -300.0, 400.0, 500.0, 300.0, 0.0, 200.0, -100.0),
        ("marketing", None, 1200.0, None, 0.0, 0.0, 300.0, 0.0, 200.0, None),
        ("partner", None, 400.0, None, 400.0, 0.0, 0.0, 0.0, 0.0, None),
        ("sales", None, 100.0, None, 0.0, 500.0, 0.0, 0.0, 0.0, None),
    ]
    team = got.row(0, named=True)
    parts = team["unforecast_wins"] - team["slipped"] - team["lost"] - team["still_open"]
    assert parts + team["amount_changes"] + team["residual"] == team["miss"]
    assert team["residual"] == team["committed_at_lock"] - team["forecast"]  # 1900 − 2000


def test_miss_deals_buckets_and_mid_period_still_open():
    deals = fc.forecast_miss_deals(miss_tables(), period=Q3, as_of=date(2026, 10, 5), params=PARAMS)
    assert dict(deals.select("opp_id", "bucket").rows()) == {
        "A1": "won",
        "A2": "slipped",
        "A3": "lost",
        "A4": "won",
        "A5": "unforecast_win",
    }
    assert deals["contribution"].sum() == pytest.approx(-200.0)  # the explained part
    # Aug 1: A1 and A2 and A3 are still open in commit with Q3 close dates → still_open.
    mid = fc.forecast_miss_deals(miss_tables(), period=Q3, as_of=date(2026, 8, 1), params=PARAMS)
    assert dict(mid.select("opp_id", "bucket").rows()) == {
        "A1": "still_open",
        "A2": "still_open",
        "A3": "still_open",
        "A4": "won",
    }


# ---------------------------------------------------------------------------------------
# Definitions and invariants
# ---------------------------------------------------------------------------------------


def test_definitions_cover_every_metric():
    ids = {d.id for d in fc.DEFINITIONS}
    assert ids == {
        "forecast_accuracy",
        "forecast_accuracy.ratio",
        "forecast_accuracy.vs_forecast",
        "forecast_accuracy.variance_pct",
        "forecast_bias",
        "forecast_accuracy.company",
        "forecast_bias.pooled",
        "forecast_bias.spread",
        "forecast_bias.off_share",
        "wape",
        "slip_rate",
        "pushes_per_deal",
        "late_risk_share",
        "forecast_miss_decomposition",
    }
    assert all(
        isinstance(d, MetricDefinition) and d.question == "forecast_integrity"
        for d in fc.DEFINITIONS
    )


@settings(max_examples=30, deadline=None)
@given(f=st.integers(0, 10_000), a=st.integers(1, 10_000))
def test_bias_sign_matches_forecast_vs_actual(f: int, a: int):
    t = tables(
        [opp("O1", "UE", "Won", a, date(2026, 5, 1))],
        forecasts=[sub("East", "2026-Q2", "2026-04-02T09:00:00", f)],
    )
    row = fc.forecast_accuracy(t, periods=[Q2], as_of=AS_OF, params=PARAMS).row(0, named=True)
    assert (row["bias"] > 0) == (f > a) and (row["bias"] < 0) == (f < a)
    assert row["accuracy"] <= 1.0
    assert row["ratio"] == pytest.approx(f / a)


@settings(max_examples=25, deadline=None)
@given(
    calls=st.lists(st.tuples(st.integers(0, 5_000), st.integers(1, 5_000)), min_size=1, max_size=3)
)
def test_rollup_errors_never_cancel(calls: list[tuple[int, int]]):
    # Per team (F, A), A > 0: the pooled bias is the A-weighted mean of the team biases, so it
    # lies within their spread, and |Σ(F − A)| ≤ Σ|F − A| means |pooled bias| ≤ WAPE.
    owners = [("UE", "East"), ("UW", "West"), ("UN", "North")]
    opps, subs = [], []
    for (owner, team), (f, a) in zip(owners, calls, strict=False):
        opps.append(opp(f"O{owner}", owner, "Won", a, date(2026, 5, 1)))
        subs.append(sub(team, "2026-Q2", "2026-04-02T09:00:00", f))
    (row,) = fc.wape(tables(opps, forecasts=subs), periods=[Q2], as_of=AS_OF, params=PARAMS).rows(
        named=True
    )
    assert abs(row["bias"]) <= row["wape"] + 1e-12
    assert row["bias_min"] - 1e-12 <= row["bias"] <= row["bias_max"] + 1e-12
    assert row["teams_judged"] == len(calls) and 0 <= row["off_share"] <= 1


def _shuffled(t: Tables, rng: random.Random) -> Tables:
    frames = {}
    for name, lf in t.frames.items():
        if name in t.missing:
            continue
        df = lf.collect()
        order = list(range(df.height))
        rng.shuffle(order)
        frames[name] = df[order]
    return Tables.from_frames(frames)


@settings(max_examples=10, deadline=None)
@given(rng=st.randoms(use_true_random=False))
def test_results_do_not_depend_on_row_order(rng: random.Random):
    as_of = date(2026, 10, 5)
    for build, calls in (
        (lambda: accuracy_tables(), ("variance", "trend")),
        (slip_tables, ("slipped",)),
        (late_tables, ("late",)),
        (miss_tables, ("miss",)),
    ):
        base = build()
        shuffled = _shuffled(base, rng)
        for call in calls:
            assert_frame_equal(_run(call, shuffled, as_of), _run(call, base, as_of))


def _run(call: str, t: Tables, as_of: date) -> pl.DataFrame:
    if call == "variance":
        return fc.forecast_variance(t, periods=[Q1, Q2, Q3], as_of=as_of, params=PARAMS)
    if call == "trend":
        return fc.forecast_trend(t, periods=[Q1, Q2, Q3], as_of=as_of, params=PARAMS)
    if call == "slipped":
        return fc.slip_summary(t, period=Q3, as_of=as_of)
    if call == "late":
        return fc.late_risk(t, period=Q3, as_of=as_of, params=PARAMS)
    return fc.forecast_miss_decomposition(t, period=Q3, as_of=as_of, params=PARAMS)
