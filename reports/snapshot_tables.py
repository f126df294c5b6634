"""A stored snapshot as a scoring bundle: its tables, seeded with the intermediates its
refresh stored (`scoring.intermediates`). Used by the app, the CLI and the pre-read."""

from __future__ import annotations

from model.tables import Tables, derived_provenance
from scoring import intermediates
from snapshots.store import Snapshot


def read_bundle(snapshot: Snapshot) -> Tables:
    """The snapshot's tables and stored intermediates; a table an intermediate stands in for
    is not read at all (so it is never held twice)."""
    items = snapshot.read_intermediates()
    present = {k: v for k, v in intermediates.stand_ins(items).items() if k in snapshot.tables}
    origin = (snapshot.manifest.get("detail") or {}).get("origin")
    return intermediates.bundle(
        {**snapshot.read_all(skip=present), **present}, items, derived_provenance(origin)
    )
