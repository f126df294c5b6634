"""Revenue Alignment Scorecard — the Streamlit entrypoint.

Builds the page list, draws the shared sidebar (filters, data freshness) and runs the page.
On an empty store it builds the embedded demo org first (turn off with SCORECARD_AUTO_DEMO=0).
"""

from __future__ import annotations

import streamlit as st

from connectors.refresh import RefreshError, refresh
from pages import _data, _filters

st.set_page_config(page_title="Revenue Alignment Scorecard", page_icon="📐", layout="wide")

PAGES = {
    "Review": [
        st.Page("pages/scorecard.py", title="Scorecard", icon=":material/dashboard:", default=True),
    ],
    "Ops": [
        st.Page("pages/refresh.py", title="Data & refresh", icon=":material/sync:"),
    ],
}
EMPTY_PAGES = [
    st.Page("pages/get_started.py", title="Get started", icon=":material/flag:", default=True),
    st.Page("pages/refresh.py", title="Data & refresh", icon=":material/sync:"),
]


def build_demo_on_first_start() -> None:
    bar = st.progress(0.0, text="Building the demo org for a first look…")
    try:
        refresh(_data.settings(), "demo", progress=lambda msg, f: bar.progress(f, text=msg))
    except RefreshError as exc:
        st.error(f"Could not build the demo org: {exc}")
        st.stop()
    bar.empty()


def run() -> None:
    snapshot = _data.current_snapshot()
    if snapshot is None and _data.auto_demo_enabled():
        build_demo_on_first_start()
        snapshot = _data.current_snapshot()
    if snapshot is None:
        st.navigation(EMPTY_PAGES).run()
        return
    teams = _data.sales_teams(str(_data.settings().data_dir), snapshot.id)
    st.session_state["filters"] = _filters.render(
        snapshot, teams, fiscal_start_month=_data.settings().scoring.fiscal_start_month
    )
    with st.sidebar:
        st.caption(
            f"Data as of **{snapshot.data_as_of}** · source **{snapshot.source}** · "
            f"snapshot `{snapshot.id}`"
        )
    st.navigation(PAGES).run()


run()
