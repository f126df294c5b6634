"""The one drill-down (`pages._drill`): a chart pick → the records behind it, kept in the URL.

The chart's selection state is what `st.vega_lite_chart` returns for a click: an object whose
`selection["pick"]` lists the clicked mark's field values. AppTest cannot click a Vega mark, so
the script hands `picked` that state as a click would produce it (the browser test of the
Pipeline page clicks a real one)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    from types import SimpleNamespace

    import polars as pl
    import streamlit as st

    from pages import _drill

    deals = pl.DataFrame(
        {
            "opp_id": ["o1", "o2", "o3", "o4"],
            "team": ["EMEA", "EMEA", "APAC", "EMEA"],
            "stage": ["Negotiation", "Discovery", "Negotiation", "Negotiation"],
            "amount": [10.0, 20.0, 30.0, 40.0],
        }
    )
    click = st.session_state.get("click")  # the mark clicked on screen, if any
    state = SimpleNamespace(selection={"pick": [click]} if click else {})
    picks = _drill.picked(state, "heat", ("team", "stage"))
    shown = _drill.records(
        deals, picks, key="deals", name="deals", what="stalled deals",
        hint="Click a cell to list its deals.", sort="amount",
    )  # fmt: skip
    st.text(f"shown={None if shown is None else shown['opp_id'].to_list()}")


def _drill_param(at: AppTest) -> list[str]:
    value = at.query_params.get("drill", [])
    return value if isinstance(value, list) else [value]


def test_nothing_picked_shows_the_hint_and_no_records():
    at = AppTest.from_function(_script, default_timeout=60).run()
    assert at.text[0].value == "shown=None"
    assert at.caption[0].value == "Click a cell to list its deals."
    assert _drill_param(at) == []


def test_a_click_lists_its_records_and_goes_into_the_url_and_clearing_it_leaves():
    at = AppTest.from_function(_script, default_timeout=60)
    at.session_state["click"] = {"team": "EMEA", "stage": "Negotiation"}
    at.run()
    # EMEA · Negotiation: o1 ($10) and o4 ($40), largest first.
    assert at.text[0].value == "shown=['o4', 'o1']"
    assert "Stalled deals — EMEA · Negotiation: 2" in at.markdown[0].value
    assert _drill_param(at) == ["heat:EMEA|Negotiation"]
    at.session_state["click"] = None  # the selection cleared on screen
    at.run()
    assert at.text[0].value == "shown=None" and _drill_param(at) == []


def test_a_link_opens_the_same_drill_down():
    at = AppTest.from_function(_script, default_timeout=60)
    at.query_params["drill"] = ["heat:APAC|Negotiation", "other:x"]
    at.run()
    assert at.text[0].value == "shown=['o3']"
    assert _drill_param(at) == ["heat:APAC|Negotiation", "other:x"]  # another drill kept


def test_a_pick_of_one_field_leaves_the_other_open():
    at = AppTest.from_function(_script, default_timeout=60)
    at.session_state["click"] = {"team": "EMEA"}  # a click on a team's bar, no stage
    at.run()
    assert at.text[0].value == "shown=['o4', 'o2', 'o1']"
    assert _drill_param(at) == ["heat:EMEA|"]


def test_a_link_made_for_another_layout_is_ignored():
    at = AppTest.from_function(_script, default_timeout=60)
    at.query_params["drill"] = "heat:EMEA"  # one value where the chart picks two fields
    at.run()
    assert at.text[0].value == "shown=None"
