"""Browser tests: the real app server and Debian's headless Chromium driven by Playwright.

Skipped, saying why, where /usr/bin/chromium is absent — except under CI (CI=true), where a
missing browser is an error: .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from snapshots.store import Store
from tests.appserver import running_app

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DEMO_AS_OF = date(2026, 11, 16)


def pytest_collection_modifyitems(config, items):
    """Every browser test on one worker (`--dist loadgroup`): two Chromiums and two app servers
    at once on a 2-core machine make timing-sensitive pages flaky. Skipped without Chromium."""
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(pytest.mark.xdist_group("browser"))
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI needs Chromium at {CHROMIUM} (apt-get install chromium)")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def e2e_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("e2e") / "data"
    frames = validate_tables(generate_demo_org(as_of=DEMO_AS_OF)).frames
    Store(folder).write(frames, source="demo", data_as_of=DEMO_AS_OF)
    return folder


@pytest.fixture(scope="session")
def app_url(e2e_store: Path) -> Iterator[str]:
    with running_app(e2e_store) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
            ],
        )  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def page(browser, tmp_path: Path) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()


def wait_for_app(page) -> None:
    """Wait until Streamlit is connected and the script has finished running (twice, since a
    run can end in a rerun, e.g. the first request of a fresh server)."""
    page.wait_for_selector("[data-testid='stAppViewContainer']")
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    for _ in range(2):
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
        page.wait_for_timeout(400)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


DOCS_IMAGES = ROOT / "docs" / "images"
DOCS_IMAGES_ENV = "SCORECARD_DOCS_IMAGES"  # set by `python -m tests.screenshots` only


def copy_to_docs(path: Path, name: str) -> Path | None:
    """Copy a screenshot into docs/images/ as `name`, only when refreshing the docs' images on
    purpose (`python -m tests.screenshots` sets SCORECARD_DOCS_IMAGES=1): a test run writes
    under artifacts/ and never changes a committed file. Returns the copy, if made."""
    if os.environ.get(DOCS_IMAGES_ENV) != "1":
        return None
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(path, DOCS_IMAGES / name))
