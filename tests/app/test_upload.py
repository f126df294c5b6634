"""Data & refresh, ops: upload exports → check → load; the Salesforce connection test (AppTest)."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from connectors.demo import generate_demo_org
from ops.runlog import recent_runs
from pages._text import as_text
from snapshots.store import Store
from tests.app.test_auth import signed_app, signed_in  # noqa: F401 (signed_app: a fixture)
from tests.ops.test_uploads import OPPORTUNITY_CSV
from tests.sfemulator.org import as_of_midnight, org_from_canonical
from tests.sfemulator.server import BulkEmulator

USER, PASSWORD, TOKEN = "integration@example.com", "s3cret-Pa55", "TOKxyz987"
# A file name with markup: bold, a link, a formula, an image (a request to that host).
MARKUP_NAME = "**bold** [x](javascript:alert(1)) $$x$$ ![p](http:..127.0.0.1:9.p.png).csv"


@pytest.fixture
def own_store(demo_store_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the demo store, so loads here do not touch the shared one."""
    folder = tmp_path / "data"
    shutil.copytree(demo_store_dir, folder)
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(folder))
    return folder


def _refresh_page(app):
    at = app().run()
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    return at


def _table(at, column: str):
    """The table on the page with `column` (a plain st.dataframe keeps no key in AppTest)."""
    (frame,) = [d.value for d in at.dataframe if column in d.value.columns]
    return frame


def _check(at, *files: tuple[str, bytes, str]):
    at.file_uploader(key="upload_files").set_value(list(files)).run()
    at.button(key="upload_check").click().run()
    assert not at.exception
    return at


def test_upload_check_then_load_stores_a_files_snapshot(own_store: Path, app):
    before = Store(own_store).current_id()
    at = _refresh_page(app)
    assert at.selectbox(key="upload_preset").value == "salesforce_export"
    assert at.button(key="upload_load").disabled  # nothing checked yet
    _check(at, ("Opportunity.csv", OPPORTUNITY_CSV, "text/csv"))
    checked = [s.value for s in at.success if "Check passed" in s.value]
    assert checked and "data as of 2026-04-15" in as_text(checked[0])
    table = _table(at, "columns mapped")
    # 3 deals, 2 owners, 3 stages seen, history 3 opens + 2 closes (tests/ops/test_uploads.py)
    assert dict(zip(table["table"], table["rows"], strict=True)) == {
        "users": 2, "stages": 3, "opportunities": 3, "stage_history": 5,
    }  # fmt: skip
    assert Store(own_store).current_id() == before  # a check stores nothing
    (kept,) = (own_store / "uploads").iterdir()
    assert (kept / "Opportunity.csv").read_bytes() == OPPORTUNITY_CSV

    at.button(key="upload_load").click().run()
    deadline = time.monotonic() + 120
    while not any("Stored snapshot" in s.value for s in at.success):
        assert time.monotonic() < deadline and not at.error, [e.value for e in at.error]
        time.sleep(0.5)
        at.run()
    current = Store(own_store).current()
    assert current.id != before and current.source == "files"
    assert current.manifest["detail"]["folder"] == str(kept)
    assert current.manifest["tables"]["opportunities"]["rows"] == 3
    runs = recent_runs(own_store)
    assert (runs["source"][0], runs["trigger"][0], runs["outcome"][0]) == ("files", "page", "ok")
    assert at.button(key="upload_load").disabled  # loaded: not loaded twice by a second click


def test_a_failed_load_keeps_the_previous_snapshot(own_store: Path, app):
    before = Store(own_store).current_id()
    at = _refresh_page(app)
    _check(at, ("Opportunity.csv", OPPORTUNITY_CSV, "text/csv"))
    (kept,) = (own_store / "uploads").iterdir()
    (kept / "Opportunity.csv").unlink()  # the upload lost its file between check and load
    at.button(key="upload_load").click().run()
    deadline = time.monotonic() + 120
    while not at.error:
        assert time.monotonic() < deadline
        assert not any("Stored snapshot" in s.value for s in at.success)
        time.sleep(0.5)
        at.run()
    (error,) = [as_text(e.value) for e in at.error]
    assert error.startswith("Refresh failed:") and "Opportunity.csv" in error
    assert error.endswith("The previous snapshot is still current.")
    assert Store(own_store).current_id() == before
    runs = recent_runs(own_store)
    assert (runs["source"][0], runs["outcome"][0]) == ("files", "failed")


def test_a_bad_zip_entry_is_refused_and_nothing_kept(own_store: Path, app):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Opportunity.csv", OPPORTUNITY_CSV)
        archive.writestr("../../etc/evil.csv", b"a\n1\n")
    at = _refresh_page(app)
    _check(at, ("export.zip", buffer.getvalue(), "application/zip"))
    (error,) = [e.value for e in at.error]
    assert as_text(error) == (
        "Upload refused: export.zip: entry '../../etc/evil.csv' refused: '..' leads outside "
        "the folder"
    )
    assert not (own_store / "uploads").exists() or not any((own_store / "uploads").iterdir())
    assert at.button(key="upload_load").disabled


def test_a_failed_check_names_file_column_and_line(own_store: Path, app):
    at = _refresh_page(app)
    bad = OPPORTUNITY_CSV.replace(b"1000.00", b"lots")  # line 3 of the file
    _check(at, ("Opportunity.csv", bad, "text/csv"))
    (error,) = [as_text(e.value) for e in at.error]
    assert error.startswith("Check failed:")
    assert "Opportunity.csv" in error and "Amount" in error and "line 3" in error
    assert at.button(key="upload_load").disabled
    assert not any((own_store / "uploads").iterdir())  # a failed check keeps nothing


def test_markup_in_a_file_name_shows_as_text(own_store: Path, app):
    at = _refresh_page(app)
    _check(
        at,
        ("Opportunity.csv", OPPORTUNITY_CSV, "text/csv"),
        (MARKUP_NAME, b"a,b\n1,2\n", "text/csv"),
    )
    (checked,) = [s.value for s in at.success if "Check passed" in s.value]
    assert "\\*\\*bold\\*\\*" in checked and "\\!\\[p\\]" in checked  # escaped, drawn as is
    assert f"(Opportunity.csv, {MARKUP_NAME})" in as_text(checked)


def test_non_ops_users_do_not_get_the_upload(signed_app):  # noqa: F811
    at = signed_app(signed_in("cro@example.com"))  # an exec in the [access] table
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/refresh.py")
    assert not at.file_uploader
    assert all(b.key not in {"upload_check", "upload_load", "sf_test"} for b in at.button)


# --- Salesforce connection ------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu() -> Iterator[BulkEmulator]:
    as_of = date(2026, 11, 16)
    demo = generate_demo_org(as_of=as_of, scale=0.05, quarters=1)
    org = org_from_canonical(demo, now=as_of_midnight(as_of + timedelta(days=1)))
    server = BulkEmulator(org, username=USER, password=PASSWORD, token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def sf_env(emu: BulkEmulator, own_store: Path, tmp_path: Path, monkeypatch) -> BulkEmulator:
    config = tmp_path / "scorecard.toml"
    config.write_text(f'[sources.salesforce]\nlogin_url = "{emu.url}"\nhttp_timeout_seconds = 2\n')
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    for name, value in {
        "SF_USERNAME": USER,
        "SF_PASSWORD": PASSWORD,
        "SF_SECURITY_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("SF_SESSION_ID", "SF_INSTANCE_URL", "SF_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    return emu


def _page_text(at) -> str:
    parts = [e.value for kind in (at.success, at.error, at.caption, at.markdown) for e in kind]
    return "\n".join([*parts, str(_table(at, "in the environment"))])


def test_connection_test_names_the_instance_and_never_a_value(sf_env: BulkEmulator, app):
    at = _refresh_page(app)
    variables = _table(at, "in the environment")
    assert dict(zip(variables["variable"], variables["in the environment"], strict=True)) == {
        "SF_USERNAME": "set", "SF_PASSWORD": "set", "SF_SECURITY_TOKEN": "set",
        "SF_SESSION_ID": "not set", "SF_INSTANCE_URL": "not set", "SF_DOMAIN": "not set",
    }  # fmt: skip
    at.button(key="sf_test").click().run()
    assert not at.exception
    (ok,) = [as_text(s.value) for s in at.success]
    assert ok == f"Logged in to Salesforce: the org's instance is {sf_env.url}."
    text = _page_text(at)
    assert USER not in text and PASSWORD not in text and TOKEN not in text


def test_connection_test_reports_a_refused_login(sf_env: BulkEmulator, app, monkeypatch):
    monkeypatch.setenv("SF_PASSWORD", "wrong-Pa55")
    at = _refresh_page(app)
    at.button(key="sf_test").click().run()
    (error,) = [as_text(e.value) for e in at.error]
    assert error.startswith(f"Salesforce login at {sf_env.url} failed: bad credentials")
    assert "wrong-Pa55" not in _page_text(at) and TOKEN not in _page_text(at)
