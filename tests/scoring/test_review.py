"""The review window and "changes since last review" from snapshots or from the history.

The deals are those of tests/scoring/test_changes.py (HAND: one review week, since =
2026-08-07, until = 2026-08-14). The "earlier snapshot" is the same org as it stood at the end
of 2026-08-07: each deal cut to its history up to that day (c and j did not exist yet), so
comparing the two bundles must give what the history gives, except for what happened in
between (b's two pushes count as one move, h's push and pull-back is not seen at all).
"""

from __future__ import annotations

import random
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from model.calendar import Calendar
from model.tables import ALL_TEAMS, Tables
from scoring.changes import (
    CHANGES_DERIVED,
    category_transitions,
    snapshot_category_transitions,
    snapshot_trend_summary,
    snapshot_trends,
    trend_summary,
)
from scoring.review import (
    ReviewWindow,
    WindowError,
    earlier_snapshot,
    review_changes,
    review_window,
)
from scoring.scorecard import filter_teams
from tests.scoring.test_changes import HAND, SINCE, UNTIL, deal, make_tables

CAL = Calendar()
WEEK = ReviewWindow(since=SINCE, until=UNTIL, name="1w")


def _as_of(deals: list, day: date) -> list:
    """The deals as a snapshot of the end of `day` holds them: history up to that day."""
    out = []
    for opp, history in deals:
        events = [
            (h["entered_at"].date(), h["stage"], h["amount"], h["close_date"])
            for h in history
            if h["entered_at"].date() <= day
        ]
        if events:
            out.append(deal(opp["opp_id"], opp["owner_id"], events))
    return out


@pytest.fixture(scope="module")
def later() -> Tables:
    return make_tables(HAND)


@pytest.fixture(scope="module")
def earlier() -> Tables:
    return make_tables(_as_of(HAND, SINCE))


# --------------------------------------------------------------------- the window


def test_window_from_the_url():
    as_of = date(2026, 11, 16)
    assert review_window(as_of) == ReviewWindow(date(2026, 11, 9), as_of, "1w")
    assert review_window(as_of, window="2w").since == date(2026, 11, 2)
    assert review_window(as_of, window="13W").since == date(2026, 8, 17)  # 91 days
    # since wins over window, and names itself
    chosen = review_window(as_of, window="4w", since="2026-11-10")
    assert (chosen.since, chosen.name, chosen.days) == (date(2026, 11, 10), "2026-11-10", 6)
    assert chosen.label == "since 2026-11-10: 2026-11-10 – 2026-11-16"
    assert review_window(as_of, window="2w").label == "2 weeks: 2026-11-02 – 2026-11-16"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "last week"}, "since='last week' is not a day"),
        ({"since": "2026-11-16"}, "since=2026-11-16 is not before the as-of day 2026-11-16"),
        ({"window": "3d"}, "window='3d' is not one of 1w, 2w, 4w, 13w"),
    ],
)
def test_a_bad_window_says_which_parameter(query, message):
    with pytest.raises(WindowError, match=message):
        review_window(date(2026, 11, 16), **query)


def test_the_earlier_snapshot_is_the_newest_at_or_before_since():
    snaps = [("s1", date(2026, 11, 1)), ("s3", date(2026, 11, 9)), ("s2", date(2026, 11, 9)),
             ("s4", date(2026, 11, 12))]  # fmt: skip
    assert earlier_snapshot(snaps, date(2026, 11, 9)) == ("s3", date(2026, 11, 9))
    assert earlier_snapshot(snaps, date(2026, 11, 8)) == ("s1", date(2026, 11, 1))
    assert earlier_snapshot(snaps, date(2026, 10, 31)) is None
    assert earlier_snapshot([], date(2026, 11, 9)) is None


# --------------------------------------------------------------------- snapshot trends


def test_snapshot_trends_by_hand(earlier, later):
    # a up (amount, stage, category up); b slipped (pushed 08-31 → 09-30); c down (new, lost);
    # e down (stage back); f up (won); g idle; h idle (its push and pull-back fall between
    # the snapshots); j up (new); k up (pulled in). Trends are for deals open at since or
    # new: d (lost at since, reopened) and i (closed at both ends) have none.
    got = snapshot_trends(earlier, later)
    assert dict(zip(got["opp_id"], got["trend"].cast(pl.String), strict=True)) == {
        "a": "up", "b": "slipped", "c": "down", "e": "down", "f": "up",
        "g": "idle", "h": "idle", "j": "up", "k": "up",
    }  # fmt: skip
    summary = snapshot_trend_summary(earlier, later).filter(team=ALL_TEAMS)
    # up: a 150 + f 500 + j 60 + k 70 = 780; down: c 80 + e 350 = 430;
    # slipped: b 200; idle: g 120 + h 90 = 210
    assert summary.select("trend", "deals", "amount").rows() == [
        ("up", 4, 780.0), ("down", 2, 430.0), ("slipped", 1, 200.0), ("idle", 2, 210.0),
    ]  # fmt: skip


def test_snapshots_and_history_agree_where_nothing_hides_between(earlier, later):
    # Nothing in HAND moves and moves back but h, which both read as idle: trends and the
    # transition matrix are the same from the two snapshots as from the history.
    span = {"since": SINCE, "until": UNTIL}
    assert_frame_equal(snapshot_trend_summary(earlier, later), trend_summary(later, **span))
    assert_frame_equal(
        snapshot_category_transitions(earlier, later), category_transitions(later, **span)
    )


def test_snapshot_transitions_by_hand(earlier, later):
    # At since: a, g pipeline (100 + 120); b, e commit (200 + 400); f commit (500);
    # h, k best_case (90 + 70); d lost (300, reopened into Proposal = best_case).
    # c and j are new (c lost, j pipeline).
    got = snapshot_category_transitions(earlier, later, by=())
    cells = {(f, t): (n, s, a) for f, t, n, s, a in got.iter_rows()}
    assert cells == {
        ("new", "pipeline"): (1, 0.0, 60.0),
        ("new", "lost"): (1, 0.0, 80.0),
        ("pipeline", "pipeline"): (1, 120.0, 120.0),
        ("pipeline", "best_case"): (1, 100.0, 150.0),
        ("best_case", "best_case"): (2, 160.0, 160.0),
        ("commit", "best_case"): (1, 400.0, 350.0),
        ("commit", "commit"): (1, 200.0, 200.0),
        ("commit", "won"): (1, 500.0, 500.0),
        ("lost", "best_case"): (1, 300.0, 300.0),
    }
    # rows sum to the pipeline at since (open: 220 + 160 + 1100), columns to that at until
    assert (
        got.filter(pl.col("from").is_in(["pipeline", "best_case", "commit"]))["amount_since"].sum()
        == 1480.0
    )
    assert got.filter(to="best_case")["amount"].sum() == 150 + 160 + 350 + 300


# --------------------------------------------------------------------- the source


def test_snapshots_are_preferred_and_named(earlier, later):
    got = review_changes(later, window=WEEK, calendar=CAL, earlier=earlier,
                         earlier_label="the snapshot of 2026-08-07")  # fmt: skip
    assert got.source == "snapshots" and got.measured
    assert got.source_text.startswith("compared with the snapshot of 2026-08-07")
    pushed = got.rows.filter(kind="close_pushed")
    assert pushed["opp_id"].to_list() == ["b"] and pushed["pushes"].to_list() == [None]
    # USERS have no names: the owner column falls back to the id, never empty
    assert got.rows["owner"].to_list() == got.rows["owner_id"].to_list()


def test_the_history_when_no_snapshot_is_old_enough(later):
    got = review_changes(later, window=WEEK, calendar=CAL)
    assert got.source == "history" and got.measured
    assert "no snapshot as of 2026-08-07 or earlier" in got.source_text
    assert got.rows.filter(kind="close_pushed")["pushes"].to_list() == [2]  # b, seen between
    assert got.deal_trends.filter(opp_id="h")["trend"].cast(pl.String).to_list() == ["idle"]


def test_a_derived_history_is_not_measured_without_a_snapshot(earlier):
    derived = {"stage_history": "derived from current stage"}
    blind = make_tables(HAND, provenance=derived)
    got = review_changes(blind, window=WEEK, calendar=CAL)
    assert got.source == "none" and not got.measured
    assert got.reason.startswith(CHANGES_DERIVED)
    assert "no snapshot as of 2026-08-07 or earlier" in got.reason
    assert got.summary.is_empty() and got.rows.is_empty() and got.transitions.is_empty()
    # … and measured from two snapshots, which do not need the history: a 3 flags, b 1,
    # c 2 (new, lost), d 1 (reopened), e 3, f 1, j 1, k 1 = 13
    compared = review_changes(blind, window=WEEK, calendar=CAL, earlier=earlier)
    assert compared.measured and compared.summary.filter(team=ALL_TEAMS)["deals"].sum() == 13


def test_owner_names_not_ids(later):
    users = (
        later.frames["users"]
        .collect()
        .with_columns(
            name=pl.col("user_id").replace_strict({"u1": "Ada Lovelace", "u2": "Alan Turing"})
        )
    )
    named = Tables.from_frames({**{k: v.collect() for k, v in later.frames.items()},
                                "users": users})  # fmt: skip
    got = review_changes(named, window=WEEK, calendar=CAL)
    assert set(got.rows.filter(opp_id="b")["owner"]) == {"Ada Lovelace"}


# --------------------------------------------------------------------- invariants


@pytest.mark.parametrize("team", ["East", "West"])
@pytest.mark.parametrize("from_snapshot", [True, False])
def test_a_team_view_equals_the_company_row(earlier, later, team, from_snapshot):
    before = earlier if from_snapshot else None
    company = review_changes(later, window=WEEK, calendar=CAL, earlier=before)
    alone = review_changes(filter_teams(later, [team]), window=WEEK, calendar=CAL, earlier=before)
    for frame in ("summary", "trends", "transitions"):
        assert_frame_equal(
            getattr(alone, frame).filter(team=team), getattr(company, frame).filter(team=team)
        )
    assert_frame_equal(alone.rows, company.rows.filter(team=team))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_never_changes_the_result(earlier, later, seed):
    def shuffled(tables: Tables) -> Tables:
        frames = {}
        for name, frame in tables.frames.items():
            rows = frame.collect()
            order = list(range(rows.height))
            random.Random(seed).shuffle(order)
            frames[name] = rows[order]
        return Tables.from_frames(frames)

    base = review_changes(later, window=WEEK, calendar=CAL, earlier=earlier)
    other = review_changes(shuffled(later), window=WEEK, calendar=CAL, earlier=shuffled(earlier))
    for frame in ("summary", "trends", "transitions", "rows", "deal_trends"):
        assert_frame_equal(getattr(other, frame), getattr(base, frame))
