# ruff: noqa: F811  (the fixtures imported from the sibling modules are test parameters)
"""The funnel and data-quality nodes built on every engine through the derivation graph
(issue #20): `funnel_steps`, `sla_rows` (chained on the engine's own funnel steps),
`lead_history_sorted` and `quality_checks` give the polars frames on DuckDB and PySpark
`local[2]`; a team's view of the nodes that read the company's records is built the polars
way and equals polars'; the whole scorecard with every ported node built on the engine is
polars' scorecard.

The engines are tests/ops/test_engines.py's fixtures (one Spark session for this module, skipped
with the reason when Java is missing); the hand-made org is tests/scoring/test_funnel_engines.py's
(its steps, SLA judgements and carried-forward owners are worked out there).
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from model.calendar import Calendar
from model.engine import POLARS, Engine
from model.graph import BUILT, Node, get
from model.params import ScoringParams
from model.tables import Tables
from ops.cli_scorecard import on_engine
from reports.snapshot_tables import read_bundle
from scoring.funnel import LEAD_HISTORY, SLA_ROWS, STEPS_NODE
from scoring.intermediates import NODES
from scoring.quality import CHECKS_NODE, quality_checks_body
from scoring.scorecard import compute, filter_teams
from snapshots.store import Store
from tests.ops.test_engines import (  # noqa: F401 (fixtures)
    DEMO_AS_OF,
    _cli,
    demo,
    engines,
    snapshot_dir,
    warehouse,
)
from tests.scoring.test_funnel_engines import AS_OF, PARAMS, Q1, SLA_PARAMS, small  # noqa: F401

pytestmark = [
    pytest.mark.xdist_group("engines"),  # one Spark session for the module
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # PySpark on pandas 3
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

ON_ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.slow), "sqlframe-postgres"]
FUNNEL_NODES = (STEPS_NODE, SLA_ROWS, LEAD_HISTORY, CHECKS_NODE)
# The grain's key each result is compared by.
KEYS = {
    STEPS_NODE: ("lead_id",),
    SLA_ROWS: ("lead_id",),
    LEAD_HISTORY: ("lead_id", "entered_at", "status", "owner_id", "history_id"),
    CHECKS_NODE: ("check_id",),
}


def _coords(as_of: date, timezone: str, period: Any, params: Any) -> dict[Node, tuple]:
    return {
        STEPS_NODE: (as_of, timezone),
        SLA_ROWS: (period, as_of, params, timezone),
        LEAD_HISTORY: (as_of, timezone),
        CHECKS_NODE: (as_of,),
    }


def _built(tables: Tables, coords: dict[Node, tuple]) -> dict[Node, pl.DataFrame]:
    """Each node derived afresh on the bundle's engine (each asserted built, not cut or
    clipped), in the order its engine hands back after `arrange`."""
    out = {}
    for node, at in coords.items():
        out[node] = get(tables, node, *at).collect()
        assert tables.origin(node.key(*at)) == BUILT, node.name
    return out


def _assert_same(expected: dict[Node, pl.DataFrame], got: dict[Node, pl.DataFrame]) -> None:
    assert set(got) == set(expected)
    for node, want in expected.items():
        key = list(KEYS[node])
        assert_frame_equal(
            got[node].sort(key, nulls_last=False), want.sort(key, nulls_last=False), rel_tol=1e-9
        )


# ---------------------------------------------------------------- a hand-made org


@pytest.mark.parametrize("name", ON_ENGINES)
def test_the_hand_made_funnel_gives_the_polars_frames_on(name: str, engines, small) -> None:
    coords = _coords(AS_OF, "UTC", Q1, PARAMS)
    expected = _built(small.fresh(), coords)
    # What test_funnel_engines works out by hand: leads A B C E F G created by the as-of day
    # (D after it); the Q1 MQLs with a recorded MQL are A, C, F, G; A's and C's history rows
    # before the cutoff (A's Apr 3 row is after it); no stage tables: the checks reading
    # them are marked not available on every engine's result.
    assert expected[STEPS_NODE]["lead_id"].sort().to_list() == ["A", "B", "C", "E", "F", "G"]
    assert expected[SLA_ROWS]["lead_id"].sort().to_list() == ["A", "C", "F", "G"]
    assert expected[LEAD_HISTORY].height == 3 + 4
    unavailable = expected[CHECKS_NODE].filter(~pl.col("available"))["check_id"].to_list()
    assert "opp_no_stage_history" in unavailable
    # DuckDB and Spark are handed the bundle's frames; PostgreSQL reads them from a schema.
    engine = engines(name, {n: f.collect() for n, f in small.frames.items()})
    got = _built(small.on(engine), coords)
    _assert_same(expected, got)
    # The checks come back in check order with the same marks; the lead history in lead and
    # time order, as polars builds it.
    assert_frame_equal(got[CHECKS_NODE], expected[CHECKS_NODE])
    assert_frame_equal(got[LEAD_HISTORY], expected[LEAD_HISTORY])


# ---------------------------------------------------------------- the demo org


@pytest.mark.slow
@pytest.mark.parametrize("name", ["duckdb", "spark", "sqlframe-postgres"])
def test_the_demo_funnel_gives_the_polars_frames_on(name: str, engines, demo) -> None:
    # A zone with daylight saving time: local days and periods start at shifting instants.
    timezone = "America/New_York"
    period = Calendar(timezone).quarter_of(DEMO_AS_OF)
    coords = _coords(DEMO_AS_OF, timezone, period, SLA_PARAMS)
    expected = _built(Tables.from_frames(demo), coords)
    assert expected[SLA_ROWS].height > 50
    assert {"met", "breached"} <= set(expected[SLA_ROWS]["status"])
    assert expected[CHECKS_NODE].filter(pl.col("failing") > 0).height >= 2
    _assert_same(expected, _built(Tables.from_frames(demo).on(engines(name, demo)), coords))


# ---------------------------------------------------------------- a team's view


def test_a_team_view_of_the_checks_and_sla_rows_on_an_engine_is_polars(engines, demo) -> None:
    """The SDR team hands its converted leads to the sales teams: 436 of its leads converted
    into deals its view does not hold. Counted on the view's own deals, all 436 would be
    "converted with no opportunity"; the node is built the polars way for a team's view,
    which looks them up among the company's deals, so the view equals polars' (0)."""
    as_of, timezone = DEMO_AS_OF, "UTC"
    period = Calendar(timezone).quarter_of(as_of)
    coords = {
        CHECKS_NODE: (as_of,),
        SLA_ROWS: (period, as_of, ScoringParams().funnel, timezone),
    }
    on_polars = filter_teams(Tables.from_frames(demo), ("SDR",))
    on_duckdb = filter_teams(Tables.from_frames(demo).on(engines("duckdb", demo)), ("SDR",))
    assert on_duckdb.engine.name == "duckdb"
    expected = _built(on_polars, coords)
    got = _built(on_duckdb, coords)
    for node in coords:
        assert_frame_equal(got[node], expected[node])
    converted = pl.col("check_id") == "lead_converted_without_opp"
    assert got[CHECKS_NODE].filter(converted)["failing"].item() == 0
    # The same body handed only the view's own deals (what the engine is given) flags them.
    own = quality_checks_body(
        *(nw.from_native(getattr(on_polars, n)) for n in CHECKS_NODE.reads), as_of=as_of
    )
    assert own.to_native().collect().filter(converted)["failing"].item() == 436


# ---------------------------------------------------------------- the whole scorecard


def _close(got: Any, want: Any, path: str = "") -> None:
    """Equal JSON, numbers to a relative 1e-9 (sums added in another order on an engine)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), path
        for k in want:
            _close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-9), path
    else:
        assert got == want, path


def _scorecard(tables: Tables) -> dict:
    period = Calendar("UTC").quarter_of(DEMO_AS_OF)
    return compute(tables, as_of=DEMO_AS_OF, period=period, params=ScoringParams()).to_dict()


@pytest.mark.slow
# Spark's run of the same is tests/ops/test_engines.py::test_the_scorecard_json_is_the_same_on,
# through `python -m scoring scorecard --engine spark` (the same `on_engine` bundle).
@pytest.mark.parametrize("name", ["duckdb", "sqlframe-postgres"])
def test_the_scorecard_with_every_ported_node_on_the_engine_is_polars(
    name: str, engines, snapshot_dir
) -> None:
    """The demo org's snapshot scored on polars, and on the engine with every node that has
    a body built there (as `python -m ops scorecard --engine` does): the same JSON, the
    same drivers; each ported node the scorecard read was built, not read from the store.
    PostgreSQL holds the snapshot's tables in a schema and builds the nodes inside."""
    snapshot = Store(snapshot_dir).current()
    want = _scorecard(read_bundle(snapshot))
    engine: Engine = engines(
        name, {n: f.collect() for n, f in read_bundle(snapshot).frames.items()}
    )
    tables = on_engine(read_bundle(snapshot), engine)
    got = _scorecard(tables)
    _close(got, want)
    assert [d["text"] for d in got["drivers"]] == [d["text"] for d in want["drivers"]]
    ported = {node.name for node in NODES if node.body is not None}
    assert {n.name for n in FUNNEL_NODES} <= ported
    read = {key[0]: origin for key, origin in tables.origins().items() if isinstance(key, tuple)}
    assert {n.name for n in FUNNEL_NODES} <= set(read)
    assert {read[name] for name in ported if name in read} == {BUILT}


def test_a_team_scorecard_from_the_command_line_is_the_same_on_duckdb(snapshot_dir) -> None:
    """`python -m ops scorecard --teams SDR --engine duckdb`: the SDR view (whose converted
    leads sit in other teams' deals) reads the same as on polars."""
    polars_run = _cli(snapshot_dir, "--teams", "SDR")
    engine_run = _cli(snapshot_dir, "--teams", "SDR", "--engine", "duckdb")
    assert polars_run.returncode == 0, polars_run.stderr
    assert engine_run.returncode == 0, engine_run.stderr
    want = json.loads(polars_run.stdout)
    assert want["teams"] == ["SDR"]
    _close(json.loads(engine_run.stdout), want)


def test_polars_is_still_the_default_engine(small) -> None:
    assert small.engine is POLARS
    assert on_engine(small, POLARS) is small
