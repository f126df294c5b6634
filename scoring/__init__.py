"""Alignment signals: pure functions from canonical polars frames to result frames.

No Streamlit, no file or network I/O. Inputs are the canonical tables defined in
`model.schema`, passed as a `Tables` bundle; outputs are frames sorted by their grain.
"""
