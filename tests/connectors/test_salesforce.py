"""The Salesforce connector, run with the real `salesforce-bulk` client over HTTP against the
local Bulk API emulator (tests/sfemulator), fed with the demo org plus awkward values."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from connectors.salesforce import SalesforceConfig, SalesforceError, parse_results
from model.schema import TABLES, conform
from ops.config import Settings
from ops.refresh import RefreshError, refresh
from snapshots.store import Store
from tests.sfemulator.org import (
    EDGE_NAMES,
    OBJECTS,
    Org,
    as_of_midnight,
    org_from_canonical,
    render_csv,
    to_salesforce_ids,
    with_edge_values,
)
from tests.sfemulator.server import BulkEmulator

AS_OF = date(2026, 11, 16)
USER, PASSWORD, TOKEN = "integration@example.com", "s3cret-Pa55", "TOKxyz987"
ENV = {"SF_USERNAME": USER, "SF_PASSWORD": PASSWORD, "SF_SECURITY_TOKEN": TOKEN}
SECRETS = (PASSWORD, TOKEN, "Emulated.Session")


@pytest.fixture(scope="module")
def demo() -> dict[str, pl.DataFrame]:
    return with_edge_values(generate_demo_org(as_of=AS_OF, scale=0.1, quarters=2))


@pytest.fixture
def org(demo: dict[str, pl.DataFrame]) -> Org:
    # the demo snapshot holds the whole as-of day: the org's clock starts at its end
    return org_from_canonical(demo, now=as_of_midnight(AS_OF + timedelta(days=1)))


@pytest.fixture
def emu(org: Org) -> Iterator[BulkEmulator]:
    server = BulkEmulator(
        org, username=USER, password=PASSWORD, token=TOKEN, max_rows_per_result=150
    ).start()
    yield server
    server.stop()


def _mapping(demo: dict[str, pl.DataFrame]) -> dict:
    users, stages = demo["users"], demo["stages"]
    return {
        "users": {"team_from": "role"},
        "teams": {"Lead Queue": "SDR"},
        "functions": dict(zip(users["team"], users["function"].cast(pl.String), strict=True)),
        "stage_owners": dict(
            zip(stages["stage"], stages["owner_function"].cast(pl.String), strict=True)
        ),
        "fields": {
            "segment": "Segment__c",
            "sourced_by": "Sourced_By__c",
            "lead_campaign": "Primary_Campaign__c",
            "mql_at": "MQL_Date__c",
            "sal_at": "SAL_Date__c",
            "sql_at": "SQL_Date__c",
            "converted_at": "Converted_At__c",
            "disqualified_at": "Disqualified_At__c",
            "first_touch_at": "First_Touch_At__c",
            "responded_at": "Responded_At__c",
        },
    }


@pytest.fixture
def settings(tmp_path: Path, emu: BulkEmulator, demo: dict[str, pl.DataFrame]) -> Settings:
    sf = {
        "login_url": emu.url,
        "api_version": "62.0",
        "poll_seconds": 0.005,
        "batch_timeout_seconds": 2.0,
        "http_timeout_seconds": 1.0,
        "retries": 2,
        "backoff_seconds": 0.01,
        "pk_chunk_size": 100,
        **_mapping(demo),
    }
    return Settings(data_dir=tmp_path / "data", sources={"salesforce": sf})


def _refresh(settings: Settings, **options) -> object:
    return refresh(settings, "salesforce", environ=ENV, **options)


def _sorted(name: str, frame: pl.DataFrame, drop: tuple[str, ...] = ()) -> pl.DataFrame:
    frame = conform(name, frame).drop(drop)
    return frame.sort(pl.all().cast(pl.String), nulls_last=True)


def _assert_same(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        have, expected = _sorted(name, got[name]), _sorted(name, want[name])
        if "history_id" in expected.columns and expected["history_id"].is_null().all():
            # the demo's canonical frames have no source record ids; the pull keeps them
            assert have["history_id"].null_count() == 0 and have["history_id"].is_unique().all()
            have, expected = (_sorted(name, f, ("history_id",)) for f in (have, expected))
        assert_frame_equal(have, expected, check_dtypes=True)


# --- emulator wire format ---------------------------------------------------------------


def test_csv_is_rendered_as_salesforce_writes_it() -> None:
    types = {
        "Id": OBJECTS["Opportunity"]["Id"],
        "Name": OBJECTS["Opportunity"]["Name"],
        "Amount": OBJECTS["Opportunity"]["Amount"],
        "IsWon": OBJECTS["Opportunity"]["IsWon"],
    }
    frame = pl.DataFrame(
        {
            "Id": ["006A", "006B"],
            "Name": ['a, "b"\nc', None],
            "Amount": [15000.0, 99213206.0],
            "IsWon": [True, False],
        }
    )
    assert render_csv(frame, types) == (
        b'"Id","Name","Amount","IsWon"\n"006A","a, ""b""\nc","15000.0","true"\n'
        b'"006B","","9.9213206E7","false"\n'
    )
    assert render_csv(frame.head(0), types) == b"Records not found for this query"
    back = parse_results(
        [render_csv(frame, types), b"Records not found for this query"],
        ["Id", "Name", "Amount", "IsWon"],
    )
    assert back["Name"].to_list() == ['a, "b"\nc', ""]  # "" → null happens when typing


# --- full refresh -----------------------------------------------------------------------


def test_full_refresh_reproduces_the_org(settings: Settings, demo, emu: BulkEmulator) -> None:
    progress: list[tuple[str, float]] = []
    result = refresh(
        settings, "salesforce", environ=ENV, progress=lambda m, f: progress.append((m, f))
    )
    got = Store(settings.data_dir).current().read_all()
    _assert_same(got, to_salesforce_ids(demo))
    opps = got["opportunities"]
    assert set(EDGE_NAMES) <= set(opps["name"].to_list())
    assert 12_345_678_901.5 in opps["amount"].to_list()
    # PK chunking (100 ids a chunk) and results split in files of 150 rows were used
    headers = [
        h
        for _, p, h in emu.log
        if (p.endswith("/job") and "Opportunity" in str(h)) or h.get("Sforce-Enable-PKChunking")
    ]
    assert any(h.get("Sforce-Enable-PKChunking") == "chunkSize=100;" for h in headers)
    detail = result.snapshot.manifest["detail"]
    assert detail["mode"] == "full" and detail["objects"]["Opportunity"]["batches"] >= 2
    assert detail["instance_url"] == emu.url  # the org logged in to: deal pages link there
    assert any(m.startswith("Opportunity: ") and "rows in" in m for m, _ in progress)
    assert all(0 <= f <= 1 for _, f in progress)


def test_session_id_login(settings: Settings, emu: BulkEmulator) -> None:
    from simple_salesforce import SalesforceLogin

    sid, instance = SalesforceLogin(
        username=USER,
        password=PASSWORD,
        security_token=TOKEN,
        sf_version="62.0",
        scratch_url=emu.url,
    )
    env = {"SF_SESSION_ID": sid, "SF_INSTANCE_URL": "http://" + instance}
    result = refresh(settings, "salesforce", environ=env)
    assert result.snapshot.manifest["tables"]["opportunities"]["rows"] > 0
    emu.expire_sessions()
    with pytest.raises(SalesforceError, match="session expired: SF_SESSION_ID is no longer valid"):
        refresh(settings, "salesforce", environ=env)


# --- incremental ------------------------------------------------------------------------


def _change_org(org: Org) -> None:
    """A day in the org: a deal moves on, a deal and a lead are deleted, a lead arrives and
    is worked, a campaign member is removed."""
    opp = org.frame("Opportunity").filter(~pl.col("IsClosed")).row(0, named=True)
    org.update("Opportunity", opp["Id"], StageName="Negotiation", Amount=77_000.0)
    org.insert(
        "OpportunityHistory",
        [
            {
                "Id": "008x00000000001AAA",
                "OpportunityId": opp["Id"],
                "StageName": "Negotiation",
                "Amount": 77_000.0,
                "CloseDate": opp["CloseDate"],
                "ForecastCategory": "Forecast",
            }
        ],
    )
    dead = org.frame("Opportunity").filter(pl.col("IsClosed")).row(0, named=True)["Id"]
    org.delete("Opportunity", pl.col("Id") == dead)
    org.delete("OpportunityHistory", pl.col("OpportunityId") == dead)
    lead = org.frame("Lead").row(3, named=True)["Id"]
    org.delete("Lead", pl.col("Id") == lead)  # Salesforce cascades to members and history
    org.delete("CampaignMember", pl.col("LeadId") == lead)
    org.delete("LeadHistory", pl.col("LeadId") == lead)
    owner = org.frame("User").row(5, named=True)["Id"]
    org.insert(
        "Lead",
        [
            {
                "Id": "00Qx00000000001AAA",
                "Status": "Working",
                "LeadSource": "Webinar",
                "OwnerId": owner,
                "Name": 'Zoë, "new"',
                "IsConverted": False,
            }
        ],
    )
    stamp = org.now
    org.insert(
        "LeadHistory",
        [
            {
                "Id": "017x00000000001AAA",
                "LeadId": "00Qx00000000001AAA",
                "Field": "Status",
                "DataType": "Text",
                "NewValue": "Working",
                "CreatedDate": stamp,
            },
        ],
    )
    member = org.frame("CampaignMember").row(0, named=True)["Id"]
    org.delete("CampaignMember", pl.col("Id") == member)


def test_incremental_equals_full(settings: Settings, org: Org, emu: BulkEmulator) -> None:
    first = _refresh(settings)
    _change_org(org)
    incremental = _refresh(settings)
    assert incremental.snapshot.manifest["detail"]["mode"] == "incremental"
    # the changed and deleted deal, plus the few the 5-minute look-back fetches again
    assert incremental.snapshot.manifest["detail"]["objects"]["Opportunity"]["rows"] < 10
    full = _refresh(settings, full=True)
    assert full.snapshot.manifest["detail"]["mode"] == "full"
    store = Store(settings.data_dir)
    inc, fresh = store.get(incremental.snapshot.id).read_all(), full.snapshot.read_all()
    _assert_same(inc, fresh)
    assert (
        inc["opportunities"].height
        == first.snapshot.manifest["tables"]["opportunities"]["rows"] - 1
    )
    assert "00Qx00000000001AAA" in inc["leads"]["lead_id"].to_list()
    watermark = incremental.snapshot.manifest["detail"]["watermarks"]["Opportunity"]
    assert watermark > first.snapshot.manifest["detail"]["watermarks"]["Opportunity"]


def test_periodic_full_refresh(settings: Settings) -> None:
    _refresh(settings)
    sf = {**settings.sources["salesforce"], "full_refresh_days": 0}
    again = _refresh(Settings(data_dir=settings.data_dir, sources={"salesforce": sf}))
    assert again.snapshot.manifest["detail"]["mode"] == "full"


# --- faults -----------------------------------------------------------------------------


def _fails(settings: Settings, match: str, caplog: pytest.LogCaptureFixture, **env) -> str:
    before = Store(settings.data_dir).current_id()
    with caplog.at_level(logging.DEBUG), pytest.raises(RefreshError, match=match) as info:
        refresh(settings, "salesforce", environ={**ENV, **env})
    assert isinstance(info.value, SalesforceError)
    assert Store(settings.data_dir).current_id() == before  # the last snapshot stays current
    text = str(info.value) + "".join(r.getMessage() for r in caplog.records)
    for secret in SECRETS:
        assert secret not in text
    return str(info.value)


def test_bad_credentials(settings: Settings, caplog) -> None:
    _refresh(settings)
    _fails(settings, "login .* failed: bad credentials", caplog, SF_PASSWORD="wrong-Pa55")


def test_missing_permission(settings: Settings, org: Org, caplog) -> None:
    _refresh(settings)
    org.denied.add("ForecastingQuota")
    _fails(settings, "ForecastingQuota: not available to this user: missing permission", caplog)
    # the message names the setting that turns the forecasting objects off, and it works
    _fails(settings, "set forecasting = false under \\[sources.salesforce\\]", caplog)
    sf = {**settings.sources["salesforce"], "forecasting": False}
    skipped = _refresh(replace(settings, sources={"salesforce": sf}))
    assert "ForecastingQuota" not in skipped.snapshot.manifest["detail"]["objects"]


def test_unknown_custom_field(settings: Settings, caplog) -> None:
    _refresh(settings)
    sf = dict(settings.sources["salesforce"])
    sf["fields"] = {**sf["fields"], "segment": "Segmnt__c"}
    bad = Settings(data_dir=settings.data_dir, sources={"salesforce": sf})
    with pytest.raises(SalesforceError, match="Opportunity: unknown field 'Segmnt__c'"):
        refresh(bad, "salesforce", environ=ENV)


def test_failed_batch(settings: Settings, emu: BulkEmulator, caplog) -> None:
    _refresh(settings)
    emu.faults.fail_next_batch = (
        "InvalidBatch : Failed to process query: QUERY_TIMEOUT: Your query request was running "
        "for too long."
    )
    _fails(settings, "User: the Bulk API batch failed: .*QUERY_TIMEOUT", caplog)


def test_batch_that_never_completes(settings: Settings, emu: BulkEmulator, caplog) -> None:
    _refresh(settings)
    emu.faults.never_complete.add("Lead")
    message = _fails(settings, "Lead: timed out after 2 s", caplog)
    assert "aborted" in message


def test_expired_session_logs_in_again_once(settings: Settings, emu: BulkEmulator) -> None:
    emu.faults.expire_next = 1
    result = _refresh(settings)
    assert result.snapshot.manifest["tables"]["users"]["rows"] > 0
    logins = [p for _, p, _ in emu.log if "/Soap/u/" in p]
    assert len(logins) == 2


def test_dropped_connection_is_retried(settings: Settings, emu: BulkEmulator) -> None:
    emu.faults.drop_next, emu.faults.drop_path = 2, "/result/"
    assert _refresh(settings).snapshot.manifest["tables"]["opportunities"]["rows"] > 0


@pytest.mark.parametrize("obj", ["Opportunity", "OpportunityHistory"])  # PK-chunked; one batch
def test_a_lost_answer_to_create_batch_adds_no_second_batch(
    settings: Settings, emu: BulkEmulator, demo: dict[str, pl.DataFrame], obj: str
) -> None:
    # The batch is created but its answer is lost. Sending it again made a second batch (and
    # with PK chunking a second set of chunks), and the wait sat at "2/3 batches done" until
    # the batch timeout. Now: the job's batch list shows the batch, no second one is made,
    # every row is read once, and the refresh takes no batch timeout (30 s here: a refresh
    # that waited for it would take at least that long, however loaded the machine is).
    settings.sources["salesforce"]["batch_timeout_seconds"] = 30.0
    full = _refresh(settings, full=True).snapshot.read_all()
    job_of = {j.id: j.object for j in emu.jobs.values()}
    started = time.perf_counter()
    with _lose_batch_answer(emu, obj):
        again = _refresh(settings, full=True)
    assert time.perf_counter() - started < 20.0
    jobs = [j for j in emu.jobs.values() if j.id not in job_of and j.object == obj]
    pk = obj in SalesforceConfig.from_settings(settings).pk_chunk_objects
    originals = [b for b in jobs[0].batches if b.pk_original] if pk else jobs[0].batches
    assert len(jobs) == 1 and len(originals) == 1
    got = again.snapshot.read_all()
    for name in ("opportunities", "stage_history"):
        assert_frame_equal(got[name], full[name])  # no row twice, none missing


@contextmanager
def _lose_batch_answer(emu: BulkEmulator, obj: str) -> Iterator[None]:
    """Lose the answer to the next "add batch" request of `obj`'s job."""
    original = emu.add_batch

    def add_batch(job, text):  # runs while the request is served; its answer is then lost
        if job.object == obj:
            emu.faults.lose_next, emu.faults.lose_path = 1, f"/job/{job.id}/batch"
            emu.add_batch = original
        return original(job, text)

    emu.add_batch = add_batch
    try:
        yield
    finally:
        emu.add_batch = original


def test_dropped_connections_give_up(settings: Settings, emu: BulkEmulator, caplog) -> None:
    _refresh(settings)
    emu.faults.drop_next, emu.faults.drop_path = 10, "/batch"
    _fails(
        settings,
        "connection to Salesforce failed or was dropped .*gave up after 3 attempts",
        caplog,
    )


def test_slow_server_times_out(settings: Settings, emu: BulkEmulator, caplog) -> None:
    _refresh(settings)
    emu.faults.slow_seconds, emu.faults.slow_path = 1.5, "/job"
    _fails(settings, "timeout: Salesforce did not answer within 1 s", caplog)


def test_config_errors_are_plain() -> None:
    bad = Settings(data_dir=Path("."), sources={"salesforce": {"fields": {"mql_at": "x; DROP"}}})
    with pytest.raises(SalesforceError, match="not a Salesforce field name"):
        SalesforceConfig.from_settings(bad)
    old = Settings(data_dir=Path("."), sources={"salesforce": {"api_version": "40.0"}})
    with pytest.raises(SalesforceError, match="too old"):
        SalesforceConfig.from_settings(old)
    assert SalesforceConfig(domain="test").login_server == "https://test.salesforce.com"
    with pytest.raises(SalesforceError, match="credentials missing"):
        refresh(
            Settings(data_dir=Path("."), sources={"salesforce": {}}),
            "salesforce",
            environ={"X": "1"},
        )


def test_every_canonical_table_is_covered() -> None:
    assert set(TABLES) == {
        "users",
        "stages",
        "opportunities",
        "stage_history",
        "leads",
        "lead_history",
        "campaigns",
        "campaign_members",
        "forecasts",
        "quotas",
    }


# --- history rows that share a second ---------------------------------------------------


def test_same_second_history_rows_survive_an_incremental_merge(
    settings: Settings, org: Org
) -> None:
    # A flow changes the amount right after a stage change, in the same second: two
    # OpportunityHistory rows (Negotiation 4000, then Negotiation 4500) with one CreatedDate.
    # Merged on (deal, time, stage) the second was dropped; on the record id both stay.
    first = _refresh(settings)
    opp = org.frame("Opportunity").filter(~pl.col("IsClosed")).row(0, named=True)
    at = org.tick()
    rows = [
        {"Id": f"008x0000000000{k}AAA", "OpportunityId": opp["Id"], "StageName": "Negotiation",
         "Amount": amount, "CloseDate": opp["CloseDate"], "ForecastCategory": "Pipeline",
         "CreatedDate": at}
        for k, amount in ((1, 4000.0), (2, 4500.0))
    ]  # fmt: skip
    org.insert("OpportunityHistory", rows)
    org.update("Opportunity", opp["Id"], StageName="Negotiation", Amount=4500.0)
    incremental = _refresh(settings).snapshot.read_all()["stage_history"]
    full = _refresh(settings, full=True).snapshot.read_all()["stage_history"]
    assert incremental.height == first.snapshot.manifest["tables"]["stage_history"]["rows"] + 2
    assert_frame_equal(incremental, full)  # same rows, same order
    deal = incremental.filter(opp_id=opp["Id"], entered_at=at)
    assert deal["amount"].to_list() == [4000.0, 4500.0]  # in record order: the flow's last


@st.composite
def _changes(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """Rounds of (deal index, second offset, number of rows): several rows of one deal, or
    of different deals, land in the same second."""
    return draw(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(1, 3)),
            min_size=1,
            max_size=4,
        )
    )


@settings_(max_examples=4, deadline=None)
@given(rounds=st.lists(_changes(), min_size=1, max_size=2))
def test_incremental_history_equals_full_whatever_the_timing(
    demo: dict[str, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory, rounds
) -> None:
    org = org_from_canonical(demo, now=as_of_midnight(AS_OF + timedelta(days=1)))
    emu = BulkEmulator(org, username=USER, password=PASSWORD, token=TOKEN).start()
    try:
        config = _settings_for(emu, demo, tmp_path_factory.mktemp("sf"))
        _refresh(config)
        deals = org.frame("Opportunity").filter(~pl.col("IsClosed"))["Id"].head(4).to_list()
        serial = iter(range(1, 10_000))
        for changes in rounds:
            base = org.tick()
            rows, lead_rows = [], []
            for deal, second, count in changes:
                at = base + timedelta(seconds=second)
                for _ in range(count):
                    n = next(serial)
                    rows.append({"Id": f"008x{n:011d}AAA", "OpportunityId": deals[deal],
                                 "StageName": "Negotiation", "Amount": 1000.0 * n,
                                 "ForecastCategory": "Pipeline", "CreatedDate": at})  # fmt: skip
                    lead_rows.append({"Id": f"017x{n:011d}AAA", "LeadId": _lead(org, deal),
                                      "Field": "Status", "DataType": "Text",
                                      "NewValue": "Working", "CreatedDate": at})  # fmt: skip
            org.insert("OpportunityHistory", rows)
            org.insert("LeadHistory", lead_rows)
            incremental = _refresh(config)
            assert incremental.snapshot.manifest["detail"]["mode"] == "incremental"
        inc = incremental.snapshot.read_all()
        full = _refresh(config, full=True).snapshot.read_all()
        for name in ("stage_history", "lead_history"):
            assert_frame_equal(inc[name], full[name])
    finally:
        emu.stop()


def _lead(org: Org, index: int) -> str:
    return org.frame("Lead").filter(~pl.col("IsDeleted"))["Id"].sort()[index]


def _settings_for(emu: BulkEmulator, demo: dict[str, pl.DataFrame], folder: Path) -> Settings:
    sf = {"login_url": emu.url, "api_version": "62.0", "poll_seconds": 0.005,
          "batch_timeout_seconds": 2.0, "http_timeout_seconds": 1.0, "retries": 2,
          "backoff_seconds": 0.01, "pk_chunk_size": 100, **_mapping(demo)}  # fmt: skip
    return Settings(data_dir=folder / "data", sources={"salesforce": sf})


def test_full_flag_on_the_command_line_forces_a_full_pull(
    settings: Settings, emu: BulkEmulator, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from ops import cli as cli

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    assert cli.main(["refresh", "--source", "salesforce"]) == 0  # the first one is full
    assert cli.main(["refresh", "--source", "salesforce"]) == 0
    assert Store(settings.data_dir).current().manifest["detail"]["mode"] == "incremental"
    assert cli.main(["refresh", "--source", "salesforce", "--full"]) == 0
    assert Store(settings.data_dir).current().manifest["detail"]["mode"] == "full"
    assert PASSWORD not in capsys.readouterr().out


def test_as_of_can_be_set(settings: Settings) -> None:
    # a live org is as of today unless --as-of (refresh's as_of option) says otherwise
    assert _refresh(settings).snapshot.data_as_of == datetime.now(UTC).date()
    assert _refresh(settings, as_of=date(2026, 1, 31)).snapshot.data_as_of == date(2026, 1, 31)
