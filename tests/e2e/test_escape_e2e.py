"""In a real browser: text from data is shown as text (issue #15 item 3) and CSV downloads
neutralise formulas (item 4).

`md_text` on each ASCII punctuation character and on hostile strings, in every kind of element
that renders Markdown; then the whole app on the demo org with a team, a stage and a lead
source named with Markdown, LaTeX, directives and HTML (tests/hostile.py), whose image link
points at a hit counter on 127.0.0.1: every page shows the names literally, draws no image,
formula or link from them, and the counter gets no request.
"""

from __future__ import annotations

import contextlib
import string
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from pages._text import WORD_JOINER
from tests import hostile
from tests.appserver import ROOT, running_app, running_script
from tests.e2e.conftest import screenshot, wait_for_app

PAGES = ["scorecard", "pipeline", "handoffs", "forecast", "campaigns", "data_trust", "refresh"]


class Beacon:
    """An HTTP server on 127.0.0.1 that counts the requests it gets (a 1×1 image to each)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        beacon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                beacon.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def beacon() -> Iterator[Beacon]:
    server = Beacon()
    yield server
    server.close()


def _shown(text: str) -> str:
    return text.replace(WORD_JOINER, "")


def test_the_beacon_counts_a_request():
    # the counter the tests below expect to stay at zero does count
    import urllib.request

    server = Beacon()
    try:
        with urllib.request.urlopen(f"{server.url}/probe.png", timeout=5) as resp:
            assert resp.status == 200
        assert server.hits == ["/probe.png"]
    finally:
        server.close()


# ---------------------------------------------------------------- the helper, in Chromium

SCRIPT = """
import json, sys
import streamlit as st
from pages._text import md_text

cases = json.loads(sys.argv[1])
for i, case in enumerate(cases):
    with st.container(key=f"case{i}"):
        st.markdown(md_text(case))
        st.caption("caption " + md_text(case))
        st.warning(f"**warning** {md_text(case)}")
        st.subheader(md_text(case), anchor=False)
        st.metric(md_text(case), 1)
"""


@contextlib.contextmanager
def _script_app(folder: Path, cases: list[str]) -> Iterator[str]:
    import json

    script = folder / "escape_app.py"
    script.write_text(SCRIPT, encoding="utf-8")
    with running_script(
        script, log=folder / "escape_app.log", args=[json.dumps(cases)], PYTHONPATH=str(ROOT)
    ) as url:
        yield url


def test_md_text_renders_every_special_character_literally(page, tmp_path, beacon):
    cases = [
        *(f"a{c}b {c} {c}{c}x{c}{c}" for c in string.punctuation),
        hostile.team(beacon.url),
        hostile.STAGE,
        hostile.SOURCE,
        "# heading",
        "- item",
        "1. first",
        "> quote",
        "| a | b |",
        "line one\nline two",
        "$1.2M and $3.4M",
        "http://example.com/x www.example.org mailto:a@b.co xmpp:a@b.co",
        ":material/home: :blue-badge[b] :streamlit: :+1: :smile:",
        "<script>alert(1)</script> &amp; &lt;",
    ]
    with _script_app(tmp_path, cases) as url:
        page.goto(url)
        wait_for_app(page)
        for i, case in enumerate(cases):
            box = page.locator(f".st-key-case{i}")
            markdown = box.get_by_test_id("stMarkdownContainer")
            assert _shown(markdown.nth(0).inner_text()) == case
            caption = box.get_by_test_id("stCaptionContainer").inner_text()
            assert _shown(caption) == f"caption {case}", case
            assert _shown(box.get_by_test_id("stAlert").inner_text()) == f"warning {case}", case
            if "\n" not in case:  # a heading or a label is one line
                assert _shown(box.locator("h3").inner_text()) == case
                assert _shown(box.get_by_test_id("stMetricLabel").inner_text()) == case
            markup = "img, a, em, .katex, code, h1, h2, li, table, del, blockquote, hr"
            markup += ", span[role=img]"  # an emoji
            found = markdown.locator(markup)
            assert found.count() == 0, (case, found.first.evaluate("e => e.outerHTML"))
        screenshot(page, "escape_helper")
    assert beacon.hits == []


# ---------------------------------------------------------------- the app on hostile data


@pytest.fixture(scope="module")
def hostile_url(tmp_path_factory: pytest.TempPathFactory, beacon: Beacon) -> Iterator[str]:
    folder = hostile.write_store(tmp_path_factory.mktemp("hostile") / "data", beacon.url)
    with running_app(folder) as url:
        yield url


@pytest.mark.parametrize("path", PAGES)
def test_hostile_names_show_as_text_on_every_page(page, hostile_url, beacon, path):
    team = hostile.team(beacon.url)
    page.goto(f"{hostile_url}/{path}?teams={quote(team)}")
    wait_for_app(page)
    assert page.get_by_test_id("stException").count() == 0
    main = page.get_by_test_id("stMain")
    if path != "refresh":  # the view's caption names the team filter
        assert team in _shown(main.inner_text())
    markdown = page.get_by_test_id("stMarkdownContainer")
    assert markdown.locator("img").count() == 0
    assert page.locator(f"img[src^='{beacon.url}']").count() == 0
    assert page.locator(".katex").count() == 0
    links = markdown.locator("a").evaluate_all("els => els.map(e => e.href)")
    assert not [h for h in links if not h.startswith(hostile_url)], links  # only heading anchors
    page.wait_for_timeout(500)
    screenshot(page, f"hostile_{path}")
    assert beacon.hits == []


def test_hostile_drivers_read_literally(page, hostile_url, beacon):
    page.goto(hostile_url)
    wait_for_app(page)
    page.get_by_text("Drivers by pillar").click()
    page.wait_for_timeout(500)
    text = _shown(page.get_by_test_id("stMain").inner_text())
    assert f"{hostile.team(beacon.url)} forecasts high" in text
    assert f"stalled in {hostile.STAGE} (" in text
    assert f"{hostile.SOURCE}: " in text
    assert page.locator(".katex").count() == 0
    assert page.get_by_test_id("stMarkdownContainer").locator("img").count() == 0
    assert beacon.hits == []


def test_downloaded_csv_neutralises_the_formula(page, hostile_url, beacon):
    page.goto(hostile_url)
    wait_for_app(page)
    with page.expect_download() as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="Download CSV").first.click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    team = hostile.team(beacon.url)
    line = next(row for row in text.splitlines() if "HYPERLINK" in row)
    assert line.startswith("\"'" + team.replace('"', '""') + '",')
    assert not any(row.startswith("=") for row in text.splitlines())
    assert beacon.hits == []
