"""The pre-read's headline table and "What changed" lines read as the app's (model.formats)."""

from __future__ import annotations

from datetime import date

import polars as pl

from model.calendar import parse_period
from scoring.model import PillarScore, Scale, Signal
from scoring.preread import change_lines, headline_rows
from scoring.scorecard import Scorecard

HEADLINE = [
        {"team": "EMEA", "win_rate_count": 0.2137, "coverage": 1.44, "required_coverage": None,
         "velocity": 13983.29, "stalled_deals": 1234, "stalled_amount": None,
         "stalled_without_amount": 2, "handoff_stalled_share": 0.5, "forecast_accuracy": None,
         "forecast_bias": -0.25},
        {"team": "All teams", "win_rate_count": 1.0, "coverage": 0.94, "required_coverage": 2.0,
         "velocity": 999.5, "stalled_deals": 0, "stalled_amount": 1_500_000.4,
         "stalled_without_amount": 0, "handoff_stalled_share": 0.0, "forecast_accuracy": 0.7286,
         "forecast_bias": -0.0143},
]  # fmt: skip
SIGNALS = (
    Signal("slip_rate", "forecast_integrity", "Slip rate", "d", 0.2, "ratio", Scale(1.0, 0.0)),
    Signal("dq", "forecast_integrity", "Data quality", "d", 72.0, "score", Scale(0.0, 100.0)),
)
Q4 = parse_period("2026-Q4")
CARD = Scorecard(
    date(2026, 11, 16), Q4, Q4, (), (PillarScore("forecast_integrity", SIGNALS, ()),),
    pl.DataFrame(HEADLINE),
)  # fmt: skip


def test_headline_rows_use_one_style_per_kind():
    # win rate 0.2137 → 21.4 %; coverage 1.44 → 1.4×; velocity to the dollar as the app's
    # table; an unknown amount with 2 deals behind it says so, never "$0"
    assert headline_rows(CARD) == (
        ("EMEA", "21.4%", "1.4×", "—", "$13,983/day", "1,234", "2 without amount", "50.0%",
         "—", "-25.0%"),
        ("All teams", "100.0%", "0.9×", "2.0×", "$1,000/day", "0", "$1,500,000", "0.0%",
         "72.9%", "-1.4%"),
    )  # fmt: skip


def test_change_lines_arrow_follows_the_value_and_say_better_or_worse():
    changes = {
        "previous": "2026-11-09",
        "signals": [
            # slip rate fell 41.78 % → 22.49 %: −19.29 points, and that scored better
            {"id": "slip_rate", "label": "Slip rate", "previous_value": 0.4178, "value": 0.2249,
             "score_change": 42.8},
            {"id": "dq", "label": "Data quality", "previous_value": 80.0, "value": 72.0,
             "score_change": -8.0},
        ],
    }  # fmt: skip
    assert change_lines(changes, CARD) == (
        "▼ Slip rate: 41.8% → 22.5% (−19.3 pts); score +42.8, better",
        "▼ Data quality: 80 → 72 (−8); score −8.0, worse",
    )
