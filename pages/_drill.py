"""One drill-down, written once: a chart or a table → a selection → the records behind it.

A click on a chart mark (an Altair point selection named "pick") or a row selected in a table
names the values of a few fields (team, stage, bucket…); the records behind the selection are
the rows of a record frame with those values (`reports.pipeline_charts.drill`: "All teams"
does not filter). The selection is kept in the URL (`?drill=<key>:<value>|<value>`, as table
rows are: `_filters.drill_param`), so a shared link opens the same drill-down; clearing the
selection on screen clears it from the URL.

A page reads:

    picks = _drill.chart(charts.stall_heatmap, by_team, key="stall_heatmap",
                         fields=("team", "stage"), stage_order=stage_order)
    _drill.records(stalled, picks, key="stalled", name="stalled_deals", what="stalled deals")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from pages import _chart_specs, _filters, _widgets
from pages._text import md_text
from reports.colors import selected_value
from reports.pipeline_charts import drill

Picks = dict[str, str | None]
_SEP = "|"


def picked(state: object, key: str, fields: Sequence[str]) -> Picks:
    """The values of `fields` picked on the chart `key` (its selection `state`), else the ones
    the URL names for it; each None when nothing is picked."""
    on_screen = [selected_value(state, f) for f in fields]
    text = _SEP.join(v or "" for v in on_screen) if any(v is not None for v in on_screen) else None
    asked = _filters.drill_param(key, text)
    values = asked.split(_SEP) if asked is not None else []
    if len(values) != len(fields):  # nothing picked, or a link from another layout
        return dict.fromkeys(fields)
    return {f: v or None for f, v in zip(fields, values, strict=True)}


def chart(
    build: Callable[..., alt.TopLevelMixin],
    *args: Any,
    key: str,
    fields: Sequence[str],
    **kwargs: Any,
) -> Picks:
    """Draw a chart whose marks can be clicked (`build(*args, **kwargs)`, full width) and
    return what is picked on it (`picked`)."""
    kwargs.setdefault("width", "stretch")
    state = _chart_specs.chart(
        build, *args, key=key, on_select="rerun", selection_mode=["pick"], **kwargs
    )
    return picked(state, key, fields)


def row_picks(row: pl.DataFrame | None, fields: Sequence[str]) -> Picks:
    """The values of `fields` in a table row selected with `_widgets.table(select=True)`."""
    if row is None:
        return dict.fromkeys(fields)
    return {f: None if row[f][0] is None else str(row[f][0]) for f in fields}


def either(first: Picks, second: Picks) -> Picks:
    """A table row's selection when one is made, else the chart's (a chart and the table
    beside it drill into the same records)."""
    return first if any(v is not None for v in first.values()) else second


def scope(picks: Mapping[str, str | None], everything: str) -> str:
    """What the selection covers, as text for a heading ("EMEA · Negotiation"), or
    `everything` when nothing is picked."""
    return md_text(" · ".join(v for v in picks.values() if v)) or everything


def records(
    frame: pl.DataFrame,
    picks: Mapping[str, str | None],
    *,
    key: str,
    name: str,
    what: str,
    hint: str | None = None,
    sort: str | None = None,
    descending: bool = True,
    column_config: dict | None = None,
    height: int | None = None,
) -> pl.DataFrame | None:
    """The records behind a selection: a heading with their count (`what`: "stalled deals"),
    and the table with its CSV. With nothing picked, `hint` says what to click (and nothing
    else is drawn) when given; else every record is listed. Returns the rows shown."""
    shown = drill(frame, **picks)
    if sort is not None and sort in shown.columns:
        shown = shown.sort(sort, descending=descending, nulls_last=True)
    return listed(
        shown, picks, key=key, name=name, what=what, hint=hint,
        column_config=column_config, height=height,
    )  # fmt: skip


def listed(
    frame: pl.DataFrame,
    picks: Mapping[str, str | None],
    *,
    key: str,
    name: str,
    what: str,
    hint: str | None = None,
    column_config: dict | None = None,
    height: int | None = None,
) -> pl.DataFrame | None:
    """As `records`, for records a loader already cut to the selection, where the selection is
    not one column's value (a team's leads are every lead the team owned or received; a
    check's failing records are that check's): the heading, the table and its CSV, without
    filtering `frame` again. With nothing picked, `hint` (when given) and nothing else."""
    if all(v is None for v in picks.values()) and hint is not None:
        st.caption(hint)
        return None
    heading = md_text(what[:1].upper() + what[1:])
    st.markdown(f"**{heading} — {scope(picks, 'all')}: {frame.height:,}**")
    _widgets.table(frame, key=key, name=name, column_config=column_config, height=height)
    return frame
