"""Cached access to snapshots and metric results for the pages.

Caches are keyed by scalars (data folder, snapshot id, filter values, a fingerprint of the
scoring settings), never by frames: Streamlit 1.67 hashes a polars frame by its first and
last rows only, so a frame argument could return a stale result. A snapshot id names
immutable files, so a cache keyed by it is exact; a refresh makes a new id and so a fresh
computation, and a rerun with the same view recomputes nothing.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from journal import Journal
from model.calendar import Period, parse_period
from model.params import ScoringParams, digest
from model.tables import Tables
from ops import decisions as _decisions
from ops.config import DEFAULT_CONFIG, PROJECT_ROOT, Settings, load_settings
from ops.refresh import SCORECARD_FILE
from pages import _filters
from pages._text import md_text
from reports import metrics as _metrics
from reports.review import review_for
from reports.snapshot_tables import read_bundle
from scoring.pillars import unmeasured_reason
from scoring.review import ReviewChanges, ReviewWindow
from scoring.scorecard import Scorecard, compare, compute, filter_teams
from snapshots.store import NoSnapshot, Readable, Snapshot, Store, StoreError


def settings() -> Settings:
    """Configuration, read again whenever `scorecard.toml`, `.env` or the environment
    changes (several calls per rerun cost one read)."""
    config = Path(os.environ.get("SCORECARD_CONFIG") or DEFAULT_CONFIG)
    stamps = tuple(_mtime(path) for path in (config, PROJECT_ROOT / ".env"))
    return _settings(stamps, tuple(sorted(os.environ.items())))


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _settings(stamps: tuple, environ: tuple) -> Settings:
    return load_settings()


def store() -> Store:
    return Store(settings().data_dir)


def current_snapshot() -> Snapshot | None:
    """The snapshot the session views: the current one (a small file read on every rerun, so
    a refresh shows at once), or an earlier one pinned on the Data & refresh page.

    A damaged snapshot is never shown: the newest valid one is, with a notice in the sidebar
    saying which and why. When none can be read the problem and its fix are shown above the
    page and None is returned, so the app offers Data & refresh (where ops refresh)."""
    s = store()
    pinned = st.session_state.get("pinned_snapshot")
    if pinned and (s.snapshots_dir / pinned).exists():
        try:
            snapshot = s.get(pinned)
            problem = s.damage(snapshot) or _unreadable_tables(s, snapshot)
        except StoreError as exc:
            problem = str(exc)
        if problem is None:
            return snapshot
        st.session_state.pop("pinned_snapshot")
        # said on the page drawn next (this run may be the app root's, which only moves on)
        _filters.say_once(f"The pinned snapshot {md_text(pinned)} cannot be read "
                          f"({md_text(problem)}).")  # fmt: skip
    try:
        chosen = _readable(s)
    except NoSnapshot:
        return None
    except StoreError as exc:
        st.error(
            f"**The data cannot be read.** {md_text(str(exc))}.\n\nOps: refresh on "
            "*Data & refresh*, restore the data folder from a backup, or point "
            "SCORECARD_DATA_DIR at a good copy.",
            icon=":material/error:",
        )
        return None
    if chosen.notice:
        st.sidebar.warning(md_text(chosen.notice), icon=":material/warning:")
    return chosen.snapshot


# Snapshots whose tables failed to read past their footers, per data folder (ids name
# immutable files, so once broken always broken; kept for the life of the server process).
_BROKEN: dict[str, set[str]] = {}


def _readable(s: Store) -> Readable:
    """The newest valid snapshot whose tables load (loading them is what every page does
    first, and it is cached, so this costs nothing more)."""
    broken = _BROKEN.setdefault(str(s.root), set())
    while True:
        chosen = s.readable(also_damaged=broken)
        if _unreadable_tables(s, chosen.snapshot) is None:
            return chosen


def _unreadable_tables(s: Store, snapshot: Snapshot) -> str | None:
    try:
        load_tables(str(s.root), snapshot.id)
    except (OSError, pl.exceptions.PolarsError, StoreError):
        _BROKEN.setdefault(str(s.root), set()).add(snapshot.id)
        return "its tables do not read"
    return None


def build_demo(bar: Any) -> str | None:
    """Build the demo org like any refresh (lock, run log), drawing progress on `bar`;
    returns the error message, or None when the snapshot is stored."""
    from ops.jobs import run_refresh

    record = run_refresh(
        settings(), "demo", trigger="page", progress=lambda m, f: bar.progress(f, text=m)
    )
    if not record.ok:
        return record.error or record.outcome
    _seed_demo_journal()
    return None


def _seed_demo_journal() -> None:
    """Plant the demo's decisions and leaders' answers into an empty journal (ops.decisions)."""
    snapshot = current_snapshot()
    if snapshot is None:
        return
    as_of = snapshot.data_as_of
    quarter = settings().scoring.calendar.quarter_of(as_of).name
    try:
        _decisions.seed_demo(journal(), as_of=as_of, quarter=quarter)
    except Exception:  # an unreachable journal: the demo works without its decision log
        return


def auto_demo_enabled() -> bool:
    """Whether to build the demo org on first start (SCORECARD_AUTO_DEMO=0 turns it off).
    Never over a store that has a current snapshot but cannot read it: that needs ops."""
    if os.environ.get("SCORECARD_AUTO_DEMO", "1") in ("0", "false", "no"):
        return False
    try:
        return store().current_id() is None
    except (OSError, StoreError):
        return False


@dataclass(frozen=True)
class View:
    """What a page shows: one snapshot judged for a period, as of a date, for some teams.

    Only scalars, so it can key caches exactly.
    """

    data_dir: str
    snapshot_id: str
    period: str
    as_of: str
    teams: tuple[str, ...]
    params_key: str

    @property
    def as_of_date(self) -> date:
        return date.fromisoformat(self.as_of)

    @property
    def period_label(self) -> str:
        """The period as the pages name it (a custom, ttm or all period with its days)."""
        return self.period_obj(settings().scoring.fiscal_start_month).label

    def period_obj(self, fiscal_start_month: int) -> Period:
        """The view's period ("ttm" ends on the as-of day, "all" starts on the data's first)."""
        start = data_start(self.data_dir, self.snapshot_id) if self.period == "all" else None
        return parse_period(self.period, fiscal_start_month=fiscal_start_month,
                            as_of=self.as_of_date, data_start=start)  # fmt: skip


def params_key(params: ScoringParams) -> str:
    """A fingerprint of the scoring settings, so a changed scorecard.toml recomputes; the
    stored scorecard is keyed by the same digest."""
    return digest(params)


def current_view() -> View:
    """The view chosen in the sidebar (app.py puts the filters in session state)."""
    return st.session_state["view"]


@st.cache_resource(max_entries=2, show_spinner="Loading the snapshot…")
def load_tables(data_dir: str, snapshot_id: str) -> Tables:
    """Every table of one snapshot, read once per server process and shared by all sessions.

    The frames are read-only by convention; scoring never mutates its inputs.
    """
    snap = Store(Path(data_dir)).get(snapshot_id)
    return read_bundle(snap)


@st.cache_resource(max_entries=8, show_spinner=False)
def team_tables(data_dir: str, snapshot_id: str, teams: tuple[str, ...]) -> Tables:
    """The snapshot's tables restricted to `teams` (all when empty)."""
    tables = load_tables(data_dir, snapshot_id)
    if not teams:
        return tables
    return filter_teams(tables, teams)


def data_start(data_dir: str, snapshot_id: str) -> date | None:
    """The first day of the snapshot's data (the start of the "all" period)."""
    return _data_start(data_dir, snapshot_id, settings().scoring.timezone)


@st.cache_data(max_entries=8, show_spinner=False)
def _data_start(data_dir: str, snapshot_id: str, timezone: str) -> date | None:
    from model.calendar import Calendar
    from scoring import periods

    return periods.data_start(load_tables(data_dir, snapshot_id), Calendar(timezone))


@st.cache_data(max_entries=8, show_spinner=False)
def users(data_dir: str, snapshot_id: str) -> pl.DataFrame:
    """The snapshot's users and queues (`user_id`, `name`), to show people by name."""
    frame = load_tables(data_dir, snapshot_id).frames["users"]
    names = pl.col("name") if "name" in frame.collect_schema() else pl.lit(None, pl.String)
    return frame.select("user_id", names.cast(pl.String).alias("name")).collect()


@st.cache_data(max_entries=8, show_spinner=False)
def deal_names(data_dir: str, snapshot_id: str) -> pl.DataFrame:
    """The snapshot's deals by name (`opp_id`, `name`), for tables that point to a deal."""
    frame = load_tables(data_dir, snapshot_id).frames["opportunities"]
    names = pl.col("name") if "name" in frame.collect_schema() else pl.lit(None, pl.String)
    return frame.select("opp_id", names.cast(pl.String).alias("name")).collect()


@st.cache_data(max_entries=8, show_spinner=False)
def sales_teams(data_dir: str, snapshot_id: str) -> list[str]:
    """Teams that own opportunities in the snapshot, for the team filter and the colors."""
    from model.tables import opportunities_with_team

    tables = load_tables(data_dir, snapshot_id)
    teams = opportunities_with_team(tables).select("team").unique().sort("team").collect()
    return teams["team"].to_list()


def _stored_scorecard(view: View, params: ScoringParams) -> Scorecard | None:
    """The scorecard the refresh precomputed, if it is the one this view asks for (the same
    view, and settings with the same digest)."""
    stored = Store(Path(view.data_dir)).get(view.snapshot_id).artifact(SCORECARD_FILE)
    if stored is None:
        return None
    card = json.loads(stored)
    same_view = (card["period"], card["as_of"], card["teams"]) == (
        view.period, view.as_of, list(view.teams)
    )  # fmt: skip
    if not same_view or card.pop("params", None) != digest(params):
        return None
    return Scorecard.from_dict(card)


@st.cache_data(max_entries=32, show_spinner="Computing the scorecard…")
def _scorecard(view: View, decisions_version: str | None = "0") -> Scorecard:
    """The view's scorecard; `decisions_version` (`Journal.version`, None when the log cannot
    be opened) keys the cache, so a decision recorded or closed recomputes "decisions kept"."""
    params = settings().scoring
    if decisions_version == "0":  # no decision yet: what the refresh precomputed still holds
        stored = _stored_scorecard(view, params)
        if stored is not None:
            return stored
    decisions = None
    if decisions_version is not None:
        decisions = _decisions.in_view(journal().decisions(), view.teams)
    card = compute(
        team_tables(view.data_dir, view.snapshot_id, view.teams),
        as_of=view.as_of_date,
        period=view.period_obj(params.fiscal_start_month),
        params=params,
        teams=view.teams,
        decisions=decisions,
    )
    return card


def decisions_version() -> str | None:
    """`Journal.version` of the decision log, or None when it cannot be opened."""
    try:
        return journal().version()
    except Exception:  # an unreachable DATABASE_URL: the scorecard says the log was not read
        return None


def scorecard(view: View) -> Scorecard:
    """The scorecard of a view (cached per view and state of the decision log)."""
    return _scorecard(view, decisions_version())


def changes(view: View) -> dict[str, Any]:
    """What changed since the previous snapshot, for the same period, as-of and teams."""
    return _changes(view, decisions_version())


@st.cache_data(max_entries=32, show_spinner="Comparing with the previous snapshot…")
def _changes(view: View, version: str | None) -> dict[str, Any]:
    s = Store(Path(view.data_dir))
    previous = s.previous(s.get(view.snapshot_id))
    if previous is None:
        return compare(_scorecard(view, version), None)
    before = View(view.data_dir, previous.id, view.period, view.as_of, view.teams, view.params_key)
    try:
        earlier = _scorecard(before, version)
    except (OSError, pl.exceptions.PolarsError, StoreError):
        return compare(_scorecard(view, version), None)  # a damaged previous snapshot
    result = compare(_scorecard(view, version), earlier)
    result["previous_snapshot"] = previous.id
    return result


@st.cache_data(max_entries=256, show_spinner="Computing…")
def _metric(name: str, view: View, options: tuple[tuple[str, Any], ...]) -> pl.DataFrame:
    params = settings().scoring
    tables = team_tables(view.data_dir, view.snapshot_id, view.teams)
    context = _metrics.MetricContext(
        as_of=view.as_of_date, period=view.period_obj(params.fiscal_start_month), params=params
    )
    return _metrics.METRICS[name](tables, context, **dict(options))


def metric(name: str, view: View, **options: Any) -> pl.DataFrame:
    """A metric's result frame for the view (cached by name, view and options).

    `name` is a key of `reports.metrics.METRICS`; options must be hashable scalars/tuples.
    """
    return _metric(name, view, tuple(sorted(options.items())))


@st.cache_resource(max_entries=8, show_spinner=False)
def deal_marks(view: View, since: str) -> pl.DataFrame:
    """Every deal's name, change flags since the end of `since` and risk score: the deal
    columns of every deal table (`_widgets.table`). Shared, not copied per table and rerun as
    `metric` results are (one row per deal of the company); read-only by convention."""
    params = settings().scoring
    context = _metrics.MetricContext(
        as_of=view.as_of_date, period=view.period_obj(params.fiscal_start_month), params=params
    )
    return _metrics.METRICS["deal_marks"](
        load_tables(view.data_dir, view.snapshot_id), context, since=since
    )


@st.cache_data(max_entries=128, show_spinner=False)
def unmeasured(view: View, signal_id: str) -> str | None:
    """Why the scorecard signal `signal_id` cannot be measured on this view's data (the input
    it needs that the data lacks), or None: a page shows "not measured" instead of a 0."""
    return unmeasured_reason(team_tables(view.data_dir, view.snapshot_id, view.teams), signal_id)


def snapshot_named(view: View, snapshot_id: str | None) -> Snapshot | None:
    """The snapshot `snapshot_id` of the view's data folder (its manifest), or None."""
    if not snapshot_id:
        return None
    try:
        return Store(Path(view.data_dir)).get(snapshot_id)
    except StoreError:
        return None


def missing_tables(view: View) -> frozenset[str]:
    return load_tables(view.data_dir, view.snapshot_id).missing


def review_changes(view: View, window: ReviewWindow) -> ReviewChanges:
    """What changed in the review `window` for the view's teams (cached per view and window):
    compared with the newest snapshot as of the window's start or earlier when the store
    holds one and the view is as of its snapshot's day, else read from the stage history."""
    return _review_changes(view, window.since.isoformat(), window.name)


@st.cache_data(max_entries=32, show_spinner="Reading what changed since the last review…")
def _review_changes(view: View, since: str, name: str) -> ReviewChanges:
    store_ = Store(Path(view.data_dir))
    return review_for(
        store_,
        store_.get(view.snapshot_id),
        team_tables(view.data_dir, view.snapshot_id, view.teams),
        window=ReviewWindow(since=date.fromisoformat(since), until=view.as_of_date, name=name),
        calendar=settings().scoring.calendar,
    )


@st.cache_resource(max_entries=4, show_spinner="Opening the decision log…")
def _journal(url: str) -> Journal:
    return _decisions.open_for_url(url)


def journal() -> Journal:
    """The decision log and leaders' answers (``DATABASE_URL``, else SQLite in the data folder),
    opened and migrated once per database; read fresh on every call, never cached as data."""
    return _journal(_decisions.journal_url(settings().data_dir))
