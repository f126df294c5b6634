"""Data & refresh in a real browser: upload an export → check → load; test the Salesforce login."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from connectors.demo import generate_demo_org
from ops.runlog import recent_runs
from snapshots.store import Store
from tests.appserver import running_app
from tests.e2e.conftest import screenshot, wait_for_app
from tests.ops.test_uploads import OPPORTUNITY_CSV
from tests.sfemulator.org import as_of_midnight, org_from_canonical
from tests.sfemulator.server import BulkEmulator

USER, PASSWORD, TOKEN = "integration@example.com", "s3cret-Pa55", "TOKxyz987"


@pytest.fixture
def emu() -> Iterator[BulkEmulator]:
    as_of = date(2026, 11, 16)
    demo = generate_demo_org(as_of=as_of, scale=0.05, quarters=1)
    org = org_from_canonical(demo, now=as_of_midnight(as_of + timedelta(days=1)))
    server = BulkEmulator(org, username=USER, password=PASSWORD, token=TOKEN).start()
    yield server
    server.stop()


def _open_refresh(page, url: str) -> None:
    page.goto(f"{url}/refresh")
    wait_for_app(page)
    if "/refresh" not in page.url:  # a fresh server may open on the home page first
        page.get_by_test_id("stSidebarNav").get_by_text("Data & refresh").click()
        wait_for_app(page)
    page.get_by_role("tab", name="Sources & uploads").click()  # uploads are in that tab


def test_upload_check_and_load_from_the_page(page, e2e_store: Path, tmp_path: Path, emu):
    data = tmp_path / "data"
    shutil.copytree(e2e_store, data)
    before = Store(data).current_id()
    config = tmp_path / "scorecard.toml"
    config.write_text(f'[sources.salesforce]\nlogin_url = "{emu.url}"\nhttp_timeout_seconds = 2\n')
    env = {"SCORECARD_CONFIG": str(config), "SF_USERNAME": USER, "SF_PASSWORD": PASSWORD,
           "SF_SECURITY_TOKEN": TOKEN}  # fmt: skip
    with running_app(data, **env) as url:
        _open_refresh(page, url)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            [{"name": "Opportunity.csv", "mimeType": "text/csv", "buffer": OPPORTUNITY_CSV}]
        )
        page.get_by_test_id("stFileUploader").get_by_text("Opportunity.csv").wait_for()
        check = page.get_by_role("button", name="Check", exact=True)
        expect(check).to_be_enabled(timeout=60_000)  # the upload reached the server
        wait_for_app(page)
        check.click()
        page.get_by_text("Check passed").wait_for(timeout=60_000)
        wait_for_app(page)
        assert Store(data).current_id() == before  # a check stores nothing
        preview = page.get_by_test_id("stDataFrame").filter(has_text="columns mapped")
        assert preview.is_visible()
        screenshot(page, "upload-check")

        page.get_by_role("button", name="Load", exact=True).click()
        page.get_by_text("Stored snapshot").wait_for(timeout=120_000)
        wait_for_app(page)
        current = Store(data).current()
        assert current.id != before and current.source == "files"
        assert current.manifest["tables"]["opportunities"]["rows"] == 3
        assert page.get_by_text(current.id).first.is_visible()

        # the connection test: the emulator's instance, and no credential value on the page
        page.get_by_role("button", name="Test Salesforce connection").click()
        page.get_by_text("Logged in to Salesforce").wait_for(timeout=60_000)
        wait_for_app(page)
        screenshot(page, "upload-loaded")
        # md_text puts an invisible word joiner after ":" so no link is drawn; drop it here
        body = page.locator("body").inner_text().replace("\u2060", "")
        assert f"Logged in to Salesforce: the org's instance is {emu.url}." in body
        assert USER not in body and PASSWORD not in body and TOKEN not in body
    runs = recent_runs(data)
    assert (runs["source"][0], runs["trigger"][0], runs["outcome"][0]) == ("files", "page", "ok")


def test_a_refused_zip_entry_with_markup_shows_as_text(page, e2e_store: Path, tmp_path: Path):
    # an entry whose name is markup (bold, an image from a local port) and climbs out with ..
    entry = "**bold** ![p](http:..127.0.0.1:9.p.png)/../../evil.csv"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Opportunity.csv", OPPORTUNITY_CSV)
        archive.writestr(entry, b"a\n1\n")
    data = tmp_path / "data"
    shutil.copytree(e2e_store, data)
    with running_app(data) as url:
        _open_refresh(page, url)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            [{"name": "export.zip", "mimeType": "application/zip", "buffer": buffer.getvalue()}]
        )
        check = page.get_by_role("button", name="Check", exact=True)
        expect(check).to_be_enabled(timeout=60_000)
        wait_for_app(page)
        check.click()
        alert = page.get_by_test_id("stAlert").filter(has_text="Upload refused")
        alert.wait_for(timeout=60_000)
        text = alert.inner_text().replace("\u2060", "")
        assert f"export.zip: entry '{entry}' refused: '..' leads outside the folder" in text
        assert alert.locator("img, strong").count() == 0  # drawn as text, not markup
        expect(page.get_by_role("button", name="Load", exact=True)).to_be_disabled()
    assert not (data / "uploads").exists() or not any((data / "uploads").iterdir())
