"""Tests for scoring.sourcing on a tiny hand-made fixture; expected numbers worked out in comments.

Period 2026-Q1 = [Jan 1, Apr 1), as of Apr 15, all in UTC.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from model.calendar import parse_period
from model.tables import Tables
from scoring.definitions import QUESTIONS
from scoring.sourcing import (
    DEFINITIONS,
    campaign_funnel,
    campaign_funnel_leads,
    sourced_pipeline,
    sourced_pipeline_opps,
    sourcing_status,
)
from tests.scoring.test_funnel import make_tables, rows_by, ts

Q1 = parse_period("2026-Q1")
AS_OF = date(2026, 4, 15)


def opp(opp_id: str, created: str, amount: float, *, won_on: date | None = None, **kw) -> dict:
    """An opportunity created at `created`; won on `won_on`, else open (or lost via kw)."""
    closed = won_on is not None or kw.get("is_closed", False)
    return {
        "opp_id": opp_id, "stage": "Won" if won_on else "Discover", "created_at": ts(created),
        "amount": amount, "close_date": won_on, "is_closed": closed, "is_won": won_on is not None,
    } | kw  # fmt: skip


OPPS = [
    opp("o1", "2026-01-10 10:00", 100.0, won_on=date(2026, 2, 20), sourced_by="marketing",
        campaign_id="c1"),  # created and won in Q1
    opp("o2", "2026-03-01 10:00", 50.0, sourced_by="sales"),  # created in Q1, still open
    opp("o3", "2025-12-10 10:00", 30.0, sourced_by="marketing", campaign_id="c1", stage="Lost",
        is_closed=True, close_date=date(2026, 1, 15)),  # created before Q1, lost: neither
    opp("o4", "2025-11-01 10:00", 200.0, won_on=date(2026, 3, 10), sourced_by="partner",
        campaign_id="c2"),  # won in Q1 only
    opp("o5", "2026-02-05 10:00", 70.0, won_on=date(2026, 4, 20)),  # created in Q1; won later
    opp("o6", "2026-04-02 10:00", 90.0, sourced_by="marketing", campaign_id="c2"),  # after Q1
]  # fmt: skip


@pytest.fixture
def opp_tables() -> Tables:
    return make_tables([], OPPS)


def test_sourced_pipeline_by_sourced_by(opp_tables: Tables) -> None:
    got = sourced_pipeline(opp_tables, period=Q1, as_of=AS_OF)
    # marketing: created o1 (100), won o1 (100). partner: won o4 (200) only.
    # sales: created o2 (50). unknown (no sourced_by): created o5 (70), won after as_of.
    expected = pl.DataFrame(
        {
            "sourced_by": ["marketing", "partner", "sales", "unknown"],
            "created": [1, 0, 1, 1],
            "created_amount": [100.0, 0.0, 50.0, 70.0],
            "won": [1, 1, 0, 0],
            "won_amount": [100.0, 200.0, 0.0, 0.0],
        }
    )
    assert_frame_equal(got, expected)


def test_sourced_pipeline_by_campaign_and_drill_down(opp_tables: Tables) -> None:
    got = rows_by(sourced_pipeline(opp_tables, period=Q1, as_of=AS_OF, by=["campaign_id"]),
                  "campaign_id")  # fmt: skip
    # c1: o1 created and won (100). c2: o4 won (200). No campaign: o2 + o5 created (120).
    assert (got["c1"]["created_amount"], got["c1"]["won_amount"]) == (100.0, 100.0)
    assert (got["c2"]["created"], got["c2"]["won_amount"]) == (0, 200.0)
    assert (got["(no campaign)"]["created"], got["(no campaign)"]["created_amount"]) == (2, 120.0)
    opps = sourced_pipeline_opps(opp_tables, period=Q1, as_of=AS_OF)
    assert opps["opp_id"].to_list() == ["o1", "o2", "o4", "o5"]
    assert opps["won_in_period"].to_list() == [True, False, True, False]
    total = sourced_pipeline(opp_tables, period=Q1, as_of=AS_OF, by=())
    assert total.row(0) == (3, 220.0, 2, 300.0)


# ---------------------------------------------------------------- campaigns

CAMPAIGNS = [
    {"campaign_id": "c1", "name": "Spring ads", "channel": "Paid Social",
     "start_date": date(2026, 1, 1), "end_date": date(2026, 3, 31), "cost": 1000.0},
    {"campaign_id": "c2", "name": "Feb webinar", "channel": "Webinar",
     "start_date": date(2026, 2, 1), "end_date": date(2026, 2, 1), "cost": 500.0},
    {"campaign_id": "c3", "name": "Trade show", "channel": "Events",
     "start_date": date(2026, 1, 15), "cost": 300.0},  # no members yet
    {"campaign_id": "c4", "name": "Old", "channel": "Events",
     "start_date": date(2025, 6, 1), "end_date": date(2025, 9, 30), "cost": 50.0},  # not in Q1
]  # fmt: skip
LEADS = [
    # c1 (own campaign_id and membership): L1 → MQL → o1 (won, 100); L2 MQL only; L3 nothing.
    {"lead_id": "L1", "campaign_id": "c1", "created_at": ts("2026-01-05 09:00"),
     "mql_at": ts("2026-01-05 10:00"), "converted_at": ts("2026-02-01 10:00"),
     "converted_opp_id": "o1"},
    {"lead_id": "L2", "campaign_id": "c1", "created_at": ts("2026-01-06 09:00"),
     "mql_at": ts("2026-01-06 10:00")},
    {"lead_id": "L3", "campaign_id": "c1", "created_at": ts("2026-01-07 09:00")},
    # L6: c1 member converted straight into o1 too (MQL back-filled from the conversion).
    {"lead_id": "L6", "created_at": ts("2026-01-20 09:00"), "converted_at": ts("2026-02-01 11:00"),
     "converted_opp_id": "o1"},
    # c2: L4 only through its own campaign_id → o4 (won, 200); L5 only as a member → o2 (open).
    {"lead_id": "L4", "campaign_id": "c2", "created_at": ts("2026-02-01 09:00"),
     "mql_at": ts("2026-02-02 10:00"), "converted_at": ts("2026-02-03 10:00"),
     "converted_opp_id": "o4"},
    {"lead_id": "L5", "created_at": ts("2026-02-01 09:00"), "mql_at": ts("2026-02-05 10:00"),
     "converted_at": ts("2026-02-06 10:00"), "converted_opp_id": "o2"},
]  # fmt: skip
MEMBERS = [
    {"campaign_id": "c1", "lead_id": "L1"},
    {"campaign_id": "c1", "lead_id": "L2"},
    {"campaign_id": "c1", "lead_id": "L3"},
    {"campaign_id": "c1", "lead_id": "L6"},
    {"campaign_id": "c2", "lead_id": "L5", "responded_at": ts("2026-02-01 12:00")},
]


@pytest.fixture
def campaign_tables() -> Tables:
    return make_tables(LEADS, OPPS, campaigns=CAMPAIGNS, campaign_members=MEMBERS)


def test_campaign_funnel_cost_ratios(campaign_tables: Tables) -> None:
    got = campaign_funnel(campaign_tables, period=Q1, as_of=AS_OF)
    # c4 ran in 2025: not listed.
    # c1: members L1 L2 L3 L6 = 4; MQLs L1 L2 + L6 (back-filled) = 3; opportunities: o1 once
    #     (two leads converted into it); won o1 = 100 → cost/MQL 1000/3, cost/opp 1000,
    #     cost per won dollar 1000/100 = 10.
    # c2: members L4 L5 = 2; MQLs 2; opportunities o4 o2 = 2; won o4 = 200 → 250, 250, 2.5.
    # c3: no members → every ratio's denominator is 0 → null.
    expected = pl.DataFrame(
        {
            "campaign_id": ["c1", "c2", "c3"],
            "name": ["Spring ads", "Feb webinar", "Trade show"],
            "channel": ["Paid Social", "Webinar", "Events"],
            "cost": [1000.0, 500.0, 300.0],
            "members": [4, 2, 0],
            "mqls": [3, 2, 0],
            "opportunities": [1, 2, 0],
            "won": [1, 1, 0],
            "won_amount": [100.0, 200.0, 0.0],
            "cost_per_mql": [1000 / 3, 250.0, None],
            "cost_per_opportunity": [1000.0, 250.0, None],
            "cost_per_won": [10.0, 2.5, None],
        }
    )
    assert_frame_equal(got, expected)


def test_campaign_funnel_drill_down(campaign_tables: Tables) -> None:
    got = campaign_funnel_leads(campaign_tables, period=Q1, as_of=AS_OF)
    assert got.select("campaign_id", "lead_id").rows() == [
        ("c1", "L1"), ("c1", "L2"), ("c1", "L3"), ("c1", "L6"), ("c2", "L4"), ("c2", "L5"),
    ]  # fmt: skip
    assert got.filter(pl.col("lead_id") == "L6")["converted_opp_id"].to_list() == ["o1"]


def test_campaign_funnel_before_wins(campaign_tables: Tables) -> None:
    # As of Feb 10, o1 (closes Feb 20) and o4 (Mar 10) are not won yet: won_amount 0 → the
    # cost per won dollar is null, not infinite.
    got = campaign_funnel(campaign_tables, period=Q1, as_of=date(2026, 2, 10))
    assert got["won_amount"].to_list() == [0.0, 0.0, 0.0]
    assert got["cost_per_won"].null_count() == 3
    assert got["cost_per_opportunity"].to_list()[:2] == [1000.0, 250.0]


def test_campaign_funnel_without_campaigns_is_not_available() -> None:
    tables = make_tables(LEADS, OPPS, campaign_members=MEMBERS)
    got = campaign_funnel(tables, period=Q1, as_of=AS_OF)
    assert got.height == 0
    assert "cost_per_won" in got.columns
    assert sourcing_status(tables, "campaign_funnel") == (
        "campaign_funnel is not available: the data source provides no 'campaigns' table."
    )
    assert sourcing_status(tables, "sourced_pipeline") is None


def test_campaign_funnel_without_members_uses_lead_campaign() -> None:
    # No campaign_members table: membership falls back to each lead's own campaign_id.
    # c1: L1 L2 L3 (MQLs L1 L2, o1 won 100); c2: L4 (o4 won 200).
    tables = make_tables(LEADS, OPPS, campaigns=CAMPAIGNS)
    got = rows_by(campaign_funnel(tables, period=Q1, as_of=AS_OF), "campaign_id")
    assert (got["c1"]["members"], got["c1"]["mqls"], got["c1"]["cost_per_mql"]) == (3, 2, 500.0)
    assert (got["c2"]["members"], got["c2"]["won_amount"]) == (1, 200.0)


def test_definitions() -> None:
    ids = {d.id for d in DEFINITIONS}
    assert {"sourced_pipeline", "bookings_by_source", "cost_per_opportunity", "cost_per_won"} <= ids
    assert all(d.question == "shared_outcomes" and d.question in QUESTIONS for d in DEFINITIONS)
