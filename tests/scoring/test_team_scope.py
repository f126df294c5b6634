"""Team scope: a view filtered to some teams shows, for every metric with a team breakdown,
exactly the company view's rows for those teams; baselines (stall thresholds, company
medians and shares) always come from the whole company."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from model.calendar import parse_period
from model.params import ScoringParams, StallParams
from model.tables import Tables, lead_teams
from scoring import forecast, funnel, pipeline, quality, stages
from scoring.scorecard import Scorecard, compute, filter_teams
from tests.conftest import frame, ts

DEMO_AS_OF = date(2026, 11, 16)
PARAMS = ScoringParams()
# Views to draw from: (as-of, period) with the period started by the as-of date.
VIEWS = [
    (DEMO_AS_OF, "2026-Q4"),
    (DEMO_AS_OF, "2026-Q3"),
    (DEMO_AS_OF, "2026-Q1"),
    (date(2026, 8, 20), "2026-Q3"),
    (date(2026, 8, 20), "2026-Q2"),
]
# Every sales team, and teams that own leads but no deals.
TEAMS = ["APAC", "EMEA", "NA Enterprise", "NA Mid-Market", "SDR", "Marketing"]


@pytest.fixture(scope="module")
def demo() -> Tables:
    return Tables.from_frames(generate_demo_org(as_of=DEMO_AS_OF, scale=0.3))


def _by_team(tables: Tables, as_of: date, period_name: str) -> dict[str, pl.DataFrame]:
    """Every per-team result of one view, each sorted by its grain."""
    period = parse_period(period_name)
    tz, fp = PARAMS.timezone, PARAMS.funnel
    spells = stages.stage_spells(tables, as_of=as_of, timezone=tz)
    stalled = stages.stalled_deals(tables, as_of=as_of, params=PARAMS.stall)
    company = tables.company
    base = None
    if company is not tables:
        base_spells = stages.stage_spells(company, as_of=as_of, timezone=tz)
        base = (stages.stalled_deals(company, as_of=as_of, params=PARAMS.stall), base_spells)
    history = [parse_period(p) for p in ("2025-Q4", "2026-Q1", "2026-Q2")]
    lead_metrics = {"period": period, "as_of": as_of, "by": ("team",), "timezone": tz}
    card = compute(tables, as_of=as_of, period=period, params=PARAMS)
    return {
        "headline": card.headline,
        "stalled_deals": stalled.sort("opp_id"),
        "stalls_by_team": stages.stalls_by_team(stalled, spells, company=base),
        "handoff_stalls": stages.handoff_stalls_by_team(stalled, spells),
        "win_rate": pipeline.win_rate(tables, period=period),
        "coverage": pipeline.coverage(tables, period=period, as_of=as_of, params=PARAMS.pipeline),
        "velocity": pipeline.velocity(
            tables, period=period, as_of=as_of, params=PARAMS.pipeline, timezone=tz
        ),
        "forecast_accuracy": forecast.forecast_accuracy(
            tables, periods=history, as_of=as_of, params=PARAMS.forecast
        ),
        "conversion": funnel.conversion(tables, **lead_metrics),
        "conversion_period": funnel.conversion_period(tables, **lead_metrics),
        "follow_up_sla": funnel.follow_up_sla(tables, params=fp, **lead_metrics),
        "leakage": funnel.leakage(tables, params=fp, **lead_metrics),
        "bounce_backs": funnel.bounce_backs(tables, params=fp, **lead_metrics),
        "ownership": funnel.ownership_by_team(
            tables, period=period, as_of=as_of, params=fp, timezone=tz
        ),
    }


_COMPANY: dict[tuple, dict[str, pl.DataFrame]] = {}
_CARDS: dict[tuple, Scorecard] = {}


def _company(tables: Tables, as_of: date, period_name: str) -> dict[str, pl.DataFrame]:
    """The company view's results, once per view (the module's demo bundle is one)."""
    key = (id(tables), as_of, period_name)
    if key not in _COMPANY:
        _COMPANY[key] = _by_team(tables, as_of, period_name)
    return _COMPANY[key]


def _company_card(tables: Tables, as_of: date, period_name: str) -> Scorecard:
    key = (id(tables), as_of, period_name)
    if key not in _CARDS:
        _CARDS[key] = compute(tables, as_of=as_of, period=parse_period(period_name), params=PARAMS)
    return _CARDS[key]


def _rows(frame: pl.DataFrame, teams: list[str]) -> pl.DataFrame:
    return frame.filter(pl.col("team").is_in(teams))


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    teams=st.lists(st.sampled_from(TEAMS), min_size=1, max_size=3, unique=True),
    view=st.sampled_from(VIEWS),
    inherited=st.booleans(),
)
def test_a_team_view_equals_the_company_rows_of_its_teams(demo, teams, view, inherited):
    as_of, period_name = view
    company = _company(demo, as_of, period_name)
    # filtered from the bundle that derived the company's intermediates (the view cuts its
    # rows from them), or from a fresh one (the view derives what it needs)
    scoped = filter_teams(demo if inherited else demo.fresh(), teams)
    mine = _by_team(scoped, as_of, period_name)
    for name, whole in company.items():
        expected, got = _rows(whole, teams), _rows(mine[name], teams)
        try:
            assert_frame_equal(got, expected, check_row_order=False, check_dtypes=False)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error
    # Lead metrics hold only the selected teams' rows (a view is its teams' leads).
    assert set(mine["conversion"]["team"]) <= set(teams)
    # One team: the view's totals are that team's row.
    if len(teams) == 1:
        total = funnel.follow_up_sla(
            scoped, period=parse_period(period_name), as_of=as_of, params=PARAMS.funnel, by=()
        )
        row = _rows(company["follow_up_sla"], teams).drop("team")
        if row.is_empty():
            assert total["mqls"].to_list() == [0]
        else:
            assert_frame_equal(total, row)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    teams=st.lists(st.sampled_from(TEAMS[:4]), min_size=1, max_size=2, unique=True),
    view=st.sampled_from(VIEWS),
)
def test_drivers_about_a_team_read_the_same_in_its_own_view(demo, teams, view):
    # A driver about EMEA in the company view is in EMEA's view with the same text and
    # severity, unless three other drivers of that pillar outrank it there.
    as_of, period_name = view
    company = _company_card(demo, as_of, period_name)
    card = compute(demo, as_of=as_of, period=parse_period(period_name), params=PARAMS, teams=teams)
    for pillar in company.pillars:
        own = card.pillar(pillar.id).drivers
        texts = {d.text: d.severity for d in own}
        for driver in (d for d in pillar.drivers if d.subject in teams):
            if driver.text in texts:
                assert texts[driver.text] == pytest.approx(driver.severity)
            else:
                assert len(own) == 3 and min(d.severity for d in own) >= driver.severity
        # nothing about a team outside the view
        assert not {d.subject for d in own} & (set(TEAMS[:4]) - set(teams))


@settings(max_examples=8, deadline=None)
@given(teams=st.lists(st.sampled_from(TEAMS), min_size=1, max_size=3, unique=True))
def test_a_team_view_finds_no_data_quality_problem_the_company_does_not_have(demo, teams):
    # The records a check flags in a team's view are records it flags for the company too:
    # a team's view never compares its records with tables it filtered away.
    scoped = filter_teams(demo, teams)
    for check in quality.CHECKS:
        mine = quality.quality_check_rows(scoped, as_of=DEMO_AS_OF, check_id=check.id)
        whole = quality.quality_check_rows(demo, as_of=DEMO_AS_OF, check_id=check.id)
        key = list(check.key)
        assert mine.select(key).join(whole.select(key), on=key, how="anti").is_empty(), check.id


def test_converted_leads_are_found_among_other_teams_deals(tiny_org):
    # L1 is owned by Bo (SDR) and converted into O1, EMEA's deal. The SDR team's view holds
    # L1 but none of EMEA's deals; the check looks O1 up in the whole company: 0 of 1 fail
    # (it read "1 of 1" when the check compared the filtered leads with filtered deals).
    sdr = filter_teams(Tables.from_frames(tiny_org), ["SDR"])
    assert sdr.opportunities.collect().is_empty()
    checks = quality.quality_checks(sdr, as_of=date(2026, 3, 1))
    row = checks.filter(check_id="lead_converted_without_opp").row(0, named=True)
    assert (row["failing"], row["total"]) == (0, 1)


def test_the_demo_team_view_has_no_company_vs_filtered_artefact(demo):
    # The observed artefact: EMEA's view said "converted leads with no opportunity: 75 %".
    card = compute(demo, as_of=DEMO_AS_OF, period=parse_period("2026-Q4"), teams=["EMEA"])
    drivers = [d.text for p in card.pillars for d in p.drivers]
    assert not [t for t in drivers if "Converted leads" in t]
    checks = quality.quality_checks(filter_teams(demo, ["EMEA"]), as_of=DEMO_AS_OF)
    assert checks.filter(check_id="lead_converted_without_opp")["failing"].to_list() == [0]
    # and EMEA's leads are the ones it owned or received: each converted into an EMEA deal
    emea_leads = lead_teams(filter_teams(demo, ["EMEA"])).collect()
    assert emea_leads.height > 0 and set(emea_leads["team"]) == {"EMEA"}


# ---------------------------------------------------------------- hand fixture: EMEA-style


def _stall_org() -> dict[str, pl.DataFrame]:
    """Two teams; team B's won deals sat much longer in Negotiation than team A's.

    Won deals (Negotiation days): A1 10, A2 20 (team A); B1 60, B2 80 (team B).
    Open deals in Negotiation at the end of 2026-07-15 (= 2026-07-16 00:00):
      B3 since 2026-05-06 → 71 days; A3 since 2026-06-16 → 30 days.
    p75 (linear) of won Negotiation days over 2025-Q3..2026-Q2:
      company [10, 20, 60, 80]: rank 2.25 → 60 + 0.25·20 = 65
      B alone [60, 80]: rank 0.75 → 75;  A alone [10, 20]: rank 0.75 → 17.5
    With the company's 65: B3 (71) is stalled, A3 (30) is not. From B's own deals (75) B3
    would not be; from A's own (17.5) A3 would be.
    """
    users = frame(
        "users",
        [
            {"user_id": "uA", "name": "Ann", "team": "A", "function": "sales"},
            {"user_id": "uB", "name": "Ben", "team": "B", "function": "sales"},
        ],
    )
    names = ("Negotiation", "Closed Won", "Closed Lost")
    stage_rows = [
        {"stage": s, "position": i + 1, "owner_function": "sales", "is_closed": i > 0,
         "is_won": i == 1}
        for i, s in enumerate(names)
    ]  # fmt: skip
    deals = {  # opp: (owner, entered Negotiation, won on or None)
        "A1": ("uA", "2026-01-01", "2026-01-11"),
        "A2": ("uA", "2026-02-01", "2026-02-21"),
        "B1": ("uB", "2026-01-01", "2026-03-02"),
        "B2": ("uB", "2026-02-01", "2026-04-22"),
        "B3": ("uB", "2026-05-06", None),
        "A3": ("uA", "2026-06-16", None),
    }
    opps, history = [], []
    for opp, (owner, entered, won) in deals.items():
        start = ts(f"{entered}T00:00:00")
        opps.append({
            "opp_id": opp, "name": opp, "owner_id": owner, "amount": 100.0,
            "stage": "Closed Won" if won else "Negotiation", "created_at": start,
            "close_date": date.fromisoformat(won or "2026-09-30"), "is_closed": won is not None,
            "is_won": won is not None,
        })  # fmt: skip
        history.append({"opp_id": opp, "stage": "Negotiation", "entered_at": start})
        if won:
            history.append(
                {"opp_id": opp, "stage": "Closed Won", "entered_at": ts(f"{won}T00:00:00")}
            )
    return {
        "users": users,
        "stages": frame("stages", stage_rows),
        "opportunities": frame("opportunities", opps),
        "stage_history": frame("stage_history", history),
    }


STALL = StallParams(min_won_samples=2)
STALL_AS_OF = date(2026, 7, 15)


def _stalled(tables: Tables) -> dict[str, float]:
    rows = stages.stalled_deals(tables, as_of=STALL_AS_OF, params=STALL)
    return dict(zip(rows["opp_id"], rows["threshold_days"], strict=True))


def test_a_team_keeps_the_company_stall_threshold_in_its_own_view():
    frames = _stall_org()
    company = Tables.from_frames(frames)
    assert _stalled(company) == {"B3": 65.0}
    assert _stalled(filter_teams(company, ["B"])) == {"B3": 65.0}
    assert _stalled(filter_teams(company, ["A"])) == {}
    # what B's own deals alone would say (a bundle of B's records with no company behind it)
    b_only = {**frames, "opportunities": frames["opportunities"].filter(pl.col("owner_id") == "uB")}
    b_only["stage_history"] = frames["stage_history"].filter(pl.col("opp_id").str.starts_with("B"))
    assert _stalled(Tables.from_frames(b_only)) == {}
    # the company comparison in B's view: open Negotiation ages [71, 30] → company median
    # 50.5, B's 71 → 71 / 50.5; the company's stalled share 1 of 2.
    b = filter_teams(company, ["B"])
    spells = stages.stage_spells(b, as_of=STALL_AS_OF)
    base = (
        stages.stalled_deals(company, as_of=STALL_AS_OF, params=STALL),
        stages.stage_spells(company, as_of=STALL_AS_OF),
    )
    stalled = stages.stalled_deals(b, as_of=STALL_AS_OF, params=STALL)
    row = stages.stalls_by_team(stalled, spells, company=base).filter(team="B").row(0, named=True)
    assert row["stage"] == "Negotiation" and row["stalled_count"] == 1
    assert row["company_median_age_days"] == pytest.approx(50.5)
    assert row["age_vs_company"] == pytest.approx(71 / 50.5)
    assert row["company_stalled_share"] == pytest.approx(0.5)


def test_emea_sees_its_negotiation_stalls_in_its_own_view():
    # The demo's planted pattern: EMEA's deals sit ~2× as long in Negotiation. Judged by the
    # company's threshold, EMEA's own view names the same stalled deals as the company's.
    tables = Tables.from_frames(generate_demo_org(as_of=DEMO_AS_OF))
    period = parse_period("2026-Q4")
    company = compute(tables, as_of=DEMO_AS_OF, period=period)
    emea = compute(tables, as_of=DEMO_AS_OF, period=period, teams=["EMEA"])
    about = [d for d in company.pillar("handoff_ownership").drivers if d.subject == "EMEA"]
    assert about and "stalled in Negotiation" in about[0].text
    assert about[0].text in [d.text for d in emea.pillar("handoff_ownership").drivers]


@pytest.mark.parametrize("team", ["SDR", "EMEA", "Marketing"])
def test_the_leads_behind_a_team_row_are_the_team_views_leads(demo, team):
    # Drill-downs of a team's row list exactly the records counted in it, and the same
    # records the team's own view lists.
    period, fp = parse_period("2026-Q3"), PARAMS.funnel
    common = {"period": period, "as_of": DEMO_AS_OF, "params": fp}
    scoped = filter_teams(demo, [team])
    sla = funnel.follow_up_sla(demo, by=("team",), **common).filter(team=team)
    leaks = funnel.leakage(demo, by=("team",), **common).filter(team=team)
    bounces = funnel.bounce_backs(demo, by=("team",), **common).filter(team=team)
    cells = {
        "follow_up_sla_leads": (funnel.follow_up_sla_leads, sla["mqls"].sum()),
        "leakage_leads": (funnel.leakage_leads, leaks["leaked"].sum()),
        "bounce_back_leads": (funnel.bounce_back_leads, bounces["leads_with_sales"].sum()),
    }
    for name, (drill, count) in cells.items():
        rows = drill(demo, team=team, **common)
        assert rows.height == count, name
        mine = drill(scoped, **common)["lead_id"]
        assert rows["lead_id"].to_list() == mine.to_list(), name
    assert sla["mqls"].sum() > 0
    conv = funnel.conversion(demo, period=period, as_of=DEMO_AS_OF, by=("team",))
    mql = conv.filter(team=team, from_step="mql")
    leads = funnel.conversion_leads(
        demo, period=period, as_of=DEMO_AS_OF, step="mql", group={"team": team}
    )
    assert leads.height == mql["cohort"].item() and set(leads["team"]) <= {team}
