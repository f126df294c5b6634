"""The review window for pages that only read it (the deal page, the flags of every deal
table): since when a review looks for changes ("since last week").

Chosen in the URL, so a link reproduces it: ``?since=2026-11-09`` (a day before the as-of
date) or ``?window=1w|2w|4w|13w``; by default one week. One parser for the whole app:
`scoring.review.review_window` (the Pipeline page's picker, `_filters.review_window`, writes
its choice back to the same URL keys), so every page agrees on the window.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from scoring import review


def window_start(as_of: date, since: object = None, window: object = None) -> date:
    """The first day of the review: `since` when it is a day before `as_of`, else `window`
    (1w, 2w, 4w, 13w) before `as_of`, else one week before. A page that only reads the window
    falls back quietly; the picker says what it could not use."""
    asks = (
        {"since": since} if isinstance(since, str) else None,
        {"window": window} if isinstance(window, str) else None,
    )
    for ask in asks:
        if ask:
            try:
                return review.review_window(as_of, **ask).since
            except review.WindowError:
                continue
    return review.review_window(as_of).since


def since(as_of: date) -> date:
    """The review window's start for this page's URL (see the module doc)."""
    return window_start(as_of, st.query_params.get("since"), st.query_params.get("window"))
