"""The warehouse source against a real PostgreSQL started by the tests (tests/pgserver.py):
the demo org and ../shared/data's Fivetran seeds loaded in Fivetran's layout, read back
through the file presets' mapping; incremental reads by ``_fivetran_synced``; and each
fault (missing table, column or permission, wrong password, server gone mid-read) named in
its message, with the previous snapshot kept and the password never shown."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors import files
from connectors.mapping import build_mapping
from connectors.validate import validate_tables
from connectors.warehouse import WarehouseError, connection_url
from model.schema import TABLES
from ops.cli import main
from ops.config import Settings
from ops.refresh import RefreshError, refresh
from snapshots.store import Store
from tests.connectors.test_files import (
    DEMO_OWNERS,
    _compare,
    fivetran_hubspot_files,
    fivetran_salesforce_files,
    hubspot_subset,
    shared,
)
from tests.connectors.test_files import demo as demo
from tests.pgserver import PgServer

ROLE, PASSWORD = "scorer", "Wh/s3cret:pw@x"  # URL-special characters: encoded in the URL
SYNCED_AT = datetime(2026, 11, 16, 20, 0, tzinfo=UTC)
SF_COLUMNS = {
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
}  # fmt: skip


def ingest(url: str, schema: str, tables: dict[str, pl.DataFrame]) -> None:
    """Create `schema` and each frame as a table in it (ADBC bulk ingest, types kept)."""
    import adbc_driver_postgresql.dbapi as pgdb

    with pgdb.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            for name, frame in tables.items():
                cur.adbc_ingest(name, frame.to_arrow(), mode="create", db_schema_name=schema)
        conn.commit()


def synced(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Each table with Fivetran's sync time column: its first row synced at SYNCED_AT, each
    next one a minute earlier."""
    at = pl.lit(SYNCED_AT, pl.Datetime("us", "UTC")) - pl.duration(minutes=pl.int_range(pl.len()))
    return {n: f.with_columns(_fivetran_synced=at) for n, f in tables.items()}


@dataclass
class Warehouse:
    """One schema of the test server, readable by the role `scorer` (with a password)."""

    pg: PgServer
    schema: str

    @property
    def environ(self) -> dict[str, str]:
        return {"WAREHOUSE_URL": connection_url_for(self.pg, PASSWORD)}

    def sql(self, statements: str) -> str:
        return self.pg.sql(statements, "wh")

    def settings(self, tmp_path: Path, **warehouse: object) -> Settings:
        order = {"order": STAGE_ORDER}
        raw = {"schema": self.schema, "tables": {"stages": DEMO_OWNERS | order}} | warehouse
        return Settings(data_dir=tmp_path / "data", sources={"warehouse": raw})


STAGE_ORDER: list[str] = []


def connection_url_for(server: PgServer, password: str) -> str:
    from urllib.parse import quote

    return f"postgresql://{ROLE}:{quote(password, safe='')}@127.0.0.1:{server.port}/wh"


@pytest.fixture(scope="module")
def wh_url(pg: PgServer) -> str:
    """The database `wh` and the role `scorer` that reads it with a password."""
    url = pg.database("wh")
    pg.sql(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        f"CREATE ROLE {ROLE} LOGIN; END IF; END $$; "
        f"ALTER ROLE {ROLE} PASSWORD '{PASSWORD}'"
    )
    return url


def _grant(pg: PgServer, schema: str) -> None:
    pg.sql(f'GRANT USAGE ON SCHEMA "{schema}" TO {ROLE}; '
           f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {ROLE}', "wh")  # fmt: skip


@pytest.fixture
def demo_wh(pg: PgServer, wh_url: str, demo) -> Warehouse:
    """The demo org in Fivetran's Salesforce layout, in a schema of its own."""
    schema = f"sf_{uuid.uuid4().hex[:8]}"
    ingest(wh_url, schema, synced(fivetran_salesforce_files(demo)))
    _grant(pg, schema)
    STAGE_ORDER[:] = demo["stages"].sort("position")["stage"].to_list()
    return Warehouse(pg, schema)


def _pull(wh: Warehouse, tmp_path: Path, **options: object) -> dict[str, pl.DataFrame]:
    result = refresh(wh.settings(tmp_path), "warehouse", environ=wh.environ, **options)
    assert result.snapshot.source == "warehouse"
    return Store(tmp_path / "data").current().read_all()


# -- round trips ----------------------------------------------------------------------------
def test_round_trip_of_the_demo_org(demo_wh: Warehouse, demo, tmp_path: Path) -> None:
    got = _pull(demo_wh, tmp_path)
    # the Fivetran Salesforce preset maps these columns; the demo's others (segment,
    # sourced_by, MQL/SAL/SQL dates, lead history) are not in Fivetran's standard objects
    _compare(got, demo, SF_COLUMNS)
    detail = Store(tmp_path / "data").current().manifest["detail"]
    assert detail["mode"] == "full" and detail["tables"]["opportunities"] == "opportunity"
    assert detail["watermarks"]["opportunities"] == SYNCED_AT.isoformat()
    assert PASSWORD not in str(detail)


def test_only_the_mapped_columns_are_read(demo_wh: Warehouse, tmp_path: Path) -> None:
    demo_wh.sql(f'ALTER TABLE "{demo_wh.schema}".opportunity ADD COLUMN secret_note text; '
                f"UPDATE \"{demo_wh.schema}\".opportunity SET secret_note = 'x'")  # fmt: skip
    # a column the mapping does not read may be unreadable: only mapped columns are selected
    demo_wh.sql(f'REVOKE SELECT ON "{demo_wh.schema}".opportunity FROM {ROLE}; '
                f"GRANT SELECT (id, name, account_id, owner_id, stage_name, amount, "
                f"created_date, close_date, is_closed, is_won, forecast_category_name, "
                f"lead_source, campaign_id, is_deleted, _fivetran_synced) "
                f'ON "{demo_wh.schema}".opportunity TO {ROLE}')  # fmt: skip
    got = _pull(demo_wh, tmp_path)
    assert got["opportunities"].height > 0


def _seed_tables(folder: str, prefix: str) -> dict[str, pl.DataFrame]:
    """The seed CSVs as warehouse tables, typed as polars infers them (timestamps, flags and
    numbers as such), named as Fivetran names them (sf_opportunity_data.csv: opportunity)."""
    out = {}
    for path in sorted(shared(folder).glob("*.csv")):
        name = path.stem.removeprefix(prefix).removesuffix("_data")
        try:
            out[name] = pl.read_csv(path, try_parse_dates=True, infer_schema_length=None)
        except pl.exceptions.ComputeError:  # "2023-11-11 08:18:15.836000 UTC": kept as text
            out[name] = pl.read_csv(path, infer_schema_length=None)
    return out


@pytest.mark.parametrize(
    ("folder", "prefix", "preset"),
    [("fivetran-dbt-salesforce", "sf_", "fivetran_salesforce"),
     ("fivetran-dbt-hubspot", "", "fivetran_hubspot")],
)  # fmt: skip
def test_fivetran_seeds_load_as_from_files(
    pg: PgServer,
    wh_url: str,
    tmp_path: Path,
    folder: str,
    prefix: str,
    preset: str,
) -> None:
    schema = f"seed_{uuid.uuid4().hex[:8]}"
    ingest(wh_url, schema, _seed_tables(folder, prefix))
    _grant(pg, schema)
    wh = Warehouse(pg, schema)
    settings = Settings(data_dir=tmp_path / "data",
                        sources={"warehouse": {"schema": schema, "preset": preset}})  # fmt: skip
    refresh(settings, "warehouse", environ=wh.environ)
    got = Store(tmp_path / "data").current().read_all()
    mapping = build_mapping({"preset": preset}, base_dir=shared(folder), path=shared(folder))
    want = validate_tables(files.load(mapping).frames, source="files").frames
    assert sorted(got) == sorted(want)
    assert got["opportunities"].height >= 10
    for name in want:
        key = list(TABLES[name].primary_key) or list(want[name].columns)
        assert_frame_equal(got[name].sort(key, nulls_last=True),
                           want[name].sort(key, nulls_last=True))  # fmt: skip


def test_hubspot_layout_round_trips(pg: PgServer, wh_url: str, demo, tmp_path: Path) -> None:
    schema = f"hs_{uuid.uuid4().hex[:8]}"
    ingest(wh_url, schema, synced(fivetran_hubspot_files(demo)))
    _grant(pg, schema)
    wh = Warehouse(pg, schema)
    raw = {"schema": schema, "preset": "fivetran_hubspot", "tables": {"stages": DEMO_OWNERS}}
    settings = Settings(data_dir=tmp_path / "data", sources={"warehouse": raw})
    refresh(settings, "warehouse", environ=wh.environ)
    got = Store(tmp_path / "data").current().read_all()
    _compare(got, hubspot_subset(demo), {
        "users": ["user_id", "name", "team"],
        "stages": list(TABLES["stages"].columns),
        "opportunities": ["opp_id", "name", "owner_id", "stage", "amount", "created_at",
                          "close_date", "is_closed", "is_won"],
        "stage_history": ["opp_id", "entered_at", "stage"],
    })  # fmt: skip


# -- incremental ----------------------------------------------------------------------------
def test_incremental_read_merges_changes_into_the_last_snapshot(
    demo_wh: Warehouse,
    demo,
    tmp_path: Path,
) -> None:
    s = f'"{demo_wh.schema}"'
    skip = {"tables": {"stages": DEMO_OWNERS | {"order": STAGE_ORDER},
                       "opportunities": {"skip_when": {"is_deleted": ["true"]}},
                       # the history of a deleted deal is left out with it
                       "stage_history": {"drop_unknown_opps": True}}}  # fmt: skip
    settings = demo_wh.settings(tmp_path, lookback_minutes=0, **skip)
    refresh(settings, "warehouse", environ=demo_wh.environ)
    opps = demo["opportunities"].sort("opp_id")
    changed, deleted = opps["opp_id"][0], opps["opp_id"][1]
    later = "2026-11-17 09:00:00+00"
    first = demo_wh.sql(f"SELECT id FROM {s}.opportunity WHERE _fivetran_synced = "
                        f"'{SYNCED_AT.isoformat()}'").strip()  # fmt: skip
    # Fivetran's next sync: one deal renamed, one deleted (kept with is_deleted), one new;
    # a role renamed (its users' rows unchanged: users, mapped through it, are read whole)
    demo_wh.sql(
        f"UPDATE {s}.user_role SET name = 'Renamed team', _fivetran_synced = '{later}' "
        f"WHERE id = (SELECT min(id) FROM {s}.user_role); "
        f"UPDATE {s}.opportunity SET name = 'Renamed deal', _fivetran_synced = '{later}' "
        f"WHERE id = '{changed}'; "
        f"UPDATE {s}.opportunity SET is_deleted = true, _fivetran_synced = '{later}' "
        f"WHERE id = '{deleted}'; "
        f"INSERT INTO {s}.opportunity SELECT 'NEW-1', 'A new deal', account_id, owner_id, "
        f"stage_name, 1234.5, created_date, close_date, is_closed, is_won, "
        f"forecast_category_name, lead_source, campaign_id, false, '{later}' "
        f"FROM {s}.opportunity WHERE id = '{changed}'"
    )
    incremental = refresh(settings, "warehouse", environ=demo_wh.environ)
    detail = incremental.snapshot.manifest["detail"]
    assert detail["mode"] == "incremental"
    # read again: the rows synced at or after the watermark (no look-back here): the one
    # synced last time at SYNCED_AT (`first`) and the three of the new sync
    assert detail["rows_read"]["opportunities"] == len({first, changed, deleted, "NEW-1"})
    assert detail["watermarks"]["opportunities"] == "2026-11-17T09:00:00+00:00"
    got = incremental.snapshot.read_all()
    full = refresh(settings, "warehouse", environ=demo_wh.environ, full=True)
    assert full.snapshot.manifest["detail"]["mode"] == "full"
    want = full.snapshot.read_all()
    for name in want:
        key = list(TABLES[name].primary_key) or list(want[name].columns)
        assert_frame_equal(got[name].sort(key), want[name].sort(key))
    ids = got["opportunities"]["opp_id"].to_list()
    assert "NEW-1" in ids and deleted not in ids and len(ids) == opps.height  # +1 -1
    assert got["opportunities"].filter(pl.col("opp_id") == changed)["name"].item() == (
        "Renamed deal"
    )
    assert "Renamed team" in got["users"]["team"].to_list()
    assert detail["rows_read"]["users"] == demo["users"].height


# -- faults: each named, the previous snapshot kept, the password never shown -----------------
def _fails(
    wh: Warehouse,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    break_it: Callable[[], None],
    environ: dict[str, str] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> str:
    """Refresh once, break the warehouse, refresh again: the error message; the first
    snapshot still current; the password nowhere in the message or the logs."""
    settings = wh.settings(tmp_path)
    first = refresh(settings, "warehouse", environ=wh.environ).snapshot.id
    break_it()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RefreshError) as caught:
        refresh(settings, "warehouse", environ=environ or wh.environ, full=True,
                **({"progress": progress} if progress else {}))  # fmt: skip
    assert isinstance(caught.value, WarehouseError)
    message = str(caught.value)
    assert Store(settings.data_dir).current_id() == first
    for secret in (PASSWORD, "s3cret", "Wh%2Fs3cret"):
        assert secret not in message and secret not in caplog.text
    assert "previous snapshot stays current" in message
    return message


def test_missing_table(demo_wh: Warehouse, tmp_path: Path, caplog) -> None:
    s = f'"{demo_wh.schema}"'
    message = _fails(
        demo_wh,
        tmp_path,
        caplog,
        lambda: demo_wh.sql(f"ALTER TABLE {s}.opportunity RENAME TO opp_old"),
    )
    assert f"no table {demo_wh.schema}.opportunity or {demo_wh.schema}.sf_opportunity_data" in (
        message
    )
    assert message.startswith("opportunities: ") or "opportunities:" in message


def test_missing_column(demo_wh: Warehouse, tmp_path: Path, caplog) -> None:
    s = f'"{demo_wh.schema}"'
    message = _fails(
        demo_wh,
        tmp_path,
        caplog,
        lambda: demo_wh.sql(f"ALTER TABLE {s}.opportunity DROP COLUMN stage_name"),
    )
    assert f"opportunities: {demo_wh.schema}.opportunity has no column 'stage_name'" in message


def test_no_permission(demo_wh: Warehouse, tmp_path: Path, caplog) -> None:
    s = f'"{demo_wh.schema}"'
    message = _fails(
        demo_wh, tmp_path, caplog, lambda: demo_wh.sql(f"REVOKE SELECT ON {s}.lead FROM {ROLE}")
    )
    assert f"no permission reading {demo_wh.schema}.lead" in message
    assert f"GRANT SELECT ON {demo_wh.schema}.lead TO that user" in message


def test_wrong_password(demo_wh: Warehouse, tmp_path: Path, caplog) -> None:
    wrong = {"WAREHOUSE_URL": connection_url_for(demo_wh.pg, PASSWORD + "-wrong")}
    message = _fails(demo_wh, tmp_path, caplog, lambda: None, environ=wrong)
    assert f"refused the login of {ROLE}@127.0.0.1" in message and "wrong user or password" in (
        message
    )


def test_server_stopped_mid_read(demo_wh: Warehouse, tmp_path: Path, caplog) -> None:
    stopped: list[str] = []

    def stop_at_history(message: str, fraction: float) -> None:
        if message.startswith("Reading stage_history") and not stopped:
            stopped.append(message)
            demo_wh.pg.stop()

    try:
        message = _fails(demo_wh, tmp_path, caplog, lambda: None, progress=stop_at_history)
    finally:
        if not demo_wh.pg.running():
            demo_wh.pg.start()
    assert stopped, "the read never reached stage_history"
    assert "connection to the warehouse" in message and "lost or refused" in message
    assert f"reading {demo_wh.schema}.opportunity_history" in message


def test_credentials_only_from_the_environment() -> None:
    with pytest.raises(WarehouseError, match="set WAREHOUSE_URL"):
        connection_url({})
    pieces = {"WAREHOUSE_HOST": "db.example", "WAREHOUSE_USER": "me",
              "WAREHOUSE_PASSWORD": "p@ss/word", "WAREHOUSE_DATABASE": "crm"}  # fmt: skip
    target = connection_url(pieces)
    assert target.url.startswith("postgresql://me:p%40ss%2Fword@db.example:5432/crm?")
    assert target.where == "me@db.example:5432/crm"
    assert target.scrub(f"x {target.url} p@ss/word").count("p@ss") == 0
    with pytest.raises(WarehouseError, match="reads PostgreSQL"):
        connection_url({"WAREHOUSE_URL": "snowflake://me:pw@acct/db"})


def test_command_line_refresh_and_run_log(
    demo_wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    owners = ", ".join(f'"{k}" = "{v}"' for k, v in DEMO_OWNERS["owner_function"].items())
    order = ", ".join(f'"{name}"' for name in STAGE_ORDER)
    config = tmp_path / "scorecard.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[sources.warehouse]\nschema = "{demo_wh.schema}"\n'
        f"[sources.warehouse.tables.stages]\norder = [{order}]\nowner_function = {{ {owners} }}\n"
    )
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    monkeypatch.setenv("WAREHOUSE_URL", demo_wh.environ["WAREHOUSE_URL"])
    assert main(["refresh", "--source", "warehouse"]) == 0
    first = Store(tmp_path / "data").current_id()
    monkeypatch.setenv("WAREHOUSE_URL", connection_url_for(demo_wh.pg, PASSWORD + "-wrong"))
    assert main(["refresh", "--source", "warehouse"]) == 1
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert "wrong user or password" in err and "wrong user or password" in out  # the run log
    for secret in (PASSWORD, "s3cret"):
        assert secret not in out + err
    assert Store(tmp_path / "data").current_id() == first


def test_a_sync_landing_mid_read_is_not_half_seen(demo_wh: Warehouse, tmp_path: Path) -> None:
    s = f'"{demo_wh.schema}"'
    landed: list[str] = []

    def sync_during_read(message: str, fraction: float) -> None:
        # once opportunities are read, Fivetran lands a new deal and its history row
        if message.startswith("Reading stage_history") and not landed:
            landed.append(message)
            demo_wh.sql(
                f"INSERT INTO {s}.opportunity SELECT 'MID-1', name, account_id, owner_id, "
                f"stage_name, amount, created_date, close_date, is_closed, is_won, "
                f"forecast_category_name, lead_source, campaign_id, false, now() "
                f"FROM {s}.opportunity LIMIT 1; "
                f"INSERT INTO {s}.opportunity_history SELECT 'MID-1', stage_name, "
                f"_fivetran_start, amount, close_date, forecast_category_name, now() "
                f"FROM {s}.opportunity_history LIMIT 1"
            )

    settings = demo_wh.settings(tmp_path)
    # one read-only transaction: neither is read (a history row without its deal would
    # fail validation); the next refresh reads both
    first = refresh(settings, "warehouse", environ=demo_wh.environ, progress=sync_during_read)
    assert landed
    assert "MID-1" not in first.snapshot.read_all()["stage_history"]["opp_id"].to_list()
    second = refresh(settings, "warehouse", environ=demo_wh.environ).snapshot.read_all()
    assert "MID-1" in second["opportunities"]["opp_id"].to_list()
    assert "MID-1" in second["stage_history"]["opp_id"].to_list()


def test_a_full_read_every_full_refresh_days(demo_wh: Warehouse, tmp_path: Path) -> None:
    modes = []
    for days in (7, 7, 0):  # full, incremental, then full again: the last full read is too old
        settings = demo_wh.settings(tmp_path, full_refresh_days=days)
        result = refresh(settings, "warehouse", environ=demo_wh.environ)
        modes.append(result.snapshot.manifest["detail"]["mode"])
    assert modes == ["full", "incremental", "full"]
