"""campaigns (placeholder until its page lands)."""

import streamlit as st

st.title("campaigns")
st.info("This page is being built.")
