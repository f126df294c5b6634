"""One derivation graph: the intermediates metrics start from, as named nodes.

A node is one transformation of the canonical tables (or of other nodes), named for its
grain like a dbt intermediate model: `stage_spells` is "one row per opportunity per stage
spell". It declares what it reads, what its result depends on besides the tables (its
coordinates: the as-of day and time zone, an instant, a period), how a view for some teams
is cut from the company's result (`team`), and how an earlier as-of day is cut from a later
one (`clip`). Its cache key is derived from the node and its coordinates (`Node.key`), never
assembled at a call site.

`get(tables, node, *coords)` answers, in this order: the bundle already holds it (stored
with the snapshot, or derived earlier); a team view cuts it from the company's result; an
earlier as-of day clips a later result of the same node; otherwise the node is built from
what it reads. `Tables.origin(key)` says which of these happened, so tests can show that a
view was a filter over stored intermediates and not a re-derivation.

The refresh materializes the persistent nodes into the snapshot (`scoring.intermediates`).

**One body, several engines** (`model.engine`). A node ported to the convention has a
`body`: a function of narwhals LazyFrames — its inputs, passed by the names in `reads` — and
of its plain coordinates (by name), returning a narwhals LazyFrame. It is written with
narwhals' lazy API only, so DuckDB, PySpark and SQL warehouses (through SQLFrame) run the
same code: durations on epoch integers (`scoring.portable_time.epoch_us`), never
`dt.timestamp` or `dt.total_*`; a row's neighbours within an ordered partition through
`scoring.ordered.with_sequence` (one sort and neighbour shifts on polars, ordered windows
`.over(partition, order_by=...)` elsewhere: on polars those windows measured ten times
slower); a rank on the ordering column itself; an as-of join built from windows (last value
at or before); no pivot before collecting; no Python functions over rows. A body's upstream
nodes (`upstream`: input name -> node and its coordinates) are chained lazily on the same
engine.

A node is written once: on polars (the default, `Tables.engine`) its `build` runs the body
on the bundle's frames (`nw.from_native`, upstream results from `get`, held once per bundle)
and hands back `.to_native()`, so every caller keeps reading polars LazyFrames. A `build`
given beside a body runs that same body with what only polars adds around it (the quality
checks mark the checks of missing tables; a team view of a `reads_company` node reads the
company's frames). On another engine the node is planned there from the canonical tables,
upstream bodies chained lazily on the same engine, and only its result is collected into
polars, cast to the schema the polars body gives and put in its order (`arrange`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import narwhals as nw
import polars as pl

from model.params import digest

if TYPE_CHECKING:
    from model.tables import Tables

# How a team view cuts a node from the company's result: rows whose `team` is one of the
# view's teams; rows of the view's deals (`opp_id`); rows of the view's leads (`lead_id`).
Restrict = Literal["team", "deal", "lead"]
_ROOT = Path(__file__).resolve().parent.parent

BUILT = "built from what it reads"
STORED = "stored with the snapshot"


@dataclass(frozen=True)
class Node:
    """One intermediate: its name (and grain), what it reads, and how it is derived.

    `coords` name what a result depends on besides the tables, in key order (e.g.
    `("as_of", "timezone")`); `build(tables, *coords)` derives it. `team` says how a team
    view's result is cut from the company's; `company_only` nodes are always read from the
    company (a lead's steps read other teams' deals). `clip(frame, as_of, timezone)` cuts
    the result for an earlier as-of day from a later one (for nodes with coordinates
    `("as_of", "timezone")`). `persist`: the refresh stores it with the snapshot; `keep`:
    never dropped from the bundle to make room (every view reads it). `code`:
    the files whose code derives it (the stored result's version).

    A node written once for every engine has a `body` (module doc; `build` then runs it):
    `body(**inputs, **coords)` over narwhals LazyFrames; `upstream(**coords)` names the
    inputs that are other nodes' results (and at which coordinates); `arrange(frame, tables)`
    puts a result collected from another engine in the order the polars body gives.
    `reads_company`: the node also reads other teams' records (from `tables.company`), which
    an engine is not handed: a team view's result is built on polars by `build` (a team's
    records are few; the company's result, the one the refresh stores, runs on the engine).
    """

    name: str
    grain: str
    reads: tuple[str, ...]
    build: Callable[..., pl.LazyFrame] | None = None
    coords: tuple[str, ...] = ()
    team: Restrict | None = None
    company_only: bool = False
    clip: Callable[[pl.LazyFrame, date, str], pl.LazyFrame] | None = None
    persist: bool = False
    keep: bool = False
    code: tuple[str, ...] = ()
    body: Callable[..., nw.LazyFrame] | None = None
    upstream: Callable[..., Mapping[str, tuple[Node, tuple[Hashable, ...]]]] | None = None
    arrange: Callable[[pl.LazyFrame, Tables], pl.LazyFrame] | None = None
    reads_company: bool = False

    def __post_init__(self) -> None:
        if self.build is None and self.body is not None:
            # `build(tables, *coords)` stays the one way to derive a node afresh: on the
            # bundle's engine for a body.
            object.__setattr__(self, "build", lambda tables, *at: _on_polars(tables, self, at))

    def key(self, *coords: Hashable) -> tuple[Hashable, ...]:
        """The cache key of this node's result at `coords`."""
        if len(coords) != len(self.coords):
            raise TypeError(f"{self.name} is keyed by {self.coords}, got {coords!r}")
        return (self.name, *(_hashable(c) for c in coords))

    @property
    def version(self) -> str:
        """A fingerprint of the code that derives the node: stored results of other code are
        not used."""
        return _version(self.code)


def _hashable(coord: Hashable) -> Hashable:
    """A coordinate as a key part: itself, or the digest of settings that cannot be hashed
    (mappings inside frozen dataclasses)."""
    try:
        hash(coord)
    except TypeError:
        return digest(coord)
    return coord


def _version(code: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for name in ("model/graph.py", "model/tables.py", *code):
        digest.update((_ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def get(tables: Tables, node: Node, *coords: Hashable) -> pl.LazyFrame:
    """The node's result at `coords` for this bundle, derived at most once (see module doc)."""
    key = node.key(*coords)
    return tables.derived(key, lambda: _derive(tables, node, coords), keep=node.keep)


def _derive(tables: Tables, node: Node, coords: tuple[Hashable, ...]) -> tuple[str, pl.LazyFrame]:
    """How the node's result is obtained when the bundle does not hold it, and the frame."""
    company = tables.company
    from_company = node.company_only or company.holds(node.key(*coords))
    if (
        node.team is not None
        and company is not tables
        and (from_company or _later(company, node, coords) is not None)
    ):
        cut = _restrict(tables, node.team, get(company, node, *coords))
        return "cut from the company's result", cut
    later = _later(tables, node, coords)
    if later is not None and node.clip is not None:
        as_of, timezone = coords
        source = get(tables, node, later, timezone)
        return f"clipped from the result as of {later.isoformat()}", node.clip(
            source, as_of, timezone
        )
    return BUILT, _build(tables, node, coords)


def _build(tables: Tables, node: Node, coords: tuple[Hashable, ...]) -> pl.LazyFrame:
    """The node built from what it reads, on the bundle's engine when it has a body."""
    engine = tables.engine
    team_view = tables.company is not tables and (
        node.reads_company or getattr(engine, "owns_tables", False)
    )
    if engine.name == "polars" or node.body is None or team_view:
        if node.build is None:
            raise TypeError(f"{node.name} has neither a body nor a build function")
        return node.build(tables, *coords)
    plans: dict[tuple[Hashable, ...], nw.LazyFrame] = {}
    materialize = getattr(engine, "materialize", None)

    def on_engine(up: Node, at: tuple[Hashable, ...]) -> nw.LazyFrame:
        key = up.key(*at)
        if key not in plans:
            plan = lambda: _plan(up, at, lambda name: engine.table(tables, name), on_engine)  # noqa: E731
            plans[key] = (
                plan() if materialize is None else materialize(tables, table_name(key), plan)
            )
        return plans[key]

    # An engine with one session for every thread (SQLFrame) plans and runs one node at a time.
    with getattr(engine, "lock", None) or nullcontext():
        if materialize is not None and node.arrange is None:
            # A result put in order by its body's sort, not by `arrange`: read from its plan
            # (rows read back from a table come in no promised order).
            top = _plan(node, coords, lambda name: engine.table(tables, name), on_engine)
        else:
            top = on_engine(node, coords)
        frame = engine.collect(top)
    result = _as_polars(frame, schema(tables, node, coords)).lazy()
    return node.arrange(result, tables) if node.arrange is not None else result


def table_name(key: tuple[Hashable, ...]) -> str:
    """A table name for a node's result under `key` (where an engine materializes it): the
    node's name and a digest of its coordinates."""
    return f"{key[0]}_{hashlib.sha256(repr(key).encode()).hexdigest()[:12]}"


def _on_polars(tables: Tables, node: Node, coords: tuple[Hashable, ...]) -> pl.LazyFrame:
    """The node's body on the bundle's polars frames, upstream results from `get`."""
    held = lambda up, at: nw.from_native(get(tables, up, *at))  # noqa: E731
    return _plan(node, coords, lambda name: nw.from_native(tables.frames[name]), held).to_native()


def _plan(
    node: Node,
    coords: tuple[Hashable, ...],
    table: Callable[[str], nw.LazyFrame],
    result: Callable[[Node, tuple[Hashable, ...]], nw.LazyFrame],
) -> nw.LazyFrame:
    """The node's body applied to its inputs: tables from `table`, upstream nodes' results
    from `result`."""
    if node.body is None:
        raise TypeError(f"{node.name} has no body to run on another engine")
    named = dict(zip(node.coords, coords, strict=True))
    upstream = node.upstream(**named) if node.upstream is not None else {}
    inputs = {
        name: result(*upstream[name]) if name in upstream else table(name) for name in node.reads
    }
    return node.body(**inputs, **named)


def schema(tables: Tables, node: Node, coords: tuple[Hashable, ...]) -> pl.Schema:
    """The columns and types of the node's result as the polars body gives them (planned on
    the bundle's tables emptied: nothing is computed)."""

    def empty(name: str) -> nw.LazyFrame:
        return nw.from_native(tables.frames[name].clear())

    def upstream(up: Node, at: tuple[Hashable, ...]) -> nw.LazyFrame:
        return _plan(up, at, empty, upstream)

    return _plan(node, coords, empty, upstream).to_native().collect_schema()


def _as_polars(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """A result collected from another engine with the polars body's columns and types
    (enums, widths; engines without time zones hand back UTC wall times)."""
    columns = []
    for name, dtype in schema.items():
        column = pl.col(name)
        got = frame.schema[name]
        if isinstance(dtype, pl.Datetime) and isinstance(got, pl.Datetime):
            if dtype.time_zone and got.time_zone is None:
                column = column.dt.replace_time_zone("UTC")
            elif dtype.time_zone and got.time_zone != dtype.time_zone:
                column = column.dt.convert_time_zone(dtype.time_zone)
        columns.append(column.cast(dtype))
    return frame.select(columns)


def sorted_by(*columns: str) -> Callable[[pl.LazyFrame, Tables], pl.LazyFrame]:
    """An `arrange` that sorts a collected result by `columns` (its grain's key)."""
    return lambda frame, _tables: frame.sort(*columns, nulls_last=False)


def _later(tables: Tables, node: Node, coords: tuple[Hashable, ...]) -> date | None:
    """The earliest as-of day after `coords`' whose result the bundle holds (same time zone),
    for a node that can be clipped; None when there is none."""
    if node.clip is None or node.coords != ("as_of", "timezone"):
        return None
    as_of, timezone = coords
    held = [
        key[1]
        for key in tables.derivations(node.name)
        if key[2] == timezone and isinstance(key[1], date) and key[1] > as_of  # type: ignore[operator]
    ]
    return min(held) if held else None


def _restrict(tables: Tables, how: Restrict, frame: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of `frame` that belong to the team view `tables`, in their order."""
    if how == "team":
        return frame.filter(pl.col("team").is_in(list(tables.team_scope)))
    column, table = ("opp_id", tables.opportunities) if how == "deal" else ("lead_id", tables.leads)
    return frame.join(table.select(column), on=column, how="semi", maintain_order="left")
