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
Node bodies are lazy-frame expressions (no Python functions over rows), so the graph can
later run on another engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

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
    """

    name: str
    grain: str
    reads: tuple[str, ...]
    build: Callable[..., pl.LazyFrame]
    coords: tuple[str, ...] = ()
    team: Restrict | None = None
    company_only: bool = False
    clip: Callable[[pl.LazyFrame, date, str], pl.LazyFrame] | None = None
    persist: bool = False
    keep: bool = False
    code: tuple[str, ...] = ()

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
    return BUILT, node.build(tables, *coords)


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
