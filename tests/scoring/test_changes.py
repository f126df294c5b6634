"""Deal changes between two review dates: flags, trends and the category transition matrix.

The hand fixture is one review week, since = 2026-08-07, until = 2026-08-14 (UTC): each deal
is read at the end of both days. Every history row is at noon UTC on its day; the category
follows the stage (Qualification, Discovery: pipeline; Proposal: best_case; Negotiation,
Contracting: commit; Closed Won: closed; Closed Lost: omitted), as in the demo org.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from model.calendar import Calendar
from model.schema import TABLES
from model.tables import ALL_TEAMS, Tables
from scoring.changes import (
    CHANGES_DERIVED,
    DEFINITIONS,
    KINDS,
    category_transitions,
    changes_status,
    changes_summary,
    deal_changes,
    deal_trends,
    snapshot_changes,
    snapshot_changes_summary,
    trend_summary,
)
from scoring.history import end_of_day, opp_state_at

D = date
SINCE, UNTIL = D(2026, 8, 7), D(2026, 8, 14)

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
CATEGORY = {
    "Qualification": "pipeline",
    "Discovery": "pipeline",
    "Proposal": "best_case",
    "Negotiation": "commit",
    "Contracting": "commit",
    "Closed Won": "closed",
    "Closed Lost": "omitted",
}
USERS = [("u1", "East"), ("u2", "West")]

# A history event: (day, stage, amount, close_date); the first one is the creation.
Event = tuple[date, str, float | None, date]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def deal(opp_id: str, owner: str, events: list[Event]) -> tuple[dict, list[dict]]:
    """An opportunity created at its first event whose current state is its last."""
    _, stage, amount, close = events[-1]
    is_closed, is_won = _CLOSED[stage]
    opp = {
        "opp_id": opp_id,
        "owner_id": owner,
        "stage": stage,
        "amount": amount,
        "created_at": _at(events[0][0]),
        "close_date": close,
        "is_closed": is_closed,
        "is_won": is_won,
        "forecast_category": CATEGORY[stage],
    }
    history = [
        {
            "opp_id": opp_id,
            "stage": s,
            "entered_at": _at(d),
            "amount": a,
            "close_date": c,
            "forecast_category": CATEGORY[s],
        }
        for d, s, a, c in events
    ]
    return opp, history


def make_tables(deals: list[tuple[dict, list[dict]]], provenance: dict | None = None) -> Tables:
    frames = {
        "users": pl.DataFrame(
            [{"user_id": u, "team": t, "function": "sales"} for u, t in USERS],
            schema=TABLES["users"].polars_schema,
        ),
        "stages": pl.DataFrame(
            STAGES,
            schema=["stage", "position", "owner_function", "is_closed", "is_won"],
            orient="row",
        ).cast(
            {
                "position": pl.Int32,
                "owner_function": TABLES["stages"].columns["owner_function"].dtype,
            }
        ),
        "opportunities": pl.DataFrame(
            [o for o, _ in deals], schema=TABLES["opportunities"].polars_schema
        ),
        "stage_history": pl.DataFrame(
            [h for _, hs in deals for h in hs], schema=TABLES["stage_history"].polars_schema
        ),
    }
    return Tables.from_frames(frames, provenance)


SEP30, AUG31 = D(2026, 9, 30), D(2026, 8, 31)
HAND = [
    # a: amount 100 → 150 on 08-10, Discovery → Proposal on 08-12 (pipeline → best_case)
    deal("a", "u1", [(D(2026, 7, 1), "Discovery", 100.0, SEP30),
                     (D(2026, 8, 10), "Discovery", 150.0, SEP30),
                     (D(2026, 8, 12), "Proposal", 150.0, SEP30)]),
    # b: pushed twice inside the week, 08-31 → 09-15 → 09-30: one flag, pushes = 2, +30 days
    deal("b", "u1", [(D(2026, 7, 1), "Negotiation", 200.0, AUG31),
                     (D(2026, 8, 9), "Negotiation", 200.0, D(2026, 9, 15)),
                     (D(2026, 8, 12), "Negotiation", 200.0, SEP30)]),
    # c: created 08-09 and lost 08-11, both inside the week: new and lost
    deal("c", "u2", [(D(2026, 8, 9), "Qualification", 80.0, SEP30),
                     (D(2026, 8, 11), "Closed Lost", 80.0, D(2026, 8, 11))]),
    # d: lost 07-31, reopened 08-10 in Proposal
    deal("d", "u2", [(D(2026, 6, 1), "Proposal", 300.0, D(2026, 7, 31)),
                     (D(2026, 7, 31), "Closed Lost", 300.0, D(2026, 7, 31)),
                     (D(2026, 8, 10), "Proposal", 300.0, SEP30)]),
    # e: falls back Negotiation → Proposal (commit → best_case), 400 → 350
    deal("e", "u1", [(D(2026, 7, 1), "Negotiation", 400.0, AUG31),
                     (D(2026, 8, 8), "Proposal", 350.0, AUG31)]),
    # f: won 08-13
    deal("f", "u2", [(D(2026, 7, 1), "Contracting", 500.0, D(2026, 8, 13)),
                     (D(2026, 8, 13), "Closed Won", 500.0, D(2026, 8, 13))]),
    # g: nothing happens (idle)
    deal("g", "u1", [(D(2026, 7, 1), "Discovery", 120.0, SEP30)]),
    # h: pushed to 10-31 and pulled back to 09-30: no flag, but pushes = 1 (idle)
    deal("h", "u2", [(D(2026, 7, 1), "Proposal", 90.0, SEP30),
                     (D(2026, 8, 9), "Proposal", 90.0, D(2026, 10, 31)),
                     (D(2026, 8, 11), "Proposal", 90.0, SEP30)]),
    # i: won before the week: in nothing
    deal("i", "u1", [(D(2026, 7, 1), "Proposal", 999.0, D(2026, 7, 15)),
                     (D(2026, 7, 15), "Closed Won", 999.0, D(2026, 7, 15))]),
    # j: created 08-08, still open: new
    deal("j", "u2", [(D(2026, 8, 8), "Discovery", 60.0, SEP30)]),
    # k: pulled in 09-30 → 08-31
    deal("k", "u1", [(D(2026, 7, 1), "Proposal", 70.0, SEP30),
                     (D(2026, 8, 10), "Proposal", 70.0, AUG31)]),
]  # fmt: skip


@pytest.fixture(scope="module")
def hand() -> Tables:
    return make_tables(HAND)


def test_flags_each_kind_on_the_right_deal(hand):
    got = deal_changes(hand, since=SINCE, until=UNTIL)
    kinds = got.group_by("opp_id").agg(pl.col("kind").cast(pl.String).sort()).sort("opp_id")
    assert dict(kinds.iter_rows()) == {
        "a": ["amount_up", "category_up", "stage_forward"],
        "b": ["close_pushed"],
        "c": ["lost", "new"],
        "d": ["reopened"],
        "e": ["amount_down", "category_down", "stage_back"],
        "f": ["won"],
        "j": ["new"],
        "k": ["close_pulled_in"],
    }  # g and h idle, i closed before the week
    assert set(got["kind"].cast(pl.String)) == set(KINDS)  # every kind covered


def test_before_and_after_values(hand):
    got = deal_changes(hand, since=SINCE, until=UNTIL)

    def row(opp_id: str, kind: str) -> dict:
        (r,) = got.filter(opp_id=opp_id, kind=kind).to_dicts()
        return r

    pushed = row("b", "close_pushed")  # 08-31 → 09-30 in two pushes
    assert (pushed["close_date_before"], pushed["close_date_after"]) == (AUG31, SEP30)
    assert pushed["days_moved"] == 30 and pushed["pushes"] == 2
    assert row("k", "close_pulled_in")["days_moved"] == -30
    up = row("a", "amount_up")
    assert (up["amount_before"], up["amount_after"], up["amount_delta"]) == (100.0, 150.0, 50.0)
    down = row("e", "category_down")
    assert (down["forecast_category_before"], down["forecast_category_after"]) == (
        "commit",
        "best_case",
    )
    assert (down["stage_before"], down["stage_after"]) == ("Negotiation", "Proposal")
    lost = row("c", "lost")  # created inside the week: nothing before
    assert lost["amount_before"] is None and lost["stage_after"] == "Closed Lost"
    assert row("d", "reopened")["stage_before"] == "Closed Lost"


def test_summary_counts_and_amounts_per_team(hand):
    got = changes_summary(hand, since=SINCE, until=UNTIL)
    assert got.height == 3 * len(KINDS)  # East, West, All teams × every kind

    def cell(team: str, kind: str) -> tuple[int, float, float]:
        (r,) = got.filter(team=team, kind=kind).select("deals", "amount", "amount_delta").rows()
        return r

    assert cell("West", "new") == (2, 140.0, 140.0)  # c 80 + j 60, nothing before
    assert cell("West", "lost") == (1, 80.0, 80.0)
    assert cell("West", "won") == (1, 500.0, 0.0)
    assert cell("East", "amount_up") == (1, 150.0, 50.0)
    assert cell("East", "amount_down") == (1, 350.0, -50.0)
    assert cell("East", "close_pushed") == (1, 200.0, 0.0)
    assert cell("East", "won") == (0, 0.0, 0.0)
    assert cell(ALL_TEAMS, "new") == cell("West", "new")
    assert cell(ALL_TEAMS, "close_pulled_in") == (1, 70.0, 0.0)


def test_trends(hand):
    got = deal_trends(hand, since=SINCE, until=UNTIL)
    assert dict(got.select("opp_id", pl.col("trend").cast(pl.String)).iter_rows()) == {
        "a": "up",  # amount up, stage forward, category up
        "b": "slipped",
        "c": "down",  # created then lost: lost wins over new
        "e": "down",
        "f": "up",  # won
        "g": "idle",
        "h": "idle",  # pushed and pulled back: no net move
        "j": "up",  # new
        "k": "up",  # pulled in
    }  # d was closed at since (not open), i closed before
    summary = trend_summary(hand, since=SINCE, until=UNTIL)
    (east_idle,) = summary.filter(team="East", trend="idle").select("deals", "amount").rows()
    assert east_idle == (1, 120.0)  # g
    (all_up,) = summary.filter(team=ALL_TEAMS, trend="up").select("deals", "amount").rows()
    assert all_up == (4, 150.0 + 500.0 + 60.0 + 70.0)  # a f j k


def test_transition_matrix(hand):
    got = category_transitions(hand, since=SINCE, until=UNTIL, by=())
    cells = {
        (f, t): (n, a0, a1)
        for f, t, n, a0, a1 in got.select(
            pl.col("from", "to").cast(pl.String), "deals", "amount_since", "amount"
        ).iter_rows()
    }
    assert cells == {
        ("pipeline", "best_case"): (1, 100.0, 150.0),  # a
        ("pipeline", "pipeline"): (1, 120.0, 120.0),  # g
        ("best_case", "best_case"): (2, 160.0, 160.0),  # h 90 + k 70
        ("commit", "commit"): (1, 200.0, 200.0),  # b
        ("commit", "best_case"): (1, 400.0, 350.0),  # e
        ("commit", "won"): (1, 500.0, 500.0),  # f
        ("new", "lost"): (1, 0.0, 80.0),  # c
        ("new", "pipeline"): (1, 0.0, 60.0),  # j
        ("lost", "best_case"): (1, 300.0, 300.0),  # d reopened
    }
    # rows: pipeline at since 220 (a 100 + g 120), commit 1,100 (b 200 + e 400 + f 500)
    rows = dict(
        got.group_by(pl.col("from").cast(pl.String)).agg(pl.col("amount_since").sum()).iter_rows()
    )
    assert rows["pipeline"] == 220.0 and rows["commit"] == 1100.0
    # columns: best_case at until 960 (a 150 + e 350 + h 90 + k 70 + d 300)
    cols = dict(got.group_by(pl.col("to").cast(pl.String)).agg(pl.col("amount").sum()).iter_rows())
    assert cols["best_case"] == 960.0 and cols["pipeline"] == 180.0
    per_team = category_transitions(hand, since=SINCE, until=UNTIL)
    assert set(per_team["team"]) == {"East", "West", ALL_TEAMS}
    all_teams = per_team.filter(team=ALL_TEAMS).drop("team")
    assert_frame_equal(all_teams, got)
    with pytest.raises(ValueError, match="by must be"):
        category_transitions(hand, since=SINCE, until=UNTIL, by=("owner_id",))


def test_reopened_inside_the_window_and_a_late_close_is_no_push():
    # r: open Proposal at both ends, but lost 08-09 and reopened 08-11 inside the week
    # s: due 08-10, won 08-12 (closing moves the close date to 08-12: won, not a push)
    tables = make_tables(
        [
            deal("r", "u1", [(D(2026, 7, 1), "Proposal", 100.0, SEP30),
                             (D(2026, 8, 9), "Closed Lost", 100.0, D(2026, 8, 9)),
                             (D(2026, 8, 11), "Proposal", 100.0, SEP30)]),
            deal("s", "u1", [(D(2026, 7, 1), "Contracting", 50.0, D(2026, 8, 10)),
                             (D(2026, 8, 12), "Closed Won", 50.0, D(2026, 8, 12))]),
        ]
    )  # fmt: skip
    got = deal_changes(tables, since=SINCE, until=UNTIL)
    assert got.select("opp_id", pl.col("kind").cast(pl.String), "pushes").rows() == [
        ("r", "reopened", 0),  # its close date went 09-30 → 08-09 (closing) → 09-30: no push
        ("s", "won", 0),
    ]
    trends = deal_trends(tables, since=SINCE, until=UNTIL)
    assert trends["trend"].cast(pl.String).to_list() == ["up", "up"]


def test_days_end_in_the_reporting_time_zone():
    # 2026-08-15 02:00 UTC is still 08-14 (22:00) in New York: inside the week there only
    late = datetime(2026, 8, 15, 2, tzinfo=UTC)
    opp, history = deal("t", "u1", [(D(2026, 7, 1), "Proposal", 100.0, AUG31)])
    history.append(history[0] | {"entered_at": late, "close_date": SEP30})
    tables = make_tables([(opp | {"close_date": SEP30}, history)])
    utc = deal_changes(tables, since=SINCE, until=UNTIL)
    new_york = deal_changes(tables, since=SINCE, until=UNTIL, calendar=Calendar("America/New_York"))
    assert utc.is_empty()
    assert new_york.select(pl.col("kind").cast(pl.String), "pushes").rows() == [("close_pushed", 1)]


def test_not_measured_on_a_derived_history():
    tables = make_tables(HAND, provenance={"stage_history": "derived from current stage"})
    assert changes_status(tables) == CHANGES_DERIVED
    assert "not measured" in CHANGES_DERIVED
    for metric in (deal_changes, changes_summary, deal_trends, trend_summary, category_transitions):
        assert metric(tables, since=SINCE, until=UNTIL).is_empty()
    assert changes_status(make_tables(HAND)) is None


def test_definitions():
    assert {d.id for d in DEFINITIONS} == {"deal_changes", "deal_trend", "category_transitions"}


# --------------------------------------------------------------------- properties

_OPEN = [s[0] for s in STAGES if not s[3]]
_STAGE_NAMES = _OPEN * 2 + ["Closed Won", "Closed Lost"]
_DAYS = [D(2026, 7, 20), D(2026, 8, 7), D(2026, 8, 8), D(2026, 8, 12), D(2026, 8, 14)]


@st.composite
def random_deal(draw: st.DrawFn, opp_id: str) -> tuple[dict, list[dict]]:
    """1-4 history rows on strictly increasing days around the review week."""
    day = draw(st.sampled_from(_DAYS))
    events: list[Event] = []
    for _ in range(draw(st.integers(1, 4))):
        stage = draw(st.sampled_from(_STAGE_NAMES))
        # no null amounts: `opp_state_at` fills a null from the first row (its rule, not ours)
        amount = draw(st.sampled_from([100.0, 200.0, 0.0]))
        close = draw(st.sampled_from([AUG31, SEP30, D(2026, 10, 31)]))
        events.append((day, stage, amount, close))
        day += timedelta(days=draw(st.sampled_from([1, 3, 8])))
    return deal(opp_id, draw(st.sampled_from(["u1", "u2"])), events)


@st.composite
def random_org(draw: st.DrawFn) -> list[tuple[dict, list[dict]]]:
    return [draw(random_deal(f"opp{i}")) for i in range(draw(st.integers(0, 8)))]


def _state(events: list[Event], day: date) -> Event | None:
    """The deal's last event on or before `day` (noon rows, read at the end of the day)."""
    seen = [e for e in events if e[0] <= day]
    return seen[-1] if seen else None


def _shuffled(tables: Tables, seed: int) -> Tables:
    rng = random.Random(seed)
    frames = {}
    for name, frame in tables.frames.items():
        if name in tables.missing:
            continue
        df = frame.collect()
        order = list(range(df.height))
        rng.shuffle(order)
        frames[name] = df[order]
    return Tables.from_frames(frames)


_METRICS = (deal_changes, changes_summary, deal_trends, trend_summary, category_transitions)


@settings(max_examples=25, deadline=None)
@given(org=random_org(), seed=st.integers(0, 10_000))
def test_row_order_never_changes_the_result(org: list, seed: int) -> None:
    tables = make_tables(org)
    # a net push needs at least one recorded push inside the window
    flags = deal_changes(tables, since=SINCE, until=UNTIL).filter(kind="close_pushed")
    assert (flags["pushes"] >= 1).all()
    shuffled = _shuffled(tables, seed)
    for metric in _METRICS:
        a = metric(tables, since=SINCE, until=UNTIL)
        b = metric(shuffled, since=SINCE, until=UNTIL)
        assert_frame_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(org=random_org())
def test_every_open_or_new_deal_has_exactly_one_trend(org: list) -> None:
    expected = set()
    for opp, history in org:
        events = [
            (h["entered_at"].date(), h["stage"], h["amount"], h["close_date"]) for h in history
        ]
        before = _state(events, SINCE)
        if (before is None and events[0][0] <= UNTIL) or (before and not _CLOSED[before[1]][0]):
            expected.add(opp["opp_id"])
    got = deal_trends(make_tables(org), since=SINCE, until=UNTIL)
    assert got["opp_id"].is_unique().all()
    assert set(got["opp_id"]) == expected
    assert got["trend"].null_count() == 0


@settings(max_examples=60, deadline=None)
@given(org=random_org())
def test_transition_rows_and_columns_sum_to_the_amounts_at_each_date(org: list) -> None:
    at_since: dict[str, float] = {}
    at_until: dict[str, float] = {}
    for _, history in org:
        events = [
            (h["entered_at"].date(), h["stage"], h["amount"], h["close_date"]) for h in history
        ]
        before, after = _state(events, SINCE), _state(events, UNTIL)
        open_before = before is not None and not _CLOSED[before[1]][0]
        if open_before:
            at_since[CATEGORY[before[1]]] = at_since.get(CATEGORY[before[1]], 0.0) + (
                before[2] or 0.0
            )
        if after is None:
            continue
        closed, won = _CLOSED[after[1]]
        if closed and not (open_before or before is None):
            continue  # closed at both ends: not in the flow
        to = ("won" if won else "lost") if closed else CATEGORY[after[1]]
        at_until[to] = at_until.get(to, 0.0) + (after[2] or 0.0)
    got = category_transitions(make_tables(org), since=SINCE, until=UNTIL, by=())
    rows = (
        got.filter(~pl.col("from").is_in(["new", "won", "lost"]))
        .group_by(pl.col("from").cast(pl.String))
        .agg(pl.col("amount_since").sum())
    )
    assert dict(rows.iter_rows()) == pytest.approx(at_since)
    cols = got.group_by(pl.col("to").cast(pl.String)).agg(pl.col("amount").sum())
    assert dict(cols.iter_rows()) == pytest.approx(at_until)


# --------------------------------------------------------------------- the demo org

DEMO_UNTIL = D(2026, 11, 16)
DEMO_SINCE = DEMO_UNTIL - timedelta(weeks=4)


@pytest.fixture(scope="module")
def demo() -> Tables:
    return Tables.from_frames(generate_demo_org(as_of=DEMO_UNTIL))


def test_demo_mid_market_pushes_show_as_flags(demo):
    """Planted pattern 3: NA Mid-Market deals push their close date ~3× as often. Counted
    with plain polars from the deal states at both ends, then read from the flags."""
    cols = ["opp_id", "team", "close_date", "is_closed"]
    a = opp_state_at(demo, at=end_of_day(DEMO_SINCE)).select(cols).collect()
    b = opp_state_at(demo, at=end_of_day(DEMO_UNTIL)).select(cols).collect()
    pushed = (
        a.join(b, on=["opp_id", "team"], suffix="_b")
        .filter(~pl.col("is_closed") & ~pl.col("is_closed_b"))
        .filter(pl.col("close_date_b") > pl.col("close_date"))
    )
    plain = dict(pushed.group_by("team").len().iter_rows())
    mid = plain.pop("NA Mid-Market")
    assert mid > 1.5 * max(plain.values())
    flags = deal_changes(demo, since=DEMO_SINCE, until=DEMO_UNTIL).filter(kind="close_pushed")
    assert set(flags["opp_id"]) == set(pushed["opp_id"])  # the right deals, no others
    trends = deal_trends(demo, since=DEMO_SINCE, until=DEMO_UNTIL).filter(trend="slipped")
    assert set(trends["opp_id"]) == set(pushed["opp_id"])


def test_demo_consecutive_snapshots_give_the_same_flags(demo):
    """Two refreshes of the demo org four weeks apart: the snapshots' own values give the
    flags the stage history gives (less the pushes and the reopens in between, which only
    the history records), and still do when the history is marked derived."""
    frames = generate_demo_org(as_of=DEMO_SINCE)
    earlier = Tables.from_frames(frames)
    from_history = deal_changes(demo, since=DEMO_SINCE, until=DEMO_UNTIL)
    from_snapshots = snapshot_changes(earlier, demo)
    assert from_snapshots["pushes"].null_count() == from_snapshots.height
    closed_at_since = set(
        earlier.opportunities.filter("is_closed").select("opp_id").collect()["opp_id"]
    )
    only_between = pl.col("kind").eq("reopened") & ~pl.col("opp_id").is_in(closed_at_since)
    assert_frame_equal(
        from_snapshots.drop("pushes"), from_history.filter(~only_between).drop("pushes")
    )
    derived = {"stage_history": "derived from current stage"}
    blind = Tables.from_frames(generate_demo_org(as_of=DEMO_UNTIL), derived)
    assert deal_changes(blind, since=DEMO_SINCE, until=DEMO_UNTIL).is_empty()
    assert_frame_equal(snapshot_changes(Tables.from_frames(frames, derived), blind), from_snapshots)
    summary = snapshot_changes_summary(earlier, demo)
    history_summary = changes_summary(demo, since=DEMO_SINCE, until=DEMO_UNTIL)
    pushed = pl.col("kind") == "close_pushed"
    assert_frame_equal(summary.filter(pushed), history_summary.filter(pushed))
