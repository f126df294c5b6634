"""The HubSpot connector, over real HTTP against the local HubSpot API emulator
(tests/hubspot_emulator), fed with the demo org converted to HubSpot's model."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors import hubspot_mapping as m
from connectors.demo import generate_demo_org
from connectors.hubspot import HubSpotConfig, HubSpotError
from model.schema import conform
from ops.config import Settings
from ops.refresh import RefreshError, refresh
from snapshots.store import Store
from tests.hubspot_emulator.portal import (
    FUNNEL_PROPERTIES,
    QUEUE_EMAIL,
    QUOTA_GOAL,
    Portal,
    expected_canonical,
    portal_from_canonical,
    status_value,
)
from tests.hubspot_emulator.server import HubSpotEmulator, Rule
from tests.sfemulator.org import as_of_midnight

AS_OF = date(2026, 11, 16)
TOKEN = "pat-na1-0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
ENV = {"HUBSPOT_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def demo() -> dict[str, pl.DataFrame]:
    return generate_demo_org(as_of=AS_OF, scale=0.1, quarters=2)


@pytest.fixture
def portal(demo: dict[str, pl.DataFrame]) -> Portal:
    return portal_from_canonical(demo, now=as_of_midnight(AS_OF + timedelta(days=1)))


@pytest.fixture
def emu(portal: Portal) -> Iterator[HubSpotEmulator]:
    server = HubSpotEmulator(portal, token=TOKEN).start()
    yield server
    server.stop()


def _mapping(demo: dict[str, pl.DataFrame]) -> dict:
    """The portal's own settings: teams' functions and stage owners as the demo has them,
    its custom properties and lead-status options."""
    users, stages = demo["users"], demo["stages"]
    statuses = pl.concat([demo["leads"]["status"], demo["lead_history"]["status"]]).unique()
    return {
        "queues": [QUEUE_EMAIL],
        "quota_goals": [QUOTA_GOAL],
        "functions": dict(zip(users["team"], users["function"].cast(pl.String), strict=True)),
        "stage_owners": dict(
            zip(stages["stage"], stages["owner_function"].cast(pl.String), strict=True)
        ),
        "lead_statuses": {status_value(s): s for s in statuses.drop_nulls()},
        "lead_sources": {},
        "fields": {
            "campaign_channel": "campaign_type",
            "deal_lead_source": "lead_source",
            "sourced_by": "sourced_by",
            "lead_source": "lead_source",
            **FUNNEL_PROPERTIES,
        },
    }


def _settings(folder: Path, emu: HubSpotEmulator, demo: dict[str, pl.DataFrame]) -> Settings:
    hs = {
        "base_url": emu.url,
        "campaigns": True,
        "http_timeout_seconds": 2.0,
        "retries": 2,
        "rate_limit_retries": 3,
        "backoff_seconds": 0.01,
        "max_pages": 50,
        **_mapping(demo),
    }
    return Settings(data_dir=folder / "data", sources={"hubspot": hs})


@pytest.fixture
def settings(tmp_path: Path, emu: HubSpotEmulator, demo: dict[str, pl.DataFrame]) -> Settings:
    return _settings(tmp_path, emu, demo)


def _refresh(settings: Settings, **options) -> object:
    return refresh(settings, "hubspot", environ=ENV, **options)


def _sorted(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    frame = conform(name, frame)
    return frame.sort(pl.all().cast(pl.String), nulls_last=True)


def _assert_same(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        assert_frame_equal(_sorted(name, got[name]), _sorted(name, want[name]), check_dtypes=True)


# --- full refresh -----------------------------------------------------------------------


def test_full_refresh_reproduces_the_demo_org(settings: Settings, demo, emu) -> None:
    progress: list[tuple[str, float]] = []
    result = refresh(
        settings, "hubspot", environ=ENV, progress=lambda msg, f: progress.append((msg, f))
    )
    got = Store(settings.data_dir).current().read_all()
    _assert_same(got, expected_canonical(demo))
    # two pipelines, kept apart as segments; stages shared by name
    assert sorted(got["opportunities"]["segment"].unique()) == ["Enterprise", "Mid-Market"]
    detail = result.snapshot.manifest["detail"]
    assert detail["mode"] == "full"
    # 138 deals and 622 contacts: listed 100 a page, histories read 50 a batch
    paths = [p for _, p in emu.log]
    assert sum(p.startswith("/crm/v3/objects/deals?") for p in paths) == 2
    assert sum(p == "/crm/v3/objects/contacts/batch/read" for p in paths) == 13
    assert all(0 <= f <= 1 for _, f in progress)
    assert TOKEN not in "".join(m for m, _ in progress)


# --- faults: a clear error, the previous snapshot current, the token never shown -------------

WRONG = "pat-na1-wrong-0000-token"


def _fails(settings: Settings, match: str, caplog: pytest.LogCaptureFixture, **env) -> str:
    before = Store(settings.data_dir).current_id()
    with caplog.at_level(logging.DEBUG), pytest.raises(RefreshError, match=match) as info:
        refresh(settings, "hubspot", environ={**ENV, **env})
    assert isinstance(info.value, HubSpotError)
    assert Store(settings.data_dir).current_id() == before  # the last snapshot stays current
    text = str(info.value) + "".join(r.getMessage() for r in caplog.records)
    for secret in (TOKEN, WRONG):
        assert secret not in text
    return str(info.value)


def test_bad_token(settings: Settings, caplog) -> None:
    _refresh(settings)
    _fails(settings, "owners: bad token: HubSpot refused HUBSPOT_TOKEN \\(401", caplog,
           HUBSPOT_TOKEN=WRONG)  # fmt: skip


def test_missing_token(settings: Settings) -> None:
    with pytest.raises(HubSpotError, match="HubSpot token missing: set HUBSPOT_TOKEN"):
        refresh(settings, "hubspot", environ={"OTHER": "1"})


def test_missing_scope_is_named(settings: Settings, portal: Portal, caplog) -> None:
    _refresh(settings)
    portal.granted.discard("crm.objects.contacts.read")
    message = _fails(settings, "contacts \\(changed\\): missing scope: the private app needs "
                     "crm.objects.contacts.read \\(403 MISSING_SCOPES\\)", caplog)  # fmt: skip
    assert "README" in message


def test_rate_limit_waits_and_retries(settings: Settings, emu: HubSpotEmulator) -> None:
    # two 429s on the deal list: the pull waits Retry-After (0 s here) twice and goes on
    emu.faults.rules.append(Rule("/crm/v3/objects/deals?", 429, times=2))
    result = _refresh(settings)
    assert result.snapshot.manifest["detail"]["rate_limited"] == 2
    assert result.snapshot.manifest["tables"]["opportunities"]["rows"] == 138


def test_a_429_storm_gives_up(settings: Settings, emu: HubSpotEmulator, caplog) -> None:
    _refresh(settings)
    emu.faults.rules.append(Rule("/crm/v3/objects/contacts", 429, times=100))
    # rate_limit_retries = 3: the fourth 429 in a row ends the pull
    limited = "rate limited by HubSpot \\(429, TEN_SECONDLY_ROLLING\\) 4 times"
    _fails(settings, f"contacts \\(changed\\): {limited}", caplog)


def test_daily_limit_stops_at_once(settings: Settings, emu: HubSpotEmulator, caplog) -> None:
    _refresh(settings)
    emu.faults.rules.append(Rule("/crm/v3/owners", 429, times=100, policy="DAILY"))
    calls = len(emu.log)
    _fails(settings, "owners: HubSpot's daily API limit for this app is used up", caplog)
    assert len(emu.log) == calls + 1  # not retried: waiting seconds does not help


def test_server_errors_are_retried(settings: Settings, emu: HubSpotEmulator) -> None:
    emu.faults.rules.append(Rule("/crm/v3/objects/deals/batch/read", 503, times=2))
    assert _refresh(settings).snapshot.manifest["tables"]["stage_history"]["rows"] == 627


def test_server_errors_give_up(settings: Settings, emu: HubSpotEmulator, caplog) -> None:
    _refresh(settings)
    emu.faults.rules.append(Rule("/crm/v3/pipelines/deals", 502, times=100))
    _fails(settings, "deal pipelines: HubSpot answered HTTP 502 \\(gave up after 3 attempts\\)",
           caplog)  # fmt: skip


def test_a_connection_dropped_mid_page_is_retried(settings, demo, emu: HubSpotEmulator) -> None:
    # the second page of contacts is cut off half-way; asked again, it comes whole
    emu.faults.rules.append(Rule("/crm/v3/objects/contacts?", 0, also="after=100"))
    got = _refresh(settings).snapshot.read_all()
    _assert_same(got, expected_canonical(demo))
    asked = [p for _, p in emu.log if p.startswith("/crm/v3/objects/contacts?")]
    assert sum("after=100" in p for p in asked) == 2


def test_dropped_connections_give_up(settings: Settings, emu: HubSpotEmulator, caplog) -> None:
    _refresh(settings)
    emu.faults.rules.append(Rule("/crm/v3/objects/deals?", 0, times=100))
    dropped = "connection to HubSpot failed or was dropped .*gave up after 3"
    _fails(settings, f"deals \\(archived\\): {dropped}", caplog)


def test_a_cursor_that_never_ends_is_stopped(settings: Settings, emu, caplog) -> None:
    _refresh(settings)
    emu.faults.rules.append(Rule("/crm/v3/objects/deals?", -1, times=10_000))
    endless = "the page cursor did not end after 50 pages of 100; stopped"
    _fails(settings, f"deals \\(archived\\): {endless}", caplog)
    archived = [p for _, p in emu.log if "/crm/v3/objects/deals?" in p and "archived=true" in p]
    assert len(archived) == 50


def test_config_errors_are_plain(tmp_path: Path) -> None:
    bad = Settings(data_dir=tmp_path, sources={"hubspot": {"fields": {"mql_at": "x; DROP"}}})
    with pytest.raises(HubSpotError, match="not a HubSpot property name"):
        HubSpotConfig.from_settings(bad)
    wrong = Settings(data_dir=tmp_path, sources={"hubspot": {"functions": {"SDR": "sdrs"}}})
    with pytest.raises(HubSpotError, match="functions must be one of"):
        HubSpotConfig.from_settings(wrong)
    typo = Settings(data_dir=tmp_path, sources={"hubspot": {"page_sise": 10}})
    with pytest.raises(HubSpotError, match="page_sise"):
        HubSpotConfig.from_settings(typo)


# --- incremental ------------------------------------------------------------------------


def _stage(portal: Portal, pipeline: str, name: str) -> str:
    stages = next(p for p in portal.pipelines if p["id"] == pipeline)["stages"]
    return next(s["id"] for s in stages if s["label"] == name)


def _change_portal(portal: Portal) -> dict[str, str]:
    """A day in the portal: an open deal moves on, a won deal that a lead converted into
    is deleted, a contact is deleted, one is worked, and a new contact converts into a
    new deal."""
    deals, contacts = portal.objects["deals"], portal.objects["contacts"]
    open_deal = next(
        d for d in deals.values() if d.properties["dealstage"] in ("discovery", "1000002")
    )
    pipeline = open_deal.properties["pipeline"]
    portal.set("deals", open_deal.id, dealstage=_stage(portal, pipeline, "Negotiation"),
               amount="77000", hs_manual_forecast_category="COMMIT")  # fmt: skip
    converted = {d for ds in portal.associations.values() for d in ds}
    won = next(d for d in deals.values() if d.id in converted and d.properties["dealstage"] ==
               "closedwon")  # fmt: skip
    portal.archive("deals", won.id)
    gone = sorted(contacts, key=int)[3]
    portal.archive("contacts", gone)
    worked = sorted(contacts, key=int)[10]
    portal.set("contacts", worked, hs_lead_status="DISQUALIFIED",
               disqualified_date=portal.now.strftime("%Y-%m-%dT%H:%M:%S.000Z"))  # fmt: skip
    owner = portal.owners[5]["id"]
    portal.create("contacts", "99999", hubspot_owner_id=owner, hs_lead_status="WORKING",
                  lead_source="Webinar", lifecyclestage="lead")  # fmt: skip
    portal.create("deals", "9199999999", dealname='Zoë, "new"', hubspot_owner_id=owner,
                  pipeline="default", dealstage="qualification", amount="1234.5",
                  closedate="2026-12-31T00:00:00.000Z",
                  hs_manual_forecast_category="PIPELINE")  # fmt: skip
    when = portal.now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    portal.set("contacts", "99999", hs_lifecyclestage_opportunity_date=when,
               lifecyclestage="opportunity")  # fmt: skip
    portal.associations["99999"] = ["9199999999"]
    return {"moved": open_deal.id, "won": won.id, "gone": gone, "worked": worked}


def test_incremental_equals_full(settings: Settings, portal: Portal, emu) -> None:
    before = _refresh(settings).snapshot
    first = before.read_all()
    changed = _change_portal(portal)
    incremental = _refresh(settings)
    detail = incremental.snapshot.manifest["detail"]
    assert detail["mode"] == "incremental"
    # only what changed (and the 5-minute look-back) was read again
    assert detail["records"]["deals"] < 5 and detail["records"]["contacts"] < 10
    full = _refresh(settings, full=True)
    assert full.snapshot.manifest["detail"]["mode"] == "full"
    inc = incremental.snapshot.read_all()
    _assert_same(inc, full.snapshot.read_all())
    opps = inc["opportunities"]
    assert opps.height == first["opportunities"].height  # one deleted, one new
    assert changed["won"] not in opps["opp_id"].to_list()
    moved = opps.filter(opp_id=changed["moved"]).row(0, named=True)
    assert (moved["stage"], moved["amount"]) == ("Negotiation", 77_000.0)
    assert inc["stage_history"].filter(opp_id=changed["moved"])["stage"][-1] == "Negotiation"
    leads = inc["leads"]
    assert changed["gone"] not in leads["lead_id"].to_list()
    assert leads.filter(lead_id="99999")["converted_opp_id"].to_list() == ["9199999999"]
    worked = inc["lead_history"].filter(lead_id=changed["worked"])
    assert worked["status"][-1] == "Disqualified"
    assert not inc["leads"]["converted_opp_id"].is_in([changed["won"]]).any()
    # the next incremental pull starts from the latest change seen
    assert detail["watermarks"]["deals"] > before.manifest["detail"]["watermarks"]["deals"]


def test_periodic_full_refresh(settings: Settings) -> None:
    _refresh(settings)
    hs = {**settings.sources["hubspot"], "full_refresh_days": 0}
    again = _refresh(replace(settings, sources={"hubspot": hs}))
    assert again.snapshot.manifest["detail"]["mode"] == "full"


def test_more_changes_than_search_returns_pulls_in_full(settings: Settings, portal, emu) -> None:
    _refresh(settings)
    for deal in list(portal.objects["deals"])[:30]:
        portal.set("deals", deal, amount="1000")
    hs = {**settings.sources["hubspot"], "search_limit": 20}  # HubSpot's is 10,000
    again = _refresh(replace(settings, sources={"hubspot": hs}))
    assert again.snapshot.manifest["detail"]["mode"] == "full"
    amounts = again.snapshot.read_all()["opportunities"]["amount"]
    assert (amounts == 1000.0).sum() >= 30


def test_command_line(settings: Settings, emu, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from ops import cli as cli

    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    assert cli.main(["refresh", "--source", "hubspot"]) == 0  # the first one is full
    assert cli.main(["refresh", "--source", "hubspot"]) == 0
    assert Store(settings.data_dir).current().manifest["detail"]["mode"] == "incremental"
    assert cli.main(["refresh", "--source", "hubspot", "--full"]) == 0
    assert Store(settings.data_dir).current().manifest["detail"]["mode"] == "full"
    monkeypatch.setenv("HUBSPOT_TOKEN", WRONG)
    assert cli.main(["refresh", "--source", "hubspot"]) != 0
    out = capsys.readouterr()
    assert "bad token" in out.out + out.err
    assert TOKEN not in out.out + out.err and WRONG not in out.out + out.err


# --- mapping on small hand-made records ----------------------------------------------------


def _v(value: str, at: str) -> dict[str, str]:
    return {"value": value, "timestamp": f"2026-03-0{at}T10:00:00.000Z", "sourceType": "CRM_UI"}


PIPELINES = pl.DataFrame(
    {
        "pipeline_id": ["default"] * 3 + ["p2"] * 2,
        "pipeline_label": ["New"] * 3 + ["Renewal"] * 2,
        "pipeline_order": [0, 0, 0, 1, 1],
        "stage_id": ["a", "won", "lost", "r1", "r2"],
        "stage_label": ["Demo", "Closed Won", "Closed Lost", "Renewal Call", "Closed Won"],
        "stage_order": [0, 1, 2, 0, 1],
        "is_closed": ["false", "true", "true", "false", "true"],
        "probability": ["0.2", "1.0", "0.0", "0.5", "1.0"],
        "archived": [False] * 5,
    }
)


def test_stage_history_carries_every_value_at_each_change() -> None:
    # deal 7: created in Demo at 100 closing 03-31 (day 1); amount 150 (day 2); won (day 3)
    results = [
        {
            "id": "7",
            "propertiesWithHistory": {  # newest first, as HubSpot sends them
                "dealstage": [_v("won", "3"), _v("a", "1")],
                "amount": [_v("150", "2"), _v("100", "1")],
                "closedate": [_v("2026-03-31T00:00:00.000Z", "1")],
                "hs_manual_forecast_category": [_v("CLOSED", "3"), _v("PIPELINE", "1")],
            },
        }
    ]
    cfg = m.MappingConfig()
    table = m.stage_table(PIPELINES, cfg)
    got = m.stage_history(m.history(results, m.deal_history_properties(cfg)),
                          pl.Series(["7"]), table, cfg)  # fmt: skip
    assert got.select("stage", "amount", "forecast_category").rows() == [
        ("Demo", 100.0, "pipeline"),
        ("Demo", 150.0, "pipeline"),
        ("Closed Won", 150.0, "closed"),
    ]
    assert got["close_date"].to_list() == [date(2026, 3, 31)] * 3
    assert got["entered_at"].dt.day().to_list() == [1, 2, 3]


def test_stages_across_pipelines() -> None:
    # Demo 1, Closed Won 2, Closed Lost 3 (New pipeline first), then Renewal Call 4; the
    # Renewal pipeline's "Closed Won" is the same stage (closed, probability 1 = won)
    cfg = m.MappingConfig()
    got = m.stages(m.stage_table(PIPELINES, cfg), cfg, pl.Series(["Demo"]))
    assert got.sort("position").select("stage", "position", "is_closed", "is_won").rows() == [
        ("Demo", 1, False, False),
        ("Closed Won", 2, True, True),
        ("Closed Lost", 3, True, False),
        ("Renewal Call", 4, False, False),
    ]
    # "Renewal Call" archived: gone unless a deal names it; a stage id no pipeline lists
    # ("x9", a deleted stage) comes last, open
    archived = PIPELINES.with_columns(archived=pl.col("stage_id") == "r1")
    table = m.stage_table(archived, cfg)
    assert "Renewal Call" not in m.stages(table, cfg, pl.Series(["Demo"]))["stage"].to_list()
    kept = m.stages(table, cfg, pl.Series(["Renewal Call", "(deleted stage x9)"]))
    assert kept.sort("position")["stage"].to_list()[-2:] == [
        "Renewal Call",
        "(deleted stage x9)",
    ]
    assert kept.filter(stage="(deleted stage x9)")["is_closed"].to_list() == [False]


def test_a_stage_name_meaning_two_things_is_refused(settings, portal: Portal, emu) -> None:
    # "Closed Won" of the Enterprise pipeline made an open stage: one name, two meanings
    enterprise = next(p for p in portal.pipelines if p["id"] != "default")
    won = next(s for s in enterprise["stages"] if s["label"] == "Closed Won")
    won["metadata"] = {"isClosed": "false", "probability": "0.9"}
    with pytest.raises(HubSpotError, match=r"the stage name 'Closed Won' is open in one "
                       r"pipeline and closed or won in another .*stage_names"):  # fmt: skip
        _refresh(settings)
    hs = {**settings.sources["hubspot"], "stage_names": {won["id"]: "Verbal Win"}}
    renamed = _refresh(replace(settings, sources={"hubspot": hs})).snapshot.read_all()
    assert "Verbal Win" in renamed["stages"]["stage"].to_list()


@settings_(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_order_of_results_changes_nothing(demo, seed: int) -> None:
    # deals, contacts (and their histories, newest first) and associations in any order
    # give the same frames
    import random

    portal = portal_from_canonical(demo, now=as_of_midnight(AS_OF + timedelta(days=1)))
    cfg = m.MappingConfig(**{k: v for k, v in _mapping(demo)["fields"].items()
                             if k != "campaign_channel"})  # fmt: skip
    table = m.stage_table(_pipelines_of(portal), cfg)
    props, hist = m.deal_properties(cfg), m.deal_history_properties(cfg)
    c_props, c_hist = m.contact_properties(cfg), m.contact_history_properties(cfg)
    deal_rows = [r.api(props, hist) for r in portal.objects["deals"].values()]
    contact_rows = [r.api(c_props, c_hist) for r in portal.objects["contacts"].values()]
    links = pl.DataFrame(
        [(c, d) for c, ds in portal.associations.items() for d in ds],
        schema={"contact_id": pl.String, "deal_id": pl.String},
        orient="row",
    )

    def canonical(deals_: list[dict], contacts: list[dict], pairs: pl.DataFrame) -> list:
        deals = m.records(deals_, props)
        opps = m.opportunities(deals, table, cfg)
        leads = m.leads(m.records(contacts, c_props), pairs, opps, cfg)
        return [
            opps,
            m.stage_history(m.history(deals_, hist), deals["id"], table, cfg),
            leads,
            m.lead_history(m.history(contacts, c_hist), leads, cfg),
        ]

    rng = random.Random(seed)
    shuffled = canonical(
        rng.sample(deal_rows, len(deal_rows)),
        rng.sample(contact_rows, len(contact_rows)),
        links.sample(fraction=1.0, shuffle=True, seed=seed),
    )
    for want, got in zip(canonical(deal_rows, contact_rows, links), shuffled, strict=True):
        assert want.height > 0
        assert_frame_equal(got, want)


def _pipelines_of(portal: Portal) -> pl.DataFrame:
    """The portal's pipelines as the connector reads them (through its own parser)."""
    from connectors.hubspot import pipelines

    class _Answer:
        def call(self, *args, **kwargs):
            return {"results": portal.pipelines}

    return pipelines(_Answer())  # type: ignore[arg-type]


def test_the_readme_example_loads(tmp_path: Path) -> None:
    import re
    import tomllib

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(
        b for b in re.findall(r"```toml\n(.*?)```", readme, flags=re.S) if "[sources.hubspot]" in b
    )
    hs = tomllib.loads(block)["sources"]["hubspot"]
    cfg = HubSpotConfig.from_settings(Settings(data_dir=tmp_path, sources={"hubspot": hs}))
    assert cfg.mapping.sal_at == "sales_accepted_date"
    assert cfg.mapping.stage_names == {"appointmentscheduled": "Appointment"}
    assert cfg.mapping.queues == ("leads-queue@acme.com",)


def test_quotas_from_goal_targets() -> None:
    # team A: two reps' Q3 targets 100 + 50 = 150 (summed: the team's quota); team B: a team
    # target of 200 starting 2026-10-01 (Q4); "Calls made" is a goal, not a quota
    def goal(name: str, amount: str, start: str, owner=None, team=None) -> dict:
        props = {
            "hs_goal_name": name,
            "hs_target_amount": amount,
            "hubspot_owner_id": owner,
            "hs_start_datetime": f"{start}T00:00:00.000Z",
            "hs_assignee_team_id": team,
        }
        return {"id": f"{name}{amount}{start}", "properties": props}

    goals = m.records(
        [
            goal("Revenue", "100", "2026-07-01", owner="1"),
            goal("Revenue", "50.5", "2026-08-01", owner="2"),
            goal("Revenue", "200", "2026-10-01", team="t2"),
            goal("Calls made", "900", "2026-07-01", owner="1"),
        ],
        m.GOAL_PROPERTIES,
    )
    users = pl.DataFrame({"user_id": ["1", "2"], "team": ["A", "A"]})
    teams = pl.DataFrame({"team_id": ["t2"], "team_name": ["B"]})
    cfg = m.MappingConfig(quota_goals=("Revenue",))
    got = m.quotas(goals, teams, users, cfg, fiscal_start_month=1)
    assert got.rows() == [("2026-Q3", "A", None, 150.5), ("2026-Q4", "B", None, 200.0)]
    per_rep = m.quotas(goals, teams, users, replace(cfg, quotas="owner"), fiscal_start_month=1)
    assert per_rep.filter(team="A").select("owner_id", "amount").rows() == [
        ("1", 100.0),
        ("2", 50.5),
    ]
    # a fiscal year starting in February: July is in fiscal Q2 (May-Jul), August and October
    # in Q3 (Aug-Oct)
    fiscal = m.quotas(goals, teams, users, cfg, fiscal_start_month=2)
    assert fiscal.select("period", "team", "amount").rows() == [
        ("2026-Q2", "A", 100.0),
        ("2026-Q3", "A", 50.5),
        ("2026-Q3", "B", 200.0),
    ]


def test_goals_without_their_scope(settings: Settings, portal: Portal, caplog) -> None:
    _refresh(settings)
    portal.granted.discard("crm.objects.goals.read")
    _fails(settings, "goal_targets: missing scope: the private app needs crm.objects.goals.read"
           ".*remove quota_goals under \\[sources.hubspot\\]", caplog)  # fmt: skip
    hs = {**settings.sources["hubspot"], "quota_goals": []}
    skipped = _refresh(replace(settings, sources={"hubspot": hs}))
    assert "quotas" in skipped.snapshot.manifest["missing_tables"]


def test_paces_itself_under_the_10_second_limit(settings, demo, emu: HubSpotEmulator) -> None:
    # 25 calls a second (the pull makes 56: 30 for the CRM, 26 for the 25 campaigns): it
    # sits out the window when its last call is used (X-HubSpot-RateLimit-Remaining: 0)
    # instead of running into 429s
    emu.burst_max, emu.window_ms = 25, 1000
    result = _refresh(settings)
    detail = result.snapshot.manifest["detail"]
    assert detail["calls"] == 56
    assert detail["paused"] >= 1 and detail["rate_limited"] == 0
    _assert_same(result.snapshot.read_all(), expected_canonical(demo))


def test_the_daily_limit_running_low_is_said_once(settings, emu: HubSpotEmulator, caplog) -> None:
    emu.daily_remaining = 900
    with caplog.at_level(logging.WARNING):
        _refresh(settings)
    warned = [r for r in caplog.records if "daily limit are left" in r.getMessage()]
    assert len(warned) == 1


def test_a_slow_server_times_out(settings: Settings, emu: HubSpotEmulator, caplog) -> None:
    _refresh(settings)
    emu.slow_seconds = 0.6
    emu.faults.rules.append(Rule("/crm/v3/pipelines/deals", -2, times=3))
    hs = {**settings.sources["hubspot"], "http_timeout_seconds": 0.3}
    quick = replace(settings, sources={"hubspot": hs})
    before = Store(settings.data_dir).current_id()
    with pytest.raises(HubSpotError, match="deal pipelines: timeout: HubSpot did not answer "
                       r"within 0.3 s \(gave up after 3 attempts\)"):  # fmt: skip
        refresh(quick, "hubspot", environ=ENV)
    assert Store(settings.data_dir).current_id() == before


def test_campaigns_without_their_scope(settings: Settings, portal: Portal, caplog) -> None:
    _refresh(settings)
    portal.granted.discard("marketing.campaigns.read")
    _fails(settings, "campaigns: missing scope: the private app needs marketing.campaigns.read"
           ".*set campaigns = false under \\[sources.hubspot\\]", caplog)  # fmt: skip
    hs = {**settings.sources["hubspot"], "campaigns": False}
    skipped = _refresh(replace(settings, sources={"hubspot": hs}))
    missing = skipped.snapshot.manifest["missing_tables"]
    assert "campaigns" in missing and "campaign_members" in missing


def test_campaign_members_are_the_chosen_reports(settings: Settings, demo, emu) -> None:
    # every demo membership is an "influenced contact"; with that report the members are
    # all of them (436), once each, and still without a response time
    hs = {**settings.sources["hubspot"], "campaign_contacts": ["influencedContacts"]}
    got = _refresh(replace(settings, sources={"hubspot": hs})).snapshot.read_all()
    members = got["campaign_members"]
    assert members.height == demo["campaign_members"].height == 436
    assert members["responded_at"].null_count() == members.height
    bad = Settings(data_dir=settings.data_dir, sources={"hubspot": {"campaign_contacts": ["x"]}})
    with pytest.raises(HubSpotError, match="campaign_contacts must be among"):
        HubSpotConfig.from_settings(bad)


def test_changed_pipelines_pull_in_full(settings: Settings, portal: Portal) -> None:
    # "Negotiation" renamed "Negotiating" in both pipelines: stored history rows name a stage
    # that is gone, so the next refresh is full and every row has the new name
    _refresh(settings)
    assert _refresh(settings).snapshot.manifest["detail"]["mode"] == "incremental"
    for pipeline in portal.pipelines:
        for stage in pipeline["stages"]:
            if stage["label"] == "Negotiation":
                stage["label"] = "Negotiating"
    again = _refresh(settings)  # same settings: only the portal changed
    assert again.snapshot.manifest["detail"]["mode"] == "full"
    history = again.snapshot.read_all()["stage_history"]["stage"]
    assert "Negotiating" in history.to_list() and "Negotiation" not in history.to_list()


def test_deals_in_deleted_and_archived_stages(settings: Settings, portal: Portal) -> None:
    # Enterprise's "Contracting" stage is deleted (no pipeline lists it) and Mid-Market's is
    # archived: their deals and history rows still load, under "(deleted stage 1000005)"
    # and "Contracting"
    enterprise = next(p for p in portal.pipelines if p["id"] != "default")
    enterprise["stages"] = [s for s in enterprise["stages"] if s["label"] != "Contracting"]
    default = next(p for p in portal.pipelines if p["id"] == "default")
    next(s for s in default["stages"] if s["label"] == "Contracting")["archived"] = True
    got = _refresh(settings).snapshot.read_all()
    stages = got["stages"].sort("position")
    assert stages["stage"].to_list()[-1] == "(deleted stage 1000005)"
    assert "Contracting" in stages["stage"].to_list()
    history = got["stage_history"]["stage"].to_list()
    assert "(deleted stage 1000005)" in history and "Contracting" in history


def test_a_contact_with_many_deals(settings: Settings, portal: Portal, emu) -> None:
    # a converted contact is also associated with two later deals; answers hold two deals
    # per contact, so the deal it converted into (its first) comes on a second page
    contact, deals = next((c, d) for c, d in portal.associations.items() if d)
    first = deals[0]
    later = sorted(
        (d for d in portal.objects["deals"].values()
         if d.properties["createdate"] > portal.objects["deals"][first].properties["createdate"]),
        key=lambda d: d.properties["createdate"],
    )[:2]  # fmt: skip
    portal.associations[contact] = [later[1].id, later[0].id, first]
    emu.association_page = 2
    got = _refresh(settings).snapshot.read_all()["leads"].filter(lead_id=contact)
    assert got["converted_opp_id"].to_list() == [first]
    asked = [p for _, p in emu.log if p.endswith("/contacts/deals/batch/read")]
    assert len(asked) == 2


def test_timestamps_in_every_shape_hubspot_writes() -> None:
    texts = ["2026-07-01T09:28:50.898Z", "2026-07-01T09:28:50Z", "2026-07-01",
             "1782898130898", "", None]  # fmt: skip
    got = pl.DataFrame({"t": texts}).select(m.stamp("t"))["t"].to_list()
    utc = datetime(2026, 7, 1, 9, 28, 50, tzinfo=UTC)
    assert got == [
        utc + timedelta(milliseconds=898),
        utc,
        datetime(2026, 7, 1, tzinfo=UTC),
        utc + timedelta(milliseconds=898),  # 1782898130898 ms after 1970 = the same instant
        None,
        None,
    ]


def test_unreadable_values_are_named(settings: Settings, portal: Portal, caplog) -> None:
    _refresh(settings)
    deal = next(iter(portal.objects["deals"]))
    portal.set("deals", deal, amount="12k", closedate="next Tuesday")
    message = _fails(settings, "deals: values HubSpot sent could not be read", caplog)
    assert f"closedate in 1 record(s), e.g. id {deal}: 'next Tuesday'" in message
    assert f"amount in 1 record(s), e.g. id {deal}: '12k'" in message


def test_a_deal_linked_to_an_unchanged_contact(settings: Settings, portal: Portal) -> None:
    # a converted contact had lost its deal; a new deal is linked to it, which does not
    # change the contact: the incremental pull finds it through the deal's associations
    contact = next(c for c, d in portal.associations.items() if d)
    portal.associations[contact] = []
    first = _refresh(settings).snapshot.read_all()["leads"].filter(lead_id=contact)
    assert first["converted_opp_id"].to_list() == [None]
    portal.create("deals", "9188888888", dealname="Follow-on", pipeline="default",
                  dealstage="qualification", amount="500",
                  hubspot_owner_id=portal.owners[5]["id"])  # fmt: skip
    portal.associations[contact] = ["9188888888"]
    incremental = _refresh(settings)
    assert incremental.snapshot.manifest["detail"]["mode"] == "incremental"
    leads = incremental.snapshot.read_all()["leads"]
    assert leads.filter(lead_id=contact)["converted_opp_id"].to_list() == ["9188888888"]
    _assert_same(incremental.snapshot.read_all(), _refresh(settings, full=True).snapshot.read_all())


def test_a_portal_id_for_record_links_is_a_valid_setting(tmp_path: Path) -> None:
    # The deal page links to HubSpot records with [sources.hubspot] portal_id; the pull's own
    # settings must accept it beside theirs (an unknown key is refused with its name).
    settings = Settings(data_dir=tmp_path, sources={"hubspot": {"portal_id": 12345678}})
    assert HubSpotConfig.from_settings(settings).portal_id == 12345678
    typo = Settings(data_dir=tmp_path, sources={"hubspot": {"portal": 12345678}})
    with pytest.raises(HubSpotError, match="portal"):
        HubSpotConfig.from_settings(typo)
