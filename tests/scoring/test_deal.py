"""One deal read whole: its stage timeline against the company medians, its change log, its
flags over a review window and the deal columns of deal tables.

Hand fixture, as of 2026-08-14 (UTC: the as-of instant is 2026-08-15 00:00); every history
row is at noon UTC. The company medians are of finished open-stage spells that ended in the
12 months before that instant (2025-08-15 00:00 on):

    x (Ada Park, East): Qualification 07-01 → 07-11 (10 d), Discovery 07-11 → 08-04 (24 d),
       Proposal 08-04 noon → as-of (10.5 d, open); amount 100 → 80 on 07-20; close date
       09-30 → 10-14 on 08-04 (+14 d); a row on 07-25 that changes nothing; Negotiation on
       08-16, after the as-of day.
    y (Bo Chen, West): Qualification 06-01 → 06-05 (4 d), Discovery → 06-15 (10 d), won.
    z (Bo Chen, West): Qualification 05-01 → 05-07, Discovery → 05-13, Proposal → 05-19
       (6 d each), lost.
    old (Ada Park): Qualification 2025-01-01 → 03-02 (60 d), lost 03-12: ended before the
       12 months, so in no median.

    medians: Qualification {10, 4, 6} → 6 (3 spells); Discovery {24, 10, 6} → 10 (3);
             Proposal {6} → 6 (1; x's own spell is still open).
    x: 10 / 6 = 1.667×, 24 / 10 = 2.4×, 10.5 / 6 = 1.75×.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from model.calendar import Calendar
from model.schema import TABLES
from model.tables import Tables
from scoring.deal import (
    TIMELINE_DERIVED,
    TIMELINE_NO_HISTORY,
    deal_flags,
    deal_history,
    deal_marks,
    deal_summary,
    deal_timeline,
    find_deals,
    timeline_status,
)
from scoring.scorecard import filter_teams

D = date
AS_OF = D(2026, 8, 14)
SEP30, OCT14 = D(2026, 9, 30), D(2026, 10, 14)
STAGES = [
    ("Qualification", 1, False, False, "pipeline"),
    ("Discovery", 2, False, False, "pipeline"),
    ("Proposal", 3, False, False, "best_case"),
    ("Negotiation", 4, False, False, "commit"),
    ("Closed Won", 5, True, True, "closed"),
    ("Closed Lost", 6, True, False, "omitted"),
]
CATEGORY = {s[0]: s[4] for s in STAGES}
CLOSED = {s[0]: (s[2], s[3]) for s in STAGES}
USERS = [("u1", "Ada Park", "East"), ("u2", "Bo Chen", "West")]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def deal(opp_id, owner, name, events):
    """(opportunity, history rows): created at the first event, currently the last."""
    _, stage, amount, close = events[-1]
    opp = {
        "opp_id": opp_id, "name": name, "owner_id": owner, "stage": stage, "amount": amount,
        "created_at": _at(events[0][0]), "close_date": close, "is_closed": CLOSED[stage][0],
        "is_won": CLOSED[stage][1], "forecast_category": CATEGORY[stage],
    }  # fmt: skip
    rows = [
        {"opp_id": opp_id, "stage": s, "entered_at": _at(d), "amount": a, "close_date": c,
         "forecast_category": CATEGORY[s]}
        for d, s, a, c in events
    ]  # fmt: skip
    return opp, rows


HAND = [
    deal("x", "u1", "Acme *Renewal* [2026]", [
        (D(2026, 7, 1), "Qualification", 100.0, SEP30),
        (D(2026, 7, 11), "Discovery", 100.0, SEP30),
        (D(2026, 7, 20), "Discovery", 80.0, SEP30),
        (D(2026, 7, 25), "Discovery", 80.0, SEP30),  # changes nothing
        (D(2026, 8, 4), "Proposal", 80.0, OCT14),
        (D(2026, 8, 16), "Negotiation", 80.0, OCT14),  # after the as-of day
    ]),
    deal("y", "u2", "Beta Expansion", [
        (D(2026, 6, 1), "Qualification", 50.0, D(2026, 6, 30)),
        (D(2026, 6, 5), "Discovery", 50.0, D(2026, 6, 30)),
        (D(2026, 6, 15), "Closed Won", 50.0, D(2026, 6, 15)),
    ]),
    deal("z", "u2", "Gamma Platform", [
        (D(2026, 5, 1), "Qualification", 70.0, D(2026, 6, 30)),
        (D(2026, 5, 7), "Discovery", 70.0, D(2026, 6, 30)),
        (D(2026, 5, 13), "Proposal", 70.0, D(2026, 6, 30)),
        (D(2026, 5, 19), "Closed Lost", 70.0, D(2026, 5, 19)),
    ]),
    deal("old", "u1", "Delta (2025)", [
        (D(2025, 1, 1), "Qualification", 10.0, D(2025, 3, 31)),
        (D(2025, 3, 2), "Discovery", 10.0, D(2025, 3, 31)),
        (D(2025, 3, 12), "Closed Lost", 10.0, D(2025, 3, 12)),
    ]),
]  # fmt: skip


def make_tables(deals=HAND, provenance=None, history_order=None) -> Tables:
    history = [h for _, hs in deals for h in hs]
    if history_order is not None:
        history = [history[i] for i in history_order]
    frames = {
        "users": pl.DataFrame(
            [{"user_id": u, "name": n, "team": t, "function": "sales"} for u, n, t in USERS],
            schema=TABLES["users"].polars_schema,
        ),
        "stages": pl.DataFrame(
            [
                {"stage": s, "position": p, "owner_function": "sales", "is_closed": c, "is_won": w}
                for s, p, c, w, _ in STAGES
            ],
            schema=TABLES["stages"].polars_schema,
        ),
        "opportunities": pl.DataFrame(
            [o for o, _ in deals], schema=TABLES["opportunities"].polars_schema
        ),
        "stage_history": pl.DataFrame(history, schema=TABLES["stage_history"].polars_schema),
    }
    return Tables.from_frames(frames, provenance)


@pytest.fixture
def hand() -> Tables:
    return make_tables()


def test_timeline_spells_days_and_company_medians(hand):
    t = deal_timeline(hand, "x", as_of=AS_OF)
    assert t["stage"].to_list() == ["Qualification", "Discovery", "Proposal"]
    assert t["spell_no"].to_list() == [1, 2, 3]
    assert t["days_in_stage"].to_list() == pytest.approx([10.0, 24.0, 10.5])
    assert t["median_days"].to_list() == pytest.approx([6.0, 10.0, 6.0])
    assert t["median_spells"].to_list() == [3, 3, 1]
    assert t["times_median"].to_list() == pytest.approx([10 / 6, 2.4, 1.75])
    assert t["is_current"].to_list() == [False, False, True]
    # the open spell runs to the as-of instant, which ends on the as-of day
    assert t["end_at"][2] == datetime(2026, 8, 15, tzinfo=UTC)
    assert t["entered_date"].to_list() == [D(2026, 7, 1), D(2026, 7, 11), D(2026, 8, 4)]
    assert t["end_date"].to_list() == [D(2026, 7, 11), D(2026, 8, 4), AS_OF]


def test_a_won_deal_ends_in_a_closed_spell_without_duration(hand):
    t = deal_timeline(hand, "y", as_of=AS_OF)
    assert t["stage"].to_list() == ["Qualification", "Discovery", "Closed Won"]
    assert t["days_in_stage"].to_list()[:2] == pytest.approx([4.0, 10.0])
    last = t.row(2, named=True)
    assert last["is_closed_stage"] and last["is_won_stage"]
    assert last["days_in_stage"] is None and last["end_at"] is None and last["end_date"] is None
    assert last["median_days"] is None  # no median for a closed stage


def test_later_as_of_sees_the_later_spell(hand):
    # as of 08-16 x sat in Proposal 08-04 → 08-16 (12 d) and is in Negotiation since noon:
    # half a day to the end of 08-16.
    t = deal_timeline(hand, "x", as_of=D(2026, 8, 16))
    assert t["stage"].to_list()[-2:] == ["Proposal", "Negotiation"]
    assert t["days_in_stage"].to_list()[-2:] == pytest.approx([12.0, 0.5])


def test_a_teams_view_judges_the_deal_by_the_company_medians(hand):
    east = filter_teams(hand, ("East",))
    assert_frame_equal(deal_timeline(east, "x", as_of=AS_OF), deal_timeline(hand, "x", as_of=AS_OF))


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(sum(len(hs) for _, hs in HAND))))
def test_row_order_never_changes_the_timeline_or_the_log(order):
    shuffled = make_tables(history_order=order)
    hand = make_tables()
    for deal_id in ("x", "y"):
        assert_frame_equal(
            deal_timeline(shuffled, deal_id, as_of=AS_OF), deal_timeline(hand, deal_id, as_of=AS_OF)
        )
        assert_frame_equal(
            deal_history(shuffled, deal_id, as_of=AS_OF), deal_history(hand, deal_id, as_of=AS_OF)
        )


def test_unknown_deal_has_no_rows(hand):
    assert deal_timeline(hand, "nope", as_of=AS_OF).is_empty()
    assert deal_history(hand, "nope", as_of=AS_OF).is_empty()
    assert deal_summary(hand, "nope", as_of=AS_OF).is_empty()
    # x was created on 2026-07-01: as of 06-30 it does not exist yet
    assert deal_summary(hand, "x", as_of=D(2026, 6, 30)).is_empty()


def test_summary_as_of_with_the_owners_name(hand):
    row = deal_summary(hand, "x", as_of=AS_OF).row(0, named=True)
    assert (row["name"], row["stage"], row["amount"], row["close_date"]) == (
        "Acme *Renewal* [2026]", "Proposal", 80.0, OCT14
    )  # fmt: skip
    assert (str(row["forecast_category"]), row["team"], row["owner"]) == (
        "best_case", "East", "Ada Park"
    )  # fmt: skip
    assert not row["is_closed"]
    # on 08-16 it moved to Negotiation (commit)
    later = deal_summary(hand, "x", as_of=D(2026, 8, 16)).row(0, named=True)
    assert (later["stage"], str(later["forecast_category"])) == ("Negotiation", "commit")


def test_history_lists_every_change_with_its_date(hand):
    log = deal_history(hand, "x", as_of=AS_OF)
    assert log["changed_date"].to_list() == [
        D(2026, 7, 1),
        D(2026, 7, 11),
        D(2026, 7, 20),
        D(2026, 8, 4),
    ]  # fmt: skip  (07-25 changed nothing; 08-16 is after the as-of day)
    assert log["change"].to_list() == [
        "first recorded in Qualification",
        "stage Qualification → Discovery",
        "amount ↓",
        "stage Discovery → Proposal, pushed +14d, category pipeline → best_case",
    ]
    assert log["amount_before"].to_list() == [None, 100.0, 100.0, 80.0]
    assert log["amount"].to_list() == [100.0, 100.0, 80.0, 80.0]


def test_history_of_a_close_names_the_pull_in():
    # closed won 10 days before the planned close date: the close date moves to that day
    opp = deal("w", "u1", "Won early", [
        (D(2026, 8, 1), "Negotiation", 90.0, D(2026, 8, 20)),
        (D(2026, 8, 10), "Closed Won", 90.0, D(2026, 8, 10)),
    ])  # fmt: skip
    log = deal_history(make_tables([opp]), "w", as_of=AS_OF)
    assert log["change"][1] == (
        "stage Negotiation → Closed Won, pulled in −10d, category commit → closed"
    )


def test_flags_over_the_review_window(hand):
    # end of 08-01: Discovery, 80, 09-30, pipeline; end of 08-14: Proposal, 80, 10-14, best_case
    flags = deal_flags(hand, since=D(2026, 8, 1), until=AS_OF)
    assert flags["opp_id"].to_list() == ["x"]
    assert flags["flags"][0] == "pushed +14d, stage forward, category ↑"
    # from the end of 07-14 (Discovery, 100) the amount cut shows too
    since_july = deal_flags(hand, since=D(2026, 7, 14), until=AS_OF)
    assert since_july["flags"][0] == "amount ↓, pushed +14d, stage forward, category ↑"
    # nothing moved after 08-04: a window from 08-07 flags no deal
    assert deal_flags(hand, since=D(2026, 8, 7), until=AS_OF).is_empty()


def test_marks_name_flags_and_risk_per_deal(hand):
    marks = deal_marks(hand, since=D(2026, 8, 1), until=AS_OF)
    assert marks["opp_id"].to_list() == ["old", "x", "y", "z"]
    assert marks["name"][1] == "Acme *Renewal* [2026]"
    assert marks["flags"].to_list() == ["", "pushed +14d, stage forward, category ↑", "", ""]
    # x's risk at the end of 08-14: stage age 10.5 / 6 = 1.75× → (1.75 − 1) × 20 = 15;
    # one push of 14 days → 10 + 14 × 0.2 = 12.8 → 13; amount cut 20 % from 100 → 0.2 × 50
    # = 10; idle 10.5 days < 30; close date ahead → 15 + 13 + 10 = 38. Closed deals: none.
    assert marks["risk"].to_list() == [None, 38, None, None]


def test_not_measured_on_a_derived_history():
    derived = make_tables(provenance={"stage_history": "derived from current stage"})
    assert timeline_status(derived) == TIMELINE_DERIVED
    assert not deal_timeline(derived, "x", as_of=AS_OF).is_empty()  # shown, with the note
    marks = deal_marks(derived, since=D(2026, 8, 7), until=AS_OF)
    assert marks["flags"].is_null().all() and marks["risk"].is_null().all()
    assert timeline_status(make_tables()) is None


def test_without_a_stage_history_one_spell_since_creation():
    opps = [(o, []) for o, _ in HAND]
    tables = make_tables(opps)
    tables = Tables.from_frames({k: v.collect() for k, v in tables.frames.items()
                                 if k != "stage_history"})  # fmt: skip
    assert timeline_status(tables) == TIMELINE_NO_HISTORY
    t = deal_timeline(tables, "x", as_of=AS_OF)
    # x's current stage (its last event: Negotiation) since its creation on 07-01 noon
    assert t["stage"].to_list() == ["Negotiation"]
    assert t["days_in_stage"].to_list() == pytest.approx([44.5])
    assert deal_history(tables, "x", as_of=AS_OF).is_empty()


def test_days_end_in_the_reporting_time_zone(hand):
    # In Los Angeles (UTC−7 in August) the end of 08-14 is 08-15 07:00 UTC: 7 h more.
    t = deal_timeline(hand, "x", as_of=AS_OF, calendar=Calendar("America/Los_Angeles"))
    assert t["days_in_stage"][2] == pytest.approx(10.5 + 7 / 24)
    assert t["end_date"][2] == AS_OF


def test_find_deals_by_name_as_plain_text(hand):
    assert find_deals(hand, "renewal")["opp_id"].to_list() == ["x"]
    assert find_deals(hand, "*Renewal* [")["opp_id"].to_list() == ["x"]  # not a pattern
    assert find_deals(hand, "a")["name"].to_list() == [
        "Acme *Renewal* [2026]", "Beta Expansion", "Delta (2025)", "Gamma Platform"
    ]  # fmt: skip
    assert find_deals(hand, "  ").is_empty()
    assert find_deals(hand, "a", limit=1).height == 1
