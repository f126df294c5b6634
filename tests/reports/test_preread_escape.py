"""The HTML pre-read on hostile CRM names (issue #15 item 3): a team, a stage and a lead
source named with HTML, Markdown and LaTeX (tests/hostile.py) are text in the page, in its
tables, lists and inline SVG charts; the only link is the live view's."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from ops.config import PrereadSettings, Settings
from reports import build as preread_build
from tests import hostile


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.hrefs += [value for name, value in attrs if name in ("href", "xlink:href", "src")]

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> _Page:
    folder = hostile.write_store(tmp_path_factory.mktemp("hostile") / "data")
    settings = Settings(data_dir=folder, preread=PrereadSettings(app_url="http://scorecard.test/"))
    pre = preread_build.build(settings)
    assert any(hostile.team() in line for line in pre.drivers)  # the name reaches the page
    parsed = _Page()
    parsed.feed(preread_build.render(pre, "html").decode("utf-8"))
    return parsed


def test_hostile_names_are_text_not_markup(page: _Page):
    text = "".join(page.text)
    assert f"{hostile.team()} forecasts high" in text
    assert f"stalled in {hostile.STAGE} (" in text
    assert {"img", "script", "iframe", "object"}.isdisjoint(page.tags)


def test_the_only_link_is_the_live_view(page: _Page):
    assert page.hrefs and all(h.startswith("http://scorecard.test/?") for h in page.hrefs)
