"""Tests for scoring.funnel on tiny hand-made fixtures; expected numbers worked out in comments.

All times are UTC and the reporting time zone is UTC. Period 2026-Q1 = [Jan 1, Apr 1).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from model.calendar import parse_period
from model.params import FunnelParams
from model.schema import TABLES
from model.tables import Tables
from scoring.definitions import QUESTIONS
from scoring.funnel import (
    DEFINITIONS,
    bounce_back_leads,
    bounce_backs,
    conversion,
    conversion_compare,
    conversion_leads,
    conversion_period,
    follow_up_sla,
    follow_up_sla_leads,
    funnel_skip_rate,
    funnel_status,
    funnel_steps,
    goal_conflict,
    lead_ownership_ledger,
    leakage,
    leakage_leads,
    ownership_by_team,
)

Q1 = parse_period("2026-Q1")
STEP_ORDER = ["lead", "mql", "sal", "sql", "opp"]


def ts(text: str) -> datetime:
    """'2026-01-05 10:00' as a UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """Rows (missing keys = null) in the canonical schema of `table`."""
    schema = TABLES[table].polars_schema
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


USERS = [
    {"user_id": "sdr1", "name": "Sam", "team": "SDR", "function": "sdr", "is_queue": False},
    {"user_id": "ae1", "name": "Ann", "team": "AE", "function": "sales", "is_queue": False},
    {"user_id": "q_sdr", "name": "SDR queue", "team": "SDR", "function": "sdr", "is_queue": True},
]
STAGES = [
    {"stage": "Discover", "position": 1, "owner_function": "sales", "is_closed": False,
     "is_won": False},
    {"stage": "Won", "position": 2, "owner_function": "sales", "is_closed": True, "is_won": True},
    {"stage": "Lost", "position": 3, "owner_function": "sales", "is_closed": True,
     "is_won": False},
]  # fmt: skip


def make_tables(
    leads: list[dict] | None = None,
    opps: list[dict] | None = None,
    history: list[dict] | None = None,
    **others: list[dict],
) -> Tables:
    """A Tables bundle; a table passed as None is missing (as when the source lacks it)."""
    frames = {"users": frame("users", USERS), "stages": frame("stages", STAGES)}
    frames["opportunities"] = frame("opportunities", opps or [])
    if leads is not None:
        frames["leads"] = frame("leads", leads)
    if history is not None:
        frames["lead_history"] = frame("lead_history", history)
    for name, rows in others.items():
        frames[name] = frame(name, rows)
    return Tables.from_frames(frames)


def hist(lead_id: str, status: str, at: str, owner_id: str | None = None) -> dict:
    """A lead_history row: `lead_id` entered `status` at `at`, owned by `owner_id`."""
    return {"lead_id": lead_id, "status": status, "entered_at": ts(at), "owner_id": owner_id}


def rows_by(df: pl.DataFrame, key: str) -> dict:
    return {r[key]: r for r in df.to_dicts()}


# ---------------------------------------------------------------- funnel steps and conversion

FUNNEL_LEADS = [
    # L1 goes all the way: lead Jan 5 09:00 → MQL 10:00 → SAL 12:00 → SQL Jan 10 10:00
    #    → opp o1 Feb 1 10:00 → won (o1 closes Feb 20).
    {"lead_id": "L1", "source": "Paid Social", "owner_id": "sdr1",
     "created_at": ts("2026-01-05 09:00"),
     "mql_at": ts("2026-01-05 10:00"), "sal_at": ts("2026-01-05 12:00"),
     "sql_at": ts("2026-01-10 10:00"), "converted_at": ts("2026-02-01 10:00"),
     "converted_opp_id": "o1"},
    # L2 skips SAL: MQL Jan 6 10:00 → SQL Jan 8 10:00; SAL is back-filled to Jan 8 10:00.
    {"lead_id": "L2", "source": "Paid Social", "owner_id": "sdr1",
     "created_at": ts("2026-01-06 09:00"),
     "mql_at": ts("2026-01-06 10:00"), "sql_at": ts("2026-01-08 10:00")},
    # L3 stops at MQL (2 h after creation).
    {"lead_id": "L3", "source": "Webinar", "owner_id": "q_sdr",
     "created_at": ts("2026-01-10 08:00"),
     "mql_at": ts("2026-01-10 10:00")},
    # L4 never becomes an MQL; no source.
    {"lead_id": "L4", "created_at": ts("2026-02-01 09:00")},
    # L5 was created in 2025-Q4 but became an MQL in Q1 and was accepted 24 h later.
    {"lead_id": "L5", "source": "Webinar", "created_at": ts("2025-12-20 09:00"),
     "mql_at": ts("2026-01-02 10:00"), "sal_at": ts("2026-01-03 10:00")},
    # L6 becomes an MQL only after the as-of date (Apr 15): not reached.
    {"lead_id": "L6", "source": "Paid Social", "created_at": ts("2026-03-30 09:00"),
     "mql_at": ts("2026-04-20 10:00")},
]  # fmt: skip
FUNNEL_OPPS = [
    {"opp_id": "o1", "stage": "Won", "created_at": ts("2026-02-01 10:00"), "amount": 100.0,
     "close_date": date(2026, 2, 20), "is_closed": True, "is_won": True},
]  # fmt: skip
AS_OF = date(2026, 4, 15)


@pytest.fixture
def funnel_tables() -> Tables:
    return make_tables(FUNNEL_LEADS, FUNNEL_OPPS)


def test_funnel_steps_back_fills_skipped_sal(funnel_tables: Tables) -> None:
    steps = rows_by(funnel_steps(funnel_tables, as_of=AS_OF), "lead_id")
    assert list(steps) == ["L1", "L2", "L3", "L4", "L5", "L6"]
    # L2 skipped SAL: it takes SQL's timestamp and is flagged.
    assert steps["L2"]["sal_at"] == ts("2026-01-08 10:00")
    assert steps["L2"]["inferred_sal"] and steps["L2"]["skipped"]
    assert not steps["L1"]["skipped"]
    # L1's opp is o1 (converted Feb 1), won on o1's close date.
    assert steps["L1"]["opp_at"] == ts("2026-02-01 10:00")
    assert steps["L1"]["won_at"] == ts("2026-02-20 00:00")
    # L6's MQL lies after as_of, so it has not been reached.
    assert steps["L6"]["mql_at"] is None
    assert steps["L4"]["source"] == "(no source)"


def test_skip_rate(funnel_tables: Tables) -> None:
    # Reached MQL: L1 L2 L3 L5 (none inferred); SAL: L1 L2 L5 (L2 inferred → 1/3);
    # SQL: L1 L2; opp: L1.
    got = funnel_skip_rate(funnel_tables, as_of=AS_OF)
    assert got["step"].cast(pl.String).to_list() == ["mql", "sal", "sql", "opp"]
    assert got["reached"].to_list() == [4, 3, 2, 1]
    assert got["inferred"].to_list() == [0, 1, 0, 0]
    assert got["skip_rate"].to_list() == pytest.approx([0.0, 1 / 3, 0.0, 0.0])


def test_cohort_conversion(funnel_tables: Tables) -> None:
    got = conversion(funnel_tables, period=Q1, as_of=AS_OF)
    assert got["from_step"].cast(pl.String).to_list() == STEP_ORDER
    assert got["to_step"].cast(pl.String).to_list() == ["mql", "sal", "sql", "opp", "won"]
    # lead→mql: created in Q1 = L1 L2 L3 L4 L6 (5); MQL by as_of: L1 L2 L3 → 3/5.
    # mql→sal: MQL in Q1 = L1 L2 L3 L5 (4); SAL: L1, L2 (back-filled), L5 → 3/4.
    # sal→sql: SAL in Q1 = L1 L2 L5 (3); SQL: L1 L2 → 2/3.
    # sql→opp: L1 L2 (2); opp: L1 → 1/2.   opp→won: L1 (1); won → 1/1.
    assert got["cohort"].to_list() == [5, 4, 3, 2, 1]
    assert got["converted"].to_list() == [3, 3, 2, 1, 1]
    assert got["rate"].to_list() == pytest.approx([0.6, 0.75, 2 / 3, 0.5, 1.0])
    # Days taken. lead→mql: 1 h, 1 h, 2 h → median 1/24, p90 (linear) = 1/24 + 0.8·(1/24).
    # mql→sal: 2 h, 48 h (L2 to its back-filled SAL), 24 h → [1/12, 1, 2]: median 1, p90 1.8.
    # sal→sql: L1 Jan 5 12:00 → Jan 10 10:00 = 4 d 22 h; L2 0 d → median 59/24 d.
    # sql→opp: Jan 10 10:00 → Feb 1 10:00 = 22 d.  opp→won: Feb 1 10:00 → Feb 20 = 18 d 14 h.
    assert got["median_days"].to_list() == pytest.approx([1 / 24, 1.0, 59 / 24, 22.0, 18 + 14 / 24])
    assert got["p90_days"][:2].to_list() == pytest.approx([1.8 / 24, 1.8])
    assert not got["immature"].any()


def test_cohort_conversion_immature(funnel_tables: Tables) -> None:
    # As of Feb 15 the quarter is not over: flagged immature; o1 has not closed yet, so
    # opp→won is 0 of 1 (rate 0.0, not null).
    got = conversion(funnel_tables, period=Q1, as_of=date(2026, 2, 15))
    assert got["immature"].all()
    last = got.filter(pl.col("from_step") == "opp").row(0, named=True)
    assert (last["cohort"], last["converted"], last["rate"]) == (1, 0, 0.0)
    assert last["median_days"] is None


def test_conversion_empty_period_gives_null_rates(funnel_tables: Tables) -> None:
    got = conversion(funnel_tables, period=parse_period("2025-Q3"), as_of=AS_OF)
    assert got.height == 5
    assert got["cohort"].to_list() == [0] * 5
    assert got["rate"].null_count() == 5


def test_conversion_by_source_and_drill_down(funnel_tables: Tables) -> None:
    got = conversion(funnel_tables, period=Q1, as_of=AS_OF, by=["source"])
    cell = {(r["source"], str(r["from_step"])): r for r in got.to_dicts()}
    # Paid Social MQLs L1 L2 both accepted → 1.0; Webinar MQLs L3 L5, only L5 → 0.5.
    assert cell[("Paid Social", "mql")]["rate"] == 1.0
    assert cell[("Webinar", "mql")]["rate"] == 0.5
    # "(no source)" = L4: lead→mql 0/1 = 0.0, and an empty mql→sal cohort → null, not missing.
    assert cell[("(no source)", "lead")]["rate"] == 0.0
    assert cell[("(no source)", "mql")]["cohort"] == 0
    assert cell[("(no source)", "mql")]["rate"] is None
    assert got.height == 3 * 5  # every source × every transition
    leads = conversion_leads(
        funnel_tables, period=Q1, as_of=AS_OF, step="mql", group={"source": "Webinar"}
    )
    assert leads["lead_id"].to_list() == ["L3", "L5"]
    assert leads["converted"].to_list() == [False, True]
    with pytest.raises(ValueError, match="unknown dimension"):
        conversion(funnel_tables, period=Q1, as_of=AS_OF, by=["region"])


def test_conversion_by_team(funnel_tables: Tables) -> None:
    got = conversion(funnel_tables, period=Q1, as_of=AS_OF, by=["team"])
    # Owners: L1 L2 sdr1 and L3 the SDR queue (team SDR); L4 L5 L6 have no owner.
    # SDR MQLs L1 L2 L3 → SAL L1 L2 = 2/3; (no team) MQL L5 → 1/1.
    mql = got.filter(pl.col("from_step") == "mql")
    assert rows_by(mql, "team")["SDR"]["rate"] == pytest.approx(2 / 3)
    assert rows_by(mql, "team")["(no team)"]["rate"] == 1.0


def test_period_conversion_and_comparison(funnel_tables: Tables) -> None:
    # Entered in Q1: lead 5 (L1 L2 L3 L4 L6), mql 4, sal 3, sql 2, opp 1, won 1.
    got = conversion_period(funnel_tables, period=Q1, as_of=AS_OF)
    assert got["entered_from"].to_list() == [5, 4, 3, 2, 1]
    assert got["entered_to"].to_list() == [4, 3, 2, 1, 1]
    assert got["rate"].to_list() == pytest.approx([0.8, 0.75, 2 / 3, 0.5, 1.0])
    # Side by side: only lead→mql differs (period 0.8 vs cohort 0.6: L5's MQL came from 2025).
    both = conversion_compare(funnel_tables, period=Q1, as_of=AS_OF)
    assert both["difference"].to_list() == pytest.approx([0.2, 0.0, 0.0, 0.0, 0.0])


def test_missing_leads_is_not_available(funnel_tables: Tables) -> None:
    # Without a leads table: an empty frame with the full schema, and a message naming the table.
    tables = make_tables(leads=None)
    got = conversion(tables, period=Q1, as_of=AS_OF)
    assert got.height == 0
    assert got.schema == conversion(funnel_tables, period=Q1, as_of=AS_OF).schema
    assert funnel_status(tables, "conversion") == (
        "conversion is not available: the data source provides no 'leads' table."
    )
    assert funnel_status(funnel_tables, "conversion") is None
    overall = follow_up_sla(tables, period=Q1, as_of=AS_OF, params=FunnelParams(), by=())
    assert overall.height == 0  # not a row of zeros


# ---------------------------------------------------------------- follow-up SLA and leakage

SLA_AS_OF = date(2026, 3, 31)  # data known until Apr 1 00:00
SLA_PARAMS = FunnelParams(sla_hours=24.0, sla_hours_by_source={"Webinar": 4.0})
SLA_LEADS = [
    # Paid Social (SLA 24 h)
    {"lead_id": "S1", "source": "Paid Social", "created_at": ts("2026-01-05 09:00"),
     "mql_at": ts("2026-01-05 10:00"), "first_touch_at": ts("2026-01-05 20:00")},  # 10 h: met
    {"lead_id": "S2", "source": "Paid Social", "created_at": ts("2026-01-06 09:00"),
     "mql_at": ts("2026-01-06 10:00"), "first_touch_at": ts("2026-01-08 10:00")},  # 48 h: breached
    {"lead_id": "S6", "source": "Paid Social", "created_at": ts("2026-03-31 11:00"),
     "mql_at": ts("2026-03-31 12:00")},  # deadline Apr 1 12:00 is after as_of: pending
    {"lead_id": "S7", "source": "Paid Social", "created_at": ts("2026-02-01 09:00"),
     "mql_at": ts("2026-02-01 10:00"),
     "disqualified_at": ts("2026-02-02 10:00")},  # never touched: breached, but not leaked
    {"lead_id": "S8", "source": "Paid Social", "created_at": ts("2026-02-03 09:00"),
     "sal_at": ts("2026-02-03 10:00")},  # MQL only back-filled: not in the SLA population
    {"lead_id": "S9", "source": "Paid Social", "created_at": ts("2025-12-30 09:00"),
     "mql_at": ts("2025-12-30 10:00")},  # MQL before the period
    # Webinar (override: 4 h)
    {"lead_id": "S3", "source": "Webinar", "created_at": ts("2026-01-07 09:00"),
     "mql_at": ts("2026-01-07 10:00"), "sal_at": ts("2026-01-07 13:00")},  # accepted 3 h: met
    {"lead_id": "S4", "source": "Webinar", "created_at": ts("2026-01-08 09:00"),
     "mql_at": ts("2026-01-08 10:00"), "first_touch_at": ts("2026-01-08 16:00")},  # 6 h: breached
    {"lead_id": "S5", "source": "Webinar", "created_at": ts("2026-01-09 09:00"),
     "mql_at": ts("2026-01-09 10:00"), "owner_id": "q_sdr"},  # never touched: breached, leaked
]  # fmt: skip


@pytest.fixture
def sla_tables() -> Tables:
    return make_tables(SLA_LEADS)


def test_follow_up_sla_with_override_and_pending(sla_tables: Tables) -> None:
    got = rows_by(
        follow_up_sla(sla_tables, period=Q1, as_of=SLA_AS_OF, params=SLA_PARAMS), "source"
    )
    assert list(got) == ["Paid Social", "Webinar"]
    # Paid Social: MQLs S1 S2 S6 S7 = 4; S6 pending → due 3; met S1; breached S2 S7;
    # untouched S6 S7; compliance 1/3; hours to touch [10, 48] → median 29, p90 10 + 0.9·38.
    ps = got["Paid Social"]
    assert (ps["mqls"], ps["due"], ps["met"], ps["breached"], ps["pending"], ps["untouched"]) == (
        4, 3, 1, 2, 1, 2,
    )  # fmt: skip
    assert ps["sla_compliance"] == pytest.approx(1 / 3)
    assert ps["median_hours_to_touch"] == pytest.approx(29.0)
    assert ps["p90_hours_to_touch"] == pytest.approx(44.2)
    # Webinar (4 h SLA): S3 met at 3 h; S4 breached at 6 h (would meet the 24 h default); S5
    # breached untouched → 3 MQLs, due 3, met 1; hours [3, 6] → median 4.5.
    wb = got["Webinar"]
    assert (wb["mqls"], wb["due"], wb["met"], wb["breached"], wb["pending"]) == (3, 3, 1, 2, 0)
    assert wb["median_hours_to_touch"] == pytest.approx(4.5)


def test_follow_up_sla_drill_down(sla_tables: Tables) -> None:
    rows = rows_by(
        follow_up_sla_leads(sla_tables, period=Q1, as_of=SLA_AS_OF, params=SLA_PARAMS), "lead_id"
    )
    assert sorted(rows) == ["S1", "S2", "S3", "S4", "S5", "S6", "S7"]
    assert {k: str(r["status"]) for k, r in rows.items()} == {
        "S1": "met", "S2": "breached", "S3": "met", "S4": "breached", "S5": "breached",
        "S6": "pending", "S7": "breached",
    }  # fmt: skip
    assert rows["S4"]["sla_hours"] == 4.0 and rows["S4"]["hours_to_touch"] == 6.0
    assert rows["S6"]["deadline_at"] == ts("2026-04-01 12:00")
    # Overall (no grouping): 7 MQLs, 1 pending, met 2 of 6 due.
    overall = follow_up_sla(sla_tables, period=Q1, as_of=SLA_AS_OF, params=SLA_PARAMS, by=())
    assert overall.select("mqls", "due", "met").row(0) == (7, 6, 2)


def test_follow_up_sla_empty_period(sla_tables: Tables) -> None:
    empty = parse_period("2025-Q3")
    by_source = follow_up_sla(sla_tables, period=empty, as_of=SLA_AS_OF, params=SLA_PARAMS)
    assert by_source.height == 0
    overall = follow_up_sla(sla_tables, period=empty, as_of=SLA_AS_OF, params=SLA_PARAMS, by=())
    assert overall["mqls"].to_list() == [0]
    assert overall["sla_compliance"].to_list() == [None]


def test_leakage(sla_tables: Tables) -> None:
    # Leaked = untouched, not disqualified, past SLA: only S5 (S6 is pending, S7 disqualified).
    got = leakage(sla_tables, period=Q1, as_of=SLA_AS_OF, params=SLA_PARAMS, by=["source"])
    expected = pl.DataFrame(
        {"source": ["Paid Social", "Webinar"], "mqls": [4, 3], "leaked": [0, 1],
         "leak_share": [0.0, 1 / 3]},
    )  # fmt: skip
    assert_frame_equal(got, expected)
    # Per source × team: S5 is owned by the SDR queue (team SDR); the rest have no owner.
    by_team = leakage(sla_tables, period=Q1, as_of=SLA_AS_OF, params=SLA_PARAMS)
    assert by_team.select("source", "team", "leaked").rows() == [
        ("Paid Social", "(no team)", 0), ("Webinar", "(no team)", 0), ("Webinar", "SDR", 1),
    ]  # fmt: skip
    # Drill-down: S5 waited from Jan 9 10:00 to Apr 1 00:00 = 14 h + 81 days = 1958 h.
    leaked = leakage_leads(sla_tables, period=Q1, as_of=SLA_AS_OF, params=SLA_PARAMS)
    assert leaked.select("lead_id", "hours_untouched").rows() == [("S5", 1958.0)]


# ---------------------------------------------------------------- bounce-backs

BOUNCE_LEADS = [
    {"lead_id": "B1", "source": "Paid Social", "created_at": ts("2026-01-04 09:00")},
    {"lead_id": "B2", "source": "Webinar", "owner_id": "ae1", "created_at": ts("2026-01-04 09:00")},
    {"lead_id": "B3", "source": "Webinar", "created_at": ts("2026-01-02 09:00")},
    {"lead_id": "B4", "source": "Paid Social", "created_at": ts("2025-11-20 09:00")},
    {"lead_id": "B5", "source": "Paid Social", "created_at": ts("2025-09-20 09:00")},
    {"lead_id": "B6", "source": "Webinar", "created_at": ts("2026-02-20 09:00")},
]  # fmt: skip
BOUNCE_HISTORY = [
    # B1: worked by sdr1, recycled Feb 1 → bounced in Q1 (team of the sales owner: SDR).
    hist("B1", "MQL", "2026-01-05 10:00"),
    hist("B1", "Working", "2026-01-06 10:00", "sdr1"),
    hist("B1", "Recycled", "2026-02-01 10:00"),
    # B2: worked and qualified by ae1 → held by sales, not bounced.
    hist("B2", "Working", "2026-01-10 10:00", "ae1"),
    hist("B2", "Qualified", "2026-01-20 10:00", "ae1"),
    # B3: nurtured without ever reaching sales → not counted at all.
    hist("B3", "Nurture", "2026-01-03 10:00"),
    # B4: worked since Dec 2025 (spell overlaps Q1), nurtured Jan 15 → bounced in Q1.
    hist("B4", "Working", "2025-12-01 10:00", "sdr1"),
    hist("B4", "Nurture", "2026-01-15 10:00"),
    # B5: the whole story is in 2025 → not in Q1.
    hist("B5", "Working", "2025-10-01 10:00", "sdr1"),
    hist("B5", "Nurture", "2025-11-01 10:00"),
    # B6: worked from Mar 1; recycled Apr 5, after as_of → held, not (yet) bounced.
    hist("B6", "Working", "2026-03-01 10:00", "sdr1"),
    hist("B6", "Recycled", "2026-04-05 10:00"),
]  # fmt: skip


def test_bounce_backs() -> None:
    tables = make_tables(BOUNCE_LEADS, history=BOUNCE_HISTORY)
    params = FunnelParams()
    got = bounce_backs(tables, period=Q1, as_of=SLA_AS_OF, params=params, by=["team"])
    # SDR held B1 B4 B6, bounced B1 B4 → 2/3. AE held B2, bounced none → 0.
    expected = pl.DataFrame(
        {"team": ["AE", "SDR"], "leads_with_sales": [1, 3], "bounced": [0, 2],
         "bounce_back_rate": [0.0, 2 / 3]},
    )  # fmt: skip
    assert_frame_equal(got, expected)
    rows = rows_by(bounce_back_leads(tables, period=Q1, as_of=SLA_AS_OF, params=params), "lead_id")
    assert sorted(rows) == ["B1", "B2", "B4", "B6"]
    assert rows["B4"]["recycled_at"] == ts("2026-01-15 10:00")
    assert rows["B4"]["recycle_status"] == "Nurture"
    assert rows["B1"]["sales_owner_id"] == "sdr1"
    assert rows["B6"]["recycled_at"] is None


def test_bounce_backs_without_lead_history_is_not_available() -> None:
    tables = make_tables(BOUNCE_LEADS, history=None)
    got = bounce_backs(tables, period=Q1, as_of=SLA_AS_OF, params=FunnelParams())
    assert got.height == 0
    assert got.columns == ["team", "source", "leads_with_sales", "bounced", "bounce_back_rate"]
    assert "'lead_history'" in (funnel_status(tables, "bounce_backs") or "")
    assert funnel_status(tables, "follow_up_sla") is None


# ---------------------------------------------------------------- ownership ledger

LEDGER_LEADS = [
    {"lead_id": "K1", "owner_id": "sdr1", "created_at": ts("2026-01-05 09:00"),
     "mql_at": ts("2026-01-05 10:00"), "first_touch_at": ts("2026-01-05 17:00")},
    {"lead_id": "K2", "owner_id": "ae1", "created_at": ts("2026-01-06 09:00"),
     "mql_at": ts("2026-01-06 10:00"), "first_touch_at": ts("2026-01-06 11:00")},
    {"lead_id": "K3", "owner_id": "q_sdr", "created_at": ts("2026-01-07 09:00"),
     "mql_at": ts("2026-01-07 10:00")},
    {"lead_id": "K4", "created_at": ts("2026-01-08 09:00"), "mql_at": ts("2026-01-08 10:00"),
     "disqualified_at": ts("2026-01-09 10:00")},
]  # fmt: skip
LEDGER_HISTORY = [
    # K1: in the SDR queue at MQL, assigned to sdr1 6 h later; one owner change.
    hist("K1", "New", "2026-01-05 09:00", "q_sdr"),
    hist("K1", "MQL", "2026-01-05 10:00", "q_sdr"),
    hist("K1", "MQL", "2026-01-05 16:00", "sdr1"),
    hist("K1", "Working", "2026-01-05 18:00", "sdr1"),
    # K2: a person (sdr1) owned it at MQL → 0 h unowned; handed to ae1 → one change. The
    # status row without owner_id keeps the last known owner (sdr1), so it is no change.
    hist("K2", "New", "2026-01-06 09:00", "sdr1"),
    hist("K2", "MQL", "2026-01-06 10:00", "sdr1"),
    hist("K2", "Contacted", "2026-01-06 11:00"),
    hist("K2", "Working", "2026-01-06 12:00", "ae1"),
    # K3: still in the queue at as_of.
    hist("K3", "MQL", "2026-01-07 10:00", "q_sdr"),
    # K4: owned by nobody, disqualified after 24 h.
    hist("K4", "MQL", "2026-01-08 10:00"),
    hist("K4", "Disqualified", "2026-01-09 10:00"),
]  # fmt: skip


def test_lead_ownership_ledger() -> None:
    tables = make_tables(LEDGER_LEADS, history=LEDGER_HISTORY)
    got = rows_by(lead_ownership_ledger(tables, period=Q1, as_of=SLA_AS_OF), "lead_id")
    # K3 sat in the queue from Jan 7 10:00 to Apr 1 00:00 = 14 h + 83 days = 2006 h.
    assert {k: r["unowned_hours"] for k, r in got.items()} == {
        "K1": 6.0, "K2": 0.0, "K3": 2006.0, "K4": 24.0,
    }  # fmt: skip
    assert {k: r["owner_changes"] for k, r in got.items()} == {"K1": 1, "K2": 1, "K3": 0, "K4": 0}
    assert got["K1"]["assigned_at"] == ts("2026-01-05 16:00")
    assert got["K3"]["assigned_at"] is None
    assert got["K3"]["currently_unowned"] and not got["K1"]["currently_unowned"]
    # SLA 24 h: K1 (7 h) and K2 (1 h) met; K3 and K4 never touched → breached.
    assert {k: r["breached"] for k, r in got.items()} == {
        "K1": False, "K2": False, "K3": True, "K4": True,
    }  # fmt: skip
    assert all(r["owner_history_available"] for r in got.values())


def test_ownership_by_team() -> None:
    tables = make_tables(LEDGER_LEADS, history=LEDGER_HISTORY)
    got = rows_by(ownership_by_team(tables, period=Q1, as_of=SLA_AS_OF), "team")
    # Team = every team that owned the lead (`lead_teams`): SDR = K1 (sdr1), K2 (sdr1 before
    # ae1) and K3 (SDR queue); AE = K2; K4 nobody.
    assert list(got) == ["(no team)", "AE", "SDR"]
    sdr = got["SDR"]
    # Unowned hours [0, 6, 2006]: median 6, p90 at rank 1.8 = 6 + 0.8·2000 = 1606.
    # Changes: K1 1 + K2 1 + K3 0 = 2. Breached K3 of 3 due.
    assert (sdr["mqls"], sdr["currently_unowned"], sdr["never_assigned"]) == (3, 1, 1)
    assert (sdr["median_unowned_hours"], sdr["p90_unowned_hours"]) == pytest.approx((6, 1606))
    assert (sdr["owner_changes"], sdr["sla_breaches"]) == (2, 1)
    assert sdr["sla_breach_rate"] == pytest.approx(1 / 3)
    assert got["AE"]["median_unowned_hours"] == 0.0
    nobody = got["(no team)"]
    assert (nobody["never_assigned"], nobody["median_unowned_hours"]) == (1, 24.0)
    assert nobody["sla_breach_rate"] == 1.0


@pytest.mark.parametrize("history", [None, "no owner column"])
def test_ownership_without_owner_history(history: str | None) -> None:
    # lead_history missing, or present with owner_id all null: ownership parts are null and
    # flagged not available; the SLA part still works.
    rows = None if history is None else [{**r, "owner_id": None} for r in LEDGER_HISTORY]
    tables = make_tables(LEDGER_LEADS, history=rows)
    got = lead_ownership_ledger(tables, period=Q1, as_of=SLA_AS_OF)
    assert got["unowned_hours"].null_count() == 4
    assert got["owner_changes"].null_count() == 4
    assert not got["owner_history_available"].any()
    assert got["breached"].to_list() == [False, False, True, True]
    assert got["currently_unowned"].to_list() == [False, False, True, True]
    team = ownership_by_team(tables, period=Q1, as_of=SLA_AS_OF)
    assert team["owner_changes"].null_count() == team.height == 3
    assert not team["owner_history_available"].any()
    assert team["sla_breaches"].to_list() == [1, 0, 1]


# ---------------------------------------------------------------- goal conflict


def _mql(lead_id: str, day: str, *, sal: bool = False, sql: bool = False) -> dict:
    """A lead created the day before `day`, MQL on `day`, SAL/SQL on the following days."""
    mql = ts(f"{day} 10:00")
    row = {"lead_id": lead_id, "created_at": mql.replace(hour=9), "mql_at": mql}
    if sal:
        row["sal_at"] = mql.replace(day=mql.day + 1)
    if sql:
        row["sql_at"] = mql.replace(day=mql.day + 2)
    return row


def test_goal_conflict() -> None:
    leads = [
        # Q1: 2 MQLs, both accepted (1.0); 2 SALs, 1 qualified (0.5).
        _mql("G1", "2026-01-05", sal=True, sql=True), _mql("G2", "2026-01-05", sal=True),
        # Q2: 4 MQLs (up), 2 accepted (0.5, down 50 pts) → marketing conflict;
        #     2 SALs (flat), 1 qualified (0.5) → no SDR conflict.
        _mql("G3", "2026-04-05", sal=True, sql=True), _mql("G4", "2026-04-05", sal=True),
        _mql("G5", "2026-04-05"), _mql("G6", "2026-04-05"),
        # Q3: 3 MQLs (down), all accepted; 3 SALs (up), 1 qualified (1/3, down 17 pts)
        #     → SDR conflict only.
        _mql("G7", "2026-07-05", sal=True, sql=True), _mql("G8", "2026-07-05", sal=True),
        _mql("G9", "2026-07-05", sal=True),
    ]  # fmt: skip
    periods = [parse_period(p) for p in ("2026-Q3", "2026-Q1", "2026-Q2")]  # any order
    got = goal_conflict(make_tables(leads), periods=periods, as_of=date(2026, 9, 30))
    assert got["period"].to_list() == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert got["mqls"].to_list() == [2, 4, 3]
    assert got["mql_to_sal"].to_list() == pytest.approx([1.0, 0.5, 1.0])
    assert got["sals"].to_list() == [2, 2, 3]
    assert got["sal_to_sql"].to_list() == pytest.approx([0.5, 0.5, 1 / 3])
    assert got["marketing_conflict"].to_list() == [False, True, False]
    assert got["sdr_conflict"].to_list() == [False, False, True]
    assert got["conflict"].to_list() == [False, True, True]
    # With a 20-point tolerance the SDR drop (16.7 pts) is no longer a conflict.
    lenient = goal_conflict(
        make_tables(leads), periods=periods, as_of=date(2026, 9, 30), tolerance=0.20
    )
    assert lenient["sdr_conflict"].to_list() == [False, False, False]


def test_goal_conflict_marks_the_quarter_still_in_progress() -> None:
    leads = [_mql("G1", "2026-01-05", sal=True), _mql("G7", "2026-07-05", sal=True)]
    periods = [parse_period(p) for p in ("2026-Q1", "2026-Q2", "2026-Q3")]
    # Q3 ends on 2026-09-30: complete as of that day, in progress on the 15th.
    done = goal_conflict(make_tables(leads), periods=periods, as_of=date(2026, 9, 30))
    assert done["is_complete"].to_list() == [True, True, True]
    partial = goal_conflict(make_tables(leads), periods=periods, as_of=date(2026, 9, 15))
    assert partial["is_complete"].to_list() == [True, True, False]


# ---------------------------------------------------------------- definitions


def test_definitions() -> None:
    ids = {d.id for d in DEFINITIONS}
    assert {
        "conversion.cohort", "conversion.period", "follow_up_sla", "leakage",
        "bounce_back_rate", "unowned_hours", "funnel_skip_rate", "goal_conflict",
    } <= ids  # fmt: skip
    assert len(ids) == len(DEFINITIONS)
    assert all(d.question in QUESTIONS for d in DEFINITIONS)


# ---------------------------------------------------------------- properties

_times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2026, 5, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
)
_lead = st.fixed_dictionaries(
    {
        "created_at": st.datetimes(
            min_value=datetime(2025, 12, 1), max_value=datetime(2026, 4, 1)
        ).map(lambda d: d.replace(tzinfo=UTC)),
        "source": st.sampled_from(["Paid Social", "Webinar", None]),
        "owner_id": st.sampled_from(["sdr1", "ae1", "q_sdr", None]),
        "mql_at": _times,
        "sal_at": _times,
        "sql_at": _times,
    }
)


@settings(max_examples=40, deadline=None)
@given(leads=st.lists(_lead, max_size=12), seed=st.integers(0, 2**16))
def test_conversion_rates_are_shares_and_order_free(leads: list[dict], seed: int) -> None:
    rows = [{"lead_id": f"L{i:02d}", **lead} for i, lead in enumerate(leads)]
    tables = make_tables(rows)
    shuffled = make_tables(
        pl.DataFrame(rows).sample(fraction=1.0, shuffle=True, seed=seed).to_dicts()
    )
    for by in ((), ("source", "team")):
        got = conversion(tables, period=Q1, as_of=AS_OF, by=by)
        rates = got["rate"].drop_nulls()
        assert ((rates >= 0) & (rates <= 1)).all()
        assert (got["converted"] <= got["cohort"]).all()
        assert_frame_equal(got, conversion(shuffled, period=Q1, as_of=AS_OF, by=by))


def test_goal_conflict_counts_are_the_conversion_cohorts() -> None:
    """The one-pass counts of goal_conflict equal `conversion`'s MQL and SAL cohorts."""
    from connectors.demo import generate_demo_org

    as_of = date(2026, 11, 16)
    tables = Tables.from_frames(generate_demo_org(as_of=as_of, scale=0.3))
    periods = [parse_period(q) for q in ("2026-Q1", "2026-Q2", "2026-Q3")]
    got = goal_conflict(tables, periods=periods, as_of=as_of)
    for p, row in zip(periods, got.iter_rows(named=True), strict=True):
        conv = conversion(tables, period=p, as_of=as_of)
        mql, sal = (conv.filter(from_step=s).row(0, named=True) for s in ("mql", "sal"))
        assert (row["mqls"], row["sals"]) == (mql["cohort"], sal["cohort"]) != (0, 0)
        assert row["mql_to_sal"] == pytest.approx(mql["rate"])
        assert row["sal_to_sql"] == pytest.approx(sal["rate"])
