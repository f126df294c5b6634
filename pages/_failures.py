"""Failed refreshes on a page: each distinct failure once, with how often and when it happened,
and its whole message in an expander (wrapped, never in a table column off-screen)."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import streamlit as st

from model import formats
from ops.runlog import failure_groups
from pages._text import md_text

LABEL_CHARS = 90  # of the message's first line in an expander's label


def _when(at: datetime, *, zone: bool = True) -> str:
    """A run's time in the reporting time zone ("2026-11-16 15:05 CET"; without the zone's
    name when a later time beside it names it)."""
    from pages import _data

    text = formats.fmt_datetime(at, _data.settings().scoring.timezone)
    return text if zone else text.rsplit(" ", 1)[0]


def _headline(error: str) -> str:
    first = error.strip().splitlines()[0] if error.strip() else error
    return first if len(first) <= LABEL_CHARS else first[: LABEL_CHARS - 1] + "…"


def failures(runs: pl.DataFrame, *, just_shown: bool = False) -> None:
    """The failures among `runs` (newest first), grouped by source and message. The newest is
    open while its source still fails, unless the page has just shown that message above."""
    st.subheader("Failures", help="Each distinct failure once: the same source failing with "
                 "the same message, however often. Open one for its whole message.")  # fmt: skip
    groups = failure_groups(runs)
    if groups.is_empty():
        st.caption(f"No failed refresh among the last {runs.height} runs.")
        return
    for number, group in enumerate(groups.iter_rows(named=True)):
        state = "Still failing" if group["current"] else "Fixed since"
        times = "once" if group["count"] == 1 else f"{group['count']} times"
        label = (
            f"{state} · {md_text(group['source'])} · {times} · last "
            f"{_when(group['last_at'])}: {md_text(_headline(group['error']))}"
        )
        icon = ":material/error:" if group["current"] else ":material/history:"
        opened = number == 0 and group["current"] and not just_shown
        with st.expander(label, expanded=opened, icon=icon):
            span = (
                f"on {_when(group['first_at'])}"
                if group["count"] == 1
                else f"from {_when(group['first_at'], zone=False)} to {_when(group['last_at'])}"
            )
            triggers = ", ".join(group["triggers"])
            st.markdown(
                f"**{times.capitalize()}** {span} (started by: {md_text(triggers)}); the "
                f"latest is run {group['last_run_id']}."
            )
            st.code(group["error"], language=None, wrap_lines=True)
