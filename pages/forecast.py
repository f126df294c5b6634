"""forecast (placeholder until its page lands)."""

import streamlit as st

st.title("forecast")
st.info("This page is being built.")
