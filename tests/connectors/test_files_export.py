"""The files connector on a Salesforce weekly Data Export, and on the mistakes real exports hold.

The export is built by hand below: lower-case file names, User.csv with UserRoleId and a
separate UserRole.csv, the null id 000000000000000AAA in lookup ids, dates written as
"15 Apr, 2021 00:02:00", and a Description spanning two lines (so a row's line in the file
differs from its row number).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from connectors.files import FilesError, check, load, pull
from connectors.mapping import build_mapping
from connectors.validate import validate_tables
from ops.cli import main
from ops.config import Settings
from ops.refresh import refresh
from snapshots.store import Store

NULL_ID = "000000000000000AAA"
USERS = f"""Id,Username,FirstName,LastName,Name,UserRoleId,Department,ManagerId,IsActive
005A,ann@x.com,Ann,Lee,Ann Lee,00EA,Sales,{NULL_ID},true
005B,bob@x.com,Bob,Chan,Bob Chan,00EB,Sales Development,005A,true
005C,cy@x.com,Cy,Diaz,Cy Diaz,{NULL_ID},Sales,005A,false
"""
ROLES = f"""Id,Name,ParentRoleId
00EA,AE West,{NULL_ID}
00EB,SDR Team,00EA
"""
# Line 1 header; 006A spans lines 2-3 (its Description holds a line break); 006B line 4;
# 006C line 5.
OPPS = f"""Id,IsDeleted,AccountId,Name,Description,StageName,Amount,CloseDate,IsClosed,IsWon,\
ForecastCategoryName,CampaignId,OwnerId,CreatedDate,LeadSource
006A,false,001A,Deal A,"first line
second line",Closed Won,22700,"15 Dec, 2017",true,true,Closed,{NULL_ID},005A,\
"01 Nov, 2017 10:00:00",Web
006B,false,{NULL_ID},Deal B,,Prospecting,5000,"31 Mar, 2018",false,false,Pipeline,701A,005B,\
"20 Nov, 2017 09:30:00",Partner
006C,false,001C,Deal C,,Closed Lost,1000,"28 Dec, 2017",true,false,Omitted,,005A,\
"02 Oct, 2017 14:05:00",
"""
HISTORY = """OpportunityId,CreatedDate,StageName,Amount,CloseDate,ForecastCategory,IsDeleted
006A,"01 Nov, 2017 10:00:00",Prospecting,22700,"15 Dec, 2017",Pipeline,false
006A,"15 Dec, 2017 16:45:00",Closed Won,22700,"15 Dec, 2017",Closed,false
006B,"20 Nov, 2017 09:30:00",Prospecting,5000,"31 Mar, 2018",Pipeline,false
006C,"02 Oct, 2017 14:05:00",Qualification,1000,"28 Dec, 2017",Pipeline,false
006C,"28 Dec, 2017 11:00:00",Closed Lost,1000,"28 Dec, 2017",Omitted,false
"""
EXPORT = {
    "user.csv": USERS,
    "userrole.csv": ROLES,
    "opportunity.csv": OPPS,
    "opportunityhistory.csv": HISTORY,
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write_export(folder: Path, files: dict[str, str] = EXPORT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def load_export(folder: Path, raw: dict[str, Any] | None = None):
    mapping = build_mapping({"preset": "salesforce_export", **(raw or {})}, base_dir=folder,
                            path=folder)  # fmt: skip
    loaded = load(mapping)
    return loaded, validate_tables(loaded.frames, source="files").frames


def test_weekly_data_export_loads_through_the_preset(tmp_path: Path) -> None:
    loaded, frames = load_export(write_export(tmp_path / "export"))
    assert {t: f.height for t, f in frames.items()} == {
        "users": 3, "stages": 4, "opportunities": 3, "stage_history": 5,
    }  # fmt: skip
    # team: UserRoleId looked up in userrole.csv (Id -> Name); the null id is no role
    assert frames["users"].sort("user_id").select(
        "user_id", "name", "team", pl.col("function").cast(pl.String), "manager_id"
    ).rows() == [
        ("005A", "Ann Lee", "AE West", "sales", None),  # ManagerId = the null id
        ("005B", "Bob Chan", "SDR Team", "sdr", "005A"),  # "Sales Development" is sdr
        ("005C", "Cy Diaz", None, "sales", "005A"),  # UserRoleId = the null id
    ]
    opps = frames["opportunities"].sort("opp_id")
    assert opps.select(
        "opp_id", "account_id", "campaign_id", "owner_id", "stage", "amount", "created_at",
        "close_date", "is_closed", "is_won", pl.col("forecast_category").cast(pl.String),
        "lead_source",
    ).rows() == [
        ("006A", "001A", None, "005A", "Closed Won", 22700.0, utc("2017-11-01T10:00:00"),
         date(2017, 12, 15), True, True, "closed", "Web"),
        ("006B", None, "701A", "005B", "Prospecting", 5000.0, utc("2017-11-20T09:30:00"),
         date(2018, 3, 31), False, False, "pipeline", "Partner"),
        ("006C", "001C", None, "005A", "Closed Lost", 1000.0, utc("2017-10-02T14:05:00"),
         date(2017, 12, 28), True, False, "omitted", None),
    ]  # fmt: skip
    hist = frames["stage_history"].sort("opp_id", "entered_at")
    assert hist.select("opp_id", "stage", "entered_at").rows() == [
        ("006A", "Prospecting", utc("2017-11-01T10:00:00")),
        ("006A", "Closed Won", utc("2017-12-15T16:45:00")),
        ("006B", "Prospecting", utc("2017-11-20T09:30:00")),
        ("006C", "Qualification", utc("2017-10-02T14:05:00")),
        ("006C", "Closed Lost", utc("2017-12-28T11:00:00")),
    ]
    # stages derived from the values seen; closed/won from the deals' IsClosed/IsWon
    assert frames["stages"].sort("position").select("stage", "is_closed", "is_won").rows() == [
        ("Prospecting", False, False),
        ("Qualification", False, False),
        ("Closed Won", True, True),
        ("Closed Lost", True, False),
    ]
    # as of the latest event (006C lost on 2017-12-28 11:00), not the files' dates (today);
    # 006B's close date 2018-03-31 is a plan, not an event
    assert loaded.data_as_of == date(2017, 12, 28)
    assert loaded.as_of_from == "the latest event date in the data, stage_history.entered_at"
    assert loaded.columns["users"]["team"] == "UserRoleId via UserRole.csv"


def test_data_loader_role_name_column_still_works(tmp_path: Path) -> None:
    # Data Loader writes the role name itself (SOQL UserRole.Name); no UserRole.csv needed
    users = "Id,Name,UserRole.Name,UserRoleId\n005A,Ann Lee,AE West,00EA\n005B,Bob,,00EB\n"
    folder = write_export(tmp_path, {**EXPORT, "user.csv": users, "userrole.csv": ROLES[:0]})
    (folder / "userrole.csv").unlink()
    loaded, frames = load_export(folder)
    assert frames["users"].sort("user_id").select("user_id", "team").rows() == [
        ("005A", "AE West"), ("005B", None),
    ]  # fmt: skip
    assert loaded.columns["users"]["team"] == "UserRole.Name"


def test_user_without_any_role_column_names_both(tmp_path: Path) -> None:
    folder = write_export(tmp_path, {**EXPORT, "user.csv": "Id,Name\n005A,Ann\n"})
    with pytest.raises(FilesError) as info:
        load_export(folder)
    assert "users: user.csv has no column 'UserRole.Name' or 'UserRoleId'" in str(info.value)


def test_file_names_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    folder = write_export(tmp_path)
    (folder / "Opportunity.csv").write_text(OPPS, encoding="utf-8")
    with pytest.raises(FilesError) as info:
        load_export(folder)
    assert "Opportunity.csv and opportunity.csv differ only in case" in str(info.value)
    assert "both match 'Opportunity.csv'" in str(info.value)


# -- the data's date ----------------------------------------------------------------------
def test_as_of_is_the_latest_event_never_after_today(tmp_path: Path) -> None:
    folder = write_export(tmp_path)
    # the configured as_of wins over the data; a date string or a TOML date both work
    loaded, _ = load_export(folder, {"as_of": "2017-11-30"})
    assert (loaded.data_as_of, loaded.as_of_from) == (
        date(2017, 11, 30), "set with as_of in the mapping"
    )  # fmt: skip
    with pytest.raises(
        FilesError, match=r'sources.files.as_of: expected a date .*found the text "end of 2017"'
    ):
        load_export(folder, {"as_of": "end of 2017"})
    # a deal closed in the future (a typo) does not move the date past today
    future = OPPS.replace('"28 Dec, 2017",true,false', '"28 Dec, 2099",true,false')
    write_export(folder, {**EXPORT, "opportunity.csv": future})
    loaded, _ = load_export(folder)
    assert loaded.data_as_of == date.today()
    assert "opportunities.close_date, 2099-12-28) is later" in loaded.as_of_from


def test_as_of_in_the_reporting_time_zone(tmp_path: Path) -> None:
    # 006C's last history row, 2017-12-28 11:00 UTC, is still Dec 28 in Honolulu (UTC-10);
    # an event at 2017-12-31 22:00 Honolulu time is 2018-01-01 08:00 UTC: as of Dec 31 there
    late = HISTORY + '006B,"31 Dec, 2017 22:00:00",Prospecting,5000,,Pipeline,false\n'
    folder = write_export(tmp_path, {**EXPORT, "opportunityhistory.csv": late})
    mapping = build_mapping({"preset": "salesforce_export",
                             "defaults": {"timezone": "Pacific/Honolulu"}},
                            base_dir=folder, path=folder)  # fmt: skip
    assert load(mapping).data_as_of == date(2017, 12, 31)
    assert load(mapping, timezone="UTC").data_as_of == date(2018, 1, 1)


# -- refresh and --check ------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path: Path, tiny_org) -> Settings:
    """Settings whose data folder already holds one snapshot (of the tiny org)."""
    data = tmp_path / "data"
    Store(data).write(validate_tables(tiny_org).frames, source="demo",
                      data_as_of=date(2026, 3, 1))  # fmt: skip
    folder = write_export(tmp_path / "export")
    files = {"preset": "salesforce_export", "path": str(folder)}
    return Settings(data_dir=data, sources={"files": files})


def refresh_fails(settings: Settings) -> str:
    store = Store(settings.data_dir)
    before, count = store.current_id(), len(store.list())
    with pytest.raises(FilesError) as info:
        refresh(settings, "files")
    assert store.current_id() == before
    assert len(store.list()) == count
    return str(info.value)


def _folder(settings: Settings) -> Path:
    return Path(settings.sources["files"]["path"])


def test_refresh_stores_the_export_as_of_its_data(settings: Settings) -> None:
    result = refresh(settings, "files")
    assert result.snapshot.data_as_of == date(2017, 12, 28)
    assert result.snapshot.manifest["tables"]["opportunities"]["rows"] == 3
    # --as-of overrides it
    again = refresh(settings, "files", as_of=date(2017, 12, 31))
    assert again.snapshot.data_as_of == date(2017, 12, 31)


def test_check_and_cli_print_and_override_the_as_of(
    settings: Settings, tmp_path: Path, monkeypatch, capsys
) -> None:
    summary = check(settings).summary()
    assert (
        "Data as of 2017-12-28 (the latest event date in the data, stage_history.entered_at; "
        "override with --as-of or as_of in [sources.files])."
    ) in summary
    assert "team <- UserRoleId via UserRole.csv" in summary
    config = tmp_path / "scorecard.toml"
    config.write_text(f'[store]\ndata_dir = "{settings.data_dir}"\n')
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    args = ["refresh", "--source", "files", "--preset", "salesforce_export"]
    args += ["--path", str(_folder(settings))]
    assert main([*args, "--check", "--as-of", "2017-12-01"]) == 0
    assert "Data as of 2017-12-01 (set with --as-of;" in capsys.readouterr().out
    assert main([*args, "--as-of", "2017-12-15"]) == 0
    assert "data as of 2017-12-15" in capsys.readouterr().out
    assert Store(settings.data_dir).current().data_as_of == date(2017, 12, 15)


def test_demo_refresh_takes_as_of_too(settings: Settings) -> None:
    result = refresh(settings, "demo", as_of=date(2025, 6, 30))
    assert result.snapshot.data_as_of == date(2025, 6, 30)
    assert pull(settings, as_of="2017-12-20").data_as_of == date(2017, 12, 20)


# -- bad input: each message, nothing stored ----------------------------------------------
def test_dates_that_do_not_parse_name_file_line_and_format_key(settings: Settings) -> None:
    # 006C's CreatedDate is on line 5 (006A spans lines 2 and 3)
    bad = OPPS.replace('"02 Oct, 2017 14:05:00"', '"2017 Oct 02 14h05"')
    (_folder(settings) / "opportunity.csv").write_text(bad, encoding="utf-8")
    message = refresh_fails(settings)
    assert (
        "opportunities.created_at (column CreatedDate): 1 value(s) are not dates in a format "
        "we know (opportunity.csv line 5: '2017 Oct 02 14h05'); set the format they are in: "
        'created_at = { column = "CreatedDate", format = "%d/%m/%Y %H:%M" } under '
        "[tables.opportunities.columns] (in scorecard.toml: "
        "[sources.files.tables.opportunities.columns]) (a format is made of %d day"
    ) in message
    # a value whose format can be guessed gets that format as the example
    odd = OPPS.replace('"02 Oct, 2017 14:05:00"', '"2017.10.02 14:05"')
    (_folder(settings) / "opportunity.csv").write_text(odd, encoding="utf-8")
    message = refresh_fails(settings)
    assert "(opportunity.csv line 5: '2017.10.02 14:05')" in message
    assert 'created_at = { column = "CreatedDate", format = "%Y.%m.%d %H:%M" }' in message


def test_ambiguous_day_month_is_settled_by_the_sample_or_date_order(tmp_path: Path) -> None:
    deals = "Id,OwnerId,StageName,Amount,CreatedDate,CloseDate,IsClosed,IsWon\n"
    rows = "006A,005A,Won,10,04/05/2021 10:00,04/05/2021,true,true\n"
    folder = write_export(tmp_path, {"opportunity.csv": deals + rows})
    with pytest.raises(FilesError) as info:
        load_export(folder)
    message = str(info.value)
    assert "opportunities.close_date (column CloseDate): 1 value(s) are not unambiguous" in message
    assert 'date_order = "month_first" or "day_first" in [defaults]' in message
    assert 'close_date = { column = "CloseDate", format = "%m/%d/%Y" }' in message
    # a day above 12 in the column settles it: 13/05/2021 can only be day/month/year
    more = rows + "006B,005A,Won,10,13/05/2021 10:00,13/05/2021,true,true\n"
    _, frames = load_export(write_export(tmp_path, {"opportunity.csv": deals + more}))
    assert frames["opportunities"].sort("opp_id")["close_date"].to_list() == [
        date(2021, 5, 4), date(2021, 5, 13),
    ]  # fmt: skip
    # ... and date_order settles what the data cannot
    write_export(tmp_path, {"opportunity.csv": deals + rows})
    _, frames = load_export(tmp_path, {"defaults": {"date_order": "day_first"}})
    assert frames["opportunities"]["close_date"].to_list() == [date(2021, 5, 4)]
    assert frames["opportunities"]["created_at"].to_list() == [utc("2021-05-04T10:00:00")]


def test_wider_datetime_formats() -> None:
    from connectors.values import parse_datetime

    cases = {
        "15 Apr, 2021 00:02:00": utc("2021-04-15T00:02:00"),
        "15 Apr 2021": utc("2021-04-15T00:00:00"),
        "2021-04-15 00:02:00": utc("2021-04-15T00:02:00"),
        "04/15/2021 12:02 AM": utc("2021-04-15T00:02:00"),
        "15.04.2021 00:02": utc("2021-04-15T00:02:00"),
        "15-Apr-2021": utc("2021-04-15T00:00:00"),
        "Apr 15, 2021 12:02 AM": utc("2021-04-15T00:02:00"),
        "15/04/2021 00:02": utc("2021-04-15T00:02:00"),
    }
    for text, want in cases.items():
        parsed = parse_datetime(pl.Series([text, None]))
        assert parsed.values.to_list() == [want, None], text
        assert parsed.bad is None or not parsed.bad.any(), text


DEALS = {"opportunities": {"file": "deals.csv", "columns": {
    "opp_id": "Id", "owner_id": "Owner", "stage": "Stage", "created_at": "Created",
    "close_date": "Close"}}}  # fmt: skip


def load_deals(folder: Path, stages: dict[str, Any] | None = None):
    tables = {**DEALS, **({"stages": stages} if stages is not None else {})}
    return load(build_mapping({"tables": tables}, base_dir=folder, path=folder)), None


def test_leaving_out_won_and_lost_is_an_error(tmp_path: Path) -> None:
    # no is_won/is_closed column, no stage file, no won/lost: nothing says which deals closed
    deals = "Id,Owner,Stage,Created,Close\n006A,005A,Closed Won,2021-01-05,2021-02-01\n"
    folder = write_export(tmp_path, {"deals.csv": deals})
    with pytest.raises(FilesError) as info:
        load_deals(folder)
    assert (
        "opportunities: every deal would be open: the files say of no stage or deal whether it "
        'is closed or won. Set won/lost under [tables.stages] (e.g. won = ["Closed Won"], '
        "lost = [\"Closed Lost\"]; the stages seen include 'Closed Won'), or map "
        "is_won/is_closed (IsWon/IsClosed)"
    ) in str(info.value)
    # won = [] says so on purpose; won = ["Closed Won"] closes the deal
    loaded, _ = load_deals(folder, {"won": []})
    assert loaded.frames["opportunities"]["is_closed"].to_list() == [False]
    loaded, _ = load_deals(folder, {"won": ["Closed Won"]})
    assert loaded.frames["opportunities"]["is_won"].to_list() == [True]


def test_a_problem_is_reported_once_with_its_file_line(settings: Settings) -> None:
    # 006C loses its Id (line 5); without a history file the stage history is derived from
    # the opportunities and would hold the same empty id: reported once, for the file
    (_folder(settings) / "opportunityhistory.csv").unlink()
    bad = OPPS.replace("006C,false,001C", ",false,001C")
    (_folder(settings) / "opportunity.csv").write_text(bad, encoding="utf-8")
    message = refresh_fails(settings)
    assert "files: 1 problem(s) in the input:" in message
    assert (
        "opportunities.opp_id: 1 empty value(s) in a required field (opportunity.csv line 5: None)"
    ) in message
    assert "stage_history" not in message.split("(")[0]
    assert "problem(s) of tables derived from these files are not repeated" in message


def test_duplicate_ids_name_their_lines(settings: Settings) -> None:
    bad = OPPS.replace("006C,false,001C", "006B,false,001C")
    (_folder(settings) / "opportunity.csv").write_text(bad, encoding="utf-8")
    message = refresh_fails(settings)
    assert (
        "opportunities.opp_id: 2 rows share a duplicate id ('006B' at opportunity.csv line 4 "
        "and opportunity.csv line 5)"
    ) in message


def test_line_numbers_count_line_breaks_inside_values(tmp_path: Path) -> None:
    from connectors.files import read_file

    # line 1 header; "a" spans lines 2-4; "b" line 5; "c" (no newline at the end) line 6
    text = 'Id,Note\na,"one\ntwo\nthree"\nb,\nc,"x"'
    (tmp_path / "notes.csv").write_text(text, encoding="utf-8")
    frame = read_file(tmp_path / "notes.csv")
    assert frame.select("Id", "__line").rows() == [("a", 2), ("b", 5), ("c", 6)]
    # without breaks inside values the line is the row number + 1
    (tmp_path / "plain.csv").write_text("Id\na\nb", encoding="utf-8")
    assert read_file(tmp_path / "plain.csv")["__line"].to_list() == [2, 3]
