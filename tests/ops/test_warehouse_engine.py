# ruff: noqa: F811  (the fixtures imported from the sibling modules are test parameters)
"""`--engine warehouse` (issue #20): the derivation graph's nodes built inside the PostgreSQL
warehouse the warehouse source reads (tests/pgserver.py's throwaway server, a role with a
password), on the snapshot's canonical tables written once into the `[engine] schema` there.

Shown: the same frames as polars on the hand-made org of tests/ops/test_engines.py (worked out
there); the tables written once per snapshot, not on every run; the scorecard JSON from the
CLI equal to polars' for the demo snapshot, and `[engine] name = "warehouse"` read from
scorecard.toml; and each fault — wrong password, no connection set, no permission to create
the schema, a table or a column gone, the connection lost — an EngineError naming the table
or column, never the password, with the snapshot store untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from model.engine import EngineError
from model.graph import BUILT, get
from model.tables import Tables
from ops.engines import WarehouseEngine, open_engine
from ops.refresh import SCORECARD_FILE
from reports.snapshot_tables import read_bundle
from scoring.history import ORDERED
from scoring.stages import TRUST_PER_DEAL
from snapshots.store import Snapshot, Store
from tests.ops.test_engines import AS_OF, ROOT, demo, hand_org, snapshot_dir  # noqa: F401
from tests.ops.test_funnel_on_engines import _close
from tests.pgserver import PgServer

pytestmark = [
    # No Spark here: not in the "engines" group, so another worker runs these beside it.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

ROLE, PASSWORD = "scorer_engine", "En/g1ne:pw@x"  # URL-special characters: encoded
READER = "reader_engine"  # may log in, may not create a schema


@pytest.fixture(scope="module")
def wh(pg: PgServer) -> PgServer:
    """The database `whe`, where ROLE may create schemas and READER may not."""
    pg.database("whe")
    pg.sql(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        f"CREATE ROLE {ROLE} LOGIN; END IF; IF NOT EXISTS (SELECT FROM pg_roles WHERE "
        f"rolname = '{READER}') THEN CREATE ROLE {READER} LOGIN; END IF; END $$; "
        f"ALTER ROLE {ROLE} PASSWORD '{PASSWORD}'; ALTER ROLE {READER} PASSWORD '{PASSWORD}'; "
        f"GRANT CREATE ON DATABASE whe TO {ROLE}"
    )
    return pg


def environ(pg: PgServer, user: str = ROLE, password: str = PASSWORD) -> dict[str, str]:
    return {
        "WAREHOUSE_URL": f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:{pg.port}/whe"
    }


@pytest.fixture
def engine(wh: PgServer, request) -> Iterator[WarehouseEngine]:
    """A warehouse engine on a schema of its own (named for the test)."""
    schema = f"sc_{request.node.name[5:30].lower()}".replace("[", "_").replace("]", "")
    wh.sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', "whe")
    opened = WarehouseEngine(environ(wh), schema)
    yield opened
    opened.close()


def _ordered(engine) -> pl.DataFrame:
    """The ordered stage history of the hand-made org built on `engine` (a node that is cheap
    to plan: the fault tests need a run, not a long one)."""
    tables = Tables.from_frames(hand_org()).on(engine)
    out = get(tables, ORDERED).collect()
    assert tables.origin(ORDERED.key()) == BUILT
    return out


POLARS_ORDERED = get(Tables.from_frames(hand_org()), ORDERED).collect()


# ---------------------------------------------------------------- the same numbers


def test_the_hand_made_org_in_the_warehouse_is_polars(engine: WarehouseEngine) -> None:
    tables = Tables.from_frames(hand_org()).on(engine)
    coords = (AS_OF, "UTC")
    # trust per deal reads spells, close-date changes and deal states: each written as a
    # table of the engine's scratch schema and read back (Engine.materialize).
    got = get(tables, TRUST_PER_DEAL, *coords).collect()
    want = get(Tables.from_frames(hand_org()), TRUST_PER_DEAL, *coords).collect()
    got, want = got.sort("opp_id"), want.sort("opp_id")  # one row per deal, in no set order
    assert got.equals(want)
    assert got.select("opp_id", "n_regressions", "n_stale").rows() == [
        ("O1", 0, 0),
        ("O2", 1, 0),
        ("O3", 0, 1),
    ]  # fmt: skip  (worked out in tests/ops/test_engines.py)
    scratch = engine.scratch
    held = engine._connection.cursor()
    held.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                 (scratch,))  # fmt: skip
    assert held.fetchone()[0] >= 4  # states, spells, changes, trust (and ordered history)


def test_the_tables_are_written_once_per_snapshot(wh: PgServer, engine: WarehouseEngine) -> None:
    _ordered(engine)
    schema = engine.schema

    def table_oid() -> str:
        return wh.sql(f"SELECT '\"{schema}\".stage_history'::regclass::oid", "whe").strip()

    first = table_oid()
    again = WarehouseEngine(environ(wh), schema)
    try:
        assert _ordered(again).equals(_ordered(engine))
        assert _ordered(again).equals(POLARS_ORDERED)
        assert table_oid() == first  # the same tables: not written again
        changed = hand_org()
        changed["stage_history"] = changed["stage_history"].with_columns(amount=pl.lit(1.0))
        get(Tables.from_frames(changed).on(again), ORDERED).collect()
        assert table_oid() != first  # another snapshot: written again
    finally:
        again.close()


def test_a_team_view_is_never_built_from_the_warehouses_whole_tables(engine) -> None:
    """The warehouse holds the company's tables: a team's view of a node is cut from the
    company's result or built on polars from the view's own rows, never read whole there.
    SDR (Bo) owns only O3, which has no history: no rows, where the whole table has six."""
    from scoring.scorecard import filter_teams

    view = filter_teams(Tables.from_frames(hand_org()).on(engine), ("SDR",))
    got = get(view, ORDERED).collect()
    want = get(filter_teams(Tables.from_frames(hand_org()), ("SDR",)), ORDERED).collect()
    assert got.equals(want)
    assert got.height == 0 and POLARS_ORDERED.height == 6


# ---------------------------------------------------------------- faults


def test_a_wrong_password_is_named_without_the_password(wh: PgServer) -> None:
    with pytest.raises(EngineError) as caught:
        WarehouseEngine(environ(wh, password="wrong-Pw/1"), "scorecard")
    text = str(caught.value)
    assert f"refused the login of {ROLE}@127.0.0.1:{wh.port}/whe: wrong user or password" in text
    assert "wrong-Pw" not in text and "wrong-Pw%2F1" not in text


def test_no_connection_set_says_which_variables() -> None:
    with pytest.raises(
        EngineError, match=r"engine warehouse: no connection set: set WAREHOUSE_URL"
    ):
        open_engine("warehouse", environ={})


def test_a_schema_that_cannot_be_created_is_named(wh: PgServer) -> None:
    engine = WarehouseEngine(environ(wh, user=READER), "sc_denied")
    try:
        with pytest.raises(EngineError) as caught:
            _ordered(engine)
    finally:
        engine.close()
    text = str(caught.value)
    assert f"no permission on sc_denied: the user of {READER}@127.0.0.1" in text
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text


def _next_run(wh: PgServer, schema: str) -> pl.DataFrame:
    """The ordered history built by another engine on the same schema (the next run: the
    tables are there by their fingerprint, nothing of them is held)."""
    again = WarehouseEngine(environ(wh), schema)
    try:
        return _ordered(again)
    finally:
        again.close()


def test_a_table_dropped_behind_the_scorecard_is_named(wh: PgServer, engine) -> None:
    _ordered(engine)
    wh.sql(f'DROP TABLE "{engine.schema}".stage_history', "whe")
    with pytest.raises(EngineError, match=rf"no table {engine.schema}\.stage_history: it was "):
        _next_run(wh, engine.schema)
    # The run after writes the tables again and succeeds.
    assert _next_run(wh, engine.schema).equals(POLARS_ORDERED)


def test_a_column_dropped_behind_the_scorecard_is_named(wh: PgServer, engine) -> None:
    _ordered(engine)
    wh.sql(f'ALTER TABLE "{engine.schema}".stage_history DROP COLUMN close_date', "whe")
    with pytest.raises(
        EngineError, match=rf"no column 'close_date' in {engine.schema}\.stage_history"
    ):
        _next_run(wh, engine.schema)
    assert _next_run(wh, engine.schema).equals(POLARS_ORDERED)


def test_a_connection_lost_mid_run_is_said(wh: PgServer, engine) -> None:
    _ordered(engine)
    cur = engine._connection.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    wh.sql(f"SELECT pg_terminate_backend({pid})", "whe")
    tables = Tables.from_frames(hand_org()).on(engine)
    with pytest.raises(EngineError) as caught:
        get(tables, TRUST_PER_DEAL, AS_OF, "UTC").collect()
    text = str(caught.value)
    assert f"the connection to the warehouse ({ROLE}@127.0.0.1:{wh.port}/whe) was lost" in text
    assert PASSWORD not in text


# ---------------------------------------------------------------- the command line


def _cli(data: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {"SCORECARD_DATA_DIR": str(data), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           **env}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "ops", "scorecard", "--format", "json", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def _store_files(data: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(data)): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()
    }


@pytest.mark.slow
def test_the_scorecard_from_the_command_line_in_the_warehouse_is_polars(
    wh: PgServer,
    snapshot_dir: Path,
    tmp_path: Path,
) -> None:
    """The demo snapshot scored with `--engine warehouse` (every ported node built inside
    PostgreSQL, schema from `[engine] schema`) reads as polars' (relative 1e-9, same
    drivers)."""
    config = tmp_path / "scorecard.toml"
    config.write_text('[engine]\nschema = "sc_cli"\n')
    env = {**environ(wh), "SCORECARD_CONFIG": str(config)}
    polars_run = _cli(snapshot_dir, {"SCORECARD_CONFIG": str(config)})
    engine_run = _cli(snapshot_dir, env, "--engine", "warehouse")
    assert polars_run.returncode == 0, polars_run.stderr
    assert engine_run.returncode == 0, engine_run.stderr
    want, got = json.loads(polars_run.stdout), json.loads(engine_run.stdout)
    _close(got, want)
    assert [d["text"] for d in got["drivers"]] == [d["text"] for d in want["drivers"]]
    # The nodes read the snapshot's own tables, written into the configured schema.
    deals = read_bundle(Store(snapshot_dir).current()).opportunities.collect().height
    assert wh.sql("SELECT count(*) FROM sc_cli.opportunities", "whe").strip() == str(deals)


def test_the_warehouse_engine_from_the_configuration_with_a_wrong_password(
    wh: PgServer,
    snapshot_dir: Path,
    tmp_path: Path,
) -> None:
    config = tmp_path / "scorecard.toml"
    config.write_text('[engine]\nname = "warehouse"\n')
    before = _store_files(snapshot_dir)
    env = {**environ(wh, password="not-It/9"), "SCORECARD_CONFIG": str(config)}
    run = _cli(snapshot_dir, env)
    assert run.returncode == 2
    assert f"scorecard: engine warehouse: the warehouse refused the login of {ROLE}@" in run.stderr
    assert "not-It" not in run.stderr + run.stdout
    assert _store_files(snapshot_dir) == before  # the snapshot store untouched


# ---------------------------------------------------------------- the refresh


def _refreshed(data: Path, **engine: str) -> Snapshot:
    from datetime import date

    from ops.config import DemoSettings, EngineSettings, Settings
    from ops.refresh import refresh

    demo = DemoSettings(scale=0.1, as_of=date(2026, 11, 16))
    settings = Settings(data_dir=data, demo=demo, engine=EngineSettings(**engine))
    refresh(settings, "demo")
    return Store(data).current()


@pytest.mark.slow
def test_the_refresh_builds_the_intermediates_in_the_warehouse(
    wh: PgServer, tmp_path: Path, monkeypatch
) -> None:
    """`[engine] name = "warehouse"`: the refresh builds the default view's nodes inside
    PostgreSQL, keeps them there as tables of `<schema>_work`, and stores what polars'
    refresh stores: the same scorecard (relative 1e-9) and the same intermediates, but for
    those only other nodes read."""
    monkeypatch.setenv("WAREHOUSE_URL", environ(wh)["WAREHOUSE_URL"])
    wh.sql("DROP SCHEMA IF EXISTS sc_refresh CASCADE; DROP SCHEMA IF EXISTS sc_refresh_work "
           "CASCADE", "whe")  # fmt: skip
    on_polars = _refreshed(tmp_path / "polars")
    in_warehouse = _refreshed(tmp_path / "warehouse", name="warehouse", schema="sc_refresh")
    assert not in_warehouse.manifest["warnings"]
    want = json.loads(on_polars.artifact(SCORECARD_FILE))
    got = json.loads(in_warehouse.artifact(SCORECARD_FILE))
    _close(got, want)
    stored = {m["node"]: f for m, f in on_polars.read_intermediates()}
    kept = {m["node"]: f for m, f in in_warehouse.read_intermediates()}
    # What the scorecard asked for comes back; an input only another node read there
    # (close-date changes, read by trust per deal) stays in the warehouse.
    assert set(kept) == set(stored) - {"close_date_changes"}
    for node, frame in kept.items():
        assert_frame_equal(frame, stored[node], check_row_order=False, rel_tol=1e-9)
    tables = wh.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    "'sc_refresh_work'", "whe").split()  # fmt: skip
    assert {"stage_spells", "funnel_steps", "quality_checks"} <= {
        t.rsplit("_", 1)[0] for t in tables
    }


def test_a_refresh_whose_warehouse_engine_fails_still_stores_the_snapshot(
    wh: PgServer, tmp_path: Path, monkeypatch
) -> None:
    """The precomputed scorecard is an optimization: with a wrong password the snapshot is
    stored without it, the warning names the login and never the password."""
    monkeypatch.setenv("WAREHOUSE_URL", environ(wh, password="bad-Pw/7")["WAREHOUSE_URL"])
    snapshot = _refreshed(tmp_path / "data", name="warehouse", schema="sc_refused")
    assert snapshot.artifact(SCORECARD_FILE) is None
    (warning,) = [w for w in snapshot.manifest["warnings"] if "not precomputed" in w]
    assert f"refused the login of {ROLE}@127.0.0.1" in warning
    assert "bad-Pw" not in json.dumps(snapshot.manifest)
