"""The global filters: period, as-of date and teams, in the sidebar and in the URL.

They live in the entrypoint (app.py), so they render on every page and keep their values
when moving between pages; `bind="query-params"` writes them into the URL, so a link
reproduces the exact view.

The period is one URL parameter holding the period's name (`model.calendar`): a quarter
``2026-Q3``, a fiscal year ``FY2026``, ``ttm``, ``all`` or a custom range
``2026-03-01..2026-06-30``. The picker offers recent quarters, fiscal years, the trailing
twelve months and all data; a custom from/to range below it adds its own entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

import polars as pl
import streamlit as st

from model.calendar import (
    KIND_LABELS,
    Period,
    PeriodError,
    custom_period,
    fiscal_year_of,
    parse_period,
    period_of,
    previous,
    trailing,
)
from pages._text import md_text
from scoring import review
from snapshots.store import Snapshot


@dataclass(frozen=True)
class Filters:
    period: Period
    as_of: date
    teams: tuple[str, ...]

    def key(self) -> tuple[str, str, tuple[str, ...]]:
        """Scalars that identify this view, for cache keys."""
        return (self.period.name, self.as_of.isoformat(), self.teams)


def period_options(snapshot: Snapshot, fiscal_start_month: int) -> list[str]:
    """The quarters the snapshot can speak about, newest first."""
    current = period_of(snapshot.data_as_of, fiscal_start_month=fiscal_start_month)
    periods = trailing(current, 8, fiscal_start_month=fiscal_start_month)
    return [p.name for p in reversed(periods)]


def longer_options(snapshot: Snapshot, fiscal_start_month: int) -> list[str]:
    """Periods beyond a quarter: this and the last two fiscal years, ttm and all data."""
    year = fiscal_year_of(snapshot.data_as_of, fiscal_start_month=fiscal_start_month)
    years = [previous(year, k, fiscal_start_month=fiscal_start_month).name for k in (0, 1, 2)]
    return [*years, "ttm", "all"]


def named_period(name: object, fiscal_start_month: int) -> str | None:
    """The period name `name` stands for ("2026" → "FY2026"), or None if it is none."""
    if not isinstance(name, str):
        return None
    if name.strip().lower() in ("ttm", "all"):
        return name.strip().lower()
    try:
        return parse_period(name, fiscal_start_month=fiscal_start_month).name
    except PeriodError:
        return None


def period_label(name: str) -> str:
    """How the picker shows a period name."""
    if name in ("ttm", "all"):
        return KIND_LABELS[name].capitalize()
    if ".." in name:
        first, last = name.split("..")
        return f"{first} – {last} (custom)"
    return f"{name} (fiscal year)" if name.startswith("FY") else name


def _custom_chosen() -> None:
    """The custom from/to range was edited: select it once both days are chosen."""
    days = st.session_state.get("period_custom") or ()
    if len(days) == 2:
        st.session_state["period"] = custom_period(days[0], days[1]).name


def _follow_new_snapshot(snapshot: Snapshot, options: list[str]) -> None:
    """When a refresh brings a newer snapshot, move the as-of date (and period) along with
    it, unless the user had chosen other values than the old snapshot's defaults."""
    seen = st.session_state.get("_filters_seen")
    st.session_state["_filters_seen"] = (snapshot.id, snapshot.data_as_of, options[0])
    if seen is None or seen[0] == snapshot.id:
        return
    _, old_as_of, old_period = seen
    if st.session_state.get("as_of") in (None, old_as_of) or (
        st.session_state["as_of"] > snapshot.data_as_of
    ):
        st.session_state["as_of"] = snapshot.data_as_of
    # A fiscal year, ttm, all data or a custom range the user chose stays chosen.
    if st.session_state.get("period") in (None, old_period) or (
        named_period(st.session_state["period"], 1) is None
    ):
        st.session_state["period"] = options[0]


def render(
    snapshot: Snapshot,
    teams: list[str],
    *,
    fiscal_start_month: int,
    data_start: Callable[[], date | None] | None = None,
) -> Filters:
    """Draw the sidebar filters and return their values; `data_start` gives the data's
    first day (called only for the "all" period)."""
    options = period_options(snapshot, fiscal_start_month)
    _follow_new_snapshot(snapshot, options)
    choices = options + longer_options(snapshot, fiscal_start_month)
    # The period is kept in the URL by hand rather than with `bind="query-params"`: a bound
    # selectbox writes its label into the URL, and the labels say more than the names.
    asked = named_period(st.query_params.get("period"), fiscal_start_month)
    if asked and "period" not in st.session_state:  # a session's first run: the URL's period
        st.session_state["period"] = asked
    current = st.session_state.get("period")
    if current and current not in choices:  # a custom range or an older quarter or year
        choices.append(current)
    with st.sidebar:
        st.subheader("View")
        period = st.selectbox(
            "Period",
            choices,
            key="period",
            format_func=period_label,
            help="A quarter, a fiscal year (per scorecard.toml), the trailing twelve months "
            "or all data; or pick a custom range below. Forecast metrics judge quarters: for "
            "a longer period, the latest complete quarter in it.",
        )
        st.date_input(
            "Custom range (from – to)",
            value=_custom_value(period),
            # the default window is ten years back from today: real CRM data can be older
            min_value=date(snapshot.data_as_of.year - 30, 1, 1),
            max_value=date(snapshot.data_as_of.year + 5, 12, 31),
            key="period_custom",
            on_change=_custom_chosen,
            help="Both days included; the range becomes the period.",
        )
        st.query_params["period"] = period
        as_of = st.date_input(
            "As of",
            value=snapshot.data_as_of,
            max_value=snapshot.data_as_of,
            key="as_of",
            bind="query-params",
            help="Judge the data as it stood at the end of this day (default: snapshot date).",
        )
        chosen = st.multiselect(
            "Teams",
            teams,
            key="teams",
            bind="query-params",
            placeholder="All teams",
            help="Leave empty for every team.",
        )
    as_of = as_of if isinstance(as_of, date) else snapshot.data_as_of
    start = data_start() if period == "all" and data_start else None
    try:
        chosen_period = parse_period(
            period, fiscal_start_month=fiscal_start_month, as_of=as_of, data_start=start
        )
    except PeriodError as exc:  # e.g. "all" on data without dates: say so, show the quarter
        st.sidebar.warning(f"{md_text(exc)}; showing {md_text(options[0])}.")
        chosen_period = parse_period(options[0], fiscal_start_month=fiscal_start_month)
    return Filters(period=chosen_period, as_of=as_of, teams=tuple(sorted(chosen)))


def _custom_value(period: str) -> tuple[date, date] | tuple[()]:
    """The custom range's days when the period is one (so the picker shows it), else empty."""
    if ".." not in period:
        return ()
    chosen = parse_period(period)
    return (chosen.start, chosen.last_day)


REVIEW_KEY = "review_window"


def _window_label(name: str) -> str:
    return review.WINDOW_LABELS.get(name, f"since {name}")


def review_window(as_of: date) -> review.ReviewWindow:
    """The review window picker ("changes since last review"): ``?window=1w|2w|4w|13w`` or
    ``?since=YYYY-MM-DD`` in the URL, one week by default; a choice is written back to the URL.
    A window the URL names that cannot be used is said, and one week shown instead."""
    if REVIEW_KEY not in st.session_state:  # the session's first run here: the URL's window
        try:
            asked = review.review_window(
                as_of, window=st.query_params.get("window"), since=st.query_params.get("since")
            )
        except review.WindowError as exc:
            st.warning(f"{md_text(exc)}; showing the last week.", icon=":material/warning:")
            asked = review.review_window(as_of)
        st.session_state[REVIEW_KEY] = asked.name
    options = list(review.WINDOWS)
    if st.session_state[REVIEW_KEY] not in options:  # a day chosen in the URL
        options.append(st.session_state[REVIEW_KEY])
    name = st.selectbox(
        "Review window",
        options,
        key=REVIEW_KEY,
        format_func=_window_label,
        help="Changes from the end of the window's first day to the end of the as-of day. "
        "In the URL: ?window=2w, or ?since=2026-11-02 for a day of your own.",
    )
    try:
        if name in review.WINDOWS:
            chosen = review.review_window(as_of, window=name)
        else:
            chosen = review.review_window(as_of, since=name)
    except review.WindowError as exc:  # the as-of date moved to or before the chosen day
        st.warning(f"{md_text(exc)}; showing the last week.", icon=":material/warning:")
        chosen = review.review_window(as_of)
    keep, drop = ("window", "since") if chosen.name in review.WINDOWS else ("since", "window")
    st.query_params[keep] = chosen.name
    st.query_params.pop(drop, None)
    return chosen


def choice_from_url(key: str, param: str, options: Sequence[str], default: str) -> None:
    """Seed the choice widget `key` (drawn with no `default` of its own) on the session's
    first look: the URL's ``?param=`` when it is one of `options` (a shared link's choice),
    else `default`. `choice_to_url` writes the choice back, so a link carries it."""
    if key not in st.session_state:
        asked = st.query_params.get(param)
        st.session_state[key] = asked if asked in options else default


def choice_to_url(param: str, value: str | None, default: str) -> None:
    """Keep a choice in the URL as ``?param=``; left out when it is the default."""
    if value and value != default:
        st.query_params[param] = value
    else:
        st.query_params.pop(param, None)


# --- links that reproduce a view ------------------------------------------------------------
# A shared link names the snapshot it was made on (`?snapshot=<id>`) and its as-of date, so it
# shows the same numbers after a refresh writes a newer snapshot (while retention keeps that
# one); the sidebar then says a newer snapshot exists and links to this view on it.

SNAPSHOT = "snapshot"  # URL parameter: the snapshot a link was made on
DRILL = "drill"  # URL parameter, repeated: `<table key>:<row key>` per drilled-into table
PINNED = "pinned_snapshot"  # session key: the snapshot on view when not the current one
_LINK_READ = "_link_snapshot_read"


_ONCE = "_sidebar_notices_once"  # session key: warnings the sidebar shows on the next page


def say_once(text: str) -> None:
    """Keep a warning for the sidebar of the next page drawn (a run that only moves on, like
    the app root's, draws nothing the browser keeps)."""
    st.session_state.setdefault(_ONCE, []).append(text)


def notices_once() -> list[str]:
    """The warnings `say_once` kept; `said` forgets them once a page is drawn."""
    return list(st.session_state.get(_ONCE, []))


def said() -> None:
    st.session_state.pop(_ONCE, None)


def open_linked_snapshot(kept: Callable[[], Sequence[str]]) -> None:
    """On a session's first run, view the snapshot the URL names (`?snapshot=<id>`) when the
    store still keeps it (`kept`: the ids of the kept snapshots); when it does not, say so
    (`say_once`)."""
    if st.session_state.get(_LINK_READ):
        return
    st.session_state[_LINK_READ] = True
    asked = st.query_params.get(SNAPSHOT)
    if not asked:
        return
    if asked in kept():  # only a listed id: the URL never names a path
        st.session_state[PINNED] = asked
        return
    st.query_params.pop(SNAPSHOT, None)
    say_once(
        f"The link's snapshot {md_text(asked)} is no longer kept (retention in "
        "scorecard.toml): this is the current data."
    )


def keep_snapshot_in_url(pinned: str | None) -> None:
    """The URL names the snapshot on view while it is an earlier one, and none otherwise."""
    if pinned:
        st.query_params[SNAPSHOT] = pinned
    else:
        st.query_params.pop(SNAPSHOT, None)


def view_link(
    base: str | None, *, as_of: date, snapshot_id: str | None = None, drop: Sequence[str] = ()
) -> str:
    """A link to this page with everything the view depends on: the URL's parameters (period,
    teams, review window, drill-downs, a deal's id…) with the as-of date pinned and, given
    `snapshot_id`, the snapshot. `drop`: parameters left out. `base`: the page's address in
    the browser (`st.context.url`), else the link is relative to it."""
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    params["as_of"] = [as_of.isoformat()]
    if snapshot_id:
        params[SNAPSHOT] = [snapshot_id]
    for key in drop:
        params.pop(key, None)
    return f"{base or ''}?{urlencode(params, doseq=True)}"


def _row_keys(frame: pl.DataFrame) -> pl.Expr:
    """What names a table row in a link: its record id when it has one (`opp_id`, `lead_id`,
    `id`), else its first two text columns (team and stage, say), else its position."""
    ids = [c for c in ("opp_id", "lead_id", "id") if c in frame.columns]
    texts = [
        c for c, t in frame.schema.items() if isinstance(t, pl.String | pl.Enum | pl.Categorical)
    ]
    columns = ids[:1] or texts[:2]
    if not columns:
        return pl.format("#{}", pl.int_range(pl.len()))
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in columns], separator="|")


def drill_param(key: str, on_screen: str | None) -> str | None:
    """What the drill-down `key` is drilled into, as its URL text (`?drill=<key>:<text>`): the
    selection on screen (`on_screen`), else on a first look the one the URL names; written back
    to the URL so a link carries it. A selection cleared on screen clears it from the URL too."""
    seen = f"_drill_seen_{key}"  # session key: what was selected on screen at the last run
    asked = dict(item.split(":", 1) for item in st.query_params.get_all(DRILL) if ":" in item)
    cleared = on_screen is None and st.session_state.get(seen) is not None
    st.session_state[seen] = on_screen
    if on_screen is not None:
        asked[key] = on_screen
    elif cleared:
        asked.pop(key, None)
    items = [f"{k}:{v}" for k, v in asked.items()]
    if items and items != st.query_params.get_all(DRILL):
        st.query_params[DRILL] = items
    elif not items:
        st.query_params.pop(DRILL, None)
    return asked.get(key)


def drilled_row(key: str, frame: pl.DataFrame, selected: int | None) -> int | None:
    """The row of a selectable table (`key`) the page drills into: the one selected on screen,
    else on a first look the one the URL names (`?drill=<key>:<row key>`), if the table still
    has it (`drill_param`)."""
    keys = frame.select(_row_keys(frame).alias("key"))["key"]
    asked = drill_param(key, None if selected is None else keys[selected])
    if selected is not None or asked is None:
        return selected
    matches = (keys == asked).arg_true()
    return int(matches[0]) if len(matches) else None
