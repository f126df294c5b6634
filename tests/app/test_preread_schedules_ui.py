"""Pre-read schedules on the Data & refresh page (AppTest): listed beside the refresh
schedules, added, edited, paused/resumed and deleted by ops, written to scorecard.toml and
audited; a bad field named with nothing saved; other roles see them read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ops import audit
from ops.config import load_settings
from pages._text import as_text
from tests.app import test_schedules_ui as refresh_schedules
from tests.app.test_auth import AUTH, signed_in
from tests.app.test_schedules_ui import CONFIG, ROOT, _page

# The store and the hand-written scorecard.toml of the refresh schedules' tests (fixtures).
own_store = refresh_schedules.own_store
config = refresh_schedules.config


def _prereads(config: Path):
    return load_settings(config, environ={}).schedules.prereads


def _listing(at: AppTest):
    """The pre-read list (a plain st.dataframe has no key AppTest can find)."""
    return next(d.value for d in at.dataframe if "pre-read" in d.value.columns)


def _events(own_store: Path) -> list[str]:
    return audit.recent(own_store, action="schedule")["detail"].to_list()


def _ok(at: AppTest) -> str:
    assert not at.exception and not at.error, [as_text(e.value) for e in at.error]
    return as_text(at.success[0].value)


def _add(at: AppTest, cron: str, **fields) -> AppTest:
    at.text_input(key="preread_add_cron").input(cron)
    for name, value in fields.items():
        widget = {"out": at.text_input, "period": at.text_input, "name": at.text_input,
                  "recipients": at.text_area, "teams": at.multiselect,
                  "formats": at.multiselect}[name]  # fmt: skip
        element = widget(key=f"preread_add_{name}")
        element.set_value(value) if name in ("teams", "formats") else element.input(value)
    return at.button(key="preread_add_submit").click().run()


def test_add_a_preread_schedule(own_store, config, app):
    at = _page(app)
    # the empty state, with the refresh schedule listed above it
    assert any("No pre-read schedule yet" in as_text(c.value) for c in at.caption)
    team = at.multiselect(key="preread_add_teams").options[0]  # a team of the demo data
    _add(at, "0 7 * * mon", recipients="cro@example.com,\nvp@example.com", period="ttm",
         teams=[team], formats=["pdf", "html"], out="prereads/exec")  # fmt: skip
    assert "Saved: added pre-read preread 0 7 * * mon" in _ok(at)
    (pre,) = _prereads(config)
    assert (pre.cron, pre.out_dir, pre.period, pre.teams, pre.formats) == (
        "0 7 * * mon", config.parent / "prereads" / "exec", "ttm", (team,), ("pdf", "html"),
    )  # fmt: skip
    assert pre.recipients == ("cro@example.com", "vp@example.com")
    listing = _listing(at)
    shown = ["pre-read", "when", "teams", "folder", "recipients", "status"]
    assert listing.iloc[0][shown].tolist() == [
        "preread 0 7 * * mon", "0 7 * * mon", team, "prereads/exec",
        "cro@example.com, vp@example.com", "active",
    ]  # fmt: skip
    assert listing["next run"].notna().all()
    text = config.read_text()
    assert text.startswith("# Our configuration (hand-written; keep this comment).\n")
    assert "# weekdays at 06:00" in text and "# Alerts follow.\n[alerts]" in text
    assert _events(own_store) == ["added pre-read preread 0 7 * * mon"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"out": "../outside"}, "Not saved. out: '../outside' is outside the folder"),
        ({"recipients": "cro at example"}, "Not saved. recipients: 'cro at example' is not"),
        ({"period": "2026-Q9"}, "Not saved. period: period '2026-Q9' is not one of the forms"),
        ({"formats": []}, "Not saved. format: none: choose pdf and/or html"),
    ],
)
def test_a_bad_field_is_named_and_nothing_saved(own_store, config, app, fields, message):
    at = _add(_page(app), "0 7 * * mon", **fields)
    (error,) = [as_text(e.value) for e in at.error]
    assert error.startswith(message)
    assert config.read_text() == CONFIG and _events(own_store) == []


def test_edit_pause_resume_and_delete(own_store, config, app):
    at = _add(_page(app), "0 7 * * mon", name="monday")
    _ok(at)
    assert at.selectbox(key="preread_edit_job").value == "monday"
    key = "preread_edit::monday"
    assert at.text_input(key=f"{key}_cron").value == "0 7 * * mon"
    assert at.text_input(key=f"{key}_out").value == "prereads"
    assert at.text_input(key=f"{key}_name").value == "monday"
    at.text_input(key=f"{key}_cron").input("30 8 * * mon")
    at.text_input(key=f"{key}_period").input("FY2026")
    at.button(key="preread_edit_submit").click().run()
    assert "Saved: edited pre-read monday: 0 7 * * mon pdf into prereads -> 30 8 * * mon " in (
        _ok(at)
    )
    (pre,) = _prereads(config)
    assert (pre.id, pre.cron, pre.period, pre.paused) == ("monday", "30 8 * * mon", "FY2026", False)

    at.button(key="preread_pause").click().run()
    _ok(at)
    assert [p.paused for p in _prereads(config)] == [True]
    listing = _listing(at)
    assert list(listing["status"]) == ["paused"] and listing["next run"].isna().all()
    assert at.button(key="preread_pause").label == "Resume"
    assert at.selectbox(key="preread_edit_job").format_func("monday") == "monday (paused)"
    at.button(key="preread_pause").click().run()
    assert [p.paused for p in _prereads(config)] == [False]

    assert at.button(key="preread_delete").disabled  # not without the confirmation
    at.checkbox(key="preread_delete_confirm").check().run()
    at.button(key="preread_delete").click().run()
    assert "Saved: deleted pre-read monday" in _ok(at)
    assert _prereads(config) == ()
    assert any("No pre-read schedule yet" in as_text(c.value) for c in at.caption)
    assert "# Alerts follow.\n[alerts]" in config.read_text()
    # the refresh schedule never moved
    assert [j.id for j in load_settings(config, environ={}).schedules.jobs] == ["weekdays"]
    assert _events(own_store) == [  # newest first
        "deleted pre-read monday", "resumed pre-read monday", "paused pre-read monday",
        "edited pre-read monday: 0 7 * * mon pdf into prereads -> 30 8 * * mon FY2026 pdf "
        "into prereads",
        "added pre-read monday",
    ]  # fmt: skip


def test_a_file_changed_since_the_page_read_it_is_not_overwritten(own_store, config, app):
    at = _page(app)
    by_hand = CONFIG.replace("stale_after_hours = 50", "stale_after_hours = 60")
    config.write_text(by_hand)  # someone edits the file while the page is open
    at = _add(at, "0 7 * * mon")
    (error,) = [as_text(e.value) for e in at.error]
    assert "changed by someone else since this page read it; nothing was saved" in error
    assert config.read_text() == by_hand and _events(own_store) == []


def test_other_roles_see_the_preread_schedules_read_only(own_store, config):
    config.write_text(
        CONFIG.replace(
            "# Alerts follow.",
            '[[schedule.preread]]\ncron = "0 7 * * mon"\nout = "prereads"\n\n# Alerts follow.',
        )
        + '\n[access]\nrole_claim = "groups"\n[access.users]\n"cro@example.com" = "exec"\n'
    )
    before = config.read_text()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets.update(AUTH)
    at.user = signed_in("cro@example.com")
    at.run()
    at.switch_page("pages/data_trust.py").run()
    assert not at.exception
    assert list(_listing(at)["pre-read"]) == ["preread 0 7 * * mon"]
    widgets = [*at.button, *at.selectbox, *at.text_input, *at.text_area, *at.multiselect]
    assert [w.key for w in widgets if w.key and w.key.startswith("preread_")] == []
    assert config.read_text() == before
