"""The scorecard on the demo org over time: one history, and the planted goal conflict.

The demo is one company per seed (`connectors/demo.py`): a snapshot at an earlier day is the
later snapshot cut at that day. So a metric that only reads the past gives the same figure
for an as-of date whichever later snapshot it is computed from.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.demo import generate_demo_org
from model.calendar import parse_period, period_of
from model.tables import Tables
from scoring.funnel import goal_conflict
from scoring.scorecard import compute

AS_OF = date(2026, 11, 16)

# Figures that read the records as they are in the snapshot rather than their history, so a
# later snapshot viewed as of an earlier day legitimately differs:
CURRENT_STATE = {
    # data-quality checks judge the snapshot's records as they are (e.g. an open deal whose
    # close date is past), not as they were; the shared-data score averages that signal in.
    "signal": "data_quality_score",
    "drivers": "data_quality.",
    "pillar score": "shared_data",
}
# The marketing-sourced pipeline reconciliation values deals at their current amount: its
# counts read the past, its dollar figures (in the driver's text) do not.
CURRENT_AMOUNTS = "reconcile."


def _past_only(card: dict[str, Any]) -> dict[str, Any]:
    """The scorecard JSON's pillars, signals and headline without the current-state figures."""
    pillars = []
    for p in card["pillars"]:
        drivers = [
            {**d, "text": None} if d["definition_id"].startswith(CURRENT_AMOUNTS) else d
            for d in p["drivers"]
            if not d["definition_id"].startswith(CURRENT_STATE["drivers"])
        ]
        signals = [s for s in p["signals"] if s["id"] != CURRENT_STATE["signal"]]
        score = None if p["id"] == CURRENT_STATE["pillar score"] else p["score"]
        pillars.append({**p, "score": score, "signals": signals, "drivers": drivers})
    return {"pillars": pillars, "headline": card["headline"]}


def _card(snapshot_day: date, as_of: date) -> dict[str, Any]:
    tables = Tables.from_frames(generate_demo_org(as_of=snapshot_day, seed=7, scale=0.3))
    return compute(tables, as_of=as_of, period=period_of(as_of)).to_dict()


@settings(max_examples=4, deadline=None)
@given(
    earlier=st.dates(min_value=date(2025, 7, 1), max_value=date(2027, 3, 31)),
    gap=st.integers(min_value=1, max_value=200),
)
def test_a_later_snapshot_viewed_as_of_an_earlier_day_scores_the_same(earlier: date, gap: int):
    later = earlier + timedelta(days=gap)
    then = _past_only(_card(earlier, earlier))
    viewed_back = _past_only(_card(later, earlier))
    assert viewed_back == then


def test_the_excluded_figures_do_move_between_snapshots():
    # The exclusions above are not blanket: each one does differ for a week-later snapshot
    # viewed as of the earlier day, and everything else is equal (the test above).
    then, back = _card(AS_OF, AS_OF), _card(date(2026, 11, 24), AS_OF)

    def quality(card: dict[str, Any]) -> float:
        (shared,) = [p for p in card["pillars"] if p["id"] == "shared_data"]
        return next(s["value"] for s in shared["signals"] if s["id"] == "data_quality_score")

    assert quality(then) != quality(back)


# ---------------------------------------------------------------- planted goal conflict


@pytest.fixture(scope="module")
def demo_tables() -> Tables:
    return Tables.from_frames(generate_demo_org(as_of=AS_OF))


def test_finds_the_goal_conflict_on_the_default_view(demo_tables):
    card = compute(demo_tables, as_of=AS_OF, period=parse_period("2026-Q4"))
    pillar = card.pillar("shared_outcomes")
    conflicts = [d for d in pillar.drivers if d.definition_id == "goal_conflict"]
    assert [d.subject for d in conflicts] == ["Marketing"]  # no SDR-side conflict
    assert conflicts[0].text.startswith("2026-Q2: marketing delivered more MQLs")
    # the judged history is the four complete quarters 2025-Q4 .. 2026-Q3: one Q2 → 1 of 4
    (signal,) = [s for s in pillar.signals if s.id == "goal_conflict"]
    assert signal.value == 0.25


def test_goal_conflict_flags_each_q2_and_no_other_quarter(demo_tables):
    names = [f"{y}-Q{q}" for y in (2025, 2026) for q in (1, 2, 3, 4)][:7]  # complete ones
    got = goal_conflict(demo_tables, periods=[parse_period(n) for n in names], as_of=AS_OF)
    flagged = got.filter("marketing_conflict")["period"].to_list()
    assert flagged == ["2025-Q2", "2026-Q2"]
    assert not got["sdr_conflict"].any()
    # the planted size: ≥ 20 % more MQLs than the quarter before and MQL→SAL ≥ 6 points lower
    q2 = got.with_columns(
        more=pl.col("mqls") / pl.col("mqls").shift(1),
        fall=pl.col("mql_to_sal").shift(1) - pl.col("mql_to_sal"),
    ).filter(pl.col("period").is_in(flagged))
    assert (q2["more"] >= 1.2).all() and (q2["fall"] >= 0.06).all(), q2
