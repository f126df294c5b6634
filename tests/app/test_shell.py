"""The app shell: empty store, navigation, filters from the URL."""

from __future__ import annotations


def test_empty_store_offers_the_demo(empty_store, app):
    at = app().run()
    assert not at.exception
    assert any("store is empty" in i.value for i in at.info)
    assert at.button(key="load_demo").label == "Load the demo org"


def test_snapshot_loads_with_filters(tiny_store, app):
    at = app().run()
    assert not at.exception
    assert at.selectbox(key="period").value == "2026-Q1"
    assert at.multiselect(key="teams").options == ["EMEA"]
    assert any("Data as of" in c.value for c in at.sidebar.caption)


def test_period_from_the_url(tiny_store, app):
    at = app(period="2025-Q4").run()
    assert not at.exception
    assert at.selectbox(key="period").value == "2025-Q4"
