"""Data & refresh (ops): sources, snapshots with their manifests, refresh now."""

from __future__ import annotations

import polars as pl
import streamlit as st

from connectors.refresh import RefreshError, refresh
from connectors.sources import SOURCES
from pages import _data

st.title("Data & refresh")
settings = _data.settings()
store = _data.store()

st.subheader("Refresh now")
source = st.selectbox(
    "Source",
    sorted(SOURCES),
    index=sorted(SOURCES).index(settings.default_source)
    if settings.default_source in SOURCES
    else 0,
    key="refresh_source",
    help="Sources are configured in scorecard.toml; credentials come from the environment.",
)
if st.button("Refresh now", type="primary", key="refresh_now"):
    bar = st.progress(0.0, text="Starting…")
    try:
        result = refresh(settings, source, progress=lambda m, f: bar.progress(f, text=m))
    except RefreshError as exc:
        st.error(f"Refresh failed; the previous snapshot is still current.\n\n{exc}")
    else:
        st.success(f"Stored snapshot {result.snapshot.id} in {result.seconds:.1f} s.")
        for warning in result.warnings:
            st.warning(warning)

st.subheader("Snapshots")
snapshots = store.list()
if not snapshots:
    st.info("No snapshots yet.")
else:
    current = store.current_id()
    listing = pl.DataFrame(
        {
            "current": [s.id == current for s in snapshots],
            "snapshot": [s.id for s in snapshots],
            "source": [s.source for s in snapshots],
            "data as of": [s.data_as_of for s in snapshots],
            "stored at (UTC)": [s.created_at.replace(tzinfo=None) for s in snapshots],
            "rows": [sum(t["rows"] for t in s.manifest["tables"].values()) for s in snapshots],
        }
    )
    st.dataframe(listing, hide_index=True, key="snapshot_list")
    chosen = st.selectbox("Manifest of", [s.id for s in snapshots], key="manifest_of")
    st.json(store.get(chosen).manifest, expanded=False)
