"""Empty store: offer the demo org or point to a source."""

from __future__ import annotations

import streamlit as st

from pages import _data
from pages._text import md_text

st.title("Revenue Alignment Scorecard")
st.info("No data yet: the snapshot store is empty.", icon=":material/inventory_2:")
left, right = st.columns(2)
with left:
    st.subheader("Look around with the demo org")
    st.write(
        "A generated company with four sales teams, an SDR team and marketing channels over "
        "eight quarters, with known problems planted for the scorecard to find."
    )
    if st.button("Load the demo org", type="primary", key="load_demo"):
        error = _data.build_demo(st.progress(0.0, text="Starting…"))
        if error:
            st.error(f"The demo org could not be built: {md_text(error)}")
        else:
            st.rerun()
with right:
    st.subheader("Connect your own data")
    st.write(
        "Configure a source in `scorecard.toml` (credentials in `.env`), then run "
        "`python -m ops refresh --source <name>` or use **Data & refresh**."
    )
