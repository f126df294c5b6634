"""Data & refresh (ops): is the data fresh? Above the fold, the current snapshot's day and
rows (with the change since the previous snapshot), the last refresh's outcome, the next
scheduled one and whether the scheduler runs; then "Refresh now". Below, a tab each for the
run log and its failures, the snapshots, the schedules, and the sources with uploads and the
Salesforce login test."""

from __future__ import annotations

import streamlit as st

from pages import _auth, _data
from pages import _refresh_sections as sections

who = _auth.require(_auth.Role.OPS)  # defence in depth: the page is only registered for ops
settings = _data.settings()
store = _data.store()

st.title("Data & refresh")
st.caption(
    f"Data folder `{settings.data_dir}` · configuration `{settings.config_path or 'defaults'}`"
)

with st.container(key="answer"):
    sections.status(settings, store)
outcome = sections.refresh_now(settings)

runs_tab, snapshots_tab, schedules_tab, sources_tab = st.tabs(
    ["Last runs", "Snapshots", "Schedules", "Sources & uploads"]
)
with runs_tab:
    sections.runs(settings, outcome)
with snapshots_tab:
    sections.snapshots(store)
with schedules_tab:
    sections.schedules(settings, editable=who.may_refresh)
with sources_tab:
    sections.sources(settings)
