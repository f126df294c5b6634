"""Each page answers its question above the fold (issue #17): in Chromium at 1440×900, on the
demo org for all teams and for one team, a page's answer — the container keyed "answer"
(`st.container(key="answer")`, drawn with the CSS class `st-key-answer`) — sits wholly inside
the first screen without scrolling and holds a figure to read (a metric, a chart or a table);
detail lives below it in tabs and expanders, so the page (tabs on their first tab, expanders
closed) is at most `LONGEST` pixels tall.

Observed before: pages 4,000–7,000 px long with the answer below the fold.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import wait_for_app

FOLD = 900
LONGEST = 3 * FOLD  # three screens: the answer, then detail a reader opens on purpose
PAGES = ["scorecard", "pipeline", "handoffs", "forecast", "campaigns", "data_trust", "deal"]
PAGES += ["decisions", "leaders", "refresh"]
FIGURES = "[data-testid='stMetric'], [data-testid='stVegaLiteChart'], [data-testid='stDataFrame']"
MAIN_HEIGHT = """Math.max(...[...document.querySelectorAll(
    "[data-testid='stMain'] [data-testid='stMainBlockContainer']")].map(e => e.scrollHeight))"""


@pytest.fixture
def screen(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1440, "height": FOLD})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()


@pytest.mark.parametrize("teams", ["", "EMEA"], ids=["all_teams", "one_team"])
@pytest.mark.parametrize("path", PAGES)
def test_the_answer_is_above_the_fold(screen, app_url, path, teams):
    screen.goto(f"{app_url}/{path}{'?teams=' + teams if teams else ''}")
    wait_for_app(screen)
    screen.wait_for_timeout(1000)  # charts and grids take their size after the script ends
    answer = screen.locator(".st-key-answer")
    assert answer.count() == 1, f"{path}: no answer container (st.container(key='answer'))"
    box = answer.bounding_box()
    assert box is not None and box["height"] > 0, f"{path}: the answer is not drawn"
    assert box["y"] + box["height"] <= FOLD, (
        f"{path}: the answer ends at {box['y'] + box['height']:.0f} px, below the fold ({FOLD})"
    )
    assert answer.locator(FIGURES).count() > 0, f"{path}: the answer holds no figure"
    tall = screen.evaluate(MAIN_HEIGHT)
    assert tall >= box["y"] + box["height"], f"{path}: the page's height was not measured"
    assert tall <= LONGEST, f"{path}: the page is {tall} px long (at most {LONGEST})"
