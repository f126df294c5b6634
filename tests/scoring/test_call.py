"""This quarter's call on a tiny hand-made org; expected numbers worked out in comments.

Calendar: UTC, fiscal year from January. As of Wed 2026-11-18 the call is about 2026-Q4 =
[Oct 1, Jan 1). Weeks of Q4 end Oct 7, 14, 21, 28, Nov 4, 11 and (the current one) Nov 18.
"""

from __future__ import annotations

import random
from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from model.calendar import Calendar, parse_period
from model.params import ForecastParams
from model.tables import ALL_TEAMS, Tables
from scoring import call as c
from scoring.scorecard import filter_teams
from tests.conftest import frame, ts

AS_OF = date(2026, 11, 18)
PARAMS = ForecastParams()  # stale after 7 days
Q4 = parse_period("2026-Q4")

STAGES = {  # stage: (position, is_closed, is_won)
    "Qualify": (1, False, False),
    "Negotiate": (2, False, False),
    "Won": (3, True, True),
    "Lost": (4, True, False),
}


def users() -> pl.DataFrame:
    # East: manager ME with reps E1 and E2. West: one rep, nobody reports to anyone.
    rows = [
        ("ME", "Mia East", "East", None),
        ("E1", "Eli One", "East", "ME"),
        ("E2", "Eve Two", "East", "ME"),
        ("W1", "Wes One", "West", None),
        ("N1", "Ned North", "North", None),
    ]
    return frame(
        "users",
        [
            {"user_id": u, "name": n, "team": t, "function": "sales", "manager_id": m}
            for u, n, t, m in rows
        ],
    )


def stages() -> pl.DataFrame:
    return frame(
        "stages",
        [
            {"stage": s, "position": p, "owner_function": "sales", "is_closed": cl, "is_won": w}
            for s, (p, cl, w) in STAGES.items()
        ],
    )


def opp(opp_id, owner, stage, amount, close, cat):
    _, closed, won = STAGES[stage]
    return {
        "opp_id": opp_id,
        "owner_id": owner,
        "stage": stage,
        "amount": None if amount is None else float(amount),
        "created_at": ts("2026-09-01T00:00:00"),
        "close_date": close,
        "is_closed": closed,
        "is_won": won,
        "forecast_category": cat,
    }


def sub(team, at, owner=None, period="2026-Q4", **amounts):
    return [
        {
            "period": period,
            "team": team,
            "owner_id": owner,
            "submitted_at": ts(at),
            "category": category,
            "amount": float(amount),
        }
        for category, amount in amounts.items()
    ]


# East (quota 1,000):
#   A1 won 300 (Nov 2)                          → won 300, 1 deal
#   A2 commit 200, A5 commit amount unknown     → commit 200, 2 deals, 1 unknown
#   A3 best case 100                            → best case 100
#   A4 pipeline 50, A9 most likely 30           → pipeline 80, 2 deals
#   A6 commit 999 closing 2027-01-15, A7 lost 500, A8 omitted 70 → in no bucket
#   gap = 1,000 − 300 = 700; open pipeline = 200 + 100 + 80 = 380; coverage 380/700 = 0.5429
# West (quota 1,000):
#   B1 won 900 (Oct 20) + B2 won 300 (Nov 10)   → won 1,200; B3 commit 100
#   gap = 1,000 − 1,200 = −200: above quota; coverage not measured (no gap)
# All teams: won 1,500; commit 300 (3 deals, 1 unknown); best case 100; pipeline 80;
#   quota 2,000; gap 500; open pipeline 480; coverage 480/500 = 0.96
DEALS = [
    opp("A1", "E1", "Won", 300, date(2026, 11, 2), "closed"),
    opp("A2", "E1", "Negotiate", 200, date(2026, 12, 10), "commit"),
    opp("A3", "E2", "Negotiate", 100, date(2026, 12, 15), "best_case"),
    opp("A4", "E2", "Qualify", 50, date(2026, 12, 20), "pipeline"),
    opp("A5", "E1", "Negotiate", None, date(2026, 12, 5), "commit"),
    opp("A6", "E1", "Negotiate", 999, date(2027, 1, 15), "commit"),
    opp("A7", "E2", "Lost", 500, date(2026, 11, 1), "omitted"),
    opp("A8", "E2", "Qualify", 70, date(2026, 12, 1), "omitted"),
    opp("A9", "ME", "Qualify", 30, date(2026, 12, 3), "most_likely"),
    opp("B1", "W1", "Won", 900, date(2026, 10, 20), "closed"),
    opp("B2", "W1", "Won", 300, date(2026, 11, 10), "closed"),
    opp("B3", "W1", "Negotiate", 100, date(2026, 12, 1), "commit"),
]
NORTH = [opp("N1", "N1", "Negotiate", 40, date(2026, 12, 1), "commit")]

# East: the manager ME's call on Nov 9 (commit 650) is replaced on Nov 16 (700 / 900 / 1,200);
#   reps: E1 Nov 16 (300 / 400), E2 Nov 2 (250 / 300): E2's is 18 − 2 = 16 days old → stale.
#   East's call = ME's latest (a manager's call holds the reps' numbers): 700 / 900 / 1,200,
#   2 days old. Manager adjustment: commit 700 − (300 + 250) = 150, best case
#   900 − (400 + 300) = 200, pipeline: no rep submitted one → not measured (null).
# West: a team call (no owner) on Nov 4: 1,100 / 1,300 / 1,500 → 14 days old → stale. A
#   Q3 submission and one after the as-of date (Nov 20) are ignored.
# All teams: 700 + 1,100 = 1,800 commit, 2,200 best case, 2,700 pipeline; its age is the
#   oldest team call's, 14 days → stale.
SUBMISSIONS = [
    *sub("East", "2026-11-09T10:00:00", "ME", commit=650),
    *sub("East", "2026-11-16T10:00:00", "ME", commit=700, best_case=900, pipeline=1200),
    *sub("East", "2026-11-16T09:00:00", "E1", commit=300, best_case=400),
    *sub("East", "2026-11-02T09:00:00", "E2", commit=250, best_case=300),
    *sub("West", "2026-11-04T12:00:00", commit=1100, best_case=1300, pipeline=1500),
    *sub("West", "2026-08-03T12:00:00", period="2026-Q3", commit=5),
    *sub("West", "2026-11-20T12:00:00", commit=5000),
]
QUOTAS = [
    {"period": "2026-Q4", "team": "East", "owner_id": None, "amount": 1000.0},
    {"period": "2026-Q4", "team": "West", "owner_id": None, "amount": 1000.0},
    {"period": "2026-Q3", "team": "East", "owner_id": None, "amount": 9999.0},
]


def tables(
    deals=DEALS, *, history=(), forecasts=SUBMISSIONS, quotas=QUOTAS, derived=False
) -> Tables:
    frames = {
        "users": users(),
        "stages": stages(),
        "opportunities": frame("opportunities", list(deals)),
        "stage_history": frame("stage_history", list(history)),
    }
    if forecasts is not None:
        frames["forecasts"] = frame("forecasts", list(forecasts))
    if quotas is not None:
        frames["quotas"] = frame("quotas", list(quotas))
    provenance = {"stage_history": "derived from the current stage"} if derived else None
    return Tables.from_frames(frames, provenance=provenance)


def _row(result: pl.DataFrame, team: str) -> dict:
    return result.filter(pl.col("team") == team).row(0, named=True)


# ---------------------------------------------------------------------------------------
# The call arithmetic
# ---------------------------------------------------------------------------------------


def test_the_call_period_is_the_quarter_of_the_as_of_date():
    assert c.call_period(AS_OF, Calendar()) == Q4
    assert c.call_period(date(2026, 11, 18), Calendar(fiscal_start_month=2)).name == "2026-Q4"
    assert c.call_period(date(2027, 1, 31), Calendar(fiscal_start_month=2)).name == "2026-Q4"


def test_buckets_of_a_team_below_quota():
    east = _row(c.call(tables(), as_of=AS_OF, params=PARAMS), "East")
    assert (east["won"], east["won_deals"], east["won_unknown"]) == (300.0, 1, 0)
    assert (east["commit"], east["commit_deals"], east["commit_unknown"]) == (200.0, 2, 1)
    assert (east["best_case"], east["best_case_deals"]) == (100.0, 1)
    assert (east["pipeline"], east["pipeline_deals"]) == (80.0, 2)
    assert (east["quota"], east["gap"], east["open_pipeline"]) == (1000.0, 700.0, 380.0)
    assert east["coverage"] == pytest.approx(380 / 700)
    assert east["quota_status"] == "below quota" and east["notes"] is None
    assert east["period"] == "2026-Q4"


def test_a_team_above_quota_has_a_negative_gap_and_no_coverage():
    west = _row(c.call(tables(), as_of=AS_OF, params=PARAMS), "West")
    assert (west["won"], west["won_deals"], west["commit"]) == (1200.0, 2, 100.0)
    assert west["gap"] == -200.0  # not clipped to 0
    assert west["coverage"] is None
    assert west["quota_status"] == "above quota"
    assert west["notes"] == "above quota: no gap to cover"


def test_all_teams_adds_the_teams_up():
    result = c.call(tables(), as_of=AS_OF, params=PARAMS)
    assert result["team"].to_list() == ["East", "West", ALL_TEAMS]
    total = _row(result, ALL_TEAMS)
    assert (total["won"], total["commit"], total["best_case"], total["pipeline"]) == (
        1500.0, 300.0, 100.0, 80.0,
    )  # fmt: skip
    assert (total["commit_deals"], total["commit_unknown"]) == (3, 1)
    assert (total["quota"], total["gap"], total["open_pipeline"]) == (2000.0, 500.0, 480.0)
    assert total["coverage"] == pytest.approx(0.96)


def test_a_bucket_whose_every_amount_is_unknown_is_not_zero():
    # East's only commit deal has no amount: commit is unknown (null), not $0, and counted.
    deals = [d for d in DEALS if d["opp_id"] != "A2"]
    east = _row(c.call(tables(deals), as_of=AS_OF, params=PARAMS), "East")
    assert east["commit"] is None
    assert (east["commit_deals"], east["commit_unknown"]) == (1, 1)
    # open pipeline holds the known amounts: best case 100 + pipeline 80
    assert east["open_pipeline"] == 180.0


def test_a_team_without_quota_is_not_measured_and_so_is_the_total():
    result = c.call(tables([*DEALS, *NORTH]), as_of=AS_OF, params=PARAMS)
    north = _row(result, "North")
    assert north["commit"] == 40.0
    assert (north["quota"], north["gap"], north["coverage"]) == (None, None, None)
    assert north["quota_status"] == "not measured"
    assert north["notes"] == "not measured: no quota for 2026-Q4"
    total = _row(result, ALL_TEAMS)
    # a total quota without North's would understate the gap
    assert (total["quota"], total["gap"], total["coverage"]) == (None, None, None)
    assert total["notes"] == "not measured: no quota for North"
    assert _row(result, "East")["coverage"] == pytest.approx(380 / 700)  # others unaffected


def test_without_a_quotas_table_the_gap_is_not_measured():
    result = c.call(tables(quotas=None), as_of=AS_OF, params=PARAMS)
    assert result["gap"].null_count() == result.height
    assert set(result["notes"]) == {"not measured: quotas not available"}
    assert set(result["quota_status"]) == {"not measured"}
    assert _row(result, "East")["won"] == 300.0  # the deals are still counted


def test_deals_are_read_as_of_the_end_of_the_as_of_day():
    # As of Nov 1, A1 (won Nov 2) is still open in commit at its Nov 1 state; with no history
    # it keeps its current values, so use a history: commit until Nov 2, won then.
    history = [
        {"opp_id": "A1", "stage": "Negotiate", "entered_at": ts("2026-10-01T00:00:00"),
         "amount": 300.0, "close_date": date(2026, 11, 2), "forecast_category": "commit"},
        {"opp_id": "A1", "stage": "Won", "entered_at": ts("2026-11-02T12:00:00"),
         "amount": 300.0, "close_date": date(2026, 11, 2), "forecast_category": "closed"},
    ]  # fmt: skip
    t = tables([DEALS[0]], history=history)
    before = _row(c.call(t, as_of=date(2026, 11, 1), params=PARAMS), "East")
    after = _row(c.call(t, as_of=date(2026, 11, 2), params=PARAMS), "East")
    assert (before["won"], before["commit"]) == (0.0, 300.0)
    assert (after["won"], after["commit"]) == (300.0, 0.0)


def test_drill_down_lists_the_deals_behind_each_bucket():
    deals = c.call_deals(tables(), as_of=AS_OF)
    east = deals.filter(pl.col("team") == "East")
    assert dict(zip(east["opp_id"], east["bucket"], strict=True)) == {
        "A1": "won", "A2": "commit", "A5": "commit", "A3": "best_case", "A4": "pipeline",
        "A9": "pipeline",
    }  # fmt: skip
    # the drill-down adds up to the call
    result = c.call(tables(), as_of=AS_OF, params=PARAMS)
    sums = deals.group_by("team", "bucket").agg(pl.col("amount").sum())
    for team, bucket, amount in sums.iter_rows():
        assert _row(result, team)[bucket] == amount


# ---------------------------------------------------------------------------------------
# Submissions, staleness and the manager's adjustment
# ---------------------------------------------------------------------------------------


def test_latest_submission_per_team_with_age_and_stale_flag():
    result = c.call(tables(), as_of=AS_OF, params=PARAMS)
    east, west, total = (_row(result, t) for t in ("East", "West", ALL_TEAMS))
    assert (east["call_commit"], east["call_best_case"], east["call_pipeline"]) == (
        700.0, 900.0, 1200.0,
    )  # fmt: skip
    assert (east["call_source"], east["age_days"], east["stale"]) == ("team call", 2, False)
    assert (west["call_commit"], west["age_days"], west["stale"]) == (1100.0, 14, True)
    assert (total["call_commit"], total["call_best_case"], total["call_pipeline"]) == (
        1800.0, 2200.0, 2700.0,
    )  # fmt: skip
    assert (total["age_days"], total["stale"]) == (14, True)


def test_stale_days_is_a_parameter():
    # West's call is 14 days old: stale after 7 days, not after 14.
    lenient = ForecastParams(stale_days=14)
    assert _row(c.call(tables(), as_of=AS_OF, params=lenient), "West")["stale"] is False


def test_submissions_per_team_call_and_per_owner():
    subs = c.submissions(tables(), as_of=AS_OF, params=PARAMS)
    rows = [
        (r["team"], r["level"], r["owner"], r["commit"], r["age_days"], r["stale"])
        for r in subs.iter_rows(named=True)
    ]
    assert rows == [
        ("East", "team", "Mia East", 700.0, 2, False),
        ("East", "owner", "Eli One", 300.0, 2, False),
        ("East", "owner", "Eve Two", 250.0, 16, True),
        ("West", "team", None, 1100.0, 14, True),
    ]
    assert subs.filter(pl.col("owner") == "Eli One")["pipeline"].to_list() == [None]


def test_a_team_of_reps_only_is_called_by_their_sum():
    # Without ME's submissions East's call is the reps' roll-up: 300 + 250 = 550, and its
    # time the newest of them (Nov 16: 2 days old).
    subs = [s for s in SUBMISSIONS if s["owner_id"] != "ME"]
    east = _row(c.call(tables(forecasts=subs), as_of=AS_OF, params=PARAMS), "East")
    assert (east["call_commit"], east["call_best_case"], east["call_pipeline"]) == (
        550.0, 700.0, None,
    )  # fmt: skip
    assert (east["call_source"], east["age_days"]) == ("owners' roll-up", 2)
    assert c.manager_adjustments(tables(forecasts=subs), as_of=AS_OF).is_empty()


def test_manager_adjustment_is_its_own_layer():
    roll = c.manager_adjustments(tables(), as_of=AS_OF)
    rows = [(r["layer"], r["owner"], r["commit"], r["best_case"], r["pipeline"])
            for r in roll.iter_rows(named=True)]  # fmt: skip
    assert rows == [
        ("owner", "Eli One", 300.0, 400.0, None),
        ("owner", "Eve Two", 250.0, 300.0, None),
        ("manager adjustment", None, 150.0, 200.0, None),
        ("team call", None, 700.0, 900.0, 1200.0),
    ]
    assert set(roll["team"]) == {"East"}  # West has no rep submissions


def test_without_forecasts_the_call_has_no_submissions():
    t = tables(forecasts=None)
    assert "no 'forecasts' table" in c.call_status(t)
    result = c.call(t, as_of=AS_OF, params=PARAMS)
    assert result["call_commit"].null_count() == result.height
    assert result["stale"].null_count() == result.height  # unknown, not "fresh"
    assert _row(result, "East")["won"] == 300.0
    assert c.call_status(tables()) is None


# ---------------------------------------------------------------------------------------
# Weekly trend
# ---------------------------------------------------------------------------------------

# A1: commit 300 (close Nov 2) from Oct 1, won Nov 2. A2: pipeline 200 from Oct 1, commit
# from Oct 20. East at each week's end:
#   week  ends     won  commit  submitted commit
#   1     Oct 7      0     300  –            (nobody had submitted)
#   2     Oct 14     0     300  –
#   3     Oct 21     0     500  –            (A2 entered commit on Oct 20)
#   4     Oct 28     0     500  –
#   5     Nov 4    300     200  250          (only E2, Nov 2: the reps' roll-up)
#   6     Nov 11   300     200  650          (ME's call of Nov 9 replaces the roll-up)
#   7     Nov 18   300     200  700          (ME, Nov 16)
TREND_HISTORY = [
    {"opp_id": "A1", "stage": "Negotiate", "entered_at": ts("2026-10-01T00:00:00"),
     "amount": 300.0, "close_date": date(2026, 11, 2), "forecast_category": "commit"},
    {"opp_id": "A1", "stage": "Won", "entered_at": ts("2026-11-02T12:00:00"),
     "amount": 300.0, "close_date": date(2026, 11, 2), "forecast_category": "closed"},
    {"opp_id": "A2", "stage": "Qualify", "entered_at": ts("2026-10-01T00:00:00"),
     "amount": 200.0, "close_date": date(2026, 12, 10), "forecast_category": "pipeline"},
    {"opp_id": "A2", "stage": "Negotiate", "entered_at": ts("2026-10-20T08:00:00"),
     "amount": 200.0, "close_date": date(2026, 12, 10), "forecast_category": "commit"},
]  # fmt: skip


def test_week_ends_of_the_quarter_so_far():
    assert c.week_ends(Q4, AS_OF) == [
        date(2026, 10, 7), date(2026, 10, 14), date(2026, 10, 21), date(2026, 10, 28),
        date(2026, 11, 4), date(2026, 11, 11), date(2026, 11, 18),
    ]  # fmt: skip
    assert c.week_ends(Q4, date(2026, 10, 3)) == [date(2026, 10, 3)]
    assert len(c.week_ends(Q4, date(2027, 2, 1))) == 14  # 13 weeks and Dec 31
    assert c.week_ends(Q4, date(2026, 9, 30)) == []


def test_trend_rebuilds_each_week_from_the_history():
    t = tables(DEALS[:2], history=TREND_HISTORY)
    trend = c.call_trend(t, as_of=AS_OF)
    east = trend.filter(pl.col("team") == "East")
    assert east["week"].to_list() == [1, 2, 3, 4, 5, 6, 7]
    assert east["won"].to_list() == [0, 0, 0, 0, 300, 300, 300]
    assert east["commit"].to_list() == [300, 300, 500, 500, 200, 200, 200]
    assert east["call_commit"].to_list() == [None, None, None, None, 250, 650, 700]
    # All teams adds West's call from Nov 4 (1,100): week 5 = 250 + 1,100
    total = trend.filter(pl.col("team") == ALL_TEAMS)
    assert total["call_commit"].to_list()[4:] == [1350, 1750, 1800]
    # the last week is the call as of today
    today = _row(c.call(t, as_of=AS_OF, params=PARAMS), "East")
    assert (east["won"][-1], east["commit"][-1]) == (today["won"], today["commit"])


def test_trend_is_not_measured_on_a_derived_history():
    t = tables(history=TREND_HISTORY, derived=True)
    assert c.call_trend_status(t) == c.TREND_NOT_MEASURED
    assert "no recorded stage history" in c.TREND_NOT_MEASURED
    assert c.call_trend(t, as_of=AS_OF).is_empty()
    assert c.call_trend_status(tables(history=TREND_HISTORY)) is None
    # the call itself is still measured as of today
    assert _row(c.call(t, as_of=AS_OF, params=PARAMS), "East")["won"] == 300.0


# ---------------------------------------------------------------------------------------
# Invariants
# ---------------------------------------------------------------------------------------


def _shuffled(t: Tables, rng: random.Random) -> Tables:
    frames = {}
    for name, lf in t.frames.items():
        if name in t.missing:
            continue
        df = lf.collect()
        order = list(range(df.height))
        rng.shuffle(order)
        frames[name] = df[order]
    return Tables.from_frames(frames, provenance=t.provenance)


def _all_results(t: Tables, as_of: date = AS_OF) -> dict[str, pl.DataFrame]:
    return {
        "call": c.call(t, as_of=as_of, params=PARAMS),
        "deals": c.call_deals(t, as_of=as_of),
        "submissions": c.submissions(t, as_of=as_of, params=PARAMS),
        "adjustments": c.manager_adjustments(t, as_of=as_of),
        "trend": c.call_trend(t, as_of=as_of),
    }


@settings(max_examples=10, deadline=None)
@given(rng=st.randoms(use_true_random=False))
def test_row_order_never_changes_the_call(rng: random.Random):
    base = tables([*DEALS, *NORTH], history=TREND_HISTORY)
    expected = _all_results(base)
    got = _all_results(_shuffled(base, rng))
    for name, frame_ in expected.items():
        assert not frame_.is_empty(), name
        assert_frame_equal(got[name], frame_, check_dtypes=False)


@settings(max_examples=20, deadline=None)
@given(
    won=st.lists(st.integers(0, 1000), max_size=4),
    open_=st.lists(
        st.tuples(
            st.sampled_from(["commit", "best_case", "pipeline", "most_likely"]),
            st.integers(0, 1000),
        ),
        max_size=6,
    ),
    quota=st.integers(1, 3000),
)
def test_gap_and_coverage_follow_their_definition(won, open_, quota):
    deals = [opp(f"W{i}", "E1", "Won", a, date(2026, 11, 1), "closed") for i, a in enumerate(won)]
    deals += [
        opp(f"O{i}", "E2", "Negotiate", a, date(2026, 12, 1), cat)
        for i, (cat, a) in enumerate(open_)
    ]
    quotas = [{"period": "2026-Q4", "team": "East", "owner_id": None, "amount": float(quota)}]
    east = _row(c.call(tables(deals, quotas=quotas), as_of=AS_OF, params=PARAMS), "East")
    assert east["won"] == sum(won)
    assert east["open_pipeline"] == sum(a for _, a in open_)
    assert east["gap"] == quota - sum(won)
    if sum(won) >= quota:
        assert east["quota_status"] == "above quota" and east["coverage"] is None
    else:
        assert east["coverage"] == pytest.approx(sum(a for _, a in open_) / (quota - sum(won)))


# --- the demo org ----------------------------------------------------------------------

DEMO_AS_OF = date(2026, 11, 16)
DEMO_TEAMS = ["APAC", "EMEA", "NA Enterprise", "NA Mid-Market"]


@pytest.fixture(scope="module")
def demo() -> Tables:
    return Tables.from_frames(generate_demo_org(as_of=DEMO_AS_OF, scale=0.3))


def test_the_demo_call_adds_up_to_plain_polars(demo):
    # The snapshot is taken at the end of the as-of day, so each deal's current row is its
    # state then: the call must equal the same sums computed straight from the tables.
    q4 = pl.col("close_date").is_between(date(2026, 10, 1), date(2026, 12, 31))
    deals = demo.opportunities.join(
        demo.users.select(owner_id="user_id", team="team"), on="owner_id"
    ).filter(q4)
    category = pl.col("forecast_category").cast(pl.String)
    is_open = ~pl.col("is_closed")
    expected = (
        deals.group_by("team")
        .agg(
            won=pl.col("amount").filter(pl.col("is_won")).sum(),
            commit=pl.col("amount").filter(is_open & (category == "commit")).sum(),
            best_case=pl.col("amount").filter(is_open & (category == "best_case")).sum(),
            pipeline=pl.col("amount")
            .filter(is_open & ~category.is_in(["commit", "best_case", "omitted"]))
            .sum(),
        )
        .join(
            demo.quotas.filter(pl.col("period") == "2026-Q4").select("team", quota="amount"),
            on="team",
        )
        .sort("team")
        .collect()
    )
    result = c.call(demo, as_of=DEMO_AS_OF, params=PARAMS)
    teams = result.filter(pl.col("team") != ALL_TEAMS)
    columns = ["team", "won", "commit", "best_case", "pipeline", "quota"]
    assert_frame_equal(teams.select(columns), expected.select(columns))
    total = _row(result, ALL_TEAMS)
    for column in columns[1:]:
        assert total[column] == pytest.approx(expected[column].sum()), column
    assert total["gap"] == pytest.approx(total["quota"] - total["won"])
    assert total["coverage"] == pytest.approx(
        (total["commit"] + total["best_case"] + total["pipeline"]) / total["gap"]
    )
    # the demo's team calls are the managers' Monday submissions (pattern 3), 0 days old
    managers = demo.users.filter(pl.col("manager_id") == "U001").select("user_id").collect()
    calls = (
        demo.forecasts.filter(
            pl.col("period") == "2026-Q4",
            pl.col("owner_id").is_in(managers["user_id"].to_list()),
            pl.col("category") == "commit",
        )
        .group_by("team")
        .agg(pl.col("amount").sort_by("submitted_at").last())
        .sort("team")
        .collect()
    )
    assert teams["call_commit"].to_list() == calls["amount"].to_list()
    assert teams["age_days"].to_list() == [0, 0, 0, 0]


def test_the_demo_shows_its_reps_and_their_lapses(demo):
    # Pattern 7: three reps each in EMEA and NA Enterprise; the third stopped after week 4
    # (Oct 26, 21 days before Nov 16): stale.
    subs = c.submissions(demo, as_of=DEMO_AS_OF, params=PARAMS)
    reps = subs.filter(pl.col("level") == "owner")
    assert reps.group_by("team").len().sort("team")["len"].to_list() == [3, 3]
    assert set(reps["team"]) == {"EMEA", "NA Enterprise"}
    stale = reps.filter(pl.col("stale"))
    assert stale["age_days"].to_list() == [21, 21]
    roll = c.manager_adjustments(demo, as_of=DEMO_AS_OF)
    for team in ("EMEA", "NA Enterprise"):
        rows = roll.filter(pl.col("team") == team)
        owners = rows.filter(pl.col("layer") == "owner")["commit"].sum()
        adjustment = rows.filter(pl.col("layer") == "manager adjustment")["commit"].item()
        call = rows.filter(pl.col("layer") == "team call")["commit"].item()
        assert owners + adjustment == pytest.approx(call)
        assert 0 < adjustment < 0.25 * call  # the manager adds ≈ 10 % on top


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    teams=st.lists(st.sampled_from(DEMO_TEAMS), min_size=1, max_size=2, unique=True),
    as_of=st.sampled_from([DEMO_AS_OF, date(2026, 10, 9), date(2026, 8, 20)]),
)
def test_a_team_view_equals_the_company_rows_of_its_teams(demo, teams, as_of):
    company = _all_results(demo, as_of)
    mine = _all_results(filter_teams(demo, teams), as_of)
    for name, whole in company.items():
        expected = whole.filter(pl.col("team").is_in(teams))
        got = mine[name].filter(pl.col("team").is_in(teams))
        try:
            assert_frame_equal(got, expected, check_dtypes=False)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error
    if len(teams) == 1:  # one team: the view's total is that team's row
        total = mine["call"].filter(pl.col("team") == ALL_TEAMS).drop("team", "call_source")
        team_row = company["call"].filter(pl.col("team") == teams[0]).drop("team", "call_source")
        assert_frame_equal(total, team_row, check_dtypes=False)
