"""The stage history derived from an export of current stage, created and close dates.

A deal is open from its creation until the start of its close date and closed after; the
open rows use the last open stage by position (the export does not say which).
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.derive import last_open_stage, stage_history_from_opps
from connectors.files import load
from connectors.mapping import build_mapping
from connectors.validate import validate_tables
from model.schema import TABLES, UTC_DATETIME
from model.tables import Tables, derived_provenance
from scoring.history import end_of_day, opp_state_at

# stage: (position, is_closed, is_won)
STAGES = {
    "Prospecting": (1, False, False),
    "Negotiation": (2, False, False),
    "Closed Won": (3, True, True),
    "Closed Lost": (4, True, False),
}
STAGES_FRAME = pl.DataFrame(
    [
        {"stage": s, "position": p, "owner_function": "sales", "is_closed": c, "is_won": w}
        for s, (p, c, w) in STAGES.items()
    ],
    schema=TABLES["stages"].polars_schema,
)
OPP_SCHEMA = {
    "opp_id": pl.String,
    "stage": pl.String,
    "amount": pl.Float64,
    "created_at": UTC_DATETIME,
    "close_date": pl.Date,
    "is_closed": pl.Boolean,
    "is_won": pl.Boolean,
    "stage_changed_at": UTC_DATETIME,
}


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared(folder: str) -> Path:
    path = SHARED / folder
    if not path.is_dir():
        pytest.skip(f"shared export data not present at {path}")
    return path


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def opps_frame(rows: list[tuple]) -> pl.DataFrame:
    """(opp_id, stage, amount, created_at, close_date, stage_changed_at) rows."""
    return pl.DataFrame(
        [
            {
                "opp_id": o,
                "stage": s,
                "amount": a,
                "created_at": created,
                "close_date": close,
                "is_closed": STAGES[s][1],
                "is_won": STAGES[s][2],
                "stage_changed_at": changed,
            }
            for o, s, a, created, close, changed in rows
        ],
        schema=OPP_SCHEMA,
        orient="row",
    )


OPPS = opps_frame(
    [
        # W: created in Q3, won mid-Q4 for 1.5M
        ("W", "Closed Won", 1_500_000.0, utc("2025-08-10T09:30"), date(2025, 11, 14), None),
        # L: lost in Q4
        ("L", "Closed Lost", 200_000.0, utc("2025-09-01T12:00"), date(2025, 10, 20), None),
        # O: open, no stage change time
        ("O", "Prospecting", 50_000.0, utc("2025-10-05T08:00"), date(2026, 2, 1), None),
        # P: open, entered Negotiation 09-15 (exported stage change time)
        ("P", "Negotiation", 70_000.0, utc("2025-07-01T00:00"), date(2026, 1, 15),
         utc("2025-09-15T10:00")),
        # Q: open, a stage change time before creation is read as creation
        ("Q", "Negotiation", 10_000.0, utc("2025-07-01T00:00"), None, utc("2025-06-01T00:00")),
        # B: closed on a date before it was created (an imported deal): closed from creation
        ("B", "Closed Won", 85_000.0, utc("2026-02-23T08:00"), date(2024, 2, 3), None),
        # N: closed without a close date: closed at its stage change time
        ("N", "Closed Lost", None, utc("2025-05-01T00:00"), None, utc("2025-06-10T00:00")),
    ]
)  # fmt: skip


def test_closed_deals_are_open_from_creation_and_closed_from_their_close_date() -> None:
    got = stage_history_from_opps(OPPS, STAGES_FRAME)
    assert got.columns == ["opp_id", "stage", "entered_at", "amount", "close_date"]
    assert got.select("opp_id", "stage", "entered_at").rows() == [
        # B: close date 2024-02-03 is before creation: one closed row at creation
        ("B", "Closed Won", utc("2026-02-23T08:00")),
        # L: open (Negotiation, the last open stage) from creation, lost from 10-20 00:00
        ("L", "Negotiation", utc("2025-09-01T12:00")),
        ("L", "Closed Lost", utc("2025-10-20T00:00")),
        # N: no close date: closed at its stage change time
        ("N", "Negotiation", utc("2025-05-01T00:00")),
        ("N", "Closed Lost", utc("2025-06-10T00:00")),
        # O: open, in its current stage from creation
        ("O", "Prospecting", utc("2025-10-05T08:00")),
        # P: open, in its current stage from its stage change time
        ("P", "Negotiation", utc("2025-09-15T10:00")),
        # Q: stage change time before creation → creation
        ("Q", "Negotiation", utc("2025-07-01T00:00")),
        # W: open from 08-10 09:30, won from the start of 11-14
        ("W", "Negotiation", utc("2025-08-10T09:30")),
        ("W", "Closed Won", utc("2025-11-14T00:00")),
    ]
    # amount and close date are the current ones on both rows (no invented change)
    w = got.filter(pl.col("opp_id") == "W")
    assert w["amount"].to_list() == [1_500_000.0, 1_500_000.0]
    assert w["close_date"].to_list() == [date(2025, 11, 14)] * 2


def test_close_date_starts_in_the_mapping_time_zone() -> None:
    # 2025-11-14 00:00 in New York (EST, UTC−5) is 05:00 UTC
    got = stage_history_from_opps(OPPS.filter(pl.col("opp_id") == "W"), STAGES_FRAME,
                                  timezone="America/New_York")  # fmt: skip
    assert got["entered_at"].to_list() == [utc("2025-08-10T09:30"), utc("2025-11-14T05:00")]


def test_without_stages_they_are_derived_and_without_an_open_stage_no_open_row() -> None:
    # Without a stage list, stages come from the opportunities (open stages by name:
    # Negotiation, Prospecting → last open is Prospecting).
    opps = OPPS.filter(pl.col("opp_id").is_in(["W", "O"])).drop("is_closed", "is_won")
    won = pl.col("stage") == "Closed Won"
    got = stage_history_from_opps(opps.with_columns(is_closed=won, is_won=won))
    assert got.select("opp_id", "stage").rows() == [
        ("O", "Prospecting"), ("W", "Prospecting"), ("W", "Closed Won"),
    ]  # fmt: skip
    only_closed = STAGES_FRAME.filter(pl.col("is_closed"))
    assert last_open_stage(only_closed) is None
    won = stage_history_from_opps(OPPS.filter(pl.col("opp_id") == "W"), only_closed)
    assert won.select("stage", "entered_at").rows() == [("Closed Won", utc("2025-11-14T00:00"))]


def test_as_of_states_show_a_won_deal_open_before_its_close_date() -> None:
    history = stage_history_from_opps(OPPS, STAGES_FRAME)
    users = pl.DataFrame({"user_id": ["u"], "team": ["T"], "function": ["sales"]})
    tables = Tables.from_frames(
        {
            "stages": STAGES_FRAME,
            "users": users,
            "opportunities": OPPS.drop("stage_changed_at").with_columns(owner_id=pl.lit("u")),
            "stage_history": history,
        },
        provenance={"stage_history": "derived: no history file"},
    )
    assert tables.is_derived("stage_history")

    def state(day: date, opp_id: str) -> tuple:
        row = opp_state_at(tables, at=end_of_day(day)).filter(pl.col("opp_id") == opp_id)
        return row.select("stage", "is_closed", "is_won").collect().row(0)

    # W in Q3 (09-30) and the day before its close date: open; on its close date: won
    assert state(date(2025, 9, 30), "W") == ("Negotiation", False, False)
    assert state(date(2025, 11, 13), "W") == ("Negotiation", False, False)
    assert state(date(2025, 11, 14), "W") == ("Closed Won", True, True)


# -- invariants ---------------------------------------------------------------------------
BASE = datetime(2025, 1, 1, tzinfo=UTC)


@st.composite
def deals(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 12))
    rows = []
    for i in range(n):
        stage = draw(st.sampled_from(list(STAGES)))
        created = BASE + timedelta(minutes=draw(st.integers(0, 400 * 24 * 60)))
        close = draw(st.none() | st.integers(-30, 400).map(lambda d: BASE.date() + timedelta(d)))
        changed = draw(st.none() | st.integers(-60 * 24, 400 * 24).map(
            lambda h, c=created: c + timedelta(hours=h)))  # fmt: skip
        amount = draw(st.none() | st.floats(0, 1e7, allow_nan=False))
        rows.append((f"D{i:02d}", stage, amount, created, close, changed))
    return opps_frame(rows)


@settings(max_examples=60, deadline=None)
@given(deals(), st.randoms(use_true_random=False))
def test_derived_history_invariants(opps: pl.DataFrame, rnd) -> None:
    got = stage_history_from_opps(opps, STAGES_FRAME)
    facts = opps.select(
        "opp_id", "created_at", "close_date", "is_closed", "stage_changed_at", final="stage"
    )
    joined = got.join(facts, on="opp_id")
    # never a row before creation
    assert joined.filter(pl.col("entered_at") < pl.col("created_at")).is_empty()
    first = joined.group_by("opp_id").agg(
        pl.all().first(), pl.len(), last_stage=pl.col("stage").last()
    )
    # every deal's first row is at its creation unless it is an open deal with a later
    # stage change time (then its one row is there)
    at_creation = first.filter(
        ~(~pl.col("is_closed") & (pl.col("stage_changed_at") > pl.col("created_at")))
    )
    assert (at_creation["entered_at"] == at_creation["created_at"]).all()
    # the last row is the deal's current stage; an open deal has one row
    assert (first["last_stage"] == first["final"]).all()
    assert (first.filter(~pl.col("is_closed"))["len"] == 1).all()
    # a closed deal with a close date is closed from the start of it (never before creation)
    # and open (Negotiation) before, when the close date starts after creation
    closed = joined.filter(pl.col("is_closed") & pl.col("close_date").is_not_null())
    day_start = pl.col("close_date").cast(pl.Datetime("us", "UTC"))
    closing = closed.filter(pl.col("stage") == pl.col("final"))
    assert (
        closing["entered_at"]
        == closing.select(pl.max_horizontal("created_at", day_start)).to_series()
    ).all()
    opening = closed.filter(pl.col("stage") != pl.col("final"))
    assert (opening["stage"] == "Negotiation").all()
    assert opening.filter(day_start <= pl.col("created_at")).is_empty()
    assert closed.filter(day_start > pl.col("created_at"))["opp_id"].n_unique() == opening.height
    # row order of the input never changes the output
    shuffled = opps.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 2**31))
    assert_frame_equal(stage_history_from_opps(shuffled, STAGES_FRAME), got)


# -- through the files connector ----------------------------------------------------------
# The most common real shape: current stage, created and close dates, no history file.
# W created in Q3 and won mid-Q4 for $1.5M; L lost in Q4; O still open.
EXPORT_CSV = """Id,OwnerId,StageName,Amount,CreatedDate,CloseDate,IsClosed,IsWon
W,U1,Closed Won,1500000,08/10/25 09:30 AM,11/14/25,TRUE,TRUE
L,U1,Closed Lost,200000,09/01/25 12:00 PM,10/20/25,TRUE,FALSE
O,U1,Negotiation/Review,300000,10/05/25 08:00 AM,12/20/25,FALSE,FALSE
"""
EXPORT_MAPPING = {
    "preset": "salesforce_export",
    "defaults": {"date_order": "month_first"},  # US dates, no day above 12 to settle it
    "tables": {
        "opportunities": {"columns": {"forecast_category": "", "lead_source": ""}},
        "stages": {"order": ["Prospecting", "Qualification", "Negotiation/Review"]},
        "leads": {"optional": True},
    },
}


def load_export(folder: Path, raw: dict) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    loaded = load(build_mapping(raw, base_dir=folder, path=folder))
    return validate_tables(loaded.frames, source="files").frames, loaded.origin


def test_files_connector_derives_the_history_of_an_export_without_one(tmp_path: Path) -> None:
    (tmp_path / "Opportunity.csv").write_text(EXPORT_CSV, encoding="utf-8")
    frames, origin = load_export(tmp_path, EXPORT_MAPPING)
    # stages: Prospecting 1, Qualification 2, Negotiation/Review 3 (last open), won, lost
    hist = frames["stage_history"]
    assert hist.select("opp_id", "stage", "entered_at", "amount").rows() == [
        ("L", "Negotiation/Review", utc("2025-09-01T12:00"), 200_000.0),
        ("L", "Closed Lost", utc("2025-10-20T00:00"), 200_000.0),
        ("O", "Negotiation/Review", utc("2025-10-05T08:00"), 300_000.0),
        ("W", "Negotiation/Review", utc("2025-08-10T09:30"), 1_500_000.0),
        ("W", "Closed Won", utc("2025-11-14T00:00"), 1_500_000.0),
    ]
    note = origin["stage_history"]
    assert note.startswith("derived")
    assert "'Negotiation/Review', the last open stage" in note
    assert note.endswith("from its creation")  # no LastStageChangeDate column
    assert derived_provenance(origin)["stage_history"] == note


def test_real_export_without_its_history_file_derives_open_then_closed(tmp_path: Path) -> None:
    # salesforce-demo-org-mit with its OpportunityHistory.csv left out. The real CreatedDate
    # (02/23/26) is after most CloseDates (02/03/24), so here the simulated dates are mapped
    # (rows without them are skipped): what a user of this export would do.
    source = shared("salesforce-demo-org-mit")
    for name in ("Opportunity.csv", "Lead.csv", "Account.csv", "Contact.csv"):
        shutil.copy(source / name, tmp_path / name)
    raw = {
        "preset": "salesforce_export",
        "tables": {
            "opportunities": {
                "columns": {
                    "owner_id": "",
                    "created_at": "Opp Creation Date_Simulated",
                    "close_date": "Opp Close Date_Simulated",
                },
                "skip_when": {"Opp Creation Date_Simulated": [""]},
            },
            "leads": {"columns": {"created_at": "LastModifiedDate"}},
        },
    }
    frames, origin = load_export(tmp_path, raw)
    assert origin["stage_history"].startswith("derived")
    opps = frames["opportunities"]
    assert opps.height == 31  # 36 rows, 5 without simulated dates
    hist = frames["stage_history"].filter(pl.col("opp_id") == "006bm00000LKJNPAA5")
    last_open = last_open_stage(frames["stages"])
    # Express Logistics Standby Generator: Closed Won, created 02/20/24, closed 03/07/24
    assert hist.select("stage", "entered_at").rows() == [
        (last_open, utc("2024-02-20T00:00")),
        ("Closed Won", utc("2024-03-07T00:00")),
    ]
    # every won deal is open before its close date, and closed from it
    won = opps.filter(pl.col("is_won"))
    rows = frames["stage_history"].join(
        won.select("opp_id", "created_at", "close_date"), on="opp_id"
    )
    assert rows.height == 2 * won.height == 2 * 12
    assert rows.filter(pl.col("stage") == "Closed Won")["entered_at"].to_list() == (
        won.sort("opp_id")["close_date"].cast(pl.Datetime("us", "UTC")).to_list()
    )
