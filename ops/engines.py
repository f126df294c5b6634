"""The engines that open sessions or connections (`model.engine` holds the interface and the
default in-process polars engine): DuckDB in this process, PySpark (`local[2]` or a Spark
Connect URL `sc://host:15002`) and a SQL warehouse through SQLFrame (PostgreSQL; its tables
read where they are, never uploaded row by row).

`open_engine(name, spark_url=...)` is the one way in (the CLI's `--engine`, `[engine]` in
scorecard.toml). Each engine hands the derivation graph canonical tables as narwhals
LazyFrames and collects finished ones into polars; the graph does the rest.
"""

from __future__ import annotations

import shutil
import socket
import threading
import uuid
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import narwhals as nw
import polars as pl
import polars.selectors as cs

from model.engine import ENGINE_NAMES, POLARS, Engine, EngineError

if TYPE_CHECKING:
    from model.tables import Tables

SPARK_LOCAL = "local[2]"
CLI_ENGINES = ("polars", "duckdb", "spark")  # the ones `--engine` opens without a warehouse


def _arrow(tables: Tables, name: str, *, enums_as_text: bool = False) -> Any:
    """A canonical table of the bundle as an Arrow table (enums as plain text for engines
    without dictionary types)."""
    frame = tables.frames[name].collect()
    if enums_as_text:
        frame = frame.with_columns(cs.enum().cast(pl.String))
    return frame.to_arrow()


class DuckDBEngine:
    """DuckDB in this process: each canonical table registered from its Arrow data, once
    per thread (a DuckDB connection serves one call at a time; the scorecard computes its
    pillars in threads, each on its own cursor of the one database)."""

    name = "duckdb"

    def __init__(self) -> None:
        import duckdb

        self._con = duckdb.connect()
        self._local = threading.local()

    def table(self, tables: Tables, name: str) -> nw.LazyFrame:
        local = self._local
        if not hasattr(local, "cursor"):
            local.cursor, local.held = self._con.cursor(), {}
            local.cursor.execute("SET TimeZone = 'UTC'")  # calendar fields read in UTC
        source = tables.frames[name]
        key = (id(source), name)
        if key not in local.held:  # the frame is held too, so its id is never reused
            local.held[key] = (source, local.cursor.from_arrow(_arrow(tables, name)))
        return nw.from_native(local.held[key][1])

    def collect(self, frame: nw.LazyFrame) -> pl.DataFrame:
        return frame.collect(backend="polars").to_native()

    def close(self) -> None:
        self._con.close()


class SparkEngine:
    """PySpark: a local session (`local[2]`, needs Java 17+) or a Spark Connect URL."""

    name = "spark"

    def __init__(self, url: str = SPARK_LOCAL) -> None:
        self.url = url
        self._spark = _spark_session(url)
        self._held: dict[tuple[int, str], Any] = {}

    def table(self, tables: Tables, name: str) -> nw.LazyFrame:
        source = tables.frames[name]
        key = (id(source), name)
        if key not in self._held:  # the frame is held too, so its id is never reused
            arrow = _arrow(tables, name, enums_as_text=True)
            self._held[key] = (source, self._spark.createDataFrame(arrow))
        return nw.from_native(self._held[key][1])

    def collect(self, frame: nw.LazyFrame) -> pl.DataFrame:
        return frame.collect(backend="polars").to_native()

    def close(self) -> None:
        self._held.clear()
        if not self.url.startswith("sc://"):
            self._spark.stop()


def _spark_session(url: str) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise EngineError(
            "engine spark: PySpark is not installed (pip install -r requirements-dev.txt)"
        ) from exc
    builder = SparkSession.builder.config("spark.sql.session.timeZone", "UTC")
    if url.startswith("sc://"):
        _answers(url)
        try:
            session = builder.remote(url).getOrCreate()
            session.sql("select 1").collect()  # a session is lazy: reach the server now
        except ImportError as exc:
            raise EngineError(
                f"engine spark: the Spark Connect client is missing ({exc}): "
                "pip install -r requirements-dev.txt (pyspark[connect])"
            ) from exc
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineError(
                f"engine spark: the Spark Connect server at {url} does not answer ({first[:200]})"
            ) from exc
        return session
    if not url.startswith("local"):
        raise EngineError(
            f"engine spark: spark_url {url!r} is neither a Spark Connect URL (sc://host:15002) "
            "nor a local master (local[2])"
        )
    if shutil.which("java") is None:
        raise EngineError(
            "engine spark: Java is not installed; PySpark needs Java 17 or later "
            "(apt-get install openjdk-17-jre-headless)"
        )
    return (
        builder.master(url)
        .appName("revenue-scorecard")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def _answers(url: str, timeout: float = 5.0) -> None:
    """Raise EngineError unless something listens at the Spark Connect URL's host and port
    (the client itself retries an unreachable server for minutes)."""
    parsed = urlsplit(url)
    host, port = parsed.hostname or "localhost", parsed.port or 15002
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise EngineError(
            f"engine spark: the Spark Connect server at {url} does not answer ({reason}); "
            "check [engine] spark_url in scorecard.toml"
        ) from exc


class SqlFramePostgresEngine:
    """A PostgreSQL warehouse through SQLFrame: the canonical tables are read where they are
    (`schema`.`table`), the node bodies run as SQL inside the database, and only results
    come back.

    Each node built here is first written as a table of the `scratch` schema
    (`materialize`; UNLOGGED: a cache, not data to recover) and read back from there, so a
    node reading another (trust per deal reads spells, close-date changes and deal states)
    reads its table instead of nesting its whole SQL: SQLFrame copies the whole plan at each
    step, and the demo org's scorecard spent most of its time in those copies. Without a
    `scratch` name a schema of its own is made and dropped at `close`."""

    name = "sqlframe-postgres"
    owns_tables = True  # the warehouse's tables, not the bundle's frames (model.engine)

    def __init__(self, connection: Any, schema: str, *, scratch: str | None = None) -> None:
        self._connection = connection
        self.schema = schema
        self.scratch = scratch or f"scorecard_scratch_{uuid.uuid4().hex[:10]}"
        self._own_scratch = scratch is None
        self._session = _postgres_session(connection)
        self._held: dict[str, str] = {}
        self.lock = threading.RLock()

    def table(self, tables: Tables, name: str) -> nw.LazyFrame:
        return nw.from_native(self._session.read.table(f"{self.schema}.{name}"))

    def materialize(self, name: str, plan: Callable[[], nw.LazyFrame]) -> nw.LazyFrame:
        """The result of `plan()` as table `scratch`.`name` (made once), read back lazily."""
        with self.lock:
            if name not in self._held:
                native = plan().to_native()
                sql = native.sql(dialect="postgres", optimize=False, pretty=False)
                target = f"{_quoted(self.scratch)}.{_quoted(name)}"
                with self._connection.cursor() as cur:
                    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(self.scratch)}")
                    cur.execute(f"DROP TABLE IF EXISTS {target}")
                    cur.execute(f"CREATE UNLOGGED TABLE {target} AS {sql}")
                self._held[name] = f"{self.scratch}.{name}"
            return nw.from_native(self._session.read.table(self._held[name]))

    def collect(self, frame: nw.LazyFrame) -> pl.DataFrame:
        # SQLFrame on PostgreSQL has no Arrow collect: rows come back through pandas'
        # read_sql, which warns about any DBAPI connection that is not SQLAlchemy's.
        with self.lock, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
            return pl.from_pandas(frame.to_native().toPandas())

    def close(self) -> None:
        try:
            if self._own_scratch and not self._connection.closed:
                with self._connection.cursor() as cur:
                    cur.execute(f"DROP SCHEMA IF EXISTS {_quoted(self.scratch)} CASCADE")
        finally:
            self._connection.close()


def _quoted(identifier: str) -> str:
    """A PostgreSQL identifier in double quotes."""
    return '"' + identifier.replace('"', '""') + '"'


class _SessionTimeZone:
    """The one Spark setting narwhals asks a SQLFrame session for (`spark.sql.session.timeZone`,
    before it casts to a zoned timestamp), read from the PostgreSQL session itself: narwhals
    then accepts UTC timestamps exactly when the session really runs in UTC."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def get(self, key: str, default: str | None = None) -> str | None:
        if key != "spark.sql.session.timeZone":
            return default
        with self._connection.cursor() as cur:
            cur.execute("SELECT current_setting('TimeZone')")
            return str(cur.fetchone()[0])


def _postgres_session(connection: Any) -> Any:
    """A SQLFrame PostgreSQL session on `connection`, in UTC, that tells narwhals its zone.

    SQLFrame keeps one session per process (a singleton) and sets its connection only the
    first time: a later engine's connection is put in place here, and its cursor with it."""
    from sqlframe.postgres import PostgresSession

    with connection.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")  # timestamps are UTC instants (portable_time)
        # The generated SQL carries large CASE expressions (local day starts): compiling them
        # with LLVM took 21 s of a 22 s query on the demo org, for queries that run in 0.1 s.
        cur.execute("SET jit = off")
    session = PostgresSession(conn=connection)
    session._connection = connection
    session.__dict__.pop("_cur", None)  # a cached cursor of an earlier connection
    session.__dict__["conf"] = _SessionTimeZone(connection)
    return session


def open_engine(name: str, *, spark_url: str = "") -> Engine:
    """The engine called `name` ("polars", "duckdb", "spark"); `spark_url`: a Spark Connect
    URL or a local master (default `local[2]`). Raises EngineError with what to do."""
    if name == "polars":
        return POLARS
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        return SparkEngine(spark_url or SPARK_LOCAL)
    if name == "sqlframe-postgres":
        raise EngineError(
            "engine sqlframe-postgres runs where the tables already are: it is opened with a "
            "warehouse connection (SqlFramePostgresEngine), not by name"
        )
    raise EngineError(f"unknown engine {name!r}: use one of {', '.join(ENGINE_NAMES[:4])}")
