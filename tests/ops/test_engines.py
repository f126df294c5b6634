"""One scoring, several engines (issue #20): the derivation graph's ported nodes (ordered
history, deal states, stage spells, close-date changes, trust per deal) give the same frames
on polars, DuckDB, PySpark `local[2]` and SQLFrame inside a throwaway PostgreSQL (the tables
read from a schema there, loaded by ADBC) — on a hand-made org whose numbers are worked out
below, and on the demo org; and the scorecard CLI's JSON with `--engine` equals polars'.

PySpark starts once for this module (about 10 s) and is skipped with the reason when Java
is missing; PostgreSQL is tests/pgserver.py's server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors.demo import generate_demo_org
from model.engine import POLARS, Engine, EngineError
from model.graph import BUILT, Node, get
from model.tables import Tables
from ops.engines import DuckDBEngine, SqlFramePostgresEngine, open_engine
from scoring.history import ORDERED, STATES, end_of_day
from scoring.stages import CLOSE_DATE_CHANGES, SPELLS, TRUST_PER_DEAL
from tests.conftest import frame, ts
from tests.pgserver import PgServer

pytestmark = [
    pytest.mark.xdist_group("engines"),  # one Spark session for the module
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # PySpark on pandas 3
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 3, 2)
DEMO_AS_OF = date(2026, 11, 16)
ENGINES = ("duckdb", "spark", "sqlframe-postgres")


def _coords(as_of: date) -> dict[Node, tuple]:
    """Each ported node and its coordinates for the view `as_of` (UTC)."""
    return {
        ORDERED: (),
        STATES: (end_of_day(as_of),),
        SPELLS: (as_of, "UTC"),
        CLOSE_DATE_CHANGES: (as_of, "UTC"),
        TRUST_PER_DEAL: (as_of, "UTC"),
    }


# The grain's key each result is compared by.
KEYS = {
    ORDERED: ("opp_id", "entered_at", "stage"),
    STATES: ("opp_id",),
    SPELLS: ("opp_id", "spell_no"),
    CLOSE_DATE_CHANGES: ("opp_id", "entered_at"),
    TRUST_PER_DEAL: ("opp_id",),
}


def hand_org() -> dict[str, pl.DataFrame]:
    """Two stages owned by SDR then sales, two closed ones; three deals.

    O1: Qualification 01-05 10:00 -> Closed Won 02-01 12:00 (a handoff sdr -> sales).
    O2: Discovery 02-01 09:00 (close date 04-30) -> Qualification 02-11 09:00 (a regression:
        open rank 2 -> 1) -> same stage 02-15 09:00 with close date 05-31 (a change, no new
        spell) -> a row dated 03-05, after the as-of day (ignored).
    O3: created 02-20 08:00 in Discovery, no history at all.
    """
    users = [
        {"user_id": "U1", "name": "Ana", "team": "EMEA", "function": "sales"},
        {"user_id": "U2", "name": "Bo", "team": "SDR", "function": "sdr"},
    ]
    stage = {"is_closed": False, "is_won": False}
    stages = [
        {"stage": "Qualification", "position": 1, "owner_function": "sdr", **stage},
        {"stage": "Discovery", "position": 2, "owner_function": "sales", **stage},
        {"stage": "Closed Won", "position": 3, "owner_function": "sales", "is_closed": True,
         "is_won": True},
        {"stage": "Closed Lost", "position": 4, "owner_function": "sales", "is_closed": True,
         "is_won": False},
    ]  # fmt: skip
    opps = [
        {"opp_id": "O1", "name": "Acme", "owner_id": "U1", "stage": "Closed Won",
         "amount": 1000.0, "created_at": ts("2026-01-05T10:00:00"),
         "close_date": date(2026, 2, 1), "is_closed": True, "is_won": True},
        {"opp_id": "O2", "name": "Beta", "owner_id": "U1", "stage": "Qualification",
         "amount": 500.0, "created_at": ts("2026-02-01T09:00:00"),
         "close_date": date(2026, 5, 31), "is_closed": False, "is_won": False},
        {"opp_id": "O3", "name": "Gamma", "owner_id": "U2", "stage": "Discovery",
         "amount": None, "created_at": ts("2026-02-20T08:00:00"),
         "close_date": date(2026, 2, 28), "is_closed": False, "is_won": False},
    ]  # fmt: skip
    history = [
        {"opp_id": "O1", "stage": "Qualification", "entered_at": ts("2026-01-05T10:00:00"),
         "amount": 800.0, "close_date": date(2026, 2, 1)},
        {"opp_id": "O1", "stage": "Closed Won", "entered_at": ts("2026-02-01T12:00:00"),
         "amount": 1000.0, "close_date": date(2026, 2, 1)},
        {"opp_id": "O2", "stage": "Discovery", "entered_at": ts("2026-02-01T09:00:00"),
         "amount": 500.0, "close_date": date(2026, 4, 30)},
        {"opp_id": "O2", "stage": "Qualification", "entered_at": ts("2026-02-11T09:00:00"),
         "amount": 500.0, "close_date": date(2026, 4, 30)},
        {"opp_id": "O2", "stage": "Qualification", "entered_at": ts("2026-02-15T09:00:00"),
         "amount": 500.0, "close_date": date(2026, 5, 31)},
        {"opp_id": "O2", "stage": "Discovery", "entered_at": ts("2026-03-05T09:00:00"),
         "amount": 500.0, "close_date": date(2026, 5, 31)},
    ]  # fmt: skip
    return {
        "users": frame("users", users),
        "stages": frame("stages", stages),
        "opportunities": frame("opportunities", opps),
        "stage_history": frame("stage_history", history),
    }


# ---------------------------------------------------------------------------------------
# Engines, opened once per module
# ---------------------------------------------------------------------------------------


def _ingest(url: str, schema: str, frames: dict[str, pl.DataFrame]) -> None:
    """The canonical tables into `schema` (ADBC bulk ingest; enums as text)."""
    import adbc_driver_postgresql.dbapi as pgdb

    bundle = Tables.from_frames(frames)
    with pgdb.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
            for name, lazy in bundle.frames.items():
                table = lazy.collect().with_columns(pl.selectors.enum().cast(pl.String))
                cur.adbc_ingest(name, table.to_arrow(), mode="create", db_schema_name=schema)
        conn.commit()


@pytest.fixture(scope="module")
def warehouse(pg: PgServer) -> Iterator[Callable[[dict[str, pl.DataFrame]], Engine]]:
    """Opens a SQLFrame engine on a schema holding the given canonical tables."""
    import psycopg2

    url = pg.database(f"engines_{uuid.uuid4().hex[:8]}")
    opened: list[Engine] = []

    def open_on(frames: dict[str, pl.DataFrame]) -> Engine:
        schema = f"canon_{uuid.uuid4().hex[:8]}"
        _ingest(url, schema, frames)
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        engine = SqlFramePostgresEngine(conn, schema)
        opened.append(engine)
        return engine

    yield open_on
    for engine in opened:
        engine.close()


@pytest.fixture(scope="module")
def engines(request) -> Callable[[str, dict[str, pl.DataFrame]], Engine]:
    """The engine called `name` for the org `frames`."""
    duckdb = DuckDBEngine()
    request.addfinalizer(duckdb.close)

    def engine(name: str, frames: dict[str, pl.DataFrame]) -> Engine:
        if name == "duckdb":
            return duckdb
        if name == "spark":
            return request.getfixturevalue("spark")
        return request.getfixturevalue("warehouse")(frames)

    return engine


def _built_on(engine: Engine, frames: dict[str, pl.DataFrame], as_of: date) -> dict:
    tables = Tables.from_frames(frames).on(engine)
    out = {}
    for node, coords in _coords(as_of).items():
        out[node] = get(tables, node, *coords).collect()
        assert tables.origin(node.key(*coords)) == BUILT
    return out


def _assert_same(expected: dict, got: dict) -> None:
    assert set(got) == set(expected)
    for node, frame_ in expected.items():
        keys = KEYS[node]
        assert_frame_equal(
            got[node].sort(keys, nulls_last=False),
            frame_.sort(keys, nulls_last=False),
            rel_tol=1e-9,
        )


# ---------------------------------------------------------------------------------------
# The hand-made org on every engine
# ---------------------------------------------------------------------------------------


def test_the_hand_made_org_on_polars_is_as_worked_out() -> None:
    built = _built_on(POLARS, hand_org(), AS_OF)
    spells = built[SPELLS].sort("opp_id", "spell_no")
    # As of 2026-03-02 the cut-off is 03-03 00:00 UTC.
    # O1: Qualification 01-05 10:00 -> 02-01 12:00 = 27 d 2 h = 27.0833 d; Closed Won: none.
    # O2: Discovery 02-01 09:00 -> 02-11 09:00 = 10 d; Qualification from 02-11 09:00, open,
    #     to 03-03 00:00 = 17 d 15 h + 2 d = 19.625 d (the 03-05 row is after the as-of day).
    # O3: one spell in Discovery from 02-20 08:00 to 03-03 00:00 = 10 d 16 h = 10.6667 d.
    assert spells.select("opp_id", "spell_no", "stage").rows() == [
        ("O1", 1, "Qualification"), ("O1", 2, "Closed Won"),
        ("O2", 1, "Discovery"), ("O2", 2, "Qualification"),
        ("O3", 1, "Discovery"),
    ]  # fmt: skip
    days = spells["days_in_stage"].to_list()
    assert days[0] == pytest.approx(27 + 2 / 24)
    assert days[1] is None
    assert days[2:] == pytest.approx([10.0, 19.625, 10 + 16 / 24])
    assert spells["is_handoff"].to_list() == [False, True, False, True, False]
    assert spells["is_regression"].to_list() == [False, False, False, True, False]
    assert spells["is_open_deal"].to_list() == [False, False, True, True, True]
    # O2's close date went 04-30 -> 05-31 on 02-15 09:00: the one change by the as-of day.
    changes = built[CLOSE_DATE_CHANGES]
    assert changes.rows() == [("O2", ts("2026-02-15T09:00:00"))]
    # Trust: O2 one regression and one close-date change; O3 open with a close date (02-28)
    # before the as-of day: stale. O1 is closed: not stale though its date is past.
    trust = built[TRUST_PER_DEAL].sort("opp_id")
    assert trust.select("opp_id", "n_regressions", "n_close_date_changes", "n_stale").rows() == [
        ("O1", 0, 0, 0),
        ("O2", 1, 1, 0),
        ("O3", 0, 0, 1),
    ]
    # States at the end of 03-02: O2 in Qualification with its new close date.
    states = built[STATES].sort("opp_id").select("opp_id", "stage", "close_date").rows()
    assert states == [
        ("O1", "Closed Won", date(2026, 2, 1)),
        ("O2", "Qualification", date(2026, 5, 31)),
        ("O3", "Discovery", date(2026, 2, 28)),
    ]


@pytest.mark.parametrize(
    "name", ["duckdb", pytest.param("spark", marks=pytest.mark.slow), "sqlframe-postgres"]
)
def test_the_hand_made_org_gives_the_same_frames_on(name: str, engines) -> None:
    org = hand_org()
    _assert_same(_built_on(POLARS, org, AS_OF), _built_on(engines(name, org), org, AS_OF))


# ---------------------------------------------------------------------------------------
# The demo org on every engine
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> dict[str, pl.DataFrame]:
    return generate_demo_org(as_of=DEMO_AS_OF, scale=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENGINES)
def test_the_demo_org_gives_the_same_frames_on(name: str, engines, demo) -> None:
    expected = _built_on(POLARS, demo, DEMO_AS_OF)
    _assert_same(expected, _built_on(engines(name, demo), demo, DEMO_AS_OF))


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_row_order_never_changes_a_result_on_duckdb(engines, seed: int) -> None:
    # The hand-made org with every table's rows shuffled, plus a same-instant pair on O1
    # (Qualification and a copy with another close date): EVENT_ORDER decides, not row order.
    org = hand_org()
    extra = org["stage_history"].filter(pl.col("opp_id") == "O1").head(1)
    org["stage_history"] = pl.concat(
        [org["stage_history"], extra.with_columns(close_date=pl.lit(date(2026, 1, 31)))]
    )
    shuffled = {k: v.sample(fraction=1.0, shuffle=True, seed=seed) for k, v in org.items()}
    expected = _built_on(POLARS, org, AS_OF)
    _assert_same(expected, _built_on(engines("duckdb", shuffled), shuffled, AS_OF))


def test_a_team_view_on_an_engine_cuts_the_company_result(engines, demo) -> None:
    from scoring.scorecard import filter_teams

    company = Tables.from_frames(demo).on(engines("duckdb", demo))
    coords = (DEMO_AS_OF, "UTC")
    get(company, SPELLS, *coords)
    team = filter_teams(company, ("EMEA",))
    assert team.engine is company.engine
    spells = get(team, SPELLS, *coords).collect()
    assert team.origin(SPELLS.key(*coords)) == "cut from the company's result"
    assert set(spells["team"]) == {"EMEA"}


# ---------------------------------------------------------------------------------------
# Opening an engine by name
# ---------------------------------------------------------------------------------------


def test_an_unknown_engine_name_is_refused_with_the_choices() -> None:
    with pytest.raises(
        EngineError, match=r"unknown engine 'dukdb': use one of polars, duckdb, spark"
    ):
        open_engine("dukdb")


def test_an_unreachable_spark_connect_url_is_named() -> None:
    with pytest.raises(EngineError, match=r"sc://127\.0\.0\.1:9"):
        open_engine("spark", spark_url="sc://127.0.0.1:9")


def test_a_spark_url_of_no_known_kind_is_refused() -> None:
    with pytest.raises(EngineError, match=r"neither a Spark Connect URL"):
        open_engine("spark", spark_url="yarn")


# ---------------------------------------------------------------------------------------
# The CLI: python -m ops scorecard --engine
# ---------------------------------------------------------------------------------------


def _cli(
    data: Path, *args: str, config: Path | None = None, module: str = "ops"
) -> subprocess.CompletedProcess:
    """`python -m <module> scorecard --format json ...` on the snapshot store `data`."""
    env = {"SCORECARD_DATA_DIR": str(data), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if config is not None:
        env["SCORECARD_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", module, "scorecard", "--format", "json", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory, demo) -> Path:
    from connectors.validate import validate_tables
    from snapshots.store import Store

    data = tmp_path_factory.mktemp("engines") / "data"
    Store(data).write(validate_tables(demo).frames, source="demo", data_as_of=DEMO_AS_OF)
    return data


@pytest.fixture(scope="module")
def polars_json(snapshot_dir: Path) -> dict:
    """`python -m ops scorecard --format json` on the demo snapshot (polars)."""
    run = _cli(snapshot_dir)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["duckdb", "spark"])
def test_the_scorecard_json_is_the_same_on(name: str, snapshot_dir: Path, polars_json) -> None:
    """`python -m scoring scorecard --engine NAME`, as the README says: every node with a body
    built on the engine (`on_engine`), the JSON equal to polars'."""
    if name == "spark" and shutil.which("java") is None:
        pytest.skip("PySpark needs Java 17+: apt-get install openjdk-17-jre-headless")
    engine_run = _cli(snapshot_dir, "--engine", name, module="scoring")
    assert engine_run.returncode == 0, engine_run.stderr
    assert json.loads(engine_run.stdout) == polars_json


def test_the_engine_is_read_from_the_configuration(snapshot_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "scorecard.toml"
    config.write_text('[engine]\nname = "spark"\nspark_url = "sc://127.0.0.1:9"\n')
    run = _cli(snapshot_dir, config=config)
    assert run.returncode == 2
    assert "the Spark Connect server at sc://127.0.0.1:9 does not answer" in run.stderr
    config.write_text('[engine]\nname = "dask"\n')
    run = _cli(snapshot_dir, config=config)
    assert run.returncode != 0 and "[engine] name 'dask': use one of polars, duckdb, spark" in (
        run.stderr
    )


def test_a_wrong_engine_name_on_the_command_line(snapshot_dir: Path) -> None:
    run = _cli(snapshot_dir, "--engine", "dukdb")
    assert run.returncode == 2
    assert "scorecard: unknown engine 'dukdb': use one of polars, duckdb, spark" in run.stderr
