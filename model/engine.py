"""Where the derivation graph's node bodies run: one small interface, several engines.

Like httpx's transports: `Engine` is the one interface (what a node needs of an engine), and
each engine is a small class beside it. `PolarsEngine` (in-process, the default) lives here;
the engines that open sessions or connections (DuckDB, PySpark local or Spark Connect,
SQLFrame on a warehouse) live in `ops/engines.py`, which owns configuration and sessions.

An engine does three things: hands out a canonical table as a narwhals LazyFrame on that
engine (`table`), collects a finished narwhals LazyFrame into a polars DataFrame
(`collect`), and lets go of what it opened (`close`). Everything in between — running node
bodies, chaining upstream nodes lazily on the engine, bringing the results' types back to
the polars schema — is `model.graph`'s, written once for every engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import narwhals as nw
import polars as pl

if TYPE_CHECKING:
    from model.tables import Tables

ENGINE_NAMES = ("polars", "duckdb", "spark", "warehouse", "sqlframe-postgres")


class EngineError(RuntimeError):
    """An engine cannot be used: an unknown name, a package or Java missing, a Spark
    Connect URL that does not answer. The message says what to do."""


@runtime_checkable
class Engine(Protocol):
    """What the derivation graph needs of an engine.

    Optional, looked up by `model.graph` with `getattr` (an engine without them works as is):

    - `materialize(tables, name, plan) -> nw.LazyFrame`: the result of `plan()` (a
      zero-argument function returning the node's LazyFrame on the bundle `tables`) written
      as table `name` where the engine runs, once per engine, tables and name, and read
      back from there. Upstream nodes are then
      planned once and their SQL no longer nests inside every node that reads them (SQLFrame
      copies the whole plan at each step: 71 s -> see tests/ops/test_funnel_on_engines.py).
    - `lock`: a lock held while a node is planned, run and collected, for an engine whose
      one session serves every thread (SQLFrame keeps one session per process).
    - `owns_tables = True`: the engine reads the company's tables where they are (a
      warehouse schema), not the bundle's frames, so a team view's node is never built
      there (it is cut from the company's result or built on polars).
    """

    name: str

    def table(self, tables: Tables, name: str) -> nw.LazyFrame:
        """The canonical table `name` of the bundle as a narwhals LazyFrame on this engine."""
        ...

    def collect(self, frame: nw.LazyFrame) -> pl.DataFrame:
        """The rows of a finished LazyFrame of this engine, as a polars DataFrame."""
        ...

    def close(self) -> None:
        """Let go of sessions and connections (a no-op for in-process engines)."""
        ...


class PolarsEngine:
    """The default: polars in this process. A node body runs on the bundle's own lazy frames
    (`nw.from_native`) and its result goes back to polars (`.to_native()`), so the polars
    path pays nothing for being written once."""

    name = "polars"

    def table(self, tables: Tables, name: str) -> nw.LazyFrame:
        return nw.from_native(tables.frames[name])

    def collect(self, frame: nw.LazyFrame) -> pl.DataFrame:
        from model.tables import ENGINE

        return frame.to_native().collect(engine=ENGINE)

    def close(self) -> None:
        return None


POLARS = PolarsEngine()
