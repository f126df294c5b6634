"""The global filters: period, as-of date and teams, in the sidebar and in the URL.

They live in the entrypoint (app.py), so they render on every page and keep their values
when moving between pages; `bind="query-params"` writes them into the URL, so a link
reproduces the exact view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import streamlit as st

from connectors.store import Snapshot
from scoring.calendar import Period, parse_period, period_of, trailing


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
    if st.session_state.get("period") in (None, old_period) or (
        st.session_state["period"] not in options
    ):
        st.session_state["period"] = options[0]


def render(snapshot: Snapshot, teams: list[str], *, fiscal_start_month: int) -> Filters:
    """Draw the sidebar filters and return their values."""
    options = period_options(snapshot, fiscal_start_month)
    _follow_new_snapshot(snapshot, options)
    with st.sidebar:
        st.subheader("View")
        period = st.selectbox(
            "Period",
            options,
            key="period",
            bind="query-params",
            help="The quarter the metrics are computed for (fiscal quarters per scorecard.toml).",
        )
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
    return Filters(
        period=parse_period(period, fiscal_start_month=fiscal_start_month),
        as_of=as_of if isinstance(as_of, date) else snapshot.data_as_of,
        teams=tuple(sorted(chosen)),
    )
