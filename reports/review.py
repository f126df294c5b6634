"""Which review the pre-read and the pages read: the changes in a window, from the store's
snapshots when one is old enough, else from the stage history (`scoring.review`).

The I/O edge of `scoring.review`: it lists the store's snapshots and reads the earlier one.
Light on imports, so the app's cached loader (`pages._data.review_changes`) uses it too.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from model.calendar import Calendar
from model.tables import Tables
from reports.snapshot_tables import read_bundle
from scoring.review import ReviewChanges, ReviewWindow, earlier_snapshot, review_changes
from snapshots.store import Snapshot, Store, StoreError


def review_for(
    store: Store,
    snapshot: Snapshot,
    tables: Tables,
    *,
    window: ReviewWindow,
    calendar: Calendar,
) -> ReviewChanges:
    """What changed in `window` on `tables` (the snapshot's tables, maybe filtered to the
    view's teams): compared with the newest valid snapshot as of the window's start or
    earlier when the view is as of the snapshot's own day, else read from the history."""
    earlier, label, note = None, "", ""
    if window.until != snapshot.data_as_of:
        note = (
            f"snapshots hold their own day only: this view is as of {window.until}, its "
            f"snapshot of {snapshot.data_as_of}"
        )
    else:
        older = [(s.id, s.data_as_of) for s in store.list() if s.id < snapshot.id]
        chosen = earlier_snapshot(older, window.since)
        if chosen is not None:
            earlier, note = _read(store, *chosen)
            label = f"the snapshot of {chosen[1]} ({chosen[0]})" if earlier else ""
    return review_changes(
        tables,
        window=window,
        calendar=calendar,
        earlier=earlier,
        earlier_label=label,
        history_note=note,
    )


def _read(store: Store, snapshot_id: str, day: date) -> tuple[Tables | None, str]:
    """The whole-company bundle of an earlier snapshot, or None and why it cannot be read."""
    try:
        found = store.get(snapshot_id)
        problem = store.damage(found)
        if problem is None:
            return read_bundle(found), ""
    except (OSError, pl.exceptions.PolarsError, StoreError) as exc:
        problem = str(exc)
    return None, f"the snapshot of {day} ({snapshot_id}) cannot be read: {problem}"
