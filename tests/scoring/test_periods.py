"""Any period: the data's first day, the scorecard over a year, a range, ttm or all data,
and the CLI and pre-read that ask for them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from connectors.validate import validate_tables
from model.calendar import Calendar, parse_period
from model.tables import Tables
from scoring.periods import data_start, resolve_period
from scoring.scorecard import compute
from snapshots.store import Store
from tests.conftest import frame, ts

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2017, 12, 31)

# Five closed deals of team EMEA (won W / lost L, close date):
#   O5 L 2016-12-15 · O1 W 2017-02-10 · O2 L 2017-04-15 · O3 W 2017-05-20 · O4 W 2017-08-01
# The earliest record is O5, created 2016-10-01 (nothing else is older).
DEALS = [
    ("O1", True, date(2017, 2, 10), "2017-01-05T10:00:00"),
    ("O2", False, date(2017, 4, 15), "2017-03-01T10:00:00"),
    ("O3", True, date(2017, 5, 20), "2017-03-02T10:00:00"),
    ("O4", True, date(2017, 8, 1), "2017-06-01T10:00:00"),
    ("O5", False, date(2016, 12, 15), "2016-10-01T10:00:00"),
]


ANA = {"user_id": "U1", "name": "Ana", "team": "EMEA", "function": "sales"}


def _frames() -> dict:
    stages = [
        {"stage": "Discovery", "position": 1, "owner_function": "sales",
         "is_closed": False, "is_won": False},
        {"stage": "Closed Won", "position": 2, "owner_function": "sales",
         "is_closed": True, "is_won": True},
        {"stage": "Closed Lost", "position": 3, "owner_function": "sales",
         "is_closed": True, "is_won": False},
    ]  # fmt: skip
    opps, history = [], []
    for opp_id, won, close, created in DEALS:
        stage = "Closed Won" if won else "Closed Lost"
        opps.append({"opp_id": opp_id, "name": opp_id, "owner_id": "U1", "stage": stage,
                     "amount": 100.0, "created_at": ts(created), "close_date": close,
                     "is_closed": True, "is_won": won, "sourced_by": "sales"})  # fmt: skip
        history += [
            {"opp_id": opp_id, "stage": "Discovery", "entered_at": ts(created),
             "amount": 100.0, "close_date": close},
            {"opp_id": opp_id, "stage": stage, "entered_at": ts(f"{close}T12:00:00"),
             "amount": 100.0, "close_date": close},
        ]  # fmt: skip
    return {
        "users": frame("users", [ANA]),
        "stages": frame("stages", stages),
        "opportunities": frame("opportunities", opps),
        "stage_history": frame("stage_history", history),
    }


@pytest.fixture
def tables() -> Tables:
    return Tables.from_frames(_frames())


def _win_rate(card) -> float:
    return card.headline.filter(team="All teams")["win_rate_count"][0]


def test_the_data_starts_with_its_earliest_record(tables):
    assert data_start(tables, Calendar()) == date(2016, 10, 1)  # O5's creation
    # a local date: 10:00 UTC on Oct 1 is 03:00 in Los Angeles, 20:00 in Sydney: Oct 1 both
    assert data_start(tables, Calendar("Australia/Sydney")) == date(2016, 10, 1)
    assert data_start(Tables.from_frames({}), Calendar()) is None


def test_a_quarter_ending_on_the_as_of_day_is_judged_itself(tables):
    card = compute(tables, as_of=AS_OF, period=parse_period("2017-Q4"))
    assert card.judged_period.name == "2017-Q4"
    card = compute(tables, as_of=date(2017, 12, 30), period=parse_period("2017-Q4"))
    assert card.judged_period.name == "2017-Q3"


@pytest.mark.parametrize(
    ("name", "start", "end", "kind", "win_rate"),
    [
        # closed in 2017: O1 W, O2 L, O3 W, O4 W → 3 / 4
        ("2017", "2017-01-01", "2018-01-01", "fiscal_year", 0.75),
        # Mar 1 – Jun 30: O2 L, O3 W → 1 / 2
        ("2017-03-01..2017-06-30", "2017-03-01", "2017-07-01", "custom", 0.5),
        # the twelve months ending Dec 31, 2017 = calendar 2017 → 3 / 4
        ("ttm", "2017-01-01", "2018-01-01", "ttm", 0.75),
        # from O5's creation (2016-10-01): all five, 3 won → 3 / 5
        ("all", "2016-10-01", "2018-01-01", "all", 0.6),
    ],
)
def test_the_scorecard_over_a_longer_period(tables, name, start, end, kind, win_rate):
    period = resolve_period(name, tables, as_of=AS_OF, calendar=Calendar())
    card = compute(tables, as_of=AS_OF, period=period)
    got = card.to_dict()
    assert got["period_range"]["start"] == start and got["period_range"]["end"] == end
    assert got["period_range"]["kind"] == kind
    assert _win_rate(card) == pytest.approx(win_rate)
    # forecast signals judge the latest complete quarter ending inside the period
    assert got["judged_period"] == ("2017-Q2" if kind == "custom" else "2017-Q4")
    # quotas are per quarter: coverage says why it is not measured
    signals = card.pillar("shared_outcomes").signals
    assert next(s for s in signals if s.id == "coverage_vs_required").value is None


def _store(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    Store(data).write(validate_tables(_frames()).frames, source="test", data_as_of=AS_OF)
    return {"SCORECARD_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=check, timeout=120,
    )  # fmt: skip


def test_cli_scorecard_for_any_period(tmp_path: Path):
    env = _store(tmp_path)
    cases = [
        (["--period", "2017"], ("FY2017", "fiscal_year", "2017-01-01", "2018-01-01", 0.75)),
        (["--period", "ttm"], ("ttm", "ttm", "2017-01-01", "2018-01-01", 0.75)),
        (["--period", "all"], ("all", "all", "2016-10-01", "2018-01-01", 0.6)),
        (["--from", "2017-03-01", "--to", "2017-06-30"],
         ("2017-03-01..2017-06-30", "custom", "2017-03-01", "2017-07-01", 0.5)),
        # ttm as of an earlier day: Jun 1, 2016 – May 31, 2017 holds O5 L, O1 W, O2 L, O3 W
        (["--period", "ttm", "--as-of", "2017-05-31"],
         ("ttm", "ttm", "2016-06-01", "2017-06-01", 0.5)),
    ]  # fmt: skip
    for args, (name, kind, start, end, win_rate) in cases:
        card = json.loads(_cli(env, "scorecard", *args, "--format", "json").stdout)
        assert card["period"] == name, args
        assert card["period_range"]["kind"] == kind
        assert (card["period_range"]["start"], card["period_range"]["end"]) == (start, end)
        company = next(r for r in card["headline"] if r["team"] == "All teams")
        assert company["win_rate_count"] == pytest.approx(win_rate), args
    table = _cli(env, "scorecard", "--period", "ttm").stdout
    assert "trailing twelve months (2017-01-01 – 2017-12-31), as of 2017-12-31" in table
    bad = _cli(env, "scorecard", "--from", "2017-03-01", check=False)
    assert bad.returncode == 2 and "--from and --to go together" in bad.stderr
    bad = _cli(env, "scorecard", "--period", "2017", "--from", "2017-03-01", "--to",
               "2017-06-30", check=False)  # fmt: skip
    assert bad.returncode == 2 and "not both" in bad.stderr


def test_cli_preread_for_a_custom_range(tmp_path: Path):
    env = _store(tmp_path)
    out = tmp_path / "pre.html"
    _cli(env, "preread", "--from", "2017-03-01", "--to", "2017-06-30", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert "custom range (2017-03-01 – 2017-06-30)" in html
    assert "forecast judged on 2017-Q2" in html
    # the live link carries the period's name, which the app reads back
    assert "period=2017-03-01..2017-06-30" in html


def test_the_stored_default_view_stays_the_current_quarter(tmp_path: Path):
    from ops.config import load_settings
    from ops.refresh import default_view_key

    settings = load_settings(environ={"SCORECARD_DATA_DIR": str(tmp_path)})
    key = default_view_key(AS_OF, settings)
    assert key == {"period": "2017-Q4", "as_of": "2017-12-31", "teams": []}


def test_quota_coverage_is_not_measured_beyond_a_quarter():
    from model.params import PipelineParams
    from scoring import pipeline

    quotas = frame("quotas", [{"period": "2017-Q4", "team": "EMEA", "amount": 1000.0}])
    tables = Tables.from_frames({**_frames(), "quotas": quotas})
    args = {"as_of": date(2017, 10, 1), "params": PipelineParams()}
    q4 = pipeline.coverage(tables, period=parse_period("2017-Q4"), **args)
    assert q4.filter(team="EMEA")["quota"][0] == 1000.0  # the quarter's quota is read
    fy = pipeline.coverage(tables, period=parse_period("2017"), **args)
    emea = fy.filter(team="EMEA")
    assert emea["coverage"][0] is None
    assert emea["notes"][0] == "not measured for a fiscal year: quotas are set per quarter"
