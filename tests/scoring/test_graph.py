"""The derivation graph (model/graph.py, scoring/intermediates.py): stored with a snapshot,
seeded into the bundles read from it; a team view cuts the company's results, an earlier
as-of day clips a later one — the same frames as deriving them afresh — and neither derives
again what the snapshot stored (issue #16)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from model.graph import BUILT, STORED, Node
from model.params import FunnelParams, ScoringParams, StallParams, digest
from model.tables import Tables
from scoring import intermediates
from scoring.funnel import LEAD_HISTORY, STEPS_NODE
from scoring.history import ORDERED, STATES
from scoring.scorecard import compute, filter_teams
from scoring.stages import CLOSE_DATE_CHANGES, SPELLS, stage_spells
from tests.conftest import ts

AS_OF = date(2026, 11, 16)
EARLIER = AS_OF - timedelta(weeks=4)
# Nodes an earlier as-of day clips from a later result, and the columns that order them.
CLIPPED = {
    SPELLS: ("opp_id", "spell_no"),
    STEPS_NODE: ("lead_id",),
    LEAD_HISTORY: ("lead_id", "entered_at", "status", "owner_id"),
    CLOSE_DATE_CHANGES: ("opp_id", "entered_at"),
}
# The intermediates that read the records themselves (sorts and joins over whole tables):
# a view other than the stored one must never derive these again.
FROM_RECORDS = {SPELLS.name, CLOSE_DATE_CHANGES.name, STEPS_NODE.name, LEAD_HISTORY.name}
FROM_RECORDS |= {ORDERED.name, "lead_teams"}


@pytest.fixture(scope="module")
def demo_frames() -> dict[str, pl.DataFrame]:
    return generate_demo_org(as_of=AS_OF, scale=0.3)


@pytest.fixture(scope="module")
def stored(demo_frames) -> list:
    """What a refresh stores: the persistent results of the default view's scorecard."""
    tables = Tables.from_frames(demo_frames)
    _card(tables, AS_OF)
    return intermediates.export(tables, as_of=AS_OF, timezone="UTC")


def _card(tables: Tables, as_of: date, teams: tuple[str, ...] = ()) -> dict:
    from model.calendar import period_of

    return compute(tables, as_of=as_of, period=period_of(as_of), teams=teams).to_dict()


def _sorted(frame: pl.DataFrame, by: tuple[str, ...]) -> pl.DataFrame:
    return frame.sort(list(by), nulls_last=False, maintain_order=True)


def test_export_holds_every_persistent_node_and_seeding_changes_no_result(demo_frames, stored):
    assert sorted(m["node"] for m, _ in stored) == sorted(intermediates.PERSISTED)
    for meta, _ in stored:
        node = intermediates.PERSISTED[meta["node"]]
        assert meta["version"] == node.version
        expected = {"as_of": "2026-11-16", "timezone": "UTC"}
        expected["at"] = "2026-11-16T23:59:59.999999+00:00"  # the end of the as-of day
        assert meta["coords"] == {n: expected[n] for n in node.coords}
    # only what belongs to the view's day is kept, and what no day changes (derived if need be)
    other_day = intermediates.export(Tables.from_frames(demo_frames), as_of=EARLIER, timezone="UTC")
    assert sorted(m["node"] for m, _ in other_day) == ["lead_teams", "ordered_stage_history"]
    seeded = intermediates.bundle(demo_frames, stored)
    assert set(seeded.origins().values()) == {STORED}
    assert _card(seeded, AS_OF) == _card(Tables.from_frames(demo_frames), AS_OF)
    # the stored ordered history stands in for the stage history: same rows, in order
    ordered = next(f for m, f in stored if m["node"] == ORDERED.name)
    assert_frame_equal(seeded.stage_history.collect(), ordered)
    assert_frame_equal(
        ordered.sort(pl.all()), demo_frames["stage_history"].select(ordered.columns).sort(pl.all())
    )
    leads = next(f for m, f in stored if m["node"] == LEAD_HISTORY.name)
    assert_frame_equal(seeded.lead_history.collect(), leads)


def test_a_team_view_and_an_earlier_day_are_cut_and_clipped_from_what_was_stored(
    demo_frames, stored
):
    """The acceptance test of issue #16: views read the stored intermediates, never derive
    again what reads the records, and show exactly what deriving afresh shows."""
    seeded = intermediates.bundle(demo_frames, stored)
    views = [(AS_OF, ("EMEA",)), (EARLIER, ()), (EARLIER, ("NA Enterprise", "APAC"))]
    for as_of, teams in views:
        company = intermediates.bundle(demo_frames, stored)
        assert _card(company, as_of, teams) == _card(Tables.from_frames(demo_frames), as_of, teams)
        team = filter_teams(company, teams)  # as `compute` builds it: the same node results
        origins = {**company.origins(), **team.origins()}
        rebuilt = {k[0] for k, how in origins.items() if how == BUILT and k[0] in FROM_RECORDS}
        assert not rebuilt, (as_of, teams, rebuilt)
    # what the views did, said by the bundle itself
    company = intermediates.bundle(demo_frames, stored)
    _card(company, EARLIER, ("EMEA",))
    spells_then = SPELLS.key(EARLIER, "UTC")
    assert company.origin(spells_then) == "clipped from the result as of 2026-11-16"
    team = filter_teams(seeded, ("EMEA",))
    stage_spells(team, as_of=AS_OF)
    assert team.origin(SPELLS.key(AS_OF, "UTC")) == "cut from the company's result"


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    back=st.integers(min_value=1, max_value=500),
    timezone=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]),
    node=st.sampled_from(list(CLIPPED)),
)
def test_clipping_a_later_result_equals_deriving_the_earlier_day(demo_frames, back, timezone, node):
    tables = Tables.from_frames(demo_frames)
    then = AS_OF - timedelta(days=back)
    clipped = node.clip(node.build(tables, AS_OF, timezone), then, timezone).collect()
    fresh = node.build(tables, then, timezone).collect()
    assert_frame_equal(_sorted(clipped, CLIPPED[node]), _sorted(fresh, CLIPPED[node]))


def test_clipping_at_the_exact_end_of_the_day(tiny_org):
    # O2 moves Discovery → Qualification at exactly midnight ending 2026-03-01 (UTC): as of
    # 2026-03-01 that move has not happened (the day ends at that instant, exclusive), so
    # Discovery is O2's current spell, 28 days 15 h from 2026-02-01 09:00 (28.625 days).
    frames = dict(tiny_org)
    midnight = ts("2026-03-02T00:00:00")
    move = frames["stage_history"].filter(pl.col("opp_id") == "O2").head(1)
    move = move.with_columns(stage=pl.lit("Qualification"), entered_at=pl.lit(midnight))
    frames["stage_history"] = pl.concat([frames["stage_history"], move])
    tables = Tables.from_frames(frames)
    then = date(2026, 3, 1)
    clipped = SPELLS.clip(SPELLS.build(tables, date(2026, 3, 5), "UTC"), then, "UTC").collect()
    assert_frame_equal(clipped, SPELLS.build(tables, then, "UTC").collect())
    o2 = clipped.filter(pl.col("opp_id") == "O2")
    assert o2.select("stage", "left_at", "is_current").rows() == [("Discovery", None, True)]
    assert o2["days_in_stage"].item() == pytest.approx(28.625)
    # the day after, the move is on record: Discovery left at midnight, a regression
    later = SPELLS.clip(SPELLS.build(tables, date(2026, 3, 5), "UTC"), date(2026, 3, 2), "UTC")
    o2 = later.collect().filter(pl.col("opp_id") == "O2")
    assert o2["left_at"].to_list() == [datetime(2026, 3, 2, tzinfo=UTC), None]
    assert o2["is_regression"].to_list() == [False, True]


def test_a_result_of_other_code_or_an_unknown_node_is_ignored(demo_frames):
    marked = stage_spells(Tables.from_frames(demo_frames), as_of=AS_OF).head(3)
    coords = {"as_of": AS_OF.isoformat(), "timezone": "UTC"}
    meta = {"node": SPELLS.name, "coords": coords, "version": SPELLS.version}
    tables = Tables.from_frames(demo_frames)
    assert intermediates.seed(tables, [({**meta, "version": "older"}, marked)]) == 0
    assert intermediates.seed(tables, [({**meta, "node": "unknown"}, marked)]) == 0
    assert intermediates.seed(tables, [({**meta, "coords": {"as_of": "2026-11-16"}}, marked)]) == 0
    assert stage_spells(tables, as_of=AS_OF).height > 3
    # a stored result is used as it is (here: marked, 3 rows)
    assert intermediates.seed(tables, [(meta, marked)]) == 1
    assert_frame_equal(stage_spells(tables, as_of=AS_OF), marked)


def test_keys_are_derived_from_the_node_and_settings_digests_are_stable():
    assert SPELLS.key(AS_OF, "UTC") == ("stage_spells", AS_OF, "UTC")
    with pytest.raises(TypeError, match="keyed by"):
        SPELLS.key(AS_OF)
    # settings written differently are the same settings; different settings differ
    assert digest(StallParams(fallback_days=30)) == digest(StallParams(fallback_days=30.0))
    a = FunnelParams(sla_hours_by_source={"Web": 4, "Event": 48})
    b = FunnelParams(sla_hours_by_source={"Event": 48.0, "Web": 4.0})
    assert digest(a) == digest(b) != digest(FunnelParams())
    assert digest(ScoringParams()) != digest(ScoringParams(timezone="Europe/Paris"))
    node = Node("n", "one row", (), lambda t, p: pl.LazyFrame(), coords=("params",))
    assert node.key(a) == node.key(b) == ("n", digest(a))  # a mapping inside: by its digest


def test_every_node_is_documented_in_the_architecture_with_its_grain():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md").read_text()
    for node in intermediates.NODES:
        assert f"`{node.name}`" in text, node.name
        assert node.grain in " ".join(text.split()), node.name
    assert STATES.name in intermediates.PERSISTED
