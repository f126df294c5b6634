"""The one calendar: the as-of instant, date in period, period kinds, judged and previous."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.calendar import (
    Calendar,
    Period,
    PeriodError,
    parse_period,
    period_of,
    previous,
    trailing,
)
from model.tables import Tables
from scoring import forecast, funnel, history, quality, stages
from tests.conftest import frame, ts

NY = Calendar("America/New_York")


# ---------------------------------------------------------------- the as-of instant


def test_end_of_the_as_of_day_is_local_midnight_in_utc():
    # 2017-12-31 ends at 2018-01-01 00:00 in New York = 05:00 UTC (EST, UTC−5)
    assert NY.end_of(date(2017, 12, 31)) == datetime(2018, 1, 1, 5, tzinfo=UTC)
    # in summer (EDT, UTC−4)
    assert NY.end_of(date(2017, 7, 1)) == datetime(2017, 7, 2, 4, tzinfo=UTC)
    assert Calendar().end_of(date(2017, 12, 31)) == datetime(2018, 1, 1, tzinfo=UTC)


def test_the_three_old_names_of_the_instant_agree():
    day = date(2017, 12, 31)
    tz = "America/New_York"
    assert stages.as_of_cutoff(day, tz) == funnel.as_of_end(day, tz) == NY.end_of(day)
    # history's is the inclusive bound: one microsecond before
    assert history.end_of_day(day, tz) == NY.end_of(day) - timedelta(microseconds=1)
    assert history.end_of_day(day) == datetime(2017, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_in_period_reads_the_local_date():
    q4 = parse_period("2017-Q4")
    stamps = pl.DataFrame(
        {
            "at": [
                datetime(2018, 1, 1, 4, 30, tzinfo=UTC),  # 23:30 on Dec 31 in New York: in Q4
                datetime(2018, 1, 1, 5, 30, tzinfo=UTC),  # 00:30 on Jan 1 in New York: not
                datetime(2017, 10, 1, 3, 0, tzinfo=UTC),  # 23:00 on Sep 30 in New York: not
            ]
        }
    )
    got = stamps.select(NY.in_period(pl.col("at"), q4))["at"].to_list()
    assert got == [True, False, False]
    assert stamps.select(Calendar().in_period(pl.col("at"), q4))["at"].to_list() == [
        False, False, True
    ]  # fmt: skip


def test_calendar_rejects_a_bad_zone_or_month():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        Calendar("Mars/Olympus")
    with pytest.raises(ValueError, match="1–12"):
        Calendar(fiscal_start_month=13)


# ---------------------------------------------------------------- period kinds


def test_quarter_names_still_parse():
    q = parse_period("2017-Q4")
    assert (q.start, q.end, q.name, q.kind) == (date(2017, 10, 1), date(2018, 1, 1), "2017-Q4",
                                                "quarter")  # fmt: skip
    # fiscal year starting in February: 2017-Q1 = Feb–Apr 2017
    assert parse_period("2017-Q1", fiscal_start_month=2).start == date(2017, 2, 1)


def test_fiscal_year_is_named_after_the_year_it_starts_in():
    fy = parse_period("2017")
    assert (fy.start, fy.end, fy.name, fy.kind) == (date(2017, 1, 1), date(2018, 1, 1), "FY2017",
                                                    "fiscal_year")  # fmt: skip
    feb = parse_period("FY2017", fiscal_start_month=2)
    assert (feb.start, feb.end) == (date(2017, 2, 1), date(2018, 2, 1))
    assert parse_period("fy2017") == fy


def test_custom_range_includes_both_days_in_its_name():
    r = parse_period("2017-03-01..2017-06-30")
    assert (r.start, r.end, r.kind) == (date(2017, 3, 1), date(2017, 7, 1), "custom")
    assert r.name == "2017-03-01..2017-06-30" and r.last_day == date(2017, 6, 30)
    assert r.days == 122  # 31 + 30 + 31 + 30
    with pytest.raises(PeriodError, match="ends before it starts"):
        parse_period("2017-06-30..2017-03-01")
    with pytest.raises(PeriodError, match="2017-02-30"):
        parse_period("2017-02-30..2017-03-01")


def test_ttm_is_the_twelve_months_ending_on_the_as_of_day():
    t = parse_period("ttm", as_of=date(2017, 12, 31))
    assert (t.start, t.end, t.kind) == (date(2017, 1, 1), date(2018, 1, 1), "ttm")
    mid = parse_period("ttm", as_of=date(2017, 6, 15))
    assert (mid.start, mid.last_day) == (date(2016, 6, 16), date(2017, 6, 15))
    with pytest.raises(PeriodError, match="as-of"):
        parse_period("ttm")


def test_all_runs_from_the_data_s_first_day_to_as_of():
    a = parse_period("all", as_of=date(2017, 12, 31), data_start=date(2015, 3, 4))
    assert (a.start, a.end, a.kind) == (date(2015, 3, 4), date(2018, 1, 1), "all")
    with pytest.raises(PeriodError, match="first day"):
        parse_period("all", as_of=date(2017, 12, 31))
    with pytest.raises(PeriodError, match="after"):
        parse_period("all", as_of=date(2017, 12, 31), data_start=date(2018, 2, 1))


def test_a_bad_name_lists_the_forms():
    with pytest.raises(PeriodError, match="not one of the forms 2026-Q3, 2026 or FY2026"):
        parse_period("Q3")


def test_period_survives_json():
    r = parse_period("2017-03-01..2017-06-30")
    assert r.to_dict() == {
        "name": "2017-03-01..2017-06-30", "kind": "custom",
        "start": "2017-03-01", "end": "2017-07-01", "last_day": "2017-06-30",
    }  # fmt: skip
    assert Period.from_dict(r.to_dict()) == r


# ---------------------------------------------------------------- judged and previous


def test_a_quarter_ending_on_the_as_of_day_is_complete():
    q4 = parse_period("2017-Q4")
    cal = Calendar()
    assert cal.judged(q4, date(2017, 12, 31)) == q4  # ends at the end of that day
    assert cal.judged(q4, date(2017, 12, 30)).name == "2017-Q3"  # one day short
    assert cal.is_complete(q4, date(2017, 12, 31)) and not cal.is_complete(q4, date(2017, 12, 30))


def test_a_longer_period_judges_its_latest_complete_quarter():
    cal = Calendar()
    fy = parse_period("2017")
    assert cal.judged(fy, date(2017, 12, 31)).name == "2017-Q4"
    assert cal.judged(fy, date(2017, 11, 15)).name == "2017-Q3"  # Q4 still running
    assert cal.judged(fy, date(2019, 5, 1)).name == "2017-Q4"  # never past the period's end
    # Mar 1 – Jun 30: Q1 ends Mar 31 (inside), Q2 ends Jun 30 (inside, complete by Jul 1)
    r = parse_period("2017-03-01..2017-06-30")
    assert cal.judged(r, date(2017, 7, 1)).name == "2017-Q2"
    assert cal.judged(r, date(2017, 5, 1)).name == "2017-Q1"
    ttm = parse_period("ttm", as_of=date(2017, 12, 31))
    assert cal.judged(ttm, date(2017, 12, 31)).name == "2017-Q4"
    # fiscal year from February: FY2017 = Feb 2017 – Jan 2018; as of Dec 31, 2017 the
    # complete fiscal quarters end Apr 30, Jul 31, Oct 31 → 2017-Q3 (Aug–Oct)
    feb = Calendar(fiscal_start_month=2)
    assert feb.judged(feb.parse("FY2017"), date(2017, 12, 31)).name == "2017-Q3"


def test_previous_of_each_kind():
    fsm = 1
    assert previous(parse_period("2017-Q1"), fiscal_start_month=fsm).name == "2016-Q4"
    assert previous(parse_period("2017")).name == "FY2016"
    r = previous(parse_period("2017-03-01..2017-06-30"))  # 122 days just before
    assert (r.start, r.last_day, r.kind) == (date(2016, 10, 30), date(2017, 2, 28), "custom")
    t = previous(parse_period("ttm", as_of=date(2017, 12, 31)))
    assert (t.start, t.last_day) == (date(2016, 1, 1), date(2016, 12, 31))
    assert [p.name for p in trailing(parse_period("2017"), 3)] == ["FY2015", "FY2016", "FY2017"]


@given(
    first=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    length=st.integers(min_value=1, max_value=800),
    n=st.integers(min_value=1, max_value=4),
)
def test_previous_custom_ranges_tile_the_past(first: date, length: int, n: int):
    r = parse_period(f"{first}..{first + timedelta(days=length - 1)}")
    chain = trailing(r, n + 1)
    assert all(p.days == r.days for p in chain)  # equal length
    assert all(a.end == b.start for a, b in pairwise(chain))  # no gap


@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    fsm=st.integers(min_value=1, max_value=12),
)
def test_judged_is_a_complete_quarter_inside_or_before(day: date, fsm: int):
    cal = Calendar(fiscal_start_month=fsm)
    for period in (cal.quarter_of(day), cal.fiscal_year_of(day), cal.parse("ttm", as_of=day)):
        judged = cal.judged(period, day)
        assert judged.kind == "quarter" and cal.is_complete(judged, day)
        assert judged.end <= period.end
        # no later complete quarter ends inside the period
        later = cal.quarter_of(judged.end)
        assert not (cal.is_complete(later, day) and later.end <= period.end)


@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    fsm=st.integers(min_value=1, max_value=12),
)
def test_quarters_tile_their_fiscal_year(day: date, fsm: int):
    q = period_of(day, fiscal_start_month=fsm)
    fy = Calendar(fiscal_start_month=fsm).fiscal_year_of(day)
    assert q.contains(day) and fy.contains(day)
    assert fy.start <= q.start and q.end <= fy.end
    assert q.name.split("-")[0] == fy.name.removeprefix("FY")


# ---------------------------------------------------------------- one instant everywhere


def _late_night_org() -> Tables:
    """Two deals won and two leads turned MQL around midnight of New Year's Eve in New York:
    O1 / L1 at 04:30 UTC on Jan 1 (23:30 local on Dec 31), O2 / L2 at 05:30 UTC (00:30
    local on Jan 1). Both deals carry a Dec 31 close date."""
    created = ts("2017-11-01T15:00:00")
    stage_rows = [
        {"stage": "Qualification", "position": 1, "owner_function": "sales",
         "is_closed": False, "is_won": False},
        {"stage": "Closed Won", "position": 2, "owner_function": "sales",
         "is_closed": True, "is_won": True},
    ]  # fmt: skip
    opps, history, leads = [], [], []
    for i, (won_at, amount) in enumerate(
        [("2018-01-01T04:30:00", 100.0), ("2018-01-01T05:30:00", 200.0)], start=1
    ):
        opps.append({"opp_id": f"O{i}", "name": f"Deal {i}", "owner_id": "U1",
                     "stage": "Closed Won", "amount": amount, "created_at": created,
                     "close_date": date(2017, 12, 31), "is_closed": True, "is_won": True,
                     "sourced_by": "sales"})  # fmt: skip
        for stage, at in (("Qualification", created), ("Closed Won", ts(won_at))):
            history.append({"opp_id": f"O{i}", "stage": stage, "entered_at": at,
                            "amount": amount, "close_date": date(2017, 12, 31)})  # fmt: skip
        leads.append({"lead_id": f"L{i}", "created_at": ts("2017-12-01T15:00:00"),
                      "owner_id": "U1", "source": "Web", "mql_at": ts(won_at)})  # fmt: skip
    ana = {"user_id": "U1", "name": "Ana", "team": "EMEA", "function": "sales"}
    return Tables.from_frames(
        {
            "users": frame("users", [ana]),
            "stages": frame("stages", stage_rows),
            "opportunities": frame("opportunities", opps),
            "stage_history": frame("stage_history", history),
            "leads": frame("leads", leads),
        }
    )


@pytest.mark.parametrize(
    ("timezone", "counted"),
    [
        # As of Dec 31 in New York, 04:30 UTC Jan 1 is still Dec 31: O1 / L1 count everywhere,
        # O2 / L2 (00:30 local on Jan 1) nowhere.
        ("America/New_York", {"O1", "L1"}),
        # In UTC both happened on Jan 1: nothing counts as of Dec 31.
        ("UTC", set()),
    ],
)
def test_stall_funnel_and_forecast_read_the_same_instant(timezone: str, counted: set[str]):
    tables, as_of, q4 = _late_night_org(), date(2017, 12, 31), parse_period("2017-Q4")
    # stage spells (what the stall metrics start from): the deal's stage at the as-of instant
    spells = stages.stage_spells(tables, as_of=as_of, timezone=timezone)
    current = spells.sort("opp_id", "spell_no").group_by("opp_id", maintain_order=True).last()
    won_in_stages = set(current.filter(pl.col("stage") == "Closed Won")["opp_id"])
    # forecast actuals: the deals won by the as-of instant with a close date in Q4
    won_in_forecast = set(
        forecast.actual_deals(tables, periods=[q4], as_of=as_of, timezone=timezone).collect()[
            "opp_id"
        ]
    )
    # the deal state history reads at that instant
    state = history.opp_state_at(tables, at=history.end_of_day(as_of, timezone)).collect()
    won_in_history = set(state.filter("is_won")["opp_id"])
    # the lead funnel: MQL reached by the as-of instant
    steps = funnel.funnel_steps(tables, as_of=as_of, timezone=timezone)
    mql_in_funnel = set(steps.filter(pl.col("mql_at").is_not_null())["lead_id"])
    deals = {c for c in counted if c.startswith("O")}
    assert won_in_stages == won_in_forecast == won_in_history == deals
    assert mql_in_funnel == {c for c in counted if c.startswith("L")}
    # and the actual the forecast metrics judge: O1's 100 in New York, nothing in UTC
    actual = forecast.actuals(tables, periods=[q4], as_of=as_of, timezone=timezone)
    assert actual["actual"].sum() == (100.0 if deals else 0.0)
    # data freshness: the latest lead record known by then is L1's MQL on Dec 31 (0 days
    # old) in New York; in UTC the leads' creation on Dec 1 (Dec 31 − Dec 1 = 30 days)
    fresh = quality.freshness(tables, as_of=as_of, refreshed_at=None, timezone=timezone)
    assert fresh.filter(table="leads")["days_since_latest"][0] == (0 if deals else 30)
