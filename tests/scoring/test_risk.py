"""Tests for scoring.risk: each named reason on a hand fixture, the ROC AUC by hand, the
calibration on closed deals, and the demo org's planted signal.

As of 2026-04-15 (UTC): the as-of instant is 2026-04-16T00:00Z, and default `RiskParams`.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from model.params import RiskParams
from model.schema import TABLES
from model.tables import Tables
from scoring.risk import (
    RISK_DERIVED,
    RISK_NO_HISTORY,
    deal_risk,
    evaluate_risk,
    risk_auc,
    risk_status,
)
from snapshots.store import Store

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 4, 15)

# stage: (position, owner function, is_closed, is_won)
STAGES = {
    "Qualification": (1, "sdr", False, False),
    "Discovery": (2, "sales", False, False),
    "Proposal": (3, "sales", False, False),
    "Negotiation": (4, "sales", False, False),
    "Closed Won": (5, "sales", True, True),
    "Closed Lost": (6, "sales", True, False),
}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def frame(name: str, rows: list[dict]) -> pl.DataFrame:
    schema = TABLES[name].polars_schema
    return pl.DataFrame(rows, schema={c: schema[c] for c in rows[0]})


def opp(opp_id: str, created: str, stage: str, close: str, amount: float = 100.0) -> dict:
    _, _, closed, won = STAGES[stage]
    return {
        "opp_id": opp_id,
        "name": f"Deal {opp_id}",
        "owner_id": "u1",
        "stage": stage,
        "amount": amount,
        "created_at": t(created),
        "close_date": d(close),
        "is_closed": closed,
        "is_won": won,
    }


def row(opp_id: str, stage: str, at: str, close: str, amount: float = 100.0, cat: str = "") -> dict:
    category = cat or {"Negotiation": "commit", "Proposal": "best_case"}.get(stage, "pipeline")
    if stage.startswith("Closed"):
        category = "closed" if stage == "Closed Won" else "omitted"
    return {
        "opp_id": opp_id,
        "stage": stage,
        "entered_at": t(at),
        "amount": amount,
        "close_date": d(close),
        "forecast_category": category,
    }


def make_tables(opps: list[dict], history: list[dict] | None) -> Tables:
    stages = [
        {"stage": s, "position": p, "owner_function": f, "is_closed": c, "is_won": w}
        for s, (p, f, c, w) in STAGES.items()
    ]
    users = [{"user_id": "u1", "name": "Emma", "team": "EMEA", "function": "sales"}]
    frames = {
        "stages": frame("stages", stages),
        "users": frame("users", users),
        "opportunities": frame("opportunities", opps),
    }
    if history is not None:
        frames["stage_history"] = frame("stage_history", history)
    return Tables.from_frames(frames)


# Three won deals spent 10, 20 and 30 days in Negotiation in January, C and C2 20 days each
# (03-21 → 04-10): the company median of finished Negotiation spells is 20 days. No other
# stage has a finished spell, so no other median.
WON = [
    (opp(f"W{i}", "2026-01-01", "Closed Won", close), [
        row(f"W{i}", "Negotiation", "2026-01-01", close),
        row(f"W{i}", "Closed Won", f"{close}T00:00", close),
    ])
    for i, close in ((1, "2026-01-11"), (2, "2026-01-21"), (3, "2026-01-31"))
]  # fmt: skip

OPEN = {
    # Stage age: in Negotiation since 03-03 → 44 days at 04-16T00:00, 44 / 20 = 2.2× the median
    # → (2.2 − 1) × 20 = 24 points. The upgrade best_case → commit on 04-10 is a change (not
    # idle) and not a downgrade.
    "A": (opp("A", "2026-03-03", "Negotiation", "2026-05-31"), [
        row("A", "Negotiation", "2026-03-03", "2026-05-31", cat="best_case"),
        row("A", "Negotiation", "2026-04-10", "2026-05-31", cat="commit"),
    ]),
    # Pushes: 04-30 → 05-20 (+20), → 05-15 (pulled in: not a push), → 06-09 (+25): 2 pushes,
    # +45 days → 2 × 10 + 45 × 0.2 = 29 points.
    "B": (opp("B", "2026-04-01", "Proposal", "2026-06-09"), [
        row("B", "Proposal", "2026-04-01", "2026-04-30"),
        row("B", "Proposal", "2026-04-05", "2026-05-20"),
        row("B", "Proposal", "2026-04-08", "2026-05-15"),
        row("B", "Proposal", "2026-04-12", "2026-06-09"),
    ]),
    # Late downgrade: commit → best_case on 04-10 (Negotiation → Proposal) with the close
    # date 04-25, 15 days before close (≤ 30) → 15 points.
    "C": (opp("C", "2026-03-21", "Proposal", "2026-04-25"), [
        row("C", "Negotiation", "2026-03-21", "2026-04-25"),
        row("C", "Proposal", "2026-04-10", "2026-04-25"),
    ]),
    # The same downgrade 111 days before its close date (07-30) is not late: 0 points.
    "C2": (opp("C2", "2026-03-21", "Proposal", "2026-07-30"), [
        row("C2", "Negotiation", "2026-03-21", "2026-07-30"),
        row("C2", "Proposal", "2026-04-10", "2026-07-30"),
    ]),
    # Amount cut: 100 → 150 → 90, 1 − 90 / 150 = 40 % cut from the highest → 0.4 × 50 = 20.
    "D": (opp("D", "2026-04-01", "Discovery", "2026-06-30", amount=90.0), [
        row("D", "Discovery", "2026-04-01", "2026-06-30", amount=100.0),
        row("D", "Discovery", "2026-04-05", "2026-06-30", amount=150.0),
        row("D", "Discovery", "2026-04-10", "2026-06-30", amount=90.0),
    ]),
    # Past close date: 04-03 is 12 days before 04-15 → 20 + 12 × 1 = 32 points.
    "E": (opp("E", "2026-04-01", "Discovery", "2026-04-03"), [
        row("E", "Discovery", "2026-04-01", "2026-04-03"),
    ]),
    # Idle: created 02-15, nothing since: 60 days without a change (≥ 30) → 10 points.
    # (Qualification has no finished spell, so no median and no stage-age points.)
    "F": (opp("F", "2026-02-15", "Qualification", "2026-06-30"), [
        row("F", "Qualification", "2026-02-15", "2026-06-30"),
    ]),
    # Nothing wrong: 0 points, no reasons.
    "H": (opp("H", "2026-04-10", "Discovery", "2026-06-30"), [
        row("H", "Discovery", "2026-04-10", "2026-06-30"),
    ]),
}  # fmt: skip

EXPECTED = {
    "A": (24, ["44 days in Negotiation, 2.2× the company median (+24)"]),
    "B": (29, ["close date pushed 2 times (+45 days) (+29)"]),
    "C": (15, ["category cut from commit to best_case 15 days before close (+15)"]),
    "C2": (0, []),
    "D": (20, ["amount cut 40 % (+20)"]),
    "E": (32, ["close date 12 days in the past (+32)"]),
    "F": (10, ["no change for 60 days (+10)"]),
    "H": (0, []),
}


def fixture_tables(history: bool = True) -> Tables:
    deals = [*WON, *OPEN.values()]
    rows = [r for _, rs in deals for r in rs]
    return make_tables([o for o, _ in deals], rows if history else None)


def test_each_reason_with_its_points():
    got = deal_risk(fixture_tables(), as_of=AS_OF)
    # the won deals are closed; riskiest first, ties by id
    assert got["opp_id"].to_list() == ["E", "B", "A", "D", "C", "F", "C2", "H"]
    for opp_id, (score, reasons) in EXPECTED.items():
        one = got.filter(pl.col("opp_id") == opp_id).row(0, named=True)
        assert (one["score"], one["reasons"]) == (score, reasons), opp_id
    a = got.filter(pl.col("opp_id") == "A").row(0, named=True)
    assert a["points_stage_age"] == 24 and a["points_idle"] is None


def test_reasons_add_up_most_points_first_and_cap_at_100():
    # One deal with every reason: in Negotiation since 01-01 (105 days, 5.25× the median →
    # 85, capped at 40); close date pushed +30 three times (3 × 10 + 90 × 0.2 = 48, capped at
    # 40; the last row pulls it in by a day: not a push); amount 100 → 50, cut 50 % (25,
    # capped at 20); close date 03-31 is 15 days past (20 + 15 = 35); no change since 02-20
    # (55 days → 10): 40 + 40 + 20 + 35 + 10 = 145 → 100.
    deal = opp("Z", "2026-01-01", "Negotiation", "2026-03-31", amount=50.0)
    rows = [row("Z", "Negotiation", "2026-01-01", "2026-01-01")] + [
        row("Z", "Negotiation", f"2026-02-{day:02d}", close)
        for day, close in ((1, "2026-01-31"), (5, "2026-03-02"), (10, "2026-04-01"))
    ] + [row("Z", "Negotiation", "2026-02-20", "2026-03-31", amount=50.0)]  # fmt: skip
    won = [r for _, rs in WON for r in rs]
    tables = make_tables([deal, *(o for o, _ in WON)], [*rows, *won])
    got = deal_risk(tables, as_of=AS_OF).filter(pl.col("opp_id") == "Z").row(0, named=True)
    assert got["score"] == 100
    assert [got[f"points_{k}"] for k in ("stage_age", "pushes", "amount_cut")] == [40, 40, 20]
    assert (got["points_past_close"], got["points_idle"]) == (35, 10)
    assert got["reasons"][-1] == "no change for 55 days (+10)"  # fewest points last
    assert got["reasons"][2] == "close date 15 days in the past (+35)"


def test_not_measured_on_a_derived_or_missing_history():
    tables = fixture_tables()
    derived = Tables(
        frames=tables.frames,
        missing=tables.missing,
        provenance={"stage_history": "derived: from current stage"},
    )
    assert risk_status(tables) is None
    assert risk_status(derived) == RISK_DERIVED
    assert deal_risk(derived, as_of=AS_OF).is_empty()
    missing = fixture_tables(history=False)
    assert risk_status(missing) == RISK_NO_HISTORY
    assert deal_risk(missing, as_of=AS_OF).is_empty()
    evaluation = evaluate_risk(derived, as_of=AS_OF)
    assert evaluation.auc is None and evaluation.reason == RISK_DERIVED
    assert "not measured" in evaluation.text()


def scored(scores: list[int], lost: list[bool]) -> pl.DataFrame:
    return pl.DataFrame({"score": scores, "is_lost": lost})


def test_auc_by_hand():
    # the lost deal (90) outscores both won (80, 30): 2 of 2 pairs → 1.0
    assert risk_auc(scored([90, 80, 30], [True, False, False])) == 1.0
    # a tie counts half: (50 lost, 50 won) → 0.5
    assert risk_auc(scored([50, 50], [True, False])) == 0.5
    # lost 80, 30 vs won 50, 30: 80>50 ✓, 80>30 ✓, 30<50 ✗, 30=30 ½ → 2.5 / 4
    assert risk_auc(scored([80, 30, 50, 30], [True, True, False, False])) == 0.625
    # the lost deal scored below the won one → 0
    assert risk_auc(scored([10, 60], [True, False])) == 0.0
    assert risk_auc(scored([10, 60], [False, False])) is None


def test_calibration_scores_each_closed_deal_with_what_was_known_30_days_before():
    # L was lost on 04-10 (close date 04-10): scored at the end of 03-11. Its push on 03-20 and
    # its loss came later and do not count; then it sat in Discovery since 02-01 with close
    # date 03-31 ahead: idle 39 days → 10 points, nothing else (Discovery has no median).
    # W1, W2 (closed 01-11, 01-21) did not exist yet 30 days before closing; W3 (closed
    # 01-31, created 01-01) is scored at the end of 01-01: 1 day in Negotiation, no median from
    # spells ended before January → 0 points. N closes after as-of: left out.
    lost = opp("L", "2026-02-01", "Closed Lost", "2026-04-10")
    lost_rows = [
        row("L", "Discovery", "2026-02-01", "2026-03-31"),
        row("L", "Discovery", "2026-03-20", "2026-04-30"),
        row("L", "Closed Lost", "2026-04-10", "2026-04-10"),
    ]
    later = opp("N", "2026-02-01", "Discovery", "2026-05-01")
    deals = [(lost, lost_rows), (later, [row("N", "Discovery", "2026-02-01", "2026-05-01")])]
    deals += WON
    tables = make_tables([o for o, _ in deals], [r for _, rs in deals for r in rs])
    got = evaluate_risk(tables, as_of=AS_OF)
    assert got.scores.select("opp_id", "stage_then", "score", "reasons").rows() == [
        ("L", "Discovery", 10, ["no change for 39 days (+10)"]),
        ("W3", "Negotiation", 0, []),
    ]
    assert (got.n_won, got.n_lost, got.auc) == (1, 1, None)  # 10 + 10 needed
    assert "needs 10 won and 10 lost" in (got.reason or "")
    few = evaluate_risk(tables, as_of=AS_OF, params=RiskParams(min_closed=1))
    assert few.auc == 1.0  # 10 (lost) > 0 (won)


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_order_never_changes_scores(rnd):
    base = deal_risk(fixture_tables(), as_of=AS_OF)
    deals = [*WON, *OPEN.values()]
    opps, rows = [o for o, _ in deals], [r for _, rs in deals for r in rs]
    rnd.shuffle(opps)
    rnd.shuffle(rows)
    assert_frame_equal(deal_risk(make_tables(opps, rows), as_of=AS_OF), base)


DEMO_AS_OF = date(2026, 11, 16)


@pytest.fixture(scope="module")
def demo_tables() -> Tables:
    return Tables.from_frames(generate_demo_org(as_of=DEMO_AS_OF))


def test_demo_risk_separates_lost_from_won_30_days_before_close(demo_tables):
    # Seed 7, as of 2026-11-16: AUC 0.726 over 741 won and 1,322 lost deals closed in the
    # trailing 12 months (pattern 6 of connectors/demo.py, with pattern 1's slow deaths).
    got = evaluate_risk(demo_tables, as_of=DEMO_AS_OF)
    assert got.auc is not None and got.auc > 0.7
    assert got.n_won > 500 and got.n_lost > 500
    risky = deal_risk(demo_tables, as_of=DEMO_AS_OF)
    assert risky.height > 100 and risky["score"].is_between(0, 100).all()
    assert risky["score"].is_sorted(descending=True)


def test_cli_lists_risky_deals_and_the_auc(tmp_path: Path):
    data = tmp_path / "data"
    Store(data).write(
        validate_tables(generate_demo_org(as_of=DEMO_AS_OF, scale=0.3)).frames,
        source="demo",
        data_as_of=DEMO_AS_OF,
    )
    env = {"SCORECARD_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}

    def cli(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "ops", "risk", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip

    listed = cli("--top", "3")
    assert listed.startswith("Riskiest open deals as of 2026-11-16:")
    assert listed.count("        - ") >= 3 and "(+" in listed
    auc = cli("--evaluate")
    assert auc.startswith("Deal risk AUC 0.") and "30 days before close" in auc
    assert "won" in auc and "lost" in auc


def test_a_team_view_scores_its_deals_as_the_company_view_does(demo_tables):
    # stage medians come from the whole company, so EMEA's deals score the same in EMEA's view
    from scoring.scorecard import filter_teams

    company = deal_risk(demo_tables, as_of=DEMO_AS_OF).filter(pl.col("team") == "EMEA")
    team = deal_risk(filter_teams(demo_tables, ["EMEA"]), as_of=DEMO_AS_OF)
    assert team.height > 0
    assert_frame_equal(team, company)
