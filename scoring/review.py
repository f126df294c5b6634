"""The review window ("since last review") and what changed in it, from two snapshots or from
the stage history.

A weekly review asks what moved since the previous one. The window ends on the view's as-of
day and starts one week (or two, four, thirteen) before it, or on a day named in the URL
(`?window=2w`, `?since=2026-11-09`). What changed is read, in order of preference:

1. from two snapshots, when the store holds one whose data is as of `since` or earlier: each
   deal's values as the CRM held them at the two refreshes (`scoring.changes.snapshot_*`),
   with or without a recorded history;
2. from the stage history (`scoring.changes.deal_changes` and siblings), which also sees
   what happened in between (pushes, reopenings);
3. "not measured", with the reason, when the history was derived from each deal's current
   values and no earlier snapshot exists.

Pure: the caller (the pages' cached loader, the pre-read builder) lists the snapshots and
reads the bundles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from model.calendar import Calendar
from model.tables import Tables
from scoring import changes

WINDOWS = {"1w": 7, "2w": 14, "4w": 28, "13w": 91}
WINDOW_LABELS = {
    "1w": "1 week",
    "2w": "2 weeks",
    "4w": "4 weeks",
    "13w": "13 weeks (a quarter)",
}
DEFAULT_WINDOW = "1w"
KIND_LABELS = {
    "new": "New",
    "won": "Won",
    "lost": "Lost",
    "reopened": "Reopened",
    "amount_up": "Amount up",
    "amount_down": "Amount down",
    "close_pushed": "Pushed out",
    "close_pulled_in": "Pulled in",
    "stage_forward": "Stage forward",
    "stage_back": "Stage back",
    "category_up": "Category up",
    "category_down": "Category down",
}
TREND_LABELS = {"up": "Trend up", "down": "Trend down", "slipped": "Slipped", "idle": "Idle"}


class WindowError(ValueError):
    """A review window the URL asks for that cannot be used (not a date, not before as-of)."""


@dataclass(frozen=True)
class ReviewWindow:
    """The review window: from the end of `since` to the end of `until` (the view's as-of).
    `name` is how the URL says it: "2w", or the `since` day for a chosen date."""

    since: date
    until: date
    name: str

    @property
    def days(self) -> int:
        return (self.until - self.since).days

    @property
    def label(self) -> str:
        """E.g. "2 weeks: 2026-11-02 – 2026-11-16"."""
        span = WINDOW_LABELS.get(self.name, f"since {self.since}")
        return f"{span}: {self.since} – {self.until}"


def review_window(
    as_of: date, *, window: str | None = None, since: str | None = None
) -> ReviewWindow:
    """The window the URL asks for: `since` (an ISO day before `as_of`) wins over `window`
    (1w, 2w, 4w, 13w); neither gives one week. Raises `WindowError` naming the parameter."""
    if since:
        try:
            day = date.fromisoformat(since.strip())
        except ValueError as exc:
            raise WindowError(f"since={since!r} is not a day (YYYY-MM-DD)") from exc
        if day >= as_of:
            raise WindowError(f"since={day} is not before the as-of day {as_of}")
        return ReviewWindow(since=day, until=as_of, name=day.isoformat())
    name = (window or DEFAULT_WINDOW).strip().lower()
    if name not in WINDOWS:
        raise WindowError(f"window={window!r} is not one of {', '.join(WINDOWS)}")
    return ReviewWindow(since=as_of - timedelta(days=WINDOWS[name]), until=as_of, name=name)


def earlier_snapshot(
    candidates: Sequence[tuple[str, date]], since: date
) -> tuple[str, date] | None:
    """Of (snapshot id, data as-of day) pairs, the newest whose data is as of `since` or
    earlier (ids sort by when they were written), or None."""
    fitting = [c for c in candidates if c[1] <= since]
    return max(fitting, key=lambda c: (c[1], c[0])) if fitting else None


@dataclass(frozen=True)
class ReviewChanges:
    """What changed in a review window, per team and per deal.

    `source` is "snapshots", "history" or "none" (not measured: `reason` says why);
    `source_text` says it in words for the page and the pre-read. Frames (empty when not
    measured): `summary` (team × kind: deals, amount at until, amount_delta), `trends`
    (team × trend: deals, amount), `transitions` (team × from × to: deals, amount_since,
    amount), `rows` (deal × kind with the owner's name), `deal_trends` (deal: trend)."""

    window: ReviewWindow
    source: str
    source_text: str
    reason: str | None
    summary: pl.DataFrame
    trends: pl.DataFrame
    transitions: pl.DataFrame
    rows: pl.DataFrame
    deal_trends: pl.DataFrame

    @property
    def measured(self) -> bool:
        return self.reason is None


def _with_owner(rows: pl.DataFrame, tables: Tables) -> pl.DataFrame:
    """`rows` with `owner`: the owner's name (the id where the users table has none)."""
    names = tables.company.users.select("user_id", owner=pl.col("name")).collect()
    return rows.join(
        names, left_on="owner_id", right_on="user_id", how="left", maintain_order="left"
    ).with_columns(pl.col("owner").fill_null(pl.col("owner_id")))


def review_changes(
    later: Tables,
    *,
    window: ReviewWindow,
    calendar: Calendar,
    earlier: Tables | None = None,
    earlier_label: str = "",
    history_note: str = "",
) -> ReviewChanges:
    """What changed in `window` on `later` (the view's tables, maybe filtered to teams).

    With `earlier` (a whole-company bundle read from an earlier snapshot, `earlier_label`
    naming it) the two snapshots are compared; else the stage history of `later`
    (`history_note` says why no snapshot was used; default: none is old enough)."""
    if earlier is not None:
        rows = changes.snapshot_changes(earlier, later)
        return ReviewChanges(
            window=window,
            source="snapshots",
            source_text=f"compared with {earlier_label or 'an earlier snapshot'}: each deal's "
            "values as the two refreshes held them (what happened in between is not seen)",
            reason=None,
            summary=changes.snapshot_changes_summary(earlier, later),
            trends=changes.snapshot_trend_summary(earlier, later),
            transitions=changes.snapshot_category_transitions(earlier, later),
            rows=_with_owner(rows, later),
            deal_trends=_with_owner(changes.snapshot_trends(earlier, later), later),
        )
    span = {"since": window.since, "until": window.until, "calendar": calendar}
    why = history_note or f"no snapshot as of {window.since} or earlier to compare with"
    reason = changes.changes_status(later)
    if reason is not None:
        reason = f"{reason} Snapshots cannot stand in: {why}."
    rows = changes.deal_changes(later, **span)
    return ReviewChanges(
        window=window,
        source="none" if reason else "history",
        source_text="not measured" if reason else f"read from the stage history ({why})",
        reason=reason,
        summary=changes.changes_summary(later, **span),
        trends=changes.trend_summary(later, **span),
        transitions=changes.category_transitions(later, **span),
        rows=_with_owner(rows, later),
        deal_trends=_with_owner(changes.deal_trends(later, **span), later),
    )
