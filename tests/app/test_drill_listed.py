"""`pages._drill.listed`: records a loader already cut to the selection (a team's leads are
every lead it owned or received, not the rows whose `team` column names it) are listed as they
come, under a heading naming the selection and their count; nothing picked shows the hint."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    import polars as pl
    import streamlit as st

    from pages import _drill

    # EMEA's leads as a loader cuts them: L2 was owned by the SDRs before EMEA received it,
    # so its `team` column says SDR; `records` would drop it when filtering team == EMEA
    emea = pl.DataFrame({"lead_id": ["L1", "L2"], "team": ["EMEA", "SDR"]})
    pick = st.session_state.get("pick")
    shown = _drill.listed(
        emea, {"team": pick}, key="leads", name="leads", what="leads of the team",
        hint="Click a team's bar for its leads.",
    )  # fmt: skip
    st.text(f"shown={None if shown is None else shown['lead_id'].to_list()}")


def test_nothing_picked_shows_the_hint_only():
    at = AppTest.from_function(_script, default_timeout=60).run()
    assert at.text[0].value == "shown=None"
    assert at.caption[0].value == "Click a team's bar for its leads."
    assert not at.dataframe


def test_a_pick_lists_every_record_the_loader_cut():
    at = AppTest.from_function(_script, default_timeout=60)
    at.session_state["pick"] = "EMEA"
    at.run()
    assert at.text[0].value == "shown=['L1', 'L2']"  # both, though L2's team column says SDR
    assert "Leads of the team — EMEA: 2" in at.markdown[0].value
    assert list(at.dataframe[0].value["lead_id"]) == ["L1", "L2"]
