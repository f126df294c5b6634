"""Tests for scoring.stages: spells, days in stage, stalls, handoff stalls, trust KPIs.

Every fixture is hand-built; as_of is 2026-04-15 (UTC) unless said otherwise, so the
current spell of an open deal runs to 2026-04-16T00:00Z (end of the as-of day).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from model.params import StallParams
from model.schema import TABLES
from model.tables import Tables
from scoring.definitions import QUESTIONS
from scoring.stages import (
    ALL_TEAMS,
    DEFINITIONS,
    STALLS_DERIVED,
    STALLS_NO_HISTORY,
    as_of_cutoff,
    days_in_stage_distribution,
    handoff_stalls_by_team,
    stage_spells,
    stage_trust_flags,
    stage_trust_kpis,
    stall_status,
    stall_thresholds,
    stalled_deals,
    stalls_by_team,
    won_close_window,
)

AS_OF = date(2026, 4, 15)
CUTOFF = datetime(2026, 4, 16, tzinfo=UTC)

# stage: (position, owner function, is_closed, is_won)
STAGES = {
    "Qualification": (1, "sdr", False, False),
    "Discovery": (2, "sales", False, False),
    "Proposal": (3, "sales", False, False),
    "Negotiation": (4, "sales", False, False),
    "Contracting": (5, "other", False, False),
    "Closed Won": (6, "sales", True, True),
    "Closed Lost": (7, "sales", True, False),
}
OPEN_STAGES = [s for s, (_, _, closed, _) in STAGES.items() if not closed]


def t(text: str) -> datetime:
    """A UTC timestamp from 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def frame(name: str, rows: list[dict]) -> pl.DataFrame:
    schema = TABLES[name].polars_schema
    return pl.DataFrame(rows, schema={c: schema[c] for c in rows[0]})


def opp(
    opp_id: str,
    created: str,
    stage: str,
    *,
    owner: str = "u_emea",
    amount: float = 100.0,
    close_date: date | None = None,
) -> dict:
    _, _, closed, won = STAGES[stage]
    return {
        "opp_id": opp_id,
        "name": f"Deal {opp_id}",
        "owner_id": owner,
        "stage": stage,
        "amount": amount,
        "created_at": t(created),
        "close_date": close_date,
        "is_closed": closed,
        "is_won": won,
    }


def hist(
    opp_id: str, stage: str, at: str, *, amount: float | None = None, close: date | None = None
) -> dict:
    return {
        "opp_id": opp_id,
        "stage": stage,
        "entered_at": t(at),
        "amount": amount,
        "close_date": close,
    }


def make_tables(opps: list[dict], history: list[dict] | None = None) -> Tables:
    stages = [
        {"stage": s, "position": p, "owner_function": f, "is_closed": c, "is_won": w}
        for s, (p, f, c, w) in STAGES.items()
    ]
    users = [
        {"user_id": "u_emea", "name": "Emma", "team": "EMEA", "function": "sales"},
        {"user_id": "u_na", "name": "Nate", "team": "NA", "function": "sales"},
    ]
    frames = {
        "stages": frame("stages", stages),
        "users": frame("users", users),
        "opportunities": frame("opportunities", opps),
    }
    if history:
        frames["stage_history"] = frame("stage_history", history)
    return Tables.from_frames(frames)


SPELL_VIEW = ["opp_id", "spell_no", "stage", "entered_at", "left_at", "days_in_stage"]


def spells_view(spells: pl.DataFrame, opp_id: str, cols: list[str] = SPELL_VIEW) -> pl.DataFrame:
    return spells.filter(pl.col("opp_id") == opp_id).select(cols)


def expected_spells(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "opp_id": pl.String,
            "spell_no": pl.Int32,
            "stage": pl.String,
            "entered_at": pl.Datetime("us", "UTC"),
            "left_at": pl.Datetime("us", "UTC"),
            "days_in_stage": pl.Float64,
        },
        orient="row",
    )


# --- spells ---------------------------------------------------------------------------


def test_as_of_cutoff_is_end_of_day_in_reporting_zone():
    assert as_of_cutoff(AS_OF) == CUTOFF
    # Midnight ending 2026-04-15 in New York (EDT, UTC−4) is 04:00 UTC on the 16th.
    assert as_of_cutoff(AS_OF, "America/New_York") == datetime(2026, 4, 16, 4, tzinfo=UTC)


def test_one_history_row_later_than_created_starts_at_created():
    # Created 04-01; its only history row (Discovery) is on 04-05 12:00, yet the spell
    # starts at created_at: 04-01 → 04-16 00:00 = 15.0 days, the current spell.
    tables = make_tables(
        [opp("A", "2026-04-01", "Discovery")],
        [hist("A", "Discovery", "2026-04-05T12:00", amount=100.0)],
    )
    spells = stage_spells(tables, as_of=AS_OF)
    want = expected_spells([("A", 1, "Discovery", t("2026-04-01"), None, 15.0)])
    assert_frame_equal(spells.select(SPELL_VIEW), want)
    row = spells.row(0, named=True)
    assert (row["is_current"], row["is_open_deal"], row["team"]) == (True, True, "EMEA")
    assert (row["is_handoff"], row["is_skip"], row["prev_stage"]) == (False, False, None)


def test_deal_without_history_has_one_spell_in_current_stage():
    # No history at all: one Proposal spell from 04-10 06:00 to 04-16 00:00 = 5.75 days.
    tables = make_tables([opp("B", "2026-04-10T06:00", "Proposal")])
    spells = stage_spells(tables, as_of=AS_OF)
    want = expected_spells([("B", 1, "Proposal", t("2026-04-10T06:00"), None, 5.75)])
    assert_frame_equal(spells.select(SPELL_VIEW), want)


def test_same_day_stage_changes_give_a_short_spell():
    # Qualification 03-01 → Discovery 03-10 09:00 → Proposal 03-10 15:00 (same day).
    # Days: 9 d 9 h = 9.375; 6 h = 0.25; 03-10 15:00 → 04-16 00:00 = 36 d 9 h = 36.375.
    # Sum 46.0 = 03-01 → 04-16 (31 + 15 days).
    tables = make_tables(
        [opp("C", "2026-03-01", "Proposal")],
        [
            hist("C", "Qualification", "2026-03-01"),
            hist("C", "Discovery", "2026-03-10T09:00"),
            hist("C", "Proposal", "2026-03-10T15:00"),
        ],
    )
    spells = stage_spells(tables, as_of=AS_OF)
    want = expected_spells(
        [
            ("C", 1, "Qualification", t("2026-03-01"), t("2026-03-10T09:00"), 9.375),
            ("C", 2, "Discovery", t("2026-03-10T09:00"), t("2026-03-10T15:00"), 0.25),
            ("C", 3, "Proposal", t("2026-03-10T15:00"), None, 36.375),
        ]
    )
    assert_frame_equal(spells.select(SPELL_VIEW), want)
    assert spells["days_in_stage"].sum() == pytest.approx(46.0)


def test_amount_only_changes_do_not_split_a_spell():
    # Discovery rows on 02-01, 02-15 (amount + close date change), 03-01 (amount) are one
    # spell 02-01 → 03-11 = 28 + 10 = 38 days; Proposal 03-11 → 04-16 = 21 + 15 = 36 days.
    tables = make_tables(
        [opp("D", "2026-02-01", "Proposal")],
        [
            hist("D", "Discovery", "2026-02-01", amount=100.0, close=date(2026, 3, 31)),
            hist("D", "Discovery", "2026-02-15", amount=200.0, close=date(2026, 4, 30)),
            hist("D", "Discovery", "2026-03-01", amount=300.0, close=date(2026, 4, 30)),
            hist("D", "Proposal", "2026-03-11", amount=300.0, close=date(2026, 4, 30)),
        ],
    )
    spells = stage_spells(tables, as_of=AS_OF)
    want = expected_spells(
        [
            ("D", 1, "Discovery", t("2026-02-01"), t("2026-03-11"), 38.0),
            ("D", 2, "Proposal", t("2026-03-11"), None, 36.0),
        ]
    )
    assert_frame_equal(spells.select(SPELL_VIEW), want)


MOVE_FLAGS = ["spell_no", "stage", "prev_stage", "is_handoff", "is_skip", "is_regression"]


def test_skip_and_handoff_flags():
    # E: Qualification[sdr] → Proposal[sales] skips Discovery (open rank 1 → 3) and is a
    # handoff (sdr → sales); Proposal → Closed Won enters a closed stage: not a skip.
    # J: Qualification[sdr] → Discovery[sales]: a handoff, not a skip.
    tables = make_tables(
        [opp("E", "2026-01-05", "Closed Won"), opp("J", "2026-03-01", "Discovery")],
        [
            hist("E", "Qualification", "2026-01-05"),
            hist("E", "Proposal", "2026-01-20"),
            hist("E", "Closed Won", "2026-02-10"),
            hist("J", "Qualification", "2026-03-01"),
            hist("J", "Discovery", "2026-03-03"),
        ],
    )
    spells = stage_spells(tables, as_of=AS_OF)
    got = spells.select("opp_id", *MOVE_FLAGS).rows()
    assert got == [
        ("E", 1, "Qualification", None, False, False, False),
        ("E", 2, "Proposal", "Qualification", True, True, False),
        ("E", 3, "Closed Won", "Proposal", False, False, False),
        ("J", 1, "Qualification", None, False, False, False),
        ("J", 2, "Discovery", "Qualification", True, False, False),
    ]
    # E is won: its closed spell is terminal, with no duration; not an open deal.
    closed = spells.filter(pl.col("opp_id") == "E", pl.col("spell_no") == 3).row(0, named=True)
    assert (closed["days_in_stage"], closed["is_current"], closed["is_open_deal"]) == (
        None,
        True,
        False,
    )
    # E's durations sum to last stage change − created: 01-05 → 02-10 = 36 days.
    assert spells.filter(pl.col("opp_id") == "E")["days_in_stage"].sum() == pytest.approx(36.0)


def test_regression_and_reopen_are_told_apart():
    # F: Discovery 03-01 → Proposal 03-05 → Discovery 03-08: a regression (rank 3 → 2).
    # G: Negotiation 01-10 → Closed Lost 02-01 → Negotiation 02-20: a reopen, not a
    #    regression. Days: 22, 19 (the closed spell is not terminal, so it has a duration),
    #    55 (02-20 → 04-16 = 9 + 31 + 15); sum 96 = 01-10 → 04-16.
    tables = make_tables(
        [opp("F", "2026-03-01", "Discovery"), opp("G", "2026-01-10", "Negotiation")],
        [
            hist("F", "Discovery", "2026-03-01"),
            hist("F", "Proposal", "2026-03-05"),
            hist("F", "Discovery", "2026-03-08"),
            hist("G", "Negotiation", "2026-01-10"),
            hist("G", "Closed Lost", "2026-02-01"),
            hist("G", "Negotiation", "2026-02-20"),
        ],
    )
    spells = stage_spells(tables, as_of=AS_OF)
    got = spells.select("opp_id", "spell_no", "is_skip", "is_regression", "is_reopen").rows()
    assert got == [
        ("F", 1, False, False, False),
        ("F", 2, False, False, False),
        ("F", 3, False, True, False),
        ("G", 1, False, False, False),
        ("G", 2, False, False, False),
        ("G", 3, False, False, True),
    ]
    g = spells.filter(pl.col("opp_id") == "G")
    assert g["days_in_stage"].to_list() == [22.0, 19.0, 55.0]
    assert g["is_open_deal"].all()  # reopened: open again as of 04-15


def test_history_after_as_of_and_opps_created_after_as_of_are_ignored():
    # H moved to Proposal on 04-20, after as_of: as of 04-15 it is still in Discovery
    # (04-01 → 04-16 = 15 days). I was created on 04-20: absent. As of 04-25 H has two
    # spells (Discovery 19 days, Proposal 04-20 → 04-26 = 6 days) and I exists.
    tables = make_tables(
        [opp("H", "2026-04-01", "Proposal"), opp("I", "2026-04-20", "Discovery")],
        [hist("H", "Discovery", "2026-04-01"), hist("H", "Proposal", "2026-04-20")],
    )
    spells = stage_spells(tables, as_of=AS_OF)
    want = expected_spells([("H", 1, "Discovery", t("2026-04-01"), None, 15.0)])
    assert_frame_equal(spells.select(SPELL_VIEW), want)

    later = stage_spells(tables, as_of=date(2026, 4, 25))
    assert later.select("opp_id", "stage", "days_in_stage").rows() == [
        ("H", "Discovery", 19.0),
        ("H", "Proposal", 6.0),
        ("I", "Discovery", 6.0),
    ]


def test_first_stage_comes_from_first_history_row_even_if_after_as_of():
    # K's only history row (Discovery) is dated after as_of; its current stage is Proposal.
    # Its stage before any recorded change is Discovery (first row's stage, back to created).
    tables = make_tables(
        [opp("K", "2026-04-01", "Proposal")],
        [hist("K", "Discovery", "2026-04-20"), hist("K", "Proposal", "2026-04-22")],
    )
    spells = stage_spells(tables, as_of=AS_OF)
    assert spells.select("stage", "days_in_stage").rows() == [("Discovery", 15.0)]


# --- days-in-stage distribution ---------------------------------------------------------


def test_days_in_stage_distribution():
    # Discovery samples: EMEA X 1 day (finished: → Closed Lost), Y 2 days, Z 6 days (open);
    # NA W 3 days (open). The Closed Lost spell is excluded (closed stage).
    # EMEA [1, 2, 6]: median 2; p75 linear at 0.75·2 = 1.5 → 2 + 0.5·4 = 4.0;
    #   p90 at 1.8 → 2 + 0.8·4 = 5.2; mean 3.0.
    # NA [3]: all 3.0. All teams [1, 2, 3, 6]: median 2.5; p75 at 2.25 → 3 + 0.25·3 = 3.75;
    #   p90 at 2.7 → 3 + 0.7·3 = 5.1; mean 3.0.
    tables = make_tables(
        [
            opp("X", "2026-04-10", "Closed Lost"),
            opp("Y", "2026-04-14", "Discovery"),
            opp("Z", "2026-04-10", "Discovery"),
            opp("W", "2026-04-13", "Discovery", owner="u_na"),
        ],
        [hist("X", "Discovery", "2026-04-10"), hist("X", "Closed Lost", "2026-04-11")],
    )
    spells = stage_spells(tables, as_of=AS_OF)
    got = days_in_stage_distribution(spells)
    want = pl.DataFrame(
        {
            "stage": ["Discovery"] * 3,
            "team": [ALL_TEAMS, "EMEA", "NA"],
            "n": [4, 3, 1],
            "median_days": [2.5, 2.0, 3.0],
            "p75_days": [3.75, 4.0, 3.0],
            "p90_days": [5.1, 5.2, 3.0],
            "mean_days": [3.0, 3.0, 3.0],
        },
        schema_overrides={"n": pl.UInt32},
    )
    assert_frame_equal(got, want, check_dtypes=False)

    # Finished spells only: just X's 1 day.
    done = days_in_stage_distribution(spells, by=("stage",), include_current=False)
    assert done.select("stage", "n", "median_days").rows() == [("Discovery", 1, 1.0)]


# --- stall thresholds and stalled deals -----------------------------------------------


def stall_fixture() -> Tables:
    """Won deals to learn thresholds from, and open deals to judge. as_of 2026-04-15.

    Window of won deals: the 4 full quarters before 2026-Q2 = [2025-04-01, 2026-04-01).
    Discovery spells of deals won in the window: W1 2, W2 4, W3 6, W4 10 days.
    W1 also spent 17 days in Proposal. Excluded: W0 (won 2025-03-15, before the window,
    Discovery 100 days), W5 (won 2026-04-11, current quarter, 50 days), L1 (lost, 80 days).
    """
    won = [
        ("W0", "2024-12-05", [("Discovery", "2024-12-05"), ("Closed Won", "2025-03-15")]),
        (
            "W1",
            "2025-10-01",
            [("Discovery", "2025-10-01"), ("Proposal", "2025-10-03"), ("Closed Won", "2025-10-20")],
        ),
        ("W2", "2025-11-01", [("Discovery", "2025-11-01"), ("Closed Won", "2025-11-05")]),
        ("W3", "2026-01-01", [("Discovery", "2026-01-01"), ("Closed Won", "2026-01-07")]),
        ("W4", "2026-02-01", [("Discovery", "2026-02-01"), ("Closed Won", "2026-02-11")]),
        ("W5", "2026-02-20", [("Discovery", "2026-02-20"), ("Closed Won", "2026-04-11")]),
        ("L1", "2025-11-01", [("Discovery", "2025-11-01"), ("Closed Lost", "2026-01-20")]),
    ]
    opps = [opp(o, created, rows[-1][0]) for o, created, rows in won]
    history = [hist(o, stage, at) for o, _, rows in won for stage, at in rows]
    # Open deals (ages to 04-16 00:00):
    # S1 EMEA Discovery since 04-01, no history: 15 days, amount 1000.
    # S2 NA Discovery since 04-12: 4 days.
    # S3 EMEA Proposal 03-01 → Negotiation 03-17: 30 days; amount 2500 as of 04-15
    #    (a later row on 04-20 sets 9999, ignored as of 04-15).
    # S4 NA Qualification[sdr] 03-01 → Discovery[sales] 04-06 (handoff): 10 days, amount 500.
    # S5 EMEA Proposal since 03-27: 20 days.
    opps += [
        opp("S1", "2026-04-01", "Discovery", amount=1000.0, close_date=date(2026, 5, 1)),
        opp("S2", "2026-04-12", "Discovery", owner="u_na"),
        opp("S3", "2026-03-01", "Negotiation", amount=9999.0),
        opp("S4", "2026-03-01", "Discovery", owner="u_na", amount=500.0),
        opp("S5", "2026-03-27", "Proposal"),
    ]
    history += [
        hist("S3", "Proposal", "2026-03-01", amount=2000.0, close=date(2026, 4, 30)),
        hist("S3", "Negotiation", "2026-03-17", amount=2500.0, close=date(2026, 5, 31)),
        hist("S3", "Negotiation", "2026-04-20", amount=9999.0, close=date(2026, 6, 30)),
        hist("S4", "Qualification", "2026-03-01", amount=500.0),
        hist("S4", "Discovery", "2026-04-06", amount=500.0),
    ]
    return make_tables(opps, history)


STALL = StallParams(thresholds_days={"Negotiation": 12.0}, min_won_samples=3)


def test_won_close_window_is_full_trailing_quarters():
    assert won_close_window(AS_OF, lookback_quarters=4) == (date(2025, 4, 1), date(2026, 4, 1))
    # Fiscal year from February: 2026-04-15 is in FY2026-Q1 (Feb–Apr); the four quarters
    # before run from 2025-02-01 to 2026-02-01.
    assert won_close_window(AS_OF, lookback_quarters=4, fiscal_start_month=2) == (
        date(2025, 2, 1),
        date(2026, 2, 1),
    )


def test_stall_thresholds_p75_override_and_fallback():
    # Discovery: 4 won samples [2, 4, 6, 10]; p75 linear at 0.75·3 = 2.25 → 6 + 0.25·4 = 7.0.
    # Proposal: 1 won deal (17 days) < 3 → fallback 30. Negotiation: configured 12.
    # Qualification / Contracting: no won samples → fallback 30.
    tables = stall_fixture()
    spells = stage_spells(tables, as_of=AS_OF)
    got = stall_thresholds(spells, tables=tables, as_of=AS_OF, params=STALL)
    want = pl.DataFrame(
        {
            "stage": OPEN_STAGES,
            "position": [1, 2, 3, 4, 5],
            "n_won_deals": [0, 4, 1, 0, 0],
            "won_quantile_days": [None, 7.0, 17.0, None, None],
            "threshold_days": [30.0, 7.0, 30.0, 12.0, 30.0],
            "basis": ["fallback", "p75 of won deals", "fallback", "configured", "fallback"],
            "source": [
                "fallback 30 days: no won deal passed through (3 needed)",
                "p75 of 4 won deals' days in stage",
                "fallback 30 days: only 1 won deal passed through (3 needed)",
                "configured",
                "fallback 30 days: no won deal passed through (3 needed)",
            ],
        },
        schema_overrides={"position": pl.Int32, "n_won_deals": pl.Int64},
    )
    assert_frame_equal(got, want)

    # Default min_won_samples = 5: Discovery's 4 won deals are too few → fallback.
    default = stall_thresholds(spells, tables=tables, as_of=AS_OF, params=StallParams())
    assert default.filter(pl.col("stage") == "Discovery")["basis"].item() == "fallback"
    assert default.filter(pl.col("stage") == "Discovery")["source"].item() == (
        "fallback 30 days: only 4 won deals passed through (5 needed)"
    )
    assert default["threshold_days"].to_list() == [30.0] * 5


def test_stalled_deals_drill_down():
    # Thresholds: Discovery 7, Proposal 30, Negotiation 12.
    # S3 Negotiation 30 > 12 → 2.5×; S1 Discovery 15 > 7 → 15/7; S4 Discovery 10 > 7 → 10/7.
    # S2 (4 < 7) and S5 (20 < 30) are not stalled.
    got = stalled_deals(stall_fixture(), as_of=AS_OF, params=STALL)
    want = pl.DataFrame(
        {
            "opp_id": ["S3", "S1", "S4"],
            "name": ["Deal S3", "Deal S1", "Deal S4"],
            "team": ["EMEA", "EMEA", "NA"],
            "owner_id": ["u_emea", "u_emea", "u_na"],
            "stage": ["Negotiation", "Discovery", "Discovery"],
            "age_days": [30.0, 15.0, 10.0],
            "threshold_days": [12.0, 7.0, 7.0],
            "times_threshold": [2.5, 15 / 7, 10 / 7],
            "threshold_source": [
                "configured",
                "p75 of 4 won deals' days in stage",
                "p75 of 4 won deals' days in stage",
            ],
            "amount": [2500.0, 1000.0, 500.0],
            "is_handoff": [False, False, True],
            "close_date": [date(2026, 5, 31), date(2026, 5, 1), None],
        }
    )
    assert_frame_equal(got, want)


def test_stalls_by_team_and_handoff_stalls():
    # Open deals: EMEA S1 Disc 15 (stalled), S3 Neg 30 (stalled), S5 Prop 20;
    # NA S2 Disc 4, S4 Disc 10 (stalled, handoff). Company medians: Disc [15, 4, 10] → 10,
    # Neg 30, Prop 20. EMEA Disc 15/10 = 1.5×; NA Disc median (4 + 10)/2 = 7 → 0.7×.
    tables = stall_fixture()
    spells = stage_spells(tables, as_of=AS_OF)
    stalled = stalled_deals(tables, as_of=AS_OF, params=STALL)
    got = stalls_by_team(stalled, spells).select(
        "team", "stage", "open_deals", "stalled_count", "stalled_amount", "stalled_share",
        "median_age_days", "company_median_age_days", "age_vs_company",
    )  # fmt: skip
    assert got.rows() == [
        (ALL_TEAMS, "Discovery", 3, 2, 1500.0, 2 / 3, 10.0, 10.0, 1.0),
        (ALL_TEAMS, "Proposal", 1, 0, 0.0, 0.0, 20.0, 20.0, 1.0),
        (ALL_TEAMS, "Negotiation", 1, 1, 2500.0, 1.0, 30.0, 30.0, 1.0),
        ("EMEA", "Discovery", 1, 1, 1000.0, 1.0, 15.0, 10.0, 1.5),
        ("EMEA", "Proposal", 1, 0, 0.0, 0.0, 20.0, 20.0, 1.0),
        ("EMEA", "Negotiation", 1, 1, 2500.0, 1.0, 30.0, 30.0, 1.0),
        ("NA", "Discovery", 2, 1, 500.0, 0.5, 7.0, 10.0, 0.7),
    ]
    # Handoff stalls: only S4 (NA) entered its stage via a handoff, and it is stalled.
    handoff = handoff_stalls_by_team(stalled, spells)
    assert handoff.rows() == [
        (ALL_TEAMS, 1, 1, 500.0, 1.0),
        ("EMEA", 0, 0, 0.0, None),
        ("NA", 1, 1, 500.0, 1.0),
    ]
    assert handoff.columns == [
        "team",
        "open_handoff_deals",
        "handoff_stalled_count",
        "handoff_stalled_amount",
        "handoff_stalled_share",
    ]


# --- trust KPIs -------------------------------------------------------------------------


def trust_fixture() -> Tables:
    """EMEA: E (skip, won), F (regression, stale close date), G (reopen).
    NA: D (1 close-date change), K (no history, stale close date), M (2 changes)."""
    opps = [
        opp("E", "2026-01-05", "Closed Won", close_date=date(2026, 2, 10)),
        opp("F", "2026-03-01", "Discovery", close_date=date(2026, 3, 31)),
        opp("G", "2026-01-10", "Negotiation", close_date=date(2026, 5, 30)),
        opp("D", "2026-02-01", "Proposal", owner="u_na", close_date=date(2026, 4, 30)),
        opp("K", "2026-03-01", "Discovery", owner="u_na", close_date=date(2026, 4, 1)),
        opp("M", "2026-03-01", "Discovery", owner="u_na", close_date=date(2026, 8, 31)),
    ]
    e, f, g = date(2026, 2, 10), date(2026, 3, 31), date(2026, 5, 30)
    history = [
        hist("E", "Qualification", "2026-01-05", close=e),
        hist("E", "Proposal", "2026-01-20", close=e),
        hist("E", "Closed Won", "2026-02-10", close=e),
        hist("F", "Discovery", "2026-03-01", close=f),
        hist("F", "Proposal", "2026-03-05", close=f),
        hist("F", "Discovery", "2026-03-08", close=f),
        hist("G", "Negotiation", "2026-01-10", close=g),
        hist("G", "Closed Lost", "2026-02-01", close=g),
        hist("G", "Negotiation", "2026-02-20", close=g),
        # D: null → 03-31 is a first set (not churn); 03-31 → 04-30 is one change.
        hist("D", "Discovery", "2026-02-01", close=None),
        hist("D", "Discovery", "2026-02-15", close=date(2026, 3, 31)),
        hist("D", "Discovery", "2026-03-01", close=date(2026, 4, 30)),
        hist("D", "Proposal", "2026-03-11", close=date(2026, 4, 30)),
        # M: 05-31 → 06-30 (change), 06-30 (amount only), → 07-31 (change); the 04-20 row
        # (→ 08-31) is after as_of: 2 changes, close date as of 04-15 = 07-31 (not stale).
        hist("M", "Discovery", "2026-03-01", close=date(2026, 5, 31)),
        hist("M", "Discovery", "2026-03-05", amount=5.0, close=date(2026, 6, 30)),
        hist("M", "Discovery", "2026-03-09", amount=6.0, close=date(2026, 6, 30)),
        hist("M", "Discovery", "2026-03-12", amount=6.0, close=date(2026, 7, 31)),
        hist("M", "Discovery", "2026-04-20", amount=6.0, close=date(2026, 8, 31)),
    ]
    return make_tables(opps, history)


def test_stage_trust_kpis():
    # EMEA: 3 deals, open F, G; skip 1/3 (E), regression 1/3 (F), reopened 1 (G),
    #   churn 0/3 = 0, stale 1 (F: 03-31 < 04-15) of 2 open → 0.5.
    # NA: 3 deals all open; churn (1 + 0 + 2)/3 = 1.0; stale 1 (K: 04-01) of 3.
    # All: 6 deals, 5 open; skip 1/6, regression 1/6, reopened 1, churn 3/6, stale 2/5.
    got = stage_trust_kpis(trust_fixture(), as_of=AS_OF)
    want = pl.DataFrame(
        {
            "team": [ALL_TEAMS, "EMEA", "NA"],
            "deals": [6, 3, 3],
            "open_deals": [5, 2, 3],
            "stage_skip_rate": [1 / 6, 1 / 3, 0.0],
            "stage_regression_rate": [1 / 6, 1 / 3, 0.0],
            "reopened_deals": [1, 1, 0],
            "close_date_churn": [0.5, 0.0, 1.0],
            "stale_close_dates": [2, 1, 1],
            "stale_close_date_share": [2 / 5, 1 / 2, 1 / 3],
        }
    )
    assert_frame_equal(got, want)


def test_stage_trust_flags_drill_down():
    got = stage_trust_flags(trust_fixture(), as_of=AS_OF)
    assert got.select("opp_id", "kpi", "events").rows() == [
        ("D", "close_date_churn", 1),
        ("E", "stage_skip_rate", 1),
        ("F", "stage_regression_rate", 1),
        ("F", "stale_close_dates", 1),
        ("G", "reopened_deals", 1),
        ("K", "stale_close_dates", 1),
        ("M", "close_date_churn", 2),
    ]
    assert got.filter(pl.col("opp_id") == "M")["close_date"].item() == date(2026, 7, 31)


def test_empty_history_table_is_handled():
    # No stage_history table at all: each deal is one spell in its current stage; no flags.
    tables = make_tables([opp("B", "2026-04-10", "Discovery", close_date=date(2026, 6, 1))])
    assert "stage_history" in tables.missing
    kpis = stage_trust_kpis(tables, as_of=AS_OF)
    assert kpis.select("team", "deals", "stage_skip_rate", "close_date_churn").rows() == [
        (ALL_TEAMS, 1, 0.0, 0.0),
        ("EMEA", 1, 0.0, 0.0),
    ]
    assert stage_trust_flags(tables, as_of=AS_OF).is_empty()


def test_definitions_declared():
    ids = {d.id for d in DEFINITIONS}
    assert {
        "days_in_stage",
        "stalled_deals",
        "handoff_stall",
        "stage_skip_rate",
        "stage_regression_rate",
        "close_date_churn",
        "stale_close_dates",
    } <= ids
    for d in DEFINITIONS:
        assert d.question in QUESTIONS
        expected = (
            "shared_data"
            if d.id.startswith(("stage_", "close", "stale", "reopen"))
            else ("handoff_ownership")
        )
        assert d.question == expected, d.id


# --- properties -------------------------------------------------------------------------

STAGE_NAMES = list(STAGES)
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def deals(draw: st.DrawFn) -> tuple[list[dict], list[dict]]:
    """Up to 5 deals with up to 6 history rows each; rows may predate created_at, share a
    timestamp, repeat a stage (amount-only change) or fall after the as-of cutoff."""
    opps, history = [], []
    for i in range(draw(st.integers(1, 5))):
        opp_id = f"O{i}"
        created = BASE + timedelta(hours=draw(st.integers(0, 24 * 100)))
        opps.append(
            opp(opp_id, created.isoformat()[:16], draw(st.sampled_from(STAGE_NAMES)))
            | {"created_at": created}
        )
        for _ in range(draw(st.integers(0, 6))):
            # Few distinct offsets on purpose, so rows often share a timestamp.
            hours = st.one_of(st.sampled_from([-24, 0, 24, 48]), st.integers(-48, 24 * 120))
            at = created + timedelta(hours=draw(hours))
            history.append(
                hist(opp_id, draw(st.sampled_from(STAGE_NAMES)), "2026-01-01")
                | {
                    "entered_at": at,
                    "amount": float(draw(st.integers(0, 3))),
                    "close_date": draw(
                        st.sampled_from([None, date(2026, 3, 31), date(2026, 6, 30)])
                    ),
                }
            )
    return opps, history


@settings(max_examples=40, deadline=None)
@given(deals())
def test_property_spell_durations_sum_to_age(data: tuple[list[dict], list[dict]]):
    opps, history = data
    spells = stage_spells(make_tables(opps, history), as_of=AS_OF)
    assert (spells["days_in_stage"].drop_nulls() >= 0).all()
    created = pl.DataFrame(opps).select("opp_id", "created_at")
    per_deal = (
        spells.group_by("opp_id")
        .agg(
            pl.col("days_in_stage").sum(),
            pl.col("is_open_deal").first(),
            pl.col("entered_at").max().alias("last_change"),
        )
        .join(created, on="opp_id")
        .with_columns(
            age=pl.when("is_open_deal")
            .then(pl.lit(CUTOFF) - pl.col("created_at"))
            .otherwise(pl.col("last_change") - pl.col("created_at"))
            .dt.total_days(fractional=True)
        )
    )
    diff = (per_deal["days_in_stage"] - per_deal["age"]).abs()
    assert (diff < 1e-9).all()
    # Every deal created by the cutoff appears, with spells numbered 1..n.
    assert set(per_deal["opp_id"]) == set(created.filter(pl.col("created_at") < CUTOFF)["opp_id"])


@settings(max_examples=30, deadline=None)
@given(deals(), st.randoms(use_true_random=False))
def test_property_results_ignore_history_row_order(data, rnd):
    opps, history = data
    shuffled = history[:]
    rnd.shuffle(shuffled)
    original, permuted = make_tables(opps, history), make_tables(opps, shuffled)
    assert_frame_equal(stage_spells(original, as_of=AS_OF), stage_spells(permuted, as_of=AS_OF))
    assert_frame_equal(
        stage_trust_flags(original, as_of=AS_OF), stage_trust_flags(permuted, as_of=AS_OF)
    )


def derived(tables: Tables) -> Tables:
    """The same tables, with the stage history marked as reconstructed by the connector."""
    note = "derived: no history file, so each deal is open from its creation"
    return Tables(frames=tables.frames, missing=tables.missing, provenance={"stage_history": note})


def test_stalls_not_measured_on_a_derived_or_missing_history():
    # The stall fixture's data, but with its stage history marked derived: the same spells
    # would call S3, S1 and S4 stalled (see test_stalled_deals_drill_down); instead nothing
    # is called stalled and the status says why.
    recorded = stall_fixture()
    tables = derived(recorded)
    assert stall_status(recorded) is None
    assert stall_status(tables) == STALLS_DERIVED
    got = stalled_deals(tables, as_of=AS_OF, params=STALL)
    assert got.is_empty()
    assert got.schema == stalled_deals(recorded, as_of=AS_OF, params=STALL).schema
    # Thresholds: only Negotiation's configured 12 days stands; the others have none.
    thresholds = stall_thresholds(
        stage_spells(tables, as_of=AS_OF), tables=tables, as_of=AS_OF, params=STALL
    )
    assert thresholds.select("stage", "threshold_days", "basis").rows() == [
        ("Qualification", None, "not measured"),
        ("Discovery", None, "not measured"),
        ("Proposal", None, "not measured"),
        ("Negotiation", 12.0, "configured"),
        ("Contracting", None, "not measured"),
    ]
    assert set(thresholds.filter(pl.col("basis") == "not measured")["source"]) == {STALLS_DERIVED}
    # No stage_history table at all: not measured either, and the message names the table.
    no_history = Tables.from_frames(
        {k: v for k, v in recorded.frames.items() if k != "stage_history"}
    )
    assert stall_status(no_history) == STALLS_NO_HISTORY
    assert "'stage_history'" in STALLS_NO_HISTORY
    assert stalled_deals(no_history, as_of=AS_OF, params=STALL).is_empty()


def test_rows_sharing_an_instant_are_read_in_one_order():
    # Found by the row-order property: a deal's first row (Dec 31, no close date), then two
    # rows at the same instant (Jan 2), same stage and amount, one without a close date and
    # one with 2026-03-31. Every reader now orders ties by (position, stage, close_date nulls
    # first, amount, ...), so the deal's state is the row with the date whichever order the
    # source gave: 2026-03-31 is before the as-of 2026-04-15, a stale close date, every way.
    deal = [opp("O1", "2026-01-01T00:00", "Qualification")]
    rows = [
        hist("O1", "Qualification", "2025-12-31T00:00", amount=0.0),
        hist("O1", "Qualification", "2026-01-02T00:00", amount=2.0),
        hist("O1", "Qualification", "2026-01-02T00:00", amount=2.0, close=date(2026, 3, 31)),
    ]
    for history in (rows, rows[::-1], [rows[1], rows[0], rows[2]]):
        flags = stage_trust_flags(make_tables(deal, history), as_of=AS_OF)
        assert flags.select("opp_id", "kpi", "close_date").rows() == [
            ("O1", "stale_close_dates", date(2026, 3, 31))
        ]
