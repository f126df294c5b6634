"""A page's headline figure beside the same figure in the previous snapshot: `st.metric`'s
change arrow for figures outside the Scorecard's team table (which `_widgets.
since_last_snapshot` reads). The previous snapshot is read for the same period, as-of date and
teams as the view (as `_data.changes` compares scorecards), so an arrow is what the newer data
says of the same question, never a change of view."""

from __future__ import annotations

import dataclasses
from typing import Any

import polars as pl

from pages import _data
from reports.headline_changes import metric_delta
from snapshots.store import StoreError

SINCE_HELP = (
    "\n\nThe arrow: the change since the previous snapshot, for the same period, as-of date and "
    "teams (green is better). No arrow on the first snapshot or when either side is not measured."
)
OFF = {"delta_color": "off", "delta_arrow": "off"}


def previous_view(view: _data.View) -> _data.View | None:
    """The view read on the snapshot before the view's own, or None for the first snapshot."""
    store = _data.store()
    try:
        previous = store.previous(store.get(view.snapshot_id))
    except (OSError, StoreError):
        return None
    return None if previous is None else dataclasses.replace(view, snapshot_id=previous.id)


def metric_before(name: str, view: _data.View, **options: Any) -> pl.DataFrame | None:
    """The metric `name` of the view on the previous snapshot (None: no previous snapshot, or
    it cannot be read, e.g. damaged or lacking the metric's tables)."""
    before = previous_view(view)
    if before is None:
        return None
    try:
        return _data.metric(name, before, **options)
    except (OSError, pl.exceptions.PolarsError, StoreError, KeyError, ValueError):
        return None


def delta(
    now: float | None,
    before: float | None,
    unit: str,
    *,
    higher_is_better: bool,
    compared: bool,
    note: dict | None = None,
) -> dict:
    """`st.metric` delta arguments: the change from `before` to `now` with an arrow, green when
    better; "no change since last snapshot" or "not measured before" without one; `note` (a
    "not measured" note the card shows) wins; nothing when there is no earlier snapshot
    (`compared` False). `unit` as `reports.headline_changes.metric_delta`: "pts" for rates,
    "$", "count", "score"."""
    if note:
        return note
    if not compared or now is None:
        return {}
    if before is None:
        return {"delta": "not measured before", **OFF}
    change = now - before
    if abs(change) < 1e-9:
        return {"delta": "no change since last snapshot", **OFF}
    text = f"{change:+.1f}" if unit == "score" else metric_delta(change, unit)
    return {
        "delta": f"{text} since last snapshot",
        "delta_color": "normal" if higher_is_better else "inverse",
    }
