"""Schedules on the Data & refresh page (AppTest): add, edit, pause/resume, delete, time zone,
written to scorecard.toml and audited; a concurrent edit refused; failures grouped once; the
credential variables by name only; other roles see the schedules read-only."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ops import audit
from ops.config import load_settings
from ops.runlog import finish_run, start_run
from pages._text import as_text
from tests.app.test_auth import AUTH, signed_in

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
# Our configuration (hand-written; keep this comment).
[schedule]
timezone = "Europe/Berlin"

[[schedule.jobs]]
source = "demo"
cron = "0 6 * * mon-fri"   # weekdays at 06:00
id = "weekdays"

# Alerts follow.
[alerts]
stale_after_hours = 50
"""


@pytest.fixture
def own_store(demo_store_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(demo_store_dir, folder)
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def config(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "conf" / "scorecard.toml"
    path.parent.mkdir()
    path.write_text(CONFIG)
    monkeypatch.setenv("SCORECARD_CONFIG", str(path))
    return path


def _page(app) -> AppTest:
    at = app().run()
    at.switch_page("pages/refresh.py").run()
    assert not at.exception, at.exception
    return at


def _jobs(config: Path) -> list[tuple[str, str, bool]]:
    jobs = load_settings(config, environ={}).schedules.jobs
    return [(job.id, job.when, job.paused) for job in jobs]


def _table(at: AppTest, column: str):
    """The first table holding `column` (a plain st.dataframe has no key AppTest can find)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _listed(at: AppTest) -> list[str]:
    return list(_table(at, "schedule")["schedule"])


def _schedule_events(own_store: Path) -> list[str]:
    return audit.recent(own_store, action="schedule")["detail"].to_list()


def test_add_a_schedule(own_store, config, app):
    at = _page(app)
    assert _listed(at) == ["weekdays"]
    at.selectbox(key="add_source").set_value("hubspot")
    at.selectbox(key="add_every").set_value("6h")
    at.checkbox(key="add_full").check()
    at.button(key="schedule_add_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Saved: added hubspot every 6h full" in as_text(at.success[0].value)
    assert _listed(at) == ["weekdays", "hubspot every 6h full"]
    assert _jobs(config)[1] == ("hubspot every 6h full", "every 6h", False)
    text = config.read_text()
    assert text.startswith("# Our configuration (hand-written; keep this comment).\n")
    assert "# weekdays at 06:00" in text and "# Alerts follow.\n[alerts]" in text
    assert _schedule_events(own_store) == ["added hubspot every 6h full"]
    assert audit.recent(own_store, action="schedule")["role"][0] == "open"


def test_a_bad_cron_names_the_field_and_saves_nothing(own_store, config, app):
    at = _page(app)
    at.text_input(key="add_cron").input("0 25 * * *")
    at.button(key="schedule_add_submit").click().run()
    (error,) = [as_text(e.value) for e in at.error]
    assert error.startswith("Not saved. cron: cron '0 25 * * *', hour field '25'")
    assert config.read_text() == CONFIG and _schedule_events(own_store) == []


def test_edit_pause_resume_and_delete(own_store, config, app):
    at = _page(app)
    assert at.selectbox(key="edit_job").value == "weekdays"
    assert at.text_input(key="edit_cron::weekdays").value == "0 6 * * mon-fri"
    at.text_input(key="edit_cron::weekdays").input("30 7 * * mon-fri")
    at.button(key="schedule_edit_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert _jobs(config) == [("weekdays", "30 7 * * mon-fri", False)]
    assert "# weekdays at 06:00" not in config.read_text()  # the comment described 06:00

    at.button(key="schedule_pause").click().run()
    assert _jobs(config) == [("weekdays", "30 7 * * mon-fri", True)]
    listing = _table(at, "schedule")
    assert list(listing["status"]) == ["paused"] and listing["next run"].isna().all()
    assert at.button(key="schedule_pause").label == "Resume"
    at.button(key="schedule_pause").click().run()
    assert _jobs(config) == [("weekdays", "30 7 * * mon-fri", False)]

    assert at.button(key="schedule_delete").disabled  # not without the confirmation
    at.checkbox(key="schedule_delete_confirm").check().run()
    at.button(key="schedule_delete").click().run()
    assert not at.error and _jobs(config) == []
    assert any("No refresh schedule yet" in c.value for c in at.caption)
    assert "# Alerts follow.\n[alerts]" in config.read_text()
    assert _schedule_events(own_store) == [  # newest first
        "deleted weekdays", "resumed weekdays", "paused weekdays",
        "edited weekdays: demo 0 6 * * mon-fri -> demo 30 7 * * mon-fri",
    ]  # fmt: skip


def test_choosing_another_schedule_fills_the_form_with_its_values(own_store, config, app):
    at = _page(app)
    at.selectbox(key="add_every").set_value("30m")
    at.selectbox(key="add_source").set_value("warehouse")
    at.button(key="schedule_add_submit").click().run()
    at.selectbox(key="edit_job").set_value("warehouse every 30m").run()
    assert at.selectbox(key="edit_source::warehouse every 30m").value == "warehouse"
    assert at.selectbox(key="edit_every::warehouse every 30m").value == "30m"
    assert at.text_input(key="edit_cron::warehouse every 30m").value == ""
    # switching it to a cron: the interval goes from the file, the cron comes in
    at.selectbox(key="edit_every::warehouse every 30m").set_value("(use the cron expression)")
    at.text_input(key="edit_cron::warehouse every 30m").input("0 2 * * *")
    at.button(key="schedule_edit_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert _jobs(config)[1] == ("warehouse 0 2 * * *", "0 2 * * *", False)
    assert "every" not in config.read_text()


def test_change_the_time_zone(own_store, config, app):
    at = _page(app)
    at.selectbox(key="schedule_timezone").set_value("America/New_York")
    at.button(key="schedule_timezone_save").click().run()
    assert not at.error
    assert load_settings(config, environ={}).schedules.timezone == "America/New_York"
    assert any("Times in America/New_York" in as_text(c.value) for c in at.caption)


def test_a_file_changed_since_the_page_read_it_is_not_overwritten(own_store, config, app):
    at = _page(app)
    edited_by_hand = CONFIG.replace("stale_after_hours = 50", "stale_after_hours = 60")
    config.write_text(edited_by_hand)  # someone edits the file while the page is open
    at.selectbox(key="add_every").set_value("1h")
    at.button(key="schedule_add_submit").click().run()
    (error,) = [as_text(e.value) for e in at.error]
    assert "changed by someone else since this page read it; nothing was saved" in error
    assert config.read_text() == edited_by_hand and _schedule_events(own_store) == []
    # the page now shows the file as it is: the same change goes through
    at.selectbox(key="add_every").set_value("1h")
    at.button(key="schedule_add_submit").click().run()
    assert not at.error and [j[0] for j in _jobs(config)] == ["weekdays", "demo every 1h"]
    assert "stale_after_hours = 60" in config.read_text()


def test_failures_are_grouped_once_with_count_times_and_whole_message(own_store, config, app):
    # the run log: the same warehouse failure three times, one salesforce failure, then the
    # warehouse recovered; salesforce still failing
    long = "connection refused: " + "host db.example.com port 5432 " * 8 + "(after 3 attempts)"
    t0 = datetime(2026, 11, 20, 6, tzinfo=UTC)
    script = [
        ("warehouse", "failed", long, 0), ("warehouse", "failed", long, 1),
        ("salesforce", "failed", "INVALID_LOGIN: bad password", 2),
        ("warehouse", "failed", long, 3), ("warehouse", "ok", None, 4),
        ("salesforce", "failed", "INVALID_LOGIN: bad password", 5),
    ]  # fmt: skip
    for source, outcome, error, hours in script:
        at_ = t0 + timedelta(hours=hours)
        run = start_run(own_store, source=source, trigger="schedule", now=at_)
        finish_run(own_store, run, outcome=outcome, now=at_ + timedelta(minutes=1), error=error)
    at = _page(app)
    labels = [as_text(e.label) for e in at.expander if "UTC:" in e.label]
    # two distinct failures, newest first; counts 2 and 3; the first line cut to fit the label
    assert labels[0] == (
        "Still failing · salesforce · 2 times · last 2026-11-20 11:00 UTC: "
        "INVALID_LOGIN: bad password"
    )
    assert labels[1].startswith("Fixed since · warehouse · 3 times · last 2026-11-20 09:00 UTC: ")
    assert labels[1].endswith("…") and len(labels) == 2
    # the whole message, once, wrapped (no error column in the run table)
    assert [c.value for c in at.code] == ["INVALID_LOGIN: bad password", long]
    run_log = next(d for d in at.dataframe if "run_id" in d.value.columns)
    assert json.loads(run_log.proto.columns)["error"]["hidden"] is True  # in the CSV only
    texts = [as_text(m.value) for m in at.markdown]
    assert any(
        t.startswith("**3 times** from 2026-11-20 06:00 to 2026-11-20 09:00 UTC") for t in texts
    )
    assert not any("The last refresh failed" in as_text(w.value) for w in at.main.warning)


def test_credentials_by_name_never_by_value(own_store, config, app, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://etl:FAKE-WH-PASSWORD-9a@db.example/crm")
    monkeypatch.setenv("HUBSPOT_TOKEN", "   ")  # blank counts as not set
    monkeypatch.delenv("WAREHOUSE_HOST", raising=False)
    at = _page(app)
    table = _table(at, "for")
    is_set = dict(zip(table["variable"], table["status"], strict=True))
    assert is_set["WAREHOUSE_URL"] == "set" and is_set["HUBSPOT_TOKEN"] == "not set"
    assert is_set["WAREHOUSE_HOST"] == "not set"
    shown = "".join(d.value.to_string() for d in at.dataframe) + "".join(
        str(e.value) for e in [*at.main.markdown, *at.main.caption]
    )
    assert "FAKE-WH-PASSWORD" not in shown and "db.example" not in shown


@pytest.fixture
def signed(own_store, config, monkeypatch):
    """The app with sign-in on and roles in the config (schedules as in CONFIG)."""
    config.write_text(
        CONFIG + '\n[access]\nrole_claim = "groups"\n[access.users]\n"cro@example.com" = "exec"\n'
        '"ops@example.com" = "ops"\n'
    )

    def make(email: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.secrets.update(AUTH)
        at.user = signed_in(email)
        return at.run()

    return make


def test_other_roles_see_the_schedules_read_only(signed, config):
    before = config.read_text()
    at = signed("cro@example.com")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/refresh.py")
    at.switch_page("pages/data_trust.py").run()
    assert not at.exception
    assert _listed(at) == ["weekdays"]
    widgets = [*at.button, *at.selectbox, *at.text_input, *at.checkbox]
    editing = ("schedule_", "add_", "edit_")  # the keys of every control that changes one
    assert [w.key for w in widgets if w.key and w.key.startswith(editing)] == []
    assert config.read_text() == before


def test_ops_signed_in_changes_are_audited_with_their_email(signed, config, own_store):
    at = signed("ops@example.com")
    at.switch_page("pages/refresh.py").run()
    at.button(key="schedule_pause").click().run()
    assert not at.error and _jobs(config) == [("weekdays", "0 6 * * mon-fri", True)]
    event = audit.recent(own_store, action="schedule").row(0, named=True)
    assert (event["email"], event["role"], event["detail"]) == (
        "ops@example.com", "ops", "paused weekdays",
    )  # fmt: skip
