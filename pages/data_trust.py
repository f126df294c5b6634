"""data_trust (placeholder until its page lands)."""

import streamlit as st

st.title("data_trust")
st.info("This page is being built.")
