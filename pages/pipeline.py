"""pipeline (placeholder until its page lands)."""

import streamlit as st

st.title("pipeline")
st.info("This page is being built.")
