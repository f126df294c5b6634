"""A fresh server's first requests: many signed-out deep links at once never run a page script
without `app.py` (its gate, its page list), and no session sees a half-imported module.

Streamlit runs a `pages/` folder beside the entrypoint as a legacy multipage app until the first
`st.navigation` call of the process, and the first sessions import the heavy libraries in
parallel threads. Both used to leak on a cold start (issue #15): pages ran bare, under a menu of
every module, with a `KeyError` or "partially initialized module 'numpy'".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from connectors.validate import validate_tables
from snapshots.store import Store
from tests.appserver import free_port, running_app

DEEP_LINKS = ["forecast", "refresh", "pipeline", "handoffs", "campaigns", "data_trust"]
TITLES = ["Scorecard", "Pipeline flow", "Handoffs", "Forecast", "Campaigns & sourcing"]
TITLES += ["Data trust", "Deal", "Decisions", "Leaders' answers", "Data & refresh", "Get started"]
SECRETS = """[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "FAKE-COOKIE-SECRET-cold-start-3e1d"
client_id = "scorecard"
client_secret = "FAKE-CLIENT-SECRET-cold-start-77aa"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
"""
BAD = ("Traceback", "KeyError", "partially initialized", "Error", "get started", "_auth")


@pytest.fixture
def store(tmp_path: Path, tiny_org) -> Path:
    data = tmp_path / "data"
    Store(data).write(validate_tables(tiny_org).frames, source="test", data_as_of=date(2026, 3, 1))
    return data


@contextmanager
def all_at_once(browser, url: str) -> Iterator[list]:
    """One tab per deep link, all requested before any is waited for; the settled tabs.

    The app's static files are fetched once beforehand by a tab whose websocket is held back
    (so it starts no session) and then served from memory: every tab connects within moments
    and their first runs overlap, as a burst of visitors after a restart would."""
    cache: dict[str, tuple[int, dict, bytes]] = {}

    def serve(route) -> None:
        try:
            if route.request.url not in cache:
                got = route.fetch()
                cache[route.request.url] = (got.status, got.headers, got.body())
            status, headers, body = cache[route.request.url]
            route.fulfill(status=status, headers=headers, body=body)
        except PlaywrightError:  # the server or the tab went away: nothing to serve
            return

    primer = browser.new_context()
    primer.route("**/static/**", serve)
    primer.route_web_socket("**/_stcore/stream", lambda ws: None)  # no server session
    primer.new_page().goto(url, wait_until="networkidle")
    primer.close()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.route("**/static/**", serve)
    tabs = [context.new_page() for _ in DEEP_LINKS]
    for link, tab in zip(DEEP_LINKS, tabs, strict=True):
        tab.set_default_timeout(45_000)
        tab.goto(f"{url}/{link}", wait_until="commit")
    for tab in tabs:
        tab.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
        for _ in range(3):  # a run can end in a rerun: wait until nothing runs for a moment
            tab.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
            tab.wait_for_timeout(300)
    try:
        yield tabs
    finally:
        context.close()  # before the server stops


def nav(tab) -> set[str]:
    links = tab.locator("[data-testid='stSidebarNav'] [data-testid='stSidebarNavLink']")
    return {t.strip().splitlines()[-1] for t in links.all_inner_texts()}


def test_cold_deep_links_with_sign_in_are_all_refused(browser, store, tmp_path):
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(SECRETS.format(port=port))
    with running_app(store, port=port, secrets=secrets) as url, all_at_once(browser, url) as tabs:
        for link, tab in zip(DEEP_LINKS, tabs, strict=True):
            errors = tab.get_by_test_id("stException").all_inner_texts()
            assert not errors, (link, errors)
            main = tab.get_by_test_id("stMain").inner_text()
            assert "Sign in with your company account" in main, link
            headings = tab.locator("[data-testid='stMain'] h1").all_inner_texts()
            assert not set(TITLES) & {h.strip() for h in headings}, (link, headings)
            assert tab.get_by_role("button", name="Sign in").count() == 1, link
            assert nav(tab) <= {"Sign in"}, (link, nav(tab))  # no menu of every module
            body = tab.locator("body").inner_text()
            assert "Refresh now" not in body and "Data as of" not in body, link
            assert not [b for b in BAD if b in body], (link, body[:500])
    log = (tmp_path / f"app-{port}.log").read_text(errors="replace")
    assert "Traceback" not in log and "partially initialized" not in log


TITLE_OF = {"forecast": "Forecast", "refresh": "Data & refresh", "pipeline": "Pipeline flow"}
TITLE_OF |= {"handoffs": "Handoffs", "campaigns": "Campaigns & sourcing"}
TITLE_OF |= {"data_trust": "Data trust"}


def test_cold_deep_links_without_sign_in_show_their_page(browser, store, tmp_path):
    with running_app(store) as url, all_at_once(browser, url) as tabs:
        for link, tab in zip(DEEP_LINKS, tabs, strict=True):
            errors = tab.get_by_test_id("stException").all_inner_texts()
            assert not errors, (link, errors)
            body = tab.locator("body").inner_text()
            assert not [b for b in BAD if b in body], (link, body[:500])
            heading = tab.locator("[data-testid='stMain'] h1").first.inner_text()
            assert heading.startswith(TITLE_OF[link]), (link, heading)
            assert nav(tab) == set(TITLES) - {"Get started"}, (link, nav(tab))
    log = next(tmp_path.glob("app-*.log")).read_text(errors="replace")
    assert "Traceback" not in log and "partially initialized" not in log
