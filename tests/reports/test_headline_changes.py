"""The change column of the scorecard's team table (reports.headline_changes): an arrow per
figure that moved, and whether that is good news; "not measured" on either side gives
no arrow and says which side."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from reports.headline_changes import FIRST_SNAPSHOT, NO_CHANGE, change_column

BEFORE = [
    {"team": "APAC", "win_rate_count": 0.25, "coverage": 2.9, "stalled_deals": 3,
     "forecast_accuracy": 0.8, "forecast_bias": 0.05, "velocity": 1000.0},
    {"team": "EMEA", "win_rate_count": None, "coverage": 3.0, "stalled_deals": 4},
    {"team": "All teams", "win_rate_count": 0.3, "coverage": 3.0, "stalled_deals": 7,
     "velocity": 1_250_000.0},
]  # fmt: skip
NOW = [
    {"team": "APAC", "win_rate_count": 0.30, "coverage": 2.5, "stalled_deals": 5,
     "forecast_accuracy": None, "forecast_bias": 0.10, "velocity": 1250.0},
    {"team": "EMEA", "win_rate_count": 0.4, "coverage": 3.0, "stalled_deals": 2},
    {"team": "All teams", "win_rate_count": 0.3, "coverage": 3.0, "stalled_deals": 7,
     "velocity": 1_250_000.0},
    {"team": "LATAM", "win_rate_count": 0.2},
]  # fmt: skip


def _changes(now=NOW, before=BEFORE) -> dict[str, str]:
    out = change_column(now, before)
    return dict(zip(out["team"], out["change"], strict=True))


def test_each_moved_figure_has_its_arrow_and_good_or_bad_mark():
    # APAC: win rate 25% → 30% = +5.0 pts, up and good; coverage 2.9× → 2.5× = −0.4×, down and
    # bad; velocity $1,000 → $1,250/day = +$250/day, good; stalled deals 3 → 5 = +2, up and
    # bad (fewer is better); accuracy 80% → not measured: no arrow; bias 5% → 10% = +5.0 pts,
    # neither good nor bad.
    assert _changes()["APAC"] == (
        "Win rate ▲ +5.0 pts (better) · Coverage ▼ −0.4× (worse) · Velocity ▲ +$250/day "
        "(better) · Stalled deals ▲ +2 (worse) · Accuracy: not measured now · Bias ▲ +5.0 pts"
    )


def test_not_measured_before_gets_no_arrow_and_fewer_stalls_are_good():
    # EMEA: win rate not measured before; coverage 3.0× both times (left out); stalls 4 → 2
    assert _changes()["EMEA"] == "Win rate: not measured before · Stalled deals ▼ −2 (better)"


def test_velocity_in_money_for_people():
    # $1,000/day → $13,500/day: +$12,500 → "$12k" (rounded as scoring.model.money, to $1k)
    now = [{"team": "APAC", "velocity": 13_500.0}, {"team": "EMEA", "velocity": 2_500_000.0}]
    before = [{"team": "APAC", "velocity": 1_000.0}, {"team": "EMEA", "velocity": 1_000_000.0}]
    shown = change_column(now, before)["change"].to_list()
    assert shown == ["Velocity ▲ +$12k/day (better)", "Velocity ▲ +$1.5M/day (better)"]


def test_unchanged_new_and_first_snapshot():
    assert _changes()["All teams"] == NO_CHANGE
    assert _changes()["LATAM"] == "not in the previous snapshot"
    first = change_column(NOW, None)
    assert first["team"].to_list() == ["APAC", "EMEA", "All teams", "LATAM"]
    assert set(first["change"]) == {FIRST_SNAPSHOT}


def test_no_rows():
    assert change_column([], []).is_empty()


@given(st.permutations(range(len(NOW))), st.permutations(range(len(BEFORE))))
def test_row_order_never_changes_a_team_s_change(now_order, before_order):
    shuffled = change_column([NOW[i] for i in now_order], [BEFORE[i] for i in before_order])
    assert dict(zip(shuffled["team"], shuffled["change"], strict=True)) == _changes()
    assert shuffled["team"].to_list() == [NOW[i]["team"] for i in now_order]
    assert isinstance(shuffled, pl.DataFrame)


def test_metric_delta_is_signed_for_the_arrow():
    from reports.headline_changes import metric_delta

    # an ASCII "-" first sets st.metric's arrow down; amounts formatted for people
    assert metric_delta(-0.034, "pts") == "-3.4 pts"
    assert metric_delta(0.4, "x") == "+0.4×"
    assert metric_delta(-1_234_567, "$") == "-$1.2M" and metric_delta(45_600, "$") == "+$46k"
    assert metric_delta(2, "count") == "+2" and metric_delta(-950, "$/day") == "-$950/day"
