"""Follow-through of decisions and "decisions kept" per team, on a hand-made journal."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journal import current_decisions
from journal.store import DECISION_COLUMNS
from model.calendar import parse_period
from model.tables import Tables
from scoring.decisions import decisions_kept, follow_through
from scoring.scorecard import compute

AS_OF = date(2026, 8, 1)


def at(day: int, month: int = 7) -> datetime:
    return datetime(2026, month, day, 10, 0, tzinfo=UTC)


def event(decision_id, seq, kind, status, day, *, team="EMEA", due=date(2026, 7, 20), **kw):
    return {
        "decision_id": decision_id,
        "seq": seq,
        "at": at(day),
        "by_email": "u@x",
        "kind": kind,
        "status": status,
        "text": f"decision {decision_id}",
        "owner": "o",
        "due_date": due,
        "team": team,
        "about_kind": kw.get("about_kind", "team"),
        "about_id": kw.get("about_id"),
        "metric_value": kw.get("metric_value"),
        "note": "",
    }


# EMEA, all due 2026-07-20, as of 2026-08-01:
#   1 closed 07-15, on time, never reversed            -> judged, kept
#   2 closed 07-25, late                              -> judged, not kept
#   3 closed 07-10 then reversed 07-18                -> judged, not kept
#   4 open, past due (12 days overdue on 08-01)       -> judged, not kept
#   5 open, due 08-15                                 -> not judged
#   6 reversed 07-05, reopened 07-06, closed 07-19    -> judged, not kept (it was reversed once)
# EMEA: kept 1 of 5 judged = 20 %.
# NA: 7 closed 07-30 with no due date -> judged, kept: 1 of 1 = 100 %.
# "(no team)": 8 open past due -> 0 of 1.
# APAC: 9 open, due 08-15 -> no row (nothing judged: not measured, never 0 %).
HISTORY = pl.DataFrame(
    [
        event(1, 1, "recorded", "open", 1),
        event(1, 2, "closed", "closed", 15),
        event(2, 1, "recorded", "open", 1),
        event(2, 2, "closed", "closed", 25),
        event(3, 1, "recorded", "open", 1),
        event(3, 2, "closed", "closed", 10),
        event(3, 3, "reversed", "reversed", 18),
        event(
            4, 1, "recorded", "open", 1, about_kind="metric", about_id="mql_sla", metric_value=0.31
        ),
        event(5, 1, "recorded", "open", 1, due=date(2026, 8, 15)),
        event(6, 1, "recorded", "open", 1),
        event(6, 2, "reversed", "reversed", 5),
        event(6, 3, "reopened", "open", 6),
        event(6, 4, "closed", "closed", 19),
        event(7, 1, "recorded", "open", 1, team="NA", due=None),
        event(7, 2, "closed", "closed", 30, team="NA", due=None),
        event(8, 1, "recorded", "open", 1, team=None),
        event(9, 1, "recorded", "open", 1, team="APAC", due=date(2026, 8, 15)),
    ],
    schema={**DECISION_COLUMNS, "at": pl.Datetime("us", "UTC")},
)
SIGNALS = pl.DataFrame({"signal_id": ["mql_sla"], "label": ["MQLs past the SLA"], "value": [0.22]})


def test_follow_through_of_each_decision():
    out = follow_through(current_decisions(HISTORY), SIGNALS, as_of=AS_OF)
    assert out["decision_id"].to_list() == list(range(1, 10))
    assert out["status"].to_list() == [
        "closed", "closed", "reversed", "open", "open", "closed", "closed", "open", "open"
    ]  # fmt: skip
    assert out["overdue"].to_list() == [False, False, False, True, False, False, False, True, False]
    assert out["days_overdue"].to_list()[3] == 12  # due 07-20, as of 08-01
    assert out["days_overdue"].to_list()[4] == 0  # due 08-15: not late, not negative
    assert out["kept"].to_list() == [True, False, False, None, None, False, True, None, None]
    metric = out.filter(pl.col("decision_id") == 4).row(0, named=True)
    assert (metric["value_then"], metric["value_now"]) == (0.31, 0.22)
    assert metric["metric_label"] == "MQLs past the SLA"
    assert out.filter(pl.col("decision_id") != 4)["value_now"].null_count() == 8


def test_decisions_kept_per_team_by_hand():
    out = decisions_kept(current_decisions(HISTORY), as_of=AS_OF)
    assert out.to_dicts() == [
        {"team": "(no team)", "kept": 0, "judged": 1, "rate": 0.0},
        {"team": "EMEA", "kept": 1, "judged": 5, "rate": 0.2},
        {"team": "NA", "kept": 1, "judged": 1, "rate": 1.0},
    ]


def test_nothing_judged_is_no_row_not_zero():
    assert decisions_kept(current_decisions(HISTORY.head(0)), as_of=AS_OF).height == 0
    # as of 07-10 nothing open is due yet: only the closed and reversed ones are judged
    # EMEA 1, 2, 3, 6 (kept: 1 only); NA 7 (kept); no team's 8 and APAC's 9 are not due
    early = decisions_kept(current_decisions(HISTORY), as_of=date(2026, 7, 10))
    assert early.to_dicts() == [
        {"team": "EMEA", "kept": 1, "judged": 4, "rate": 0.25},
        {"team": "NA", "kept": 1, "judged": 1, "rate": 1.0},
    ]


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(HISTORY.height)))
def test_row_order_never_changes_the_result(order):
    shuffled = HISTORY[list(order)]
    assert decisions_kept(current_decisions(shuffled), as_of=AS_OF).equals(
        decisions_kept(current_decisions(HISTORY), as_of=AS_OF)
    )
    assert follow_through(current_decisions(shuffled), SIGNALS, as_of=AS_OF).equals(
        follow_through(current_decisions(HISTORY), SIGNALS, as_of=AS_OF)
    )


def _kept_signal(card, pillar: str = "forecast_integrity") -> dict:
    data = card.to_dict()
    signals = next(p for p in data["pillars"] if p["id"] == pillar)["signals"]
    return next(s for s in signals if s["id"] == "decisions_kept")


def test_decisions_kept_is_a_forecast_integrity_signal(tiny_org):
    tables = Tables.from_frames(tiny_org)
    period = parse_period("2026-Q3")
    # the log not read (the CLI without a database), and an empty log: not measured, never 0
    unread = compute(tables, as_of=AS_OF, period=period)
    empty = compute(tables, as_of=AS_OF, period=period, decisions=current_decisions(HISTORY[:0]))
    assert _kept_signal(unread)["status"] == "not measured"
    assert _kept_signal(unread)["reason"] == "the decision log was not read for this scorecard"
    assert _kept_signal(empty)["reason"] == (
        "no decision in the decision log is due, closed or reversed yet"
    )
    # the hand-made log: EMEA 1 of 5, NA 1 of 1, no team 0 of 1 -> 2 kept of 7 judged
    card = compute(tables, as_of=AS_OF, period=period, decisions=current_decisions(HISTORY))
    kept = _kept_signal(card)
    assert (kept["status"], kept["numerator"], kept["denominator"]) == ("measured", 2, 7)
    assert kept["value"] == pytest.approx(2 / 7, abs=1e-4)
    # scale 40 % -> 0, 90 % -> 100: 28.6 % is below the floor
    assert kept["score"] == 0.0
    assert card.pillar("forecast_integrity").score != unread.pillar("forecast_integrity").score


def test_a_teams_view_equals_the_company_views_row_for_it():
    from ops.decisions import in_view

    decisions = current_decisions(HISTORY)
    company = decisions_kept(decisions, as_of=AS_OF)
    for team in ("EMEA", "NA"):
        alone = decisions_kept(in_view(decisions, (team,)), as_of=AS_OF)
        # the team's view also holds the decisions of no team: its own row is the company's
        assert alone.filter(pl.col("team") == team).equals(company.filter(pl.col("team") == team))


def test_a_deal_decision_shows_what_changed_on_the_deal_since(tiny_org):
    from scoring.decisions import deal_follow_through

    # O1 (tiny org) is won on 2026-02-01; O2 sits in Discovery from 2026-02-01, unchanged.
    # Decision 1 about O1 recorded 01-10: by 02-15 it was won. Decision 2 about O1 recorded
    # 02-10: already won then, nothing since. Decision 3 about O2 recorded 02-10: nothing.
    # Decision 4 is about a team: not a deal decision, no row.
    history = pl.DataFrame(
        [
            {
                **event(1, 1, "recorded", "open", 1, about_kind="deal", about_id="O1"),
                "at": datetime(2026, 1, 10, 10, tzinfo=UTC),
            },
            {
                **event(2, 1, "recorded", "open", 1, about_kind="deal", about_id="O1"),
                "at": datetime(2026, 2, 10, 10, tzinfo=UTC),
            },
            {
                **event(3, 1, "recorded", "open", 1, about_kind="deal", about_id="O2"),
                "at": datetime(2026, 2, 10, 10, tzinfo=UTC),
            },
            {**event(4, 1, "recorded", "open", 1), "at": datetime(2026, 2, 10, 10, tzinfo=UTC)},
        ],
        schema={**DECISION_COLUMNS, "at": pl.Datetime("us", "UTC")},
    )
    out = deal_follow_through(
        current_decisions(history), Tables.from_frames(tiny_org), as_of=date(2026, 2, 15)
    )
    assert out.rows() == [(1, "won"), (2, ""), (3, "")]
