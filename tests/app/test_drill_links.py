"""Drill-downs in the URL (`pages._filters.drilled_row`): a row selected on screen goes into the
URL as `?drill=<table>:<row key>`, a link's row is drilled into on a first look, and a
selection cleared on screen leaves the URL."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    import polars as pl
    import streamlit as st

    from pages._filters import drilled_row

    frame = pl.DataFrame(
        {
            "team": ["APAC", "APAC", "EMEA"],
            "stage": ["Discovery", "Negotiation", "Negotiation"],
            "deals": [1, 2, 3],
        }
    )
    row = drilled_row("stalls", frame, st.session_state.get("on_screen"))
    st.text(f"row={row}")


def _drill(at: AppTest) -> list[str]:
    value = at.query_params.get("drill", [])
    return value if isinstance(value, list) else [value]


def test_a_link_s_row_is_drilled_into_and_kept():
    at = AppTest.from_function(_script, default_timeout=60)
    at.query_params["drill"] = ["stalls:APAC|Negotiation", "other:x"]
    at.run()
    assert at.text[0].value == "row=1"  # the second row: APAC, Negotiation
    assert _drill(at) == ["stalls:APAC|Negotiation", "other:x"]  # another table's kept


def test_a_row_selected_on_screen_goes_into_the_url_and_clearing_it_leaves():
    at = AppTest.from_function(_script, default_timeout=60)
    at.session_state["on_screen"] = 2
    at.run()
    assert at.text[0].value == "row=2" and _drill(at) == ["stalls:EMEA|Negotiation"]
    at.session_state["on_screen"] = None  # cleared on screen
    at.run()
    assert at.text[0].value == "row=None" and _drill(at) == []


def test_a_row_the_table_no_longer_has_is_not_drilled_into():
    at = AppTest.from_function(_script, default_timeout=60)
    at.query_params["drill"] = "stalls:LATAM|Discovery"
    at.run()
    assert at.text[0].value == "row=None"
