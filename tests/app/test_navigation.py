"""Navigation (issue #17): the app root opens the Scorecard at its own address with the URL's
parameters, and no page sits at the root only (the default page's path answered "Page not
found"; `/scorecard` itself in Chromium: tests/e2e/test_navigation_e2e.py)."""

from __future__ import annotations

from streamlit.util import calc_hash


def test_the_root_opens_the_scorecard_with_every_parameter(demo_store, app):
    at = app(period="2026-Q2", as_of="2026-10-01", teams="APAC", window="2w").run()
    assert not at.exception
    assert at._finished_page_script_hash == calc_hash("scorecard")
    assert at.title[0].value == "Revenue alignment scorecard"
    assert at.caption[0].value.startswith("2026-Q2 · as of 2026-10-01 · APAC")
    assert dict(at.query_params) == {
        "period": "2026-Q2", "as_of": "2026-10-01", "teams": "APAC", "window": "2w"
    }  # fmt: skip


def test_two_teams_in_the_url_both_survive_the_root(demo_store, app):
    at = app()
    at.query_params["teams"] = ["APAC", "EMEA"]
    at.run()
    assert not at.exception
    assert at.session_state["view"].teams == ("APAC", "EMEA")
    assert at.query_params["teams"] == ["APAC", "EMEA"]


def test_only_the_hidden_root_is_served_at_the_root(demo_store, app):
    at = app().run()
    registered = at._registered_pages
    at_root = [key for key, page in registered.items() if page["url_pathname"] == ""]
    assert at_root == [calc_hash("home")]
    paths = {page["url_pathname"] for page in registered.values()} - {""}
    assert {"scorecard", "pipeline", "forecast", "deal", "refresh"} <= paths


def test_an_empty_store_opens_get_started_at_its_own_address(empty_store, app):
    at = app().run()
    assert not at.exception
    assert at._finished_page_script_hash == calc_hash("start")
    assert at.button(key="load_demo").label == "Load the demo org"
