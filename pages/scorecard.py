"""Scorecard (home): the one page executives read before a review."""

from __future__ import annotations

import streamlit as st

from pages import _data

snapshot = _data.current_snapshot()
filters = st.session_state["filters"]
st.title("Revenue alignment scorecard")
st.caption(
    f"{filters.period.name} · as of {filters.as_of} · {', '.join(filters.teams) or 'all teams'}"
)
rows = {name: info["rows"] for name, info in snapshot.manifest["tables"].items()}
cols = st.columns(4)
for col, (name, count) in zip(cols * 3, rows.items(), strict=False):
    col.metric(name.replace("_", " "), f"{count:,}")
