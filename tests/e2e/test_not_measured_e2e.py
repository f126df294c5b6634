"""In a real browser: an export of closed deals only (no leads, forecasts or quotas, a derived
stage history) shows what is not measured and why, never a score made from nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.appserver import running_app
from tests.closed_only import write_store
from tests.e2e.conftest import screenshot, wait_for_app


@pytest.fixture(scope="module")
def closed_only_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = write_store(tmp_path_factory.mktemp("closed_only") / "data")
    with running_app(folder) as url:
        yield url


def test_closed_deals_only_says_what_is_missing(page, closed_only_url):
    page.goto(closed_only_url)
    wait_for_app(page)
    page.get_by_text("Revenue alignment scorecard").first.wait_for()
    metrics = page.get_by_test_id("stMetric")
    for label in ("Handoff ownership", "Forecast integrity"):
        assert "not measured" in metrics.filter(has_text=label).inner_text()
    assert "2 of 4 pillars" in metrics.filter(has_text="Alignment score").inner_text()
    alert = page.get_by_test_id("stAlert").filter(has_text="What the data lacks:").first
    text = alert.inner_text()
    assert "Handoff ownership is not measured: no lead has a recorded MQL date" in text
    assert "Forecast integrity is not measured: the source has no forecast submissions" in text
    assert page.get_by_text("No driver stands out").count() == 0
    path = screenshot(page, "scorecard_closed_deals_only")
    assert path.stat().st_size > 10_000
