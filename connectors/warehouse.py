"""The warehouse source: the canonical tables read from a schema Fivetran syncs Salesforce or
HubSpot into (PostgreSQL), mapped by the same presets and code as the files source.

``python -m ops refresh --source warehouse [--preset NAME | --mapping FILE] [--full]``

* Where: ``[sources.warehouse]`` in scorecard.toml holds ``schema`` (default "public") and the
  mapping, exactly as ``[sources.files]`` does (``preset``, ``mapping``, ``tables`` overrides);
  a mapping's file names are table names (``opportunity.*`` reads table ``opportunity``).
* Credentials only from the environment: ``WAREHOUSE_URL`` (postgresql://user:pw@host/db), or
  ``WAREHOUSE_HOST``, ``WAREHOUSE_PORT``, ``WAREHOUSE_DATABASE``, ``WAREHOUSE_USER``,
  ``WAREHOUSE_PASSWORD``. The password never appears in a message.
* Read: over one ADBC connection (Arrow types end to end, SQLSTATE codes on errors) in one
  REPEATABLE READ, READ ONLY transaction (a sync landing meanwhile is not half-seen), only the
  columns the mapping needs; each table is looked up first, so a missing table, column or
  permission is reported naming it before its rows are read.
* Incremental: tables with Fivetran's ``_fivetran_synced`` are read from the last watermark
  (minus ``lookback_minutes``) and merged by key into the last snapshot's tables (passed in as
  ``last=``; a connector never opens the store); tables mapped through lookups are read whole;
  ``--full``, a changed mapping or a full read older than ``full_refresh_days`` reads all.
* Why ADBC and one connection rather than ``pl.read_database_uri`` per table: one login, one
  consistent transaction, and the driver's SQLSTATE to tell a missing permission from a
  missing table; polars still builds the frames (`pl.read_database` on that connection).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import polars as pl

from connectors import files
from connectors.base import LastPull, Progress, Pulled, RefreshError, SourceSettings, no_progress
from connectors.mapping import (
    ColumnSpec,
    FilesError,
    FilesMapping,
    LookupStep,
    TableSpec,
    build_mapping,
)
from connectors.validate import FILE_COLUMN, LINE_COLUMN
from connectors.values import null_ids
from model.schema import TABLES

__all__ = ["WarehouseError", "connection_url", "pull"]

SYNCED = "_fivetran_synced"
KEPT = "; the previous snapshot stays current"
OWN_KEYS = (
    "schema",
    "lookback_minutes",
    "full_refresh_days",
)  # [sources.warehouse] keys that are not mapping keys
DEFAULT_PRESET = "fivetran_salesforce"
# the rows that are one record, for tables without a primary key in the canonical model
HISTORY_KEYS = {
    "stage_history": ("opp_id", "entered_at"),
    "lead_history": ("lead_id", "entered_at"),
}
ENV_PIECES = ("WAREHOUSE_HOST", "WAREHOUSE_PORT", "WAREHOUSE_DATABASE", "WAREHOUSE_USER",
              "WAREHOUSE_PASSWORD")  # fmt: skip


class WarehouseError(RefreshError):
    """The warehouse could not be read; the message names the table or column (never a
    password). The previous snapshot stays current."""


# -- credentials ------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where to connect: the URL (with its password) and that password, to scrub it."""

    url: str
    password: str
    where: str  # user@host:port/database, safe to show

    def scrub(self, text: str) -> str:
        """`text` without the password (plain, or URL-encoded as it may be in the URL)."""
        for secret in {self.password, quote(self.password, safe=""), quote(self.password)}:
            if secret:
                text = text.replace(secret, "***")
        return text


def connection_url(environ: Mapping[str, str]) -> Target:
    """The connection from ``WAREHOUSE_URL`` or the ``WAREHOUSE_*`` pieces.

    Raises:
        WarehouseError: nothing set, or a URL that is not postgresql://.
    """
    url = environ.get("WAREHOUSE_URL", "").strip()
    if not url:
        host = environ.get("WAREHOUSE_HOST", "").strip()
        if not host:
            raise WarehouseError(
                "warehouse: no connection set: set WAREHOUSE_URL (postgresql://user:password@"
                f"host:5432/database) or {', '.join(ENV_PIECES)} in the environment or .env"
            )
        user = quote(environ.get("WAREHOUSE_USER", ""), safe="")
        password = quote(environ.get("WAREHOUSE_PASSWORD", ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        port = environ.get("WAREHOUSE_PORT", "5432").strip()
        url = f"postgresql://{auth}{host}:{port}/{environ.get('WAREHOUSE_DATABASE', '')}"
    parts = urlsplit(url)
    password = unquote(parts.password or "")
    if parts.scheme not in ("postgresql", "postgres"):
        raise WarehouseError(
            f"warehouse: WAREHOUSE_URL starts with {parts.scheme or '(nothing)'}://; this "
            "source reads PostgreSQL (postgresql://user:password@host:5432/database)"
        )
    if "connect_timeout=" not in (parts.query or ""):  # a dead host fails, not hangs
        url += ("&" if parts.query else "?") + "connect_timeout=10"
    where = (
        f"{parts.username or '(default user)'}@{parts.hostname}:{parts.port or 5432}{parts.path}"
    )
    return Target(url, password, where)


# -- configuration ----------------------------------------------------------------------
@dataclass(frozen=True)
class WarehouseConfig:
    """``[sources.warehouse]``: the schema, the look-back of incremental reads, the mapping."""

    schema: str
    lookback: timedelta
    mapping: FilesMapping
    fingerprint: str
    full_every: timedelta = timedelta(days=7)  # rows Fivetran hard-deletes leave only then


def config(settings: SourceSettings, **options: Any) -> WarehouseConfig:
    """The warehouse settings, with `preset` / `mapping` from the command line."""
    raw = dict(settings.sources.get("warehouse", {}))
    own = {k: raw.pop(k) for k in OWN_KEYS if k in raw}
    origin = str(settings.config_path or "scorecard.toml")
    preset, mapping_file = options.get("preset"), options.get("mapping")
    if not (preset or mapping_file or raw.get("preset") or raw.get("mapping")):
        preset = DEFAULT_PRESET
    base_dir = settings.config_path.parent if settings.config_path else Path.cwd()
    try:
        mapping = build_mapping(raw, base_dir=base_dir, preset=preset, mapping=mapping_file,
                                origin=origin, prefix="sources.warehouse")  # fmt: skip
    except FilesError as exc:
        raise WarehouseError(f"warehouse: {exc}") from exc
    schema = str(own.get("schema", "public"))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", schema):
        raise WarehouseError(f"warehouse: schema = {schema!r} in {origin} is not a schema name")
    spec = {"schema": schema, "tables": {n: repr(t) for n, t in sorted(mapping.tables.items())},
            "defaults": repr(mapping.defaults)}  # fmt: skip
    fingerprint = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    try:
        minutes = float(own.get("lookback_minutes", 60))
        days = float(own.get("full_refresh_days", 7))
    except (TypeError, ValueError) as exc:
        raise WarehouseError(
            f"warehouse: lookback_minutes and full_refresh_days in {origin} are numbers"
        ) from exc
    return WarehouseConfig(schema, timedelta(minutes=minutes), mapping, fingerprint,
                           timedelta(days=days))  # fmt: skip


# -- reading ----------------------------------------------------------------------------
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _candidates(patterns: tuple[str, ...]) -> list[str]:
    """Table names from a mapping's file names: ``opportunity.*`` is table ``opportunity``."""
    names = [re.sub(r"\.(\*|csv|parquet|xlsx|tsv|txt)$", "", p, flags=re.I) for p in patterns]
    return [n for n in dict.fromkeys(names) if not any(ch in n for ch in "*?[/\\")]


def _spec_columns(spec: TableSpec) -> list[str]:
    """The source columns `spec` reads: every alternative of every column, and its filters."""
    out = [c for cspec in spec.columns.values() for alt in cspec.alternatives for c in alt]
    return list(dict.fromkeys([*out, *spec.keep_when, *spec.skip_when]))


class WarehouseReader(files.TableReader):
    """A mapping's tables read from one schema over one connection (see the module doc)."""

    def __init__(self, mapping: FilesMapping, conn: Any, schema: str, target: Target,
                 since: Mapping[str, datetime]) -> None:  # fmt: skip
        super().__init__(mapping)
        self.conn, self.schema, self.target, self.since = conn, schema, target, since
        self.columns: dict[str, list[str]] = {}  # table -> its columns, once probed
        self.unfiltered: dict[str, pl.DataFrame] = {}  # canonical table -> rows read
        self.source_of: dict[str, str] = {}  # canonical table -> warehouse table
        self.lookups: dict[str, pl.DataFrame] = {}
        self.partial: set[str] = set()  # canonical tables read from the watermark on

    def qualified(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def fail(self, exc: Exception, table: str) -> WarehouseError:
        return _error(exc, self.target, self.qualified(table))

    def probe(self, table: str) -> list[str] | None:
        """The columns of `table` this user may read (a column-level grant is enough), or
        None when it does not exist. Asked without a failing statement, so the read stays one
        transaction."""
        if table not in self.columns:
            name = _text(f"{_ident(self.schema)}.{_ident(table)}")
            query = (
                f"SELECT column_name FROM information_schema.columns WHERE table_schema = "
                f"{_text(self.schema)} AND table_name = {_text(table)} ORDER BY ordinal_position"
            )
            exists = f"SELECT to_regclass({name}) IS NOT NULL AS present"
            try:
                if not pl.read_database(exists, connection=self.conn)["present"].item():
                    return None
                found = pl.read_database(query, connection=self.conn)
            except Exception as exc:
                raise self.fail(exc, table) from None
            if found.is_empty():  # the table is there, none of its columns readable
                raise _error(PermissionError("permission denied"), self.target,
                             self.qualified(table))  # fmt: skip
            self.columns[table] = [str(c) for c in found.to_series()]
        return self.columns[table]

    def find(self, patterns: tuple[str, ...], what: str, optional: bool) -> str | None:
        """The first of the tables `patterns` name that exists; None for an optional table."""
        names = _candidates(patterns)
        for name in names:
            if self.probe(name) is not None:
                return name
        if optional:
            return None
        raise WarehouseError(
            f"{what}: no table {' or '.join(self.qualified(n) for n in names)} in the warehouse "
            f"(connected as {self.target.where}); check schema in [sources.warehouse] and that "
            "the connector syncs it"
        )

    def select(self, table: str, columns: list[str], where: str = "") -> pl.DataFrame:
        """`columns` of `table` (only those), each row with its place (table, row number)."""
        query = (f"SELECT {', '.join(map(_ident, columns))} FROM {_ident(self.schema)}."
                 f"{_ident(table)}{where}")  # fmt: skip
        try:
            frame = pl.read_database(query, connection=self.conn)
        except Exception as exc:
            raise self.fail(exc, table) from None
        return frame.with_row_index(LINE_COLUMN, offset=1).with_columns(
            pl.lit(self.qualified(table)).alias(FILE_COLUMN)
        )

    def table_rows(self, spec: TableSpec) -> list[pl.DataFrame] | None:
        table = self.find(spec.files, spec.name, spec.optional)
        if table is None:
            return None
        present = self.columns[table]
        # the same check and message as for a file, naming the table and its columns
        try:
            files.require_specs(pl.DataFrame(schema=dict.fromkeys(present, pl.String)), spec,
                                self.qualified(table))  # fmt: skip
        except FilesError as exc:
            raise WarehouseError(f"{exc} (columns the user may not read are not listed)") from None
        wanted = [c for c in _spec_columns(spec) if c in present]
        # a table mapped through lookups is read whole: renaming a role changes no user row
        looked_up = any(c.lookup for c in spec.columns.values())
        since = None if looked_up else self.since.get(spec.name)
        where = ""
        if SYNCED in present:
            wanted.append(SYNCED)
            if since is not None:
                where = f" WHERE {_ident(SYNCED)} >= '{since.isoformat()}'"
                self.partial.add(spec.name)
        frame = self.select(table, list(dict.fromkeys(wanted)), where)
        self.unfiltered[spec.name] = frame
        self.source_of[spec.name] = table
        return [frame]

    def lookup_rows(self, step: LookupStep, table: str) -> tuple[list[pl.DataFrame], str]:
        name = self.find(step.files, f"{table} (lookup)", optional=False)
        assert name is not None
        if name not in self.lookups:
            present = self.columns[name]
            wanted = [c for c in [step.key, step.value, *step.keep_when] if c in present]
            missing = [c for c in (step.key, step.value) if c not in present]
            if missing:
                raise WarehouseError(
                    f"{table} (lookup): {self.qualified(name)} has no column {missing[0]!r}. "
                    f"Columns there: {', '.join(present)}"
                )
            self.lookups[name] = self.select(name, list(dict.fromkeys(wanted)))
        return [self.lookups[name]], self.qualified(name)


# -- errors -----------------------------------------------------------------------------
def _sqlstate(exc: Exception) -> str:
    state = getattr(exc, "sqlstate", None)
    if state:
        return str(state)
    found = re.search(r"SQLSTATE:? ?([0-9A-Z]{5})", str(exc))
    return found.group(1) if found else ""


def _error(exc: Exception, target: Target, table: str | None) -> WarehouseError:
    """A driver error said for a user: what failed, on which table, what to do; no password."""
    state, text = _sqlstate(exc), str(exc)
    on = f" reading {table}" if table else ""
    if state in ("28P01", "28000") or "password authentication failed" in text:
        message = (f"the warehouse refused the login of {target.where}: wrong user or password "
                   "(check WAREHOUSE_URL or WAREHOUSE_USER / WAREHOUSE_PASSWORD)")  # fmt: skip
    elif state == "42501" or "permission denied" in text:
        message = (f"no permission{on}: the user of {target.where} may not read it; ask for "
                   f"GRANT SELECT ON {table or 'the tables'} TO that user")  # fmt: skip
    elif state == "42703":
        detail = re.search(r'column "?([^"\s]+)"? does not exist', text)
        column = f" {detail.group(1)!r}" if detail else ""
        message = f"no column{column}{on}"
    elif state.startswith("08") or state == "57P01" or _lost(text):
        message = (f"the connection to the warehouse ({target.where}) was lost or refused{on}: "
                   "is the server up and reachable? Try again")  # fmt: skip
    else:
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        message = f"the warehouse ({target.where}) failed{on}: {first}"
    return WarehouseError(target.scrub(f"warehouse: {message}{KEPT}"))


def _lost(text: str) -> bool:
    """Whether libpq says the server went away or could not be reached (no SQLSTATE then)."""
    low = text.lower()
    return any(
        words in low
        for words in ("server closed the connection", "connection refused", "could not connect",
                      "connection to server", "terminating connection", "no connection to the "
                      "server", "broken pipe", "timeout expired", "connection timed out")
    )  # fmt: skip


# -- incremental merge ------------------------------------------------------------------
def _key(name: str) -> tuple[str, ...]:
    return TABLES[name].primary_key or HISTORY_KEYS.get(name, ())


def _as_is(spec: ColumnSpec | None, raw: pl.DataFrame, dtype: pl.DataType) -> bool:
    """Whether a text column is one source column taken as it is (no lookup, map, default)."""
    return (
        spec is not None and dtype == pl.String and len(spec.columns) == 1
        and spec.columns[0] in raw.columns
        and not (spec.lookup or spec.values or spec.default is not None)
    )  # fmt: skip


def _changed_keys(name: str, spec: TableSpec, raw: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """The keys of every row read, deleted or filtered out ones too when each key column is
    a source column taken as it is (so a record Fivetran marks deleted leaves the snapshot);
    else the keys of the rows kept."""
    key, columns = _key(name), TABLES[name].columns
    specs = {k: spec.columns[k].chosen(raw.columns) for k in key if k in spec.columns}
    if len(specs) != len(key) or not all(
        _as_is(s, raw, columns[k].dtype) for k, s in specs.items()
    ):
        return new.select(key)
    source = {k: raw[s.columns[0]] for k, s in specs.items() if s is not None}
    return pl.DataFrame(
        {k: null_ids(v) if k.endswith("_id") else v.cast(pl.String) for k, v in source.items()}
    )


def _merge(name: str, old: pl.DataFrame, new: pl.DataFrame, changed: pl.DataFrame) -> pl.DataFrame:
    """`old` without the records read again, then the rows read (in `new`'s columns)."""
    columns = [c for c in new.columns if c not in (FILE_COLUMN, LINE_COLUMN)]
    kept = old.select(
        [pl.col(c).cast(new.schema[c]) if c in old.columns
         else pl.lit(None, new.schema[c]).alias(c) for c in columns]
    ).join(changed.unique(), on=list(changed.columns), how="anti", nulls_equal=True)  # fmt: skip
    return pl.concat([kept, new.select(columns)])


def _sort(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    key = [c for c in _key(name) if c in frame.columns]
    return frame.sort(key, nulls_last=True, maintain_order=True) if key else frame


# -- the pull ---------------------------------------------------------------------------
@dataclass
class _Plan:
    full: bool
    since: dict[str, datetime]
    marks: dict[str, str]
    previous: dict[str, pl.DataFrame]
    full_at: datetime


def _plan(last: LastPull | None, cfg: WarehouseConfig, full: bool, now: datetime) -> _Plan:
    """Incremental when the last snapshot came from this warehouse with the same mapping and
    its last full read is younger than ``full_refresh_days``; full otherwise."""
    detail = (last.detail or {}) if last else {}
    full_at = datetime.fromisoformat(detail.get("full_read_at") or "1970-01-01T00:00:00+00:00")
    if last is None or full or last.source != "warehouse" or not detail.get("watermarks") or (
        detail.get("mapping") != cfg.fingerprint or now - full_at >= cfg.full_every):  # fmt: skip
        return _Plan(True, {}, {}, {}, now)
    marks = dict(detail["watermarks"])
    previous = last.read_all()
    since = {t: datetime.fromisoformat(w) - cfg.lookback for t, w in marks.items() if t in previous}
    return _Plan(False, since, marks, previous, full_at)


def _connect(target: Target) -> Any:
    """One connection, one read-only transaction at one instant (REPEATABLE READ): a sync
    landing while the tables are read cannot give deals without their history."""
    import adbc_driver_postgresql.dbapi as pgdb

    try:
        conn = pgdb.connect(target.url)  # not autocommit: the driver opens a transaction
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    except Exception as exc:
        raise _error(exc, target, None) from None
    return conn


def pull(settings: SourceSettings, progress: Progress = no_progress, **options: Any) -> Pulled:
    """Read the mapped tables from the warehouse (full, or incremental on `last`).

    Options: ``full=True`` reads everything; ``last`` (a `LastPull`, None without a
    snapshot); ``preset`` / ``mapping``; ``as_of``; ``environ`` replaces os.environ (tests).

    Raises:
        WarehouseError: naming the table or column and the cause; nothing is stored then.
    """
    environ = options.get("environ") or os.environ
    secret = ""
    try:
        target = connection_url(environ)
        secret = target.password
        return _pull(settings, progress, target, **options)
    except (WarehouseError, FilesError) as exc:
        text = str(exc) if str(exc).startswith("warehouse: ") else f"warehouse: {exc}"
        text = text if text.endswith(KEPT) else text + KEPT
        raise WarehouseError(Target("", secret, "").scrub(text)) from None


def _pull(settings: SourceSettings, progress: Progress, target: Target, **options: Any) -> Pulled:
    """The pull itself, once the connection is known."""
    cfg = config(settings, **options)
    plan = _plan(options.get("last"), cfg, bool(options.get("full")), datetime.now(UTC))
    mode = "full" if plan.full else "incremental"
    progress(f"Connecting to the warehouse {target.where} ({mode} read)", 0.02)
    conn = _connect(target)
    try:
        reader = WarehouseReader(cfg.mapping, conn, cfg.schema, target, plan.since)
        loaded = files.read_mapped(cfg.mapping, progress, reader)
    finally:
        with contextlib.suppress(Exception):  # a connection already lost: nothing to close
            conn.close()
    marks = dict(plan.marks)
    rows: dict[str, int] = {}
    for name, frame in list(loaded.frames.items()):
        raw = reader.unfiltered.get(name)
        if raw is None:
            continue
        rows[name] = raw.height
        if SYNCED in raw.columns and raw.height:
            latest = raw[SYNCED].max()
            if isinstance(latest, datetime):
                latest = latest.astimezone(UTC) if latest.tzinfo else latest.replace(tzinfo=UTC)
                marks[name] = max(latest.isoformat(), marks.get(name, ""))
        if name in reader.partial:
            changed = _changed_keys(name, cfg.mapping.tables[name], raw, frame)
            frame = _merge(name, plan.previous[name], frame, changed)
        loaded.frames[name] = _sort(name, frame)
    try:
        loaded = files.finish(cfg.mapping, loaded, options.get("as_of"),
                              timezone=settings.scoring.timezone)  # fmt: skip
    except FilesError as exc:
        raise WarehouseError(target.scrub(f"warehouse: {exc}")) from None
    detail = {
        "mode": mode,
        "full_read_at": plan.full_at.isoformat(),
        "where": target.where,
        "schema": cfg.schema,
        "preset": cfg.mapping.preset,
        "mapping": cfg.fingerprint,
        "tables": reader.source_of,
        "rows_read": rows,
        "watermarks": marks,
        "origin": loaded.origin,
        "notes": loaded.notes,
        "as_of_from": loaded.as_of_from,
    }
    return Pulled(frames=loaded.frames, data_as_of=loaded.data_as_of, detail=detail)
