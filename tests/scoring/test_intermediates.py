"""Intermediates kept with a snapshot: exported after a scorecard, seeded into new bundles,
inherited by team-filtered bundles; with them, every result is the same as without."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from model.calendar import period_of
from model.tables import Tables, opportunities_with_team
from scoring import funnel, intermediates
from scoring.history import ORDERED_HISTORY, _ordered_history
from scoring.intermediates import CODE_VERSION
from scoring.scorecard import compute, filter_teams
from scoring.stages import stage_spells, stage_trust_flags

AS_OF = date(2026, 11, 16)


@pytest.fixture(scope="module")
def demo_frames() -> dict[str, pl.DataFrame]:
    return generate_demo_org(as_of=AS_OF, scale=0.3)


def _card(tables: Tables, teams: tuple[str, ...] = ()) -> dict:
    return compute(tables, as_of=AS_OF, period=period_of(AS_OF), teams=teams).to_dict()


def _meta(kind: str, version: str = CODE_VERSION) -> dict:
    return {"kind": kind, "as_of": AS_OF.isoformat(), "timezone": "UTC", "code_version": version}


def test_export_holds_what_the_scorecard_derived_and_seeding_changes_no_result(demo_frames):
    tables = Tables.from_frames(demo_frames)
    expected = _card(tables)
    items = intermediates.export(tables, as_of=AS_OF, timezone="UTC")
    kinds = sorted(m["kind"] for m, _ in items)
    assert kinds == sorted([*intermediates.KINDS, intermediates.STATES, ORDERED_HISTORY])
    for meta, _ in items:
        if meta["kind"] == ORDERED_HISTORY:  # independent of the as-of date
            assert meta == {"kind": ORDERED_HISTORY, "code_version": CODE_VERSION}
        elif meta["kind"] == intermediates.STATES:  # the deal states at the end of the as-of day
            assert meta == {"kind": "opp_state_at", "at": "2026-11-16T23:59:59.999999+00:00",
                            "code_version": CODE_VERSION}  # fmt: skip
        elif meta["kind"] == "lead_history_sorted":  # nothing in the demo is after its as-of
            assert meta == {**_meta("lead_history_sorted"), "whole_table": True}
        else:
            timezone = None if meta["kind"] == "quality_checks" else "UTC"
            assert meta == {**_meta(meta["kind"]), "timezone": timezone}
    # only what belongs to the as-of date is kept (and the as-of independent ordered history)
    other_day = intermediates.export(tables, as_of=date(2026, 10, 1), timezone="UTC")
    assert [m["kind"] for m, _ in other_day] == [ORDERED_HISTORY]
    seeded = intermediates.bundle(demo_frames, items)
    assert _card(seeded) == expected
    # the stored ordered history stands in for the stage history: same rows, in order
    ordered = next(f for m, f in items if m["kind"] == ORDERED_HISTORY)
    assert_frame_equal(seeded.stage_history.collect(), ordered)
    assert_frame_equal(
        ordered.sort(pl.all()), demo_frames["stage_history"].select(ordered.columns).sort(pl.all())
    )
    # so does the ordered lead history for the lead history (same rows, owners carried on)
    leads = next(f for m, f in items if m["kind"] == "lead_history_sorted")
    assert_frame_equal(seeded.lead_history.collect(), leads)
    assert leads.height == demo_frames["lead_history"].height


def test_lead_history_with_rows_after_the_as_of_day_is_kept_as_it_is(demo_frames):
    late = (
        demo_frames["lead_history"]
        .head(1)
        .with_columns(entered_at=pl.lit(datetime(2026, 12, 1, tzinfo=UTC)))
    )
    frames = {**demo_frames, "lead_history": pl.concat([demo_frames["lead_history"], late])}
    tables = Tables.from_frames(frames)
    expected = _card(tables)
    items = intermediates.export(tables, as_of=AS_OF, timezone="UTC")
    [meta] = [m for m, _ in items if m["kind"] == "lead_history_sorted"]
    assert meta["whole_table"] is False
    seeded = intermediates.bundle(frames, items)
    assert seeded.lead_history.collect().height == frames["lead_history"].height
    assert _card(seeded) == expected


def test_a_seeded_intermediate_is_used_instead_of_derived(demo_frames):
    marked = stage_spells(Tables.from_frames(demo_frames), as_of=AS_OF).head(3)
    tables = intermediates.bundle(demo_frames, [(_meta("stage_spells"), marked)])
    assert_frame_equal(stage_spells(tables, as_of=AS_OF), marked)
    # another as-of date is not seeded: derived from the tables
    assert stage_spells(tables, as_of=date(2026, 10, 1)).height > 3


def test_intermediates_of_other_code_are_ignored(demo_frames):
    marked = stage_spells(Tables.from_frames(demo_frames), as_of=AS_OF).head(3)
    tables = Tables.from_frames(demo_frames)
    assert intermediates.seed(tables, [(_meta("stage_spells", "older"), marked)]) == 0
    assert intermediates.seed(tables, [({**_meta("x"), "kind": "unknown"}, marked)]) == 0
    assert stage_spells(tables, as_of=AS_OF).height > 3


def test_team_filtered_bundle_inherits_exactly_what_it_would_derive(demo_frames):
    parent = Tables.from_frames(demo_frames)
    _card(parent)  # derives spells, funnel steps and the ordered lead history
    team = opportunities_with_team(parent).select("team").unique().sort("team").collect()[0, 0]
    child = filter_teams(parent, [team])
    assert set(child.derivations("stage_spells")) == {("stage_spells", AS_OF, "UTC")}
    assert child.derivations("lead_history_sorted")
    assert child.derivations("trust_per_deal") and child.derivations("opp_state_at")
    assert child.derivations(ORDERED_HISTORY)
    # the company's funnel steps of the team's leads (they read other teams' deals too)
    assert set(child.derivations("funnel_steps")) == {("funnel_steps", AS_OF, "UTC")}
    assert not child.derivations("quality_checks")  # counts every team's records
    direct = filter_teams(Tables.from_frames(demo_frames), [team])
    assert not direct.derivations("stage_spells")
    assert_frame_equal(stage_spells(child, as_of=AS_OF), stage_spells(direct, as_of=AS_OF))
    # the app collects a filtered bundle's frames once; what it inherited goes along
    materialized = child.materialized()
    assert (
        materialized.derivations("stage_spells").keys() == child.derivations("stage_spells").keys()
    )
    assert_frame_equal(materialized.opportunities.collect(), child.opportunities.collect())
    assert_frame_equal(
        stage_trust_flags(child, as_of=AS_OF), stage_trust_flags(direct, as_of=AS_OF)
    )
    assert_frame_equal(
        funnel._history(child, AS_OF, "UTC").collect(),
        funnel._history(direct, AS_OF, "UTC").collect(),
    )
    assert_frame_equal(
        funnel.funnel_steps(child, as_of=AS_OF), funnel.funnel_steps(direct, as_of=AS_OF)
    )
    assert_frame_equal(_ordered_history(child).collect(), _ordered_history(direct).collect())
    assert _card(parent, (team,)) == _card(Tables.from_frames(demo_frames), (team,))
