"""The derivation graph's nodes, and those kept with a snapshot.

Every intermediate metrics start from is a node (`model.graph.Node`) declared beside the
code that derives it; `NODES` lists them all (their names, grains and inputs are documented
in docs/ARCHITECTURE.md, checked by a test). The refresh derives the persistent ones while it
computes the default scorecard and stores them with the snapshot (`export`); every bundle
read from that snapshot is seeded with them (`seed`), and a view for a team, an earlier
as-of day or another period cuts, clips and aggregates them instead of deriving them again.

A stored result carries its node's code version; after an upgrade that changes that code,
it is ignored (and derived afresh when needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import polars as pl

from model.graph import Node, get
from model.tables import ENGINE, LEAD_TEAMS, Tables
from scoring.funnel import LEAD_HISTORY, SLA_ROWS, STEPS_NODE, as_of_end
from scoring.history import ORDERED, STATES, end_of_day
from scoring.quality import CHECKS_NODE
from scoring.stages import CLOSE_DATE_CHANGES, SPELLS, TRUST_PER_DEAL

NODES: tuple[Node, ...] = (
    ORDERED, STATES, SPELLS, CLOSE_DATE_CHANGES, TRUST_PER_DEAL, STEPS_NODE, LEAD_HISTORY,
    SLA_ROWS, CHECKS_NODE, LEAD_TEAMS,
)  # fmt: skip
PERSISTED = {node.name: node for node in NODES if node.persist}


def _coords(node: Node, as_of: date, timezone: str) -> tuple[Any, ...]:
    """The coordinates of the node's result for the view `as_of` (the deal states: at the
    end of that day)."""
    values = {"as_of": as_of, "timezone": timezone, "at": end_of_day(as_of, timezone)}
    return tuple(values[name] for name in node.coords)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _parse(name: str, value: Any) -> Any:
    if name == "as_of":
        return date.fromisoformat(value)
    if name == "at":
        return datetime.fromisoformat(value)
    return value


def export(
    tables: Tables, *, as_of: date, timezone: str
) -> list[tuple[dict[str, Any], pl.DataFrame]]:
    """The persistent nodes' results the bundle holds for the view `as_of`, each with its
    key as JSON-able metadata (node, coords, version). Those no view changes (no
    coordinates: the ordered history, the teams of each lead) are derived if not yet held,
    so every view read from the snapshot starts from them."""
    out = []
    for node in PERSISTED.values():
        coords = _coords(node, as_of, timezone)
        held = node.key(*coords)
        if not node.coords:
            get(tables, node)
        frame = tables.derivations(node.name).get(held)
        if frame is None:
            continue
        meta: dict[str, Any] = {
            "node": node.name,
            "coords": {n: _json(v) for n, v in zip(node.coords, coords, strict=True)},
            "version": node.version,
        }
        if node is LEAD_HISTORY:
            meta["whole_table"] = _nothing_after(tables, as_of, timezone)
        out.append((meta, frame))
    return out


def _current(meta: Mapping[str, Any]) -> Node | None:
    """The node a stored result belongs to, if it was derived by this code version."""
    node = PERSISTED.get(meta.get("node", ""))
    return node if node is not None and meta.get("version") == node.version else None


def seed(tables: Tables, items: Iterable[tuple[Mapping[str, Any], pl.DataFrame]]) -> int:
    """Seed `tables` with stored results derived by this code version; returns how many
    were used."""
    used = 0
    for meta, frame in items:
        node = _current(meta)
        if node is None:
            continue
        coords = meta.get("coords") or {}
        if set(coords) != set(node.coords):
            continue
        tables.seed(node.key(*(_parse(n, coords[n]) for n in node.coords)), frame)
        used += 1
    return used


def stand_ins(items: Iterable[tuple[Mapping[str, Any], pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """Stored results that can stand in for a table, by table name, so a snapshot's reader
    need not read (and hold) that table twice: the stage history in deal and time order has
    the same rows; the lead history in lead and time order has the same rows when nothing in
    it was dated after the as-of day (`whole_table`), with owners carried forward, which
    every metric reads the same way."""
    current = [(_current(m), m, f) for m, f in items]
    ordered = [f for n, _, f in current if n is ORDERED]
    leads = [f for n, m, f in current if n is LEAD_HISTORY and m.get("whole_table")]
    out = {}
    if len(ordered) == 1:
        out["stage_history"] = ordered[0]
    if len(leads) == 1:
        out["lead_history"] = leads[0]
    return out


def bundle(
    frames: Mapping[str, pl.DataFrame],
    items: Iterable[tuple[Mapping[str, Any], pl.DataFrame]] = (),
    provenance: Mapping[str, str] | None = None,
) -> Tables:
    """A snapshot's tables as a bundle, seeded with its stored results (which also stand in
    for the tables they can: `stand_ins`)."""
    items = list(items)
    present = {name: frame for name, frame in stand_ins(items).items() if name in frames}
    tables = Tables.from_frames({**frames, **present}, provenance)
    seed(tables, items)
    return tables


def _nothing_after(tables: Tables, as_of: date, timezone: str) -> bool:
    """True when no lead-history row is dated after the end of `as_of`."""
    late = tables.lead_history.filter(pl.col("entered_at") >= as_of_end(as_of, timezone))
    return late.select(pl.len()).collect(engine=ENGINE).item() == 0
