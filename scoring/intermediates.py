"""Intermediates worth keeping with a snapshot.

Stage spells, lead funnel steps, the ordered lead history, per-deal trust counts and the
data-quality checks depend only on the tables, the as-of date and the time zone, and most
metrics start from one of them. The refresh derives
them once (while it precomputes the default scorecard) and stores them with the snapshot;
every bundle read from that snapshot is seeded with them, so no page derives them again.

A stored intermediate carries the fingerprint of the code that derived it; after an upgrade
that changes that code, old ones are ignored (and derived afresh when needed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from model.tables import ENGINE, Tables
from scoring.history import ORDERED_HISTORY
from scoring.stages import as_of_cutoff

# Kinds of `Tables.derived` keys kept with a snapshot; each key is (kind, as_of, timezone),
# the time zone None for what does not depend on one.
KINDS = ("stage_spells", "funnel_steps", "lead_history_sorted", "trust_per_deal", "quality_checks")
# Kinds still valid, as they are or restricted to the kept teams, in a bundle filtered to
# some teams (`scorecard.filter_teams` keeps every opportunity of those teams).
TEAM_SCOPED = {"stage_spells": "team", "trust_per_deal": "team", "opp_state_at": "team"}
# Kinds of one row (or more, in order) per lead, valid in a filtered bundle restricted to the
# leads it keeps (the leads of its teams, `tables.lead_teams`): funnel steps read the
# converted opportunities of all teams, so a team's are the company's rows of its leads.
LEAD_SCOPED = ("funnel_steps", "lead_history_sorted")
# The stage history in deal and time order (`history._ordered_history`, key (kind,)) is kept
# too; a team-filtered bundle keeps its deals' rows, in the same order.
# Deal states at an instant (`history.opp_state_at`, key (kind, at)): the one at the end of
# the as-of day is kept (stalled deals, trust and slippage read it).
STATES = "opp_state_at"
LEAD_HISTORY = "lead_history_sorted"

_ROOT = Path(__file__).resolve().parent.parent
_SOURCES = (
    "model/tables.py", "scoring/windows.py", "scoring/stages.py", "scoring/funnel.py",
    "model/calendar.py", "scoring/quality.py", "scoring/history.py",
)  # fmt: skip


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


CODE_VERSION = _fingerprint()


def export(
    tables: Tables, *, as_of: date, timezone: str
) -> list[tuple[dict[str, Any], pl.DataFrame]]:
    """The bundle's derived intermediates for `as_of` worth storing, each with its key as
    JSON-able metadata (kind, as_of, timezone, code_version; for the deal states, the
    instant `at` that ends `as_of`)."""
    out = []
    for kind in KINDS:
        for (_, day, tz), frame in tables.derivations(kind).items():
            if day == as_of:
                meta = {"kind": kind, "as_of": day.isoformat(), "timezone": tz}
                if kind == LEAD_HISTORY:
                    meta["whole_table"] = _nothing_after(tables, as_of, tz)
                out.append(({**meta, "code_version": CODE_VERSION}, frame))
    for _, frame in tables.derivations(ORDERED_HISTORY).items():
        out.append(({"kind": ORDERED_HISTORY, "code_version": CODE_VERSION}, frame))
    end = as_of_cutoff(as_of, timezone) - timedelta(microseconds=1)
    for (_, at), frame in tables.derivations(STATES).items():
        if at == end:
            out.append(
                ({"kind": STATES, "at": at.isoformat(), "code_version": CODE_VERSION}, frame)
            )
    return out


def seed(tables: Tables, items: Iterable[tuple[Mapping[str, Any], pl.DataFrame]]) -> int:
    """Seed `tables` with stored intermediates derived by this code version; returns how
    many were used."""
    used = 0
    for meta, frame in items:
        if meta.get("code_version") != CODE_VERSION:
            continue
        if meta.get("kind") in KINDS:
            key = (meta["kind"], date.fromisoformat(meta["as_of"]), meta["timezone"])
        elif meta.get("kind") == STATES:
            key = (STATES, datetime.fromisoformat(meta["at"]))
        elif meta.get("kind") == ORDERED_HISTORY:
            key = (ORDERED_HISTORY,)
        else:
            continue
        tables.seed(key, frame)
        used += 1
    return used


def stand_ins(items: Iterable[tuple[Mapping[str, Any], pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """Stored intermediates that can stand in for a table, by table name, so a snapshot's
    reader need not read (and hold) that table twice: the stage history in deal and time
    order has the same rows; the lead history in lead and time order has the same rows when
    nothing in it was dated after the as-of day (`whole_table`), with owners carried forward,
    which every metric reads the same way."""
    current = [(m, f) for m, f in items if m.get("code_version") == CODE_VERSION]
    ordered = [f for m, f in current if m.get("kind") == ORDERED_HISTORY]
    leads = [f for m, f in current if m.get("kind") == LEAD_HISTORY and m.get("whole_table")]
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
    """A snapshot's tables as a bundle, seeded with its stored intermediates (which also stand
    in for the tables they can: `stand_ins`)."""
    items = list(items)
    present = {name: frame for name, frame in stand_ins(items).items() if name in frames}
    tables = Tables.from_frames({**frames, **present}, provenance)
    seed(tables, items)
    return tables


def _nothing_after(tables: Tables, as_of: date, timezone: str) -> bool:
    """True when no lead-history row is dated after the end of `as_of`."""
    late = tables.lead_history.filter(pl.col("entered_at") >= as_of_cutoff(as_of, timezone))
    return late.select(pl.len()).collect(engine=ENGINE).item() == 0


def inherit(parent: Tables, child: Tables, teams: Sequence[str]) -> None:
    """Seed `child` (the `parent` filtered to `teams`) with the parent's intermediates that
    stay valid there, restricted to the child's deals and leads."""
    keep = list(teams)
    for kind, column in TEAM_SCOPED.items():
        for key, frame in parent.derivations(kind).items():
            child.seed(key, frame.filter(pl.col(column).is_in(keep)))
    leads = child.leads.select("lead_id").collect(engine=ENGINE)
    for kind in LEAD_SCOPED:
        for key, frame in parent.derivations(kind).items():
            child.seed(key, frame.join(leads, on="lead_id", how="semi", maintain_order="left"))
    for key, frame in parent.derivations(ORDERED_HISTORY).items():
        deals = child.opportunities.select("opp_id")
        kept = frame.lazy().join(deals, on="opp_id", how="semi", maintain_order="left")
        child.seed(key, kept.collect(engine=ENGINE))
