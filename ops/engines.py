"""The engines that open sessions or connections (`model.engine` holds the interface and the
default in-process polars engine): DuckDB in this process, PySpark (`local[2]` or a Spark
Connect URL `sc://host:15002`) and a SQL warehouse through SQLFrame (PostgreSQL; its tables
read where they are, never uploaded row by row): `SqlFramePostgresEngine` on a schema of
canonical tables, and `WarehouseEngine` (`--engine warehouse`) on the warehouse source's
database, the snapshot's canonical tables written there once.

`open_engine(name, spark_url=..., schema=...)` is the one way in; `open_configured` opens
the engine `[engine]` in scorecard.toml names (or the CLI's `--engine`) for the CLI and the
refresh; `on_engine` puts a bundle's ported nodes on it.
Each engine hands the derivation graph canonical tables as narwhals LazyFrames and collects
finished ones into polars; the graph does the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import threading
import uuid
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import narwhals as nw
import polars as pl
import polars.selectors as cs

from model.engine import ENGINE_NAMES, POLARS, Engine, EngineError

if TYPE_CHECKING:
    from model.tables import Tables
    from ops.config import EngineSettings

SPARK_LOCAL = "local[2]"
CLI_ENGINES = ("polars", "duckdb", "spark", "warehouse")  # the ones `--engine` opens by name


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

    def _session_here(self) -> Any:
        """SQLFrame's one session, on this engine's connection (another engine opened since
        may have put its own in place)."""
        if self._session._connection is not self._connection:
            self._session = _postgres_session(self._connection)
        return self._session

    def table(self, tables: Tables, name: str) -> nw.LazyFrame:
        with self.lock:
            return nw.from_native(self._session_here().read.table(f"{self.schema}.{name}"))

    def materialize(
        self, tables: Tables, name: str, plan: Callable[[], nw.LazyFrame]
    ) -> nw.LazyFrame:
        """The result of `plan()` as table `scratch`.`name` (made once), read back lazily
        (the tables are the schema's whatever the bundle)."""
        with self.lock:
            self._session_here()
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
            self._session_here()
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


class WarehouseEngine(SqlFramePostgresEngine):
    """`--engine warehouse`: the nodes built inside the PostgreSQL warehouse the warehouse
    source reads (`WAREHOUSE_URL` or the `WAREHOUSE_*` pieces, from the environment / .env).

    How the canonical tables are reached there: the warehouse holds Fivetran's layout, and
    the mapping from it to the canonical model (presets, lookups, value maps, derived
    tables, validation) is polars code written once in `connectors/`. Rather than a second,
    SQL copy of that mapping (views over the synced tables), the canonical tables of the
    snapshot being scored are written into the schema `[engine] schema` (default
    "scorecard") of the same database, once per snapshot (ADBC bulk copy; a fingerprint of
    the tables, kept in `_scorecard_tables`, says whether they are already there), and the
    nodes run on them there. A snapshot scored again, by any process, reads them in place.
    The nodes built are kept as tables of `<schema>_work` (emptied when other tables are
    written): the refresh run with `[engine] name = "warehouse"` leaves the snapshot's
    intermediates there, and brings back only the results the snapshot stores.

    A failure — login refused, no permission to create the schema, a table or column gone,
    the connection lost — is an EngineError naming the table or column and never the
    password; nothing is stored, so the current snapshot stays as it was."""

    name = "warehouse"

    def __init__(self, environ: Mapping[str, str], schema: str = "scorecard") -> None:
        from connectors.warehouse import WarehouseError, connection_url

        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", schema):
            raise EngineError(
                f"engine warehouse: [engine] schema = {schema!r} is not a schema name"
            )
        try:
            self.target = connection_url(environ)
        except WarehouseError as exc:
            raise EngineError(f"engine {exc}") from None
        try:
            import psycopg2
        except ImportError as exc:
            raise EngineError(
                "engine warehouse: SQLFrame's PostgreSQL driver is not installed "
                "(pip install -r requirements-dev.txt: sqlframe, psycopg2-binary)"
            ) from exc
        try:
            connection = psycopg2.connect(self.target.url)
            connection.autocommit = True
            super().__init__(connection, schema, scratch=f"{schema}_work")
        except Exception as exc:
            raise self._failed(exc, None) from None
        self._bundle: Tables | None = None  # the bundle whose tables are in the schema

    def table(self, tables: Tables, name: str) -> nw.LazyFrame:
        with self.lock:
            if self._bundle is not tables.company:
                self._guarded(lambda: self._publish(tables.company))
            return self._guarded(lambda: super(WarehouseEngine, self).table(tables, name))

    def materialize(
        self, tables: Tables, name: str, plan: Callable[[], nw.LazyFrame]
    ) -> nw.LazyFrame:
        with self.lock:
            if self._bundle is not tables.company:
                self._guarded(lambda: self._publish(tables.company))
            return self._guarded(
                lambda: super(WarehouseEngine, self).materialize(tables, name, plan)
            )

    def collect(self, frame: nw.LazyFrame) -> pl.DataFrame:
        return self._guarded(lambda: super(WarehouseEngine, self).collect(frame))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a connection already lost: nothing to drop
            super().close()

    def _publish(self, bundle: Tables) -> None:
        """The bundle's canonical tables into the schema, unless they are there already."""
        frames = {n: f.collect().with_columns(cs.enum().cast(pl.String)) for n, f in
                  bundle.frames.items()}  # fmt: skip
        digest = hashlib.sha256()
        for name, frame in sorted(frames.items()):
            rows = frame.hash_rows(seed=0).sum() if frame.height else 0
            digest.update(f"{name}:{frame.schema}:{frame.height}:{rows};".encode())
        fingerprint = digest.hexdigest()[:32]
        marker = f"{_quoted(self.schema)}._scorecard_tables"
        if self._fingerprint(marker) != fingerprint:
            import adbc_driver_postgresql.dbapi as pgdb

            try:
                with pgdb.connect(self.target.url) as conn:
                    with conn.cursor() as cur:
                        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(self.schema)}")
                        for name, frame in frames.items():
                            cur.adbc_ingest(name, frame.to_arrow(), mode="replace",
                                            db_schema_name=self.schema)  # fmt: skip
                        cur.execute(f"DROP TABLE IF EXISTS {marker}")
                        cur.execute(f"CREATE TABLE {marker} AS SELECT '{fingerprint}' AS tables")
                    conn.commit()
            except Exception as exc:
                raise self._failed(exc, self.schema) from None
            with self._connection.cursor() as cur:  # the intermediates of other tables
                cur.execute(f"DROP SCHEMA IF EXISTS {_quoted(self.scratch)} CASCADE")
            self._held.clear()
        self._bundle = bundle

    def _fingerprint(self, marker: str) -> str | None:
        """The fingerprint of the tables in the schema, or None when none were written."""
        with self._connection.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (marker,))
            if not cur.fetchone()[0]:
                return None
            cur.execute(f"SELECT tables FROM {marker}")
            row = cur.fetchone()
        return str(row[0]) if row else None

    def _guarded(self, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except EngineError:
            raise
        except Exception as exc:
            raise self._failed(exc, self._missing()) from None

    def _missing(self) -> str | None:
        """The first canonical table or column the schema lacks ("schema.table" or
        "schema.table.column"), None when all are there. Something changed them behind the
        scorecard's back: the fingerprint is dropped, so the next run writes them again."""
        if self._bundle is None or self._connection.closed:
            return None
        try:
            with self._connection.cursor() as cur:
                cur.execute(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = %s",
                    (self.schema,),
                )
                present: dict[str, set[str]] = {}
                for table, column in cur.fetchall():
                    present.setdefault(table, set()).add(column)
                for name, frame in self._bundle.frames.items():
                    absent = [c for c in frame.collect_schema() if c not in present.get(name, ())]
                    if name not in present or absent:
                        cur.execute(
                            f"DROP TABLE IF EXISTS {_quoted(self.schema)}._scorecard_tables"
                        )
                        where = f"{self.schema}.{name}"
                        return where if name not in present else f"{where}.{absent[0]}"
        except Exception:
            return None
        return None

    def _failed(self, exc: Exception, where: str | None) -> EngineError:
        """What failed, said for a user (which table or column; never the password)."""
        text = str(exc).strip()
        state = str(getattr(exc, "pgcode", "") or getattr(exc, "sqlstate", "") or "")
        target = self.target
        if state in ("28P01", "28000") or "password authentication failed" in text:
            message = (f"the warehouse refused the login of {target.where}: wrong user or "
                       "password (check WAREHOUSE_URL or WAREHOUSE_USER / "
                       "WAREHOUSE_PASSWORD)")  # fmt: skip
        elif state == "42501" or "permission denied" in text:
            message = (f"no permission on {where or 'the warehouse'}: the user of {target.where} "
                       f"needs CREATE on the database and schema {self.schema}")  # fmt: skip
        elif where is not None and where.count(".") == 2:
            schema, table, column = where.split(".")
            message = (f"no column {column!r} in {schema}.{table}: it was changed outside the "
                       "scorecard; the next run writes the canonical tables again")  # fmt: skip
        elif where is not None and where.count(".") == 1:
            message = (f"no table {where}: it was dropped outside the scorecard; the next run "
                       "writes the canonical tables again")  # fmt: skip
        elif self._connection_lost(exc, state, text):
            message = (f"the connection to the warehouse ({target.where}) was lost or refused: "
                       "is the server up and reachable? Try again")  # fmt: skip
        else:
            first = text.splitlines()[0] if text else type(exc).__name__
            message = f"the warehouse ({target.where}) failed: {first[:300]}"
        return EngineError(target.scrub(f"engine warehouse: {message}"))

    def _connection_lost(self, exc: Exception, state: str, text: str) -> bool:
        closed = getattr(getattr(self, "_connection", None), "closed", 0)
        words = ("server closed the connection", "connection refused", "could not connect",
                 "connection to server", "terminating connection", "timeout expired")  # fmt: skip
        return (
            bool(closed)
            or state.startswith("08")
            or state == "57P01"
            or any(w in text.lower() for w in words)
        )


def open_engine(
    name: str,
    *,
    spark_url: str = "",
    schema: str = "scorecard",
    environ: Mapping[str, str] | None = None,
) -> Engine:
    """The engine called `name` ("polars", "duckdb", "spark", "warehouse"); `spark_url`: a
    Spark Connect URL or a local master (default `local[2]`); `schema`: where the warehouse
    engine keeps the canonical tables; `environ`: the warehouse connection's variables
    (default os.environ). Raises EngineError with what to do."""
    if name == "polars":
        return POLARS
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        return SparkEngine(spark_url or SPARK_LOCAL)
    if name == "warehouse":
        return WarehouseEngine(os.environ if environ is None else environ, schema)
    if name == "sqlframe-postgres":
        raise EngineError(
            "engine sqlframe-postgres runs where the tables already are: it is opened with a "
            "warehouse connection (SqlFramePostgresEngine), not by name"
        )
    raise EngineError(f"unknown engine {name!r}: use one of {', '.join(ENGINE_NAMES[:4])}")


def open_configured(settings: EngineSettings, name: str | None = None) -> Engine:
    """The engine `[engine]` names (or `name`: the CLI's `--engine`), opened with the
    section's Spark URL and warehouse schema."""
    return open_engine(name or settings.name, spark_url=settings.spark_url, schema=settings.schema)


def on_engine(tables: Tables, engine: Engine) -> Tables:
    """The bundle with the graph's nodes written for every engine built on `engine` (their
    stored results set aside, so the engine derives them); as is on polars."""
    from scoring.intermediates import NODES

    if engine.name == "polars":
        return tables
    return tables.on(engine, unless_stored=frozenset(n.name for n in NODES if n.body is not None))
