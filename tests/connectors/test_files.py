"""The files connector: real exports through the presets, round trips, parsers, bad input."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors.files import FilesError, check, load
from connectors.mapping import build_mapping
from connectors.validate import validate_tables
from connectors.values import (
    normalize_category,
    parse_amount,
    parse_date,
    parse_datetime,
)
from model.schema import TABLES
from ops.cli import main
from ops.config import Settings
from ops.refresh import refresh
from snapshots.store import Store

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def shared(folder: str) -> Path:
    path = SHARED / folder
    if not path.is_dir():
        pytest.skip(f"shared export data not present at {path}")
    return path


def load_valid(folder: Path, raw: dict[str, Any]) -> tuple[dict[str, pl.DataFrame], list]:
    """Load through the mapping and validate into the canonical model."""
    loaded = load(build_mapping(raw, base_dir=folder, path=folder))
    validated = validate_tables(loaded.frames, source="files")
    return validated.frames, loaded.notes


# -- the public exports in ../shared/data -------------------------------------------------
def test_fivetran_salesforce_seeds_load_through_the_preset() -> None:
    frames, _ = load_valid(shared("fivetran-dbt-salesforce"), {"preset": "fivetran_salesforce"})
    # 10 opportunities, 10 history versions, 10 users, 1 lead; no campaign files
    assert {t: f.height for t, f in frames.items()} == {
        "users": 10, "stages": 3, "opportunities": 10, "stage_history": 10, "leads": 1,
    }  # fmt: skip
    opps = frames["opportunities"]
    assert opps.schema == TABLES["opportunities"].polars_schema
    deal = opps.row(by_predicate=pl.col("opp_id") == "006q000000HddohAAB", named=True)
    # from sf_opportunity_data.csv: "$1m deal", amount 24120000, created 2018-12-19 19:51:13
    assert deal["name"] == "$1m deal"
    assert deal["amount"] == 24_120_000.0
    assert deal["created_at"] == utc("2018-12-19T19:51:13")
    assert deal["close_date"] == date(2018, 12, 19)
    assert deal["is_won"] and deal["is_closed"]
    # categories are hashed in the seeds: they load empty instead of failing
    assert opps["forecast_category"].null_count() == 10
    # stages derived: the won stage (GavUF...) is closed and won; 9RN9J... is open
    stages = {r["stage"]: r for r in frames["stages"].iter_rows(named=True)}
    assert stages["GavUFuuf4DrnQAoiRGlWpQ=="]["is_won"]
    assert not stages["9RN9J3tlxr89gDctReax5w=="]["is_closed"]
    # history-mode rows are valid from _fivetran_start
    hist = frames["stage_history"].filter(pl.col("opp_id") == "006q000000HcZXXAA3")
    assert hist["entered_at"].to_list() == [utc("2019-04-03T18:36:06")]
    assert frames["users"].filter(pl.col("user_id") == "0051G00000600MlQAI")["name"][0] == (
        "Brandon Zinn"
    )


def test_fivetran_hubspot_seeds_load_through_the_preset() -> None:
    frames, notes = load_valid(shared("fivetran-dbt-hubspot"), {"preset": "fivetran_hubspot"})
    # deal_data: 44 deals; deal_pipeline_stage_data: 70 stages, 1 deleted, + "(no stage)";
    # deal_stage_data's 14 rows belong to deals not in deal_data, so they are left out
    assert {t: f.height for t, f in frames.items()} == {
        "users": 100, "stages": 70, "opportunities": 44, "stage_history": 0,
    }  # fmt: skip
    assert "stage_history: left out 14 row(s) of unknown opportunities" in notes
    deal = frames["opportunities"].row(by_predicate=pl.col("opp_id") == "2392872971", named=True)
    assert deal["owner_id"] == "35252170"
    assert deal["created_at"] == utc("2020-07-09T20:15:11")
    assert deal["stage"] == "(no stage)" and not deal["is_closed"]
    teams = dict(frames["users"].select("user_id", "team").iter_rows())
    # owner_team_data: 35252170 -> team 6789 (team_01); 40706000 primary 1234 (team_02)
    assert teams["35252170"] == "team_01"
    assert teams["40706000"] == "team_02"
    won = frames["stages"].filter(pl.col("stage") == "/n0+plNHbWErNq8Ek+NM3g==")
    assert won["is_won"].to_list() == [True]


def test_salesforce_demo_org_export_loads_through_the_preset() -> None:
    # This Power BI export lacks OwnerId and Lead.CreatedDate: a user would override so.
    overrides = {
        "preset": "salesforce_export",
        "tables": {
            "opportunities": {"columns": {"owner_id": ""}},
            "leads": {"columns": {"created_at": "LastModifiedDate"}},
            "stages": {"order": ["Prospecting", "Qualification", "Needs Analysis"]},
        },
    }
    frames, _ = load_valid(shared("salesforce-demo-org-mit"), overrides)
    assert {t: f.height for t, f in frames.items()} == {
        "users": 1, "stages": 10, "opportunities": 36, "stage_history": 48, "leads": 22,
    }  # fmt: skip
    opp = frames["opportunities"].row(
        by_predicate=pl.col("opp_id") == "006bm00000LKJNPAA5", named=True
    )
    # Express Logistics Standby Generator: Closed Won, 220000, CloseDate 02/03/24
    assert (opp["stage"], opp["amount"], opp["close_date"]) == (
        "Closed Won",
        220000.0,
        date(2024, 2, 3),
    )
    assert opp["created_at"] == utc("2026-02-23T00:00:00")
    # 006bm00000LKJNTAA5 went Closed Won (02/23/26 08:55 PM) -> Closed Lost (03/07/26 09:00 PM)
    hist = (
        frames["stage_history"].filter(pl.col("opp_id") == "006bm00000LKJNTAA5").sort("entered_at")
    )
    assert hist["stage"].to_list() == ["Closed Won", "Closed Lost"]
    assert hist["entered_at"].to_list() == [utc("2026-02-23T20:55:00"), utc("2026-03-07T21:00:00")]
    assert hist["forecast_category"].cast(pl.String).to_list() == ["closed", "omitted"]
    stages = frames["stages"].sort("position")
    assert stages["stage"].head(3).to_list() == ["Prospecting", "Qualification", "Needs Analysis"]
    assert stages["stage"].tail(2).to_list() == ["Closed Won", "Closed Lost"]
    lead = frames["leads"].row(by_predicate=pl.col("lead_id") == "00Qbm00000Orxk5EAB", named=True)
    assert lead["converted_opp_id"] == "006bm00000LKgOnAAL"
    assert lead["converted_at"] == utc("2026-02-24T00:00:00")
    assert frames["users"]["user_id"].to_list() == ["005bm00000NCJmQAAX"]


# -- round trips: the demo org written in each preset's layout ---------------------------
DEMO_OWNERS = {"owner_function": {"Qualification": "sdr", "Contracting": "other"}}


@pytest.fixture(scope="module")
def demo() -> dict[str, pl.DataFrame]:
    demo_module = pytest.importorskip("connectors.demo")
    return demo_module.generate_demo_org(as_of=date(2026, 11, 16), quarters=2, scale=0.2)


def _iso(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def _sf_flag(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.to_uppercase()


SF_LABELS = {"pipeline": "Pipeline", "best_case": "Best Case", "most_likely": "Most Likely",
             "commit": "Commit", "closed": "Closed", "omitted": "Omitted"}  # fmt: skip
SF_API = SF_LABELS | {"best_case": "BestCase", "commit": "Forecast", "most_likely": "MostLikely"}
FUNCTION_LABELS = {"sales": "Sales", "sdr": "SDR", "marketing": "Marketing",
                   "customer_success": "Customer Success", "other": "Other"}  # fmt: skip


def _label(col: str, labels: dict[str, str]) -> pl.Expr:
    return pl.col(col).cast(pl.String).replace_strict(labels, default=None)


def salesforce_export_files(demo: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The demo org as a Data Loader export: API names, ISO times, labels and API values."""
    u, o, h, le = (demo[t] for t in ("users", "opportunities", "stage_history", "leads"))
    files = {
        "User": u.select(
            Id="user_id", Name="name", ManagerId="manager_id", **{"UserRole.Name": "team"},
            Department=_label("function", FUNCTION_LABELS)),
        "OpportunityStage": demo["stages"].select(
            MasterLabel="stage", SortOrder="position", IsClosed=_sf_flag("is_closed"),
            IsWon=_sf_flag("is_won")),
        "Opportunity": o.select(
            Id="opp_id", Name="name", AccountId="account_id", OwnerId="owner_id",
            StageName="stage", Amount="amount", CreatedDate=_iso("created_at"),
            CloseDate="close_date", IsClosed=_sf_flag("is_closed"), IsWon=_sf_flag("is_won"),
            ForecastCategoryName=_label("forecast_category", SF_LABELS),
            LeadSource="lead_source", CampaignId="campaign_id"),
        "OpportunityHistory": h.select(
            OpportunityId="opp_id", StageName="stage", CreatedDate=_iso("entered_at"),
            Amount="amount", CloseDate="close_date",
            ForecastCategory=_label("forecast_category", SF_API), IsDeleted=pl.lit("false")),
        "Lead": le.select(
            Id="lead_id", CreatedDate=_iso("created_at"), OwnerId="owner_id",
            LeadSource="source", Status="status", ConvertedDate=pl.col("converted_at").dt.date(),
            ConvertedOpportunityId="converted_opp_id"),
        "LeadHistory": demo["lead_history"].select(
            LeadId="lead_id", Field=pl.lit("Status"), NewValue="status",
            CreatedDate=_iso("entered_at")),
        "Campaign": demo["campaigns"].select(
            Id="campaign_id", Name="name", Type="channel", StartDate="start_date",
            EndDate="end_date", ActualCost="cost"),
        "CampaignMember": demo["campaign_members"].select(
            CampaignId="campaign_id", LeadId="lead_id",
            FirstRespondedDate=pl.col("responded_at").dt.date()),
    }  # fmt: skip
    return files


def _naive(frame: pl.DataFrame) -> pl.DataFrame:
    """Warehouse timestamps: naive UTC, as Fivetran lands them."""
    zoned = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
    return frame.with_columns(pl.col(zoned).dt.replace_time_zone(None))


def fivetran_salesforce_files(demo: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The demo org as Fivetran-synced Salesforce tables (naive UTC timestamps)."""
    roles = demo["users"].select(name=pl.col("team").unique().sort()).drop_nulls()
    roles = roles.with_columns(id=pl.format("00E{}", pl.int_range(pl.len())))
    users = demo["users"].join(roles, left_on="team", right_on="name", how="left")
    o = demo["opportunities"]
    files = {
        "user_role": roles,
        "user": users.select(id="user_id", name="name", user_role_id="id", manager_id="manager_id",
                             department=_label("function", FUNCTION_LABELS)),
        "opportunity": o.select(
            id="opp_id", name="name", account_id="account_id", owner_id="owner_id",
            stage_name="stage", amount="amount", created_date="created_at",
            close_date="close_date", is_closed="is_closed", is_won="is_won",
            forecast_category_name=_label("forecast_category", SF_LABELS),
            lead_source="lead_source", campaign_id="campaign_id", is_deleted=pl.lit(False)),
        "opportunity_history": demo["stage_history"].select(
            id="opp_id", stage_name="stage", _fivetran_start="entered_at", amount="amount",
            close_date="close_date", forecast_category_name=_label("forecast_category", SF_LABELS)),
        "lead": demo["leads"].select(
            id="lead_id", created_date="created_at", owner_id="owner_id", lead_source="source",
            status="status", converted_date="converted_at",
            converted_opportunity_id="converted_opp_id"),
        "campaign": demo["campaigns"].select(
            id="campaign_id", name="name", type="channel", start_date="start_date",
            end_date="end_date", actual_cost="cost"),
        "campaign_member": demo["campaign_members"].select(
            "campaign_id", "lead_id", first_responded_date="responded_at"),
    }  # fmt: skip
    return {name: _naive(frame) for name, frame in files.items()}


def _seconds(frame: pl.DataFrame) -> pl.DataFrame:
    zoned = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
    return frame.with_columns(pl.col(zoned).dt.truncate("1s"))


def hubspot_subset(demo: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """40 deals with their history, times to the second (spreadsheets keep milliseconds)."""
    opps = _seconds(demo["opportunities"].sort("opp_id").head(40))
    hist = _seconds(demo["stage_history"].filter(pl.col("opp_id").is_in(opps["opp_id"].implode())))
    return {"users": demo["users"], "stages": demo["stages"], "opportunities": opps,
            "stage_history": hist}  # fmt: skip


def fivetran_hubspot_files(demo: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """A slice of the demo org as Fivetran-synced HubSpot tables."""
    part = hubspot_subset(demo)
    teams = part["users"].select(name=pl.col("team").unique().sort()).drop_nulls()
    teams = teams.with_columns(id=pl.int_range(pl.len()) + 100)
    users = part["users"].with_columns(
        first_name=pl.col("name").str.split_exact(" ", 1).struct.field("field_0"),
        last_name=pl.col("name").str.split_exact(" ", 1).struct.field("field_1"),
    )
    files = {
        "owner": users.select(owner_id="user_id", first_name="first_name", last_name="last_name"),
        "team": teams,
        "owner_team": users.join(teams, left_on="team", right_on="name").select(
            owner_id="user_id", team_id="id", is_team_primary=pl.lit(True)),
        "deal_pipeline_stage": part["stages"].select(
            stage_id="stage", display_order="position", is_closed="is_closed",
            closed_won="is_won", _fivetran_deleted=pl.lit(False)),
        "deal": _naive(part["opportunities"].select(
            deal_id="opp_id", is_deleted=pl.lit(False), property_dealname="name",
            owner_id="owner_id", deal_pipeline_stage_id="stage", property_amount="amount",
            property_createdate="created_at", property_closedate="close_date")),
        "deal_stage": _naive(part["stage_history"].select(
            deal_id="opp_id", value="stage", date_entered="entered_at")),
    }  # fmt: skip
    return files


def write_files(files: dict[str, pl.DataFrame], folder: Path, fmt: str) -> None:
    """Each frame as `<name>.<fmt>` (csv, parquet or xlsx)."""
    for name, frame in files.items():
        path = folder / f"{name}.{fmt}"
        {"csv": frame.write_csv, "parquet": frame.write_parquet, "xlsx": frame.write_excel}[fmt](
            path
        )


FORMATS = ("csv", "parquet", "xlsx")
SF_FILES = {"users": "User", "stages": "OpportunityStage", "opportunities": "Opportunity",
            "stage_history": "OpportunityHistory", "leads": "Lead", "lead_history": "LeadHistory",
            "campaigns": "Campaign", "campaign_members": "CampaignMember"}  # fmt: skip


def _for_format(demo: dict[str, pl.DataFrame], fmt: str) -> dict[str, pl.DataFrame]:
    """Spreadsheets keep times to the second: compare xlsx round trips at that precision."""
    return {t: _seconds(f) for t, f in demo.items()} if fmt == "xlsx" else demo


def _compare(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame],
             covered: dict[str, list[str]]) -> None:  # fmt: skip
    for table, columns in covered.items():
        keys = list(TABLES[table].primary_key) or columns[:3]
        assert_frame_equal(
            got[table].select(columns).sort(keys),
            want[table].select(columns).sort(keys),
            check_row_order=True,
        )


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_salesforce_export(demo, tmp_path: Path, fmt: str) -> None:
    demo = _for_format(demo, fmt)
    write_files(salesforce_export_files(demo), tmp_path, fmt)
    tables = {t: {"file": f"{name}.{fmt}"} for t, name in SF_FILES.items()}
    tables["stages"] |= DEMO_OWNERS
    frames, _ = load_valid(tmp_path, {"preset": "salesforce_export", "tables": tables})
    want = dict(demo)
    # Salesforce keeps the conversion and response as dates: compare at day precision
    want["leads"] = demo["leads"].with_columns(pl.col("converted_at").dt.truncate("1d"))
    want["campaign_members"] = demo["campaign_members"].with_columns(
        pl.col("responded_at").dt.truncate("1d")
    )
    sh = ["opp_id", "entered_at", "stage", "amount", "close_date", "forecast_category"]
    _compare(frames, want, {
        "users": ["user_id", "name", "team", "function", "manager_id"],
        "stages": list(TABLES["stages"].columns),
        "opportunities": ["opp_id", "name", "account_id", "owner_id", "stage", "amount",
                          "created_at", "close_date", "is_closed", "is_won",
                          "forecast_category", "lead_source", "campaign_id"],
        "stage_history": sh,
        "leads": ["lead_id", "created_at", "owner_id", "source", "status", "converted_at",
                  "converted_opp_id"],
        "lead_history": ["lead_id", "entered_at", "status"],
        "campaigns": list(TABLES["campaigns"].columns),
        "campaign_members": list(TABLES["campaign_members"].columns),
    })  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_fivetran_salesforce(demo, tmp_path: Path, fmt: str) -> None:
    demo = _for_format(demo, fmt)
    write_files(fivetran_salesforce_files(demo), tmp_path, fmt)
    order = {"order": demo["stages"].sort("position")["stage"].to_list()}
    frames, _ = load_valid(tmp_path, {"preset": "fivetran_salesforce",
                                      "tables": {"stages": DEMO_OWNERS | order}})  # fmt: skip
    _compare(frames, demo, {
        "users": ["user_id", "name", "team", "function", "manager_id"],
        "stages": list(TABLES["stages"].columns),
        "opportunities": ["opp_id", "name", "owner_id", "stage", "amount", "created_at",
                          "close_date", "is_closed", "is_won", "forecast_category",
                          "lead_source", "campaign_id"],
        "stage_history": ["opp_id", "entered_at", "stage", "amount", "close_date",
                          "forecast_category"],
        "leads": ["lead_id", "created_at", "owner_id", "source", "status", "converted_at",
                  "converted_opp_id"],
        "campaigns": list(TABLES["campaigns"].columns),
        "campaign_members": list(TABLES["campaign_members"].columns),
    })  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_fivetran_hubspot(demo, tmp_path: Path, fmt: str) -> None:
    write_files(fivetran_hubspot_files(demo), tmp_path, fmt)
    frames, notes = load_valid(tmp_path, {"preset": "fivetran_hubspot",
                                          "tables": {"stages": DEMO_OWNERS}})  # fmt: skip
    assert not [n for n in notes if "left out" in n]
    _compare(frames, hubspot_subset(demo), {
        "users": ["user_id", "name", "team"],
        "stages": list(TABLES["stages"].columns),
        "opportunities": ["opp_id", "name", "owner_id", "stage", "amount", "created_at",
                          "close_date", "is_closed", "is_won"],
        "stage_history": ["opp_id", "entered_at", "stage"],
    })  # fmt: skip


# -- value formats ------------------------------------------------------------------------
def test_datetime_formats_are_detected() -> None:
    cases = {
        "2019-10-17 21:10:19": utc("2019-10-17T21:10:19"),
        "2026-02-23T20:55:00.000Z": utc("2026-02-23T20:55:00"),
        "2023-11-11 08:18:16.519000 UTC": utc("2023-11-11T08:18:16.519"),
        "02/23/26 08:55 PM": utc("2026-02-23T20:55:00"),
        "15 Apr, 2021": utc("2021-04-15T00:00:00"),
    }
    for text, want in cases.items():
        parsed = parse_datetime(pl.Series([text, None]))
        assert parsed.values.to_list() == [want, None], text
        assert parsed.bad is None or not parsed.bad.any(), text


def test_naive_times_are_read_in_the_configured_zone() -> None:
    # 08:55 PM in New York (EST, UTC-5) is 01:55 UTC the next day
    parsed = parse_datetime(pl.Series(["02/23/26 08:55 PM"]), timezone="America/New_York")
    assert parsed.values.to_list() == [utc("2026-02-24T01:55:00")]


def test_ambiguous_day_month_dates_ask_for_a_format() -> None:
    # 02/03/24 and 04/05/24 read as Feb 3 / Apr 5 or as Mar 2 / May 4: ambiguous
    parsed = parse_date(pl.Series(["02/03/24", "04/05/24"]))
    assert parsed.bad is not None and parsed.bad.all()
    assert "set format" in parsed.expected
    # one day above 12 settles it: 02/23/26 can only be month/day/year
    settled = parse_date(pl.Series(["02/03/24", "02/23/26"]))
    assert settled.values.to_list() == [date(2024, 2, 3), date(2026, 2, 23)]
    explicit = parse_date(pl.Series(["02/03/24"]), ("%d/%m/%y",))
    assert explicit.values.to_list() == [date(2024, 3, 2)]


def test_amount_formats() -> None:
    us = parse_amount(pl.Series(["$22,700.00", "1,000", "(1,234.50)", "15000", None]))
    assert us.values.to_list() == [22700.0, 1000.0, -1234.5, 15000.0, None]
    # "1.234,50" shows "," is the decimal mark, so "2.000" is two thousand
    eu = parse_amount(pl.Series(["1.234,50", "2.000", "€ 7,5"]))
    assert eu.values.to_list() == [1234.5, 2000.0, 7.5]
    clash = parse_amount(pl.Series(["1,234.50", "1.234,50"]))
    assert clash.bad is not None and clash.bad.to_list() == [True, True]
    # forced "." decimal: "1.234,50" has a thousands mark after the decimal one, so it is
    # reported rather than read as 1.2345
    forced = parse_amount(pl.Series(["1.234,50", "1,234.50"]), ".")
    assert forced.values.to_list() == [None, 1234.5]
    assert forced.bad is not None and forced.bad.to_list() == [True, False]


def test_forecast_category_names() -> None:
    names = pl.Series(["Commit", "Forecast", "BestCase", "Best Case", "MostLikely", "Omitted"])
    parsed = normalize_category(names, ("pipeline", "best_case", "most_likely", "commit",
                                        "closed", "omitted"))  # fmt: skip
    assert parsed.values.to_list() == [
        "commit", "commit", "best_case", "best_case", "most_likely", "omitted",
    ]  # fmt: skip
    assert not parsed.bad.any()


# -- an export of opportunities alone -----------------------------------------------------
DEALS_CSV = """Deal,Owner,Stage,Value,Created,Close,Category
D1,U1,Won,"$22,700.00",02/23/26 08:55 PM,"15 Apr, 2026",Commit
D2,U2,Discovery,"1,000.00",02/24/26 09:00 AM,"30 Jun, 2026",Best Case
D3,U1,Lost,,01/05/26 10:00 AM,"01 Feb, 2026",Omitted
"""
DEALS_MAPPING: dict[str, Any] = {
    "tables": {
        "opportunities": {
            "file": "deals.csv",
            "columns": {
                "opp_id": "Deal",
                "owner_id": "Owner",
                "stage": {
                    "column": "Stage",
                    "values": {"Won": "Closed Won", "Lost": "Closed Lost"},
                },
                "amount": "Value",
                "created_at": "Created",
                "close_date": "Close",
                "is_won": {"column": "Stage", "values": {"Won": "true"}, "otherwise": "false"},
                "forecast_category": "Category",
            },
        },
        "stages": {
            "order": ["Qualification", "Discovery"],
            "won": ["Closed Won"],
            "lost": ["Closed Lost"],
            "owner_function": {"Qualification": "sdr"},
        },
    }
}


def test_opportunities_alone_yield_stages_history_and_users(tmp_path: Path) -> None:
    (tmp_path / "deals.csv").write_text(DEALS_CSV, encoding="utf-8")
    frames, _ = load_valid(tmp_path, DEALS_MAPPING)
    opps = frames["opportunities"].sort("opp_id")
    assert opps["amount"].to_list() == [22700.0, 1000.0, None]
    assert opps["is_won"].to_list() == [True, False, False]
    # is_closed was not mapped: it follows the stage (won/lost lists)
    assert opps["is_closed"].to_list() == [True, False, True]
    assert opps["forecast_category"].cast(pl.String).to_list() == ["commit", "best_case", "omitted"]
    # stages: configured order first (Qualification unseen but configured), then won, lost
    stages = frames["stages"].sort("position")
    assert stages.select("stage", "owner_function", "is_closed", "is_won").rows() == [
        ("Qualification", "sdr", False, False),
        ("Discovery", "sales", False, False),
        ("Closed Won", "sales", True, True),
        ("Closed Lost", "sales", True, False),
    ]
    # history: a closed deal is open from creation (in Discovery, the last open stage) and
    # closed from the start of its close date; an open deal is in its stage from creation
    hist = frames["stage_history"]
    assert hist.select("opp_id", "stage", "entered_at").rows() == [
        ("D1", "Discovery", utc("2026-02-23T20:55:00")),
        ("D1", "Closed Won", utc("2026-04-15T00:00:00")),
        ("D2", "Discovery", utc("2026-02-24T09:00:00")),
        ("D3", "Discovery", utc("2026-01-05T10:00:00")),
        ("D3", "Closed Lost", utc("2026-02-01T00:00:00")),
    ]
    assert frames["users"].select("user_id", "team").rows() == [
        ("U1", "Unassigned"), ("U2", "Unassigned"),
    ]  # fmt: skip


def test_hubspot_stage_history_uses_entry_dates_and_stage_flags(tmp_path: Path) -> None:
    (tmp_path / "deal.csv").write_text(
        "deal_id,is_deleted,owner_id,deal_pipeline_stage_id,property_amount,"
        "property_createdate,property_closedate\n"
        "1,false,7,closedwon,500,2021-01-07 6:49:18,2021-02-01\n"
        "2,false,7,appointment,,2021-01-08 5:49:01,\n"
        "3,true,7,appointment,,2021-01-08 5:49:01,\n"
    )
    (tmp_path / "deal_stage.csv").write_text(
        "deal_id,date_entered,value\n"
        "1,2021-01-07 6:49:18,appointment\n1,2021-01-20 10:00:00,closedwon\n"
        "2,2021-01-08 5:49:01,appointment\n3,2021-01-08 5:49:01,appointment\n"
    )
    (tmp_path / "deal_pipeline_stage.csv").write_text(
        "stage_id,display_order,is_closed,closed_won,_fivetran_deleted\n"
        "appointment,0,false,false,false\nclosedwon,5,true,true,false\n"
    )
    frames, notes = load_valid(tmp_path, {"preset": "fivetran_hubspot"})
    # deal 3 is deleted, so its history row is left out; users derived from owner 7
    assert notes == [
        "users: no owner.* / owner_data.* in the folder, so absent",
        "opportunities: not in the file, left empty: name",
        "stage_history: left out 1 row(s) of unknown opportunities",
    ]
    assert frames["stage_history"].sort("opp_id", "entered_at").select(
        "opp_id", "stage", "entered_at"
    ).rows() == [
        ("1", "appointment", utc("2021-01-07T06:49:18")),
        ("1", "closedwon", utc("2021-01-20T10:00:00")),
        ("2", "appointment", utc("2021-01-08T05:49:01")),
    ]
    opps = frames["opportunities"].sort("opp_id")
    assert opps.select("opp_id", "is_closed", "is_won").rows() == [
        ("1", True, True), ("2", False, False),
    ]  # fmt: skip


# -- bad input: clear errors, nothing stored ----------------------------------------------
@pytest.fixture
def settings(tmp_path: Path, tiny_org) -> Settings:
    """Settings whose data folder already holds one snapshot (of the tiny org)."""
    data = tmp_path / "data"
    valid = validate_tables(tiny_org).frames
    Store(data).write(valid, source="demo", data_as_of=date(2026, 3, 1))
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "deals.csv").write_text(DEALS_CSV, encoding="utf-8")
    return Settings(data_dir=data, sources={"files": {**DEALS_MAPPING, "path": str(folder)}})


def refresh_fails(settings: Settings) -> str:
    store = Store(settings.data_dir)
    before, count = store.current_id(), len(store.list())
    with pytest.raises(FilesError) as info:
        refresh(settings, "files")
    assert store.current_id() == before
    assert len(store.list()) == count
    return str(info.value)


def _with(settings: Settings, **table: Any) -> Settings:
    files = dict(settings.sources["files"])
    tables = {**files["tables"], "opportunities": {**files["tables"]["opportunities"], **table}}
    return Settings(data_dir=settings.data_dir, sources={"files": {**files, "tables": tables}})


def _folder(settings: Settings) -> Path:
    return Path(settings.sources["files"]["path"])


def test_refresh_from_files_stores_a_snapshot(settings: Settings) -> None:
    result = refresh(settings, "files")
    assert result.snapshot.source == "files"
    assert Store(settings.data_dir).current().read_all()["opportunities"].height == 3


def test_unknown_file(settings: Settings) -> None:
    message = refresh_fails(_with(settings, file="deal.csv"))
    assert "opportunities: file 'deal.csv' not found" in message
    assert "did you mean 'deals.csv'?" in message


def test_unreadable_sheet(settings: Settings) -> None:
    pl.DataFrame({"Deal": ["D1"]}).write_excel(_folder(settings) / "deals.xlsx", worksheet="Deals")
    message = refresh_fails(_with(settings, file="deals.xlsx", sheet="Deal"))
    assert "deals.xlsx: no sheet 'Deal' (did you mean 'Deals'?); sheets: Deals" in message
    (_folder(settings) / "broken.xlsx").write_bytes(b"not a workbook")
    message = refresh_fails(_with(settings, file="broken.xlsx"))
    assert "broken.xlsx: cannot read it as a spreadsheet" in message


def test_mapped_column_missing(settings: Settings) -> None:
    text = DEALS_CSV.replace("Owner,", "Owner Id,", 1)
    (_folder(settings) / "deals.csv").write_text(text, encoding="utf-8")
    message = refresh_fails(settings)
    assert "deals.csv has no column 'Owner' (did you mean 'Owner Id'?)" in message
    assert "Columns there: Deal, Owner Id, Stage, Value, Created, Close, Category" in message


def test_values_that_do_not_parse(settings: Settings) -> None:
    text = DEALS_CSV.replace('"1,000.00"', "n/a").replace("01/05/26 10:00 AM", "yesterday")
    (_folder(settings) / "deals.csv").write_text(text, encoding="utf-8")
    message = refresh_fails(settings)
    assert "2 column(s) hold values that do not parse" in message
    assert "opportunities.amount (column Value): 1 value(s) are not amounts" in message
    assert "deals.csv line 3: 'n/a'" in message  # the header is line 1
    assert "opportunities.created_at (column Created)" in message
    assert "deals.csv line 4: 'yesterday'" in message


def test_encoding_problem(settings: Settings) -> None:
    text = DEALS_CSV.replace("Discovery", "Découverte")
    (_folder(settings) / "deals.csv").write_bytes(text.encode("cp1252"))
    message = refresh_fails(settings)
    assert "deals.csv: not valid utf-8 text (line 3, byte 0xe9)" in message
    assert 'encoding = "cp1252"' in message
    # with the encoding set, the same file loads
    assert refresh(_with(settings, encoding="cp1252"), "files").snapshot.source == "files"


def test_delimiter_problem(settings: Settings) -> None:
    semicolons = (
        "Deal;Owner;Stage;Value;Created;Close;Category\n"
        "D1;U1;Won;22700;2026-02-23 20:55;2026-04-15;Commit\n"
    )
    (_folder(settings) / "deals.csv").write_text(semicolons, encoding="utf-8")
    message = refresh_fails(_with(settings, delimiter=","))
    assert "deals.csv has no column 'Deal'" in message
    assert "The file reads as one column: is the delimiter right?" in message
    # detected automatically when not forced
    assert refresh(settings, "files").snapshot.source == "files"
    # a forced "," on the semicolon file whose dates hold commas: fields do not line up
    (_folder(settings) / "deals.csv").write_text(
        semicolons + "D2;U1;Won;5;2026-02-23;15 Apr, 2026;Commit\n", encoding="utf-8"
    )
    message = refresh_fails(_with(settings, delimiter=","))
    assert "cannot split into columns with delimiter ','" in message
    assert "line 3 has 2 fields, the header 1" in message
    assert "the header splits into 7 columns on ';'" in message
    ragged = DEALS_CSV + "D4,U1,Won,5,02/23/26 08:55 PM,2026-04-15,Commit,extra\n"
    (_folder(settings) / "deals.csv").write_text(ragged, encoding="utf-8")
    message = refresh_fails(settings)
    assert "line 5 has 8 fields, the header 7" in message


def test_mapping_mistakes_name_the_key() -> None:
    with pytest.raises(
        FilesError,
        match=r"'oportunities' is not a canonical table \(did you mean 'opportunities'\?\)",
    ):
        build_mapping({"tables": {"oportunities": {}}}, base_dir=Path("."))
    with pytest.raises(FilesError, match=r"maps 'amont', .*did you mean 'amount'"):
        build_mapping(
            {"tables": {"opportunities": {"columns": {"amont": "x"}}}}, base_dir=Path(".")
        )
    with pytest.raises(FilesError, match="unknown preset 'salesforce'"):
        build_mapping({"preset": "salesforce"}, base_dir=Path("."))


def test_check_prints_what_would_load_and_stores_nothing(
    settings: Settings, tmp_path: Path, monkeypatch, capsys
) -> None:
    result = check(settings)
    assert "opportunities" in result.summary() and "3 rows" in result.summary()
    config = tmp_path / "scorecard.toml"
    config.write_text(f'[store]\ndata_dir = "{settings.data_dir}"\n')
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    before = Store(settings.data_dir).current_id()
    folder = shared("fivetran-dbt-salesforce")
    args = ["refresh", "--source", "files", "--check", "--path", str(folder)]
    assert main([*args, "--preset", "fivetran_salesforce"]) == 0
    out = capsys.readouterr().out
    assert "nothing was stored" in out
    assert re.search(r"opportunities +10 rows +from sf_opportunity_data.csv", out)
    assert main([*args, "--preset", "fivetran_hubspot"]) == 1  # wrong preset: clear error
    assert "file 'deal.*' not found" in capsys.readouterr().err
    assert Store(settings.data_dir).current_id() == before
    assert len(Store(settings.data_dir).list()) == 1
