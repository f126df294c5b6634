"""The review window: since when a review looks for changes ("since last week").

Chosen in the URL, so a link reproduces it: ``?since=2026-11-09`` (a day before the as-of
date) or ``?window=1w|2w|4w|13w`` (one week … a quarter back from as-of); by default one
week. The deal page and the change flags of every deal table read it from here.
"""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

WINDOWS = {"1w": 7, "2w": 14, "4w": 28, "13w": 91}
DEFAULT_WINDOW = "1w"


def window_start(as_of: date, since: object = None, window: object = None) -> date:
    """The first day of the review: `since` when it is an ISO day before `as_of`, else
    `window` (a key of `WINDOWS`) before `as_of`, else one week before."""
    if isinstance(since, str):
        try:
            day = date.fromisoformat(since.strip())
        except ValueError:
            day = None
        if day is not None and day < as_of:
            return day
    days = WINDOWS.get(str(window or "").strip().lower(), WINDOWS[DEFAULT_WINDOW])
    return as_of - timedelta(days=days)


def since(as_of: date) -> date:
    """The review window's start for this page's URL (see the module doc)."""
    return window_start(as_of, st.query_params.get("since"), st.query_params.get("window"))
