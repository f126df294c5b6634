"""handoffs (placeholder until its page lands)."""

import streamlit as st

st.title("handoffs")
st.info("This page is being built.")
