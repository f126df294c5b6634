"""Pre-read schedules written back to scorecard.toml by the same writer as the refresh
schedules: comments kept, each field checked with a message naming it (file unchanged), a
concurrent change refused; paused pre-reads listed but never fired."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from hypothesis import given, settings
from hypothesis import strategies as st

from ops import schedule_edit
from ops.config import load_settings
from ops.schedule import HEARTBEAT, build_scheduler, next_runs
from ops.schedule_edit import ConcurrentEdit, PrereadSpec, ScheduleEditError

ROOT = Path(__file__).resolve().parents[2]

# Hand-written: comments on keys, one introducing the pre-read, one before the next section.
CONFIG = """\
# The team's configuration: keep this line.
[schedule]
timezone = "Europe/Berlin"  # cron times are Berlin wall-clock times

[[schedule.jobs]]
source = "demo"
cron = "0 6 * * mon-fri"   # weekdays at 06:00
id = "weekdays"

# The pre-read, after the Monday refresh:
[[schedule.preread]]
cron = "0 7 * * mon"       # Mondays at 07:00
out = "prereads"
recipients = []            # e.g. ["cro@example.com"]

# Alerts follow.
[alerts]
stale_after_hours = 50   # the longest gap between jobs
"""
MONDAY = "preread 0 7 * * mon"  # the default id: "preread <cron>"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "scorecard.toml"
    path.write_text(CONFIG)
    return path


def _version(path: Path) -> str:
    return schedule_edit.read(path).version


def _prereads(path: Path):
    return load_settings(path, environ={}).schedules.prereads


# --- add, edit, pause, delete: comments and other sections kept -------------------------------


def test_adding_a_preread_follows_the_last_one_and_keeps_every_comment(config: Path):
    spec = PrereadSpec(
        out="prereads/emea", every="1d", recipients=("cro@example.com", "vp@example.com"),
        period="ttm", teams=("EMEA",), formats=("pdf", "html"), id="emea daily",
    )  # fmt: skip
    assert schedule_edit.add_preread(config, spec, expected=_version(config)) == (
        "added pre-read emea daily"
    )
    # the new entry goes after the Monday one; "# Alerts follow." stays above [alerts]
    assert config.read_text() == CONFIG.replace(
        '# e.g. ["cro@example.com"]\n\n# Alerts',
        '# e.g. ["cro@example.com"]\n\n[[schedule.preread]]\nevery = "1d"\n'
        'out = "prereads/emea"\nrecipients = ["cro@example.com", "vp@example.com"]\n'
        'period = "ttm"\nteams = ["EMEA"]\nformat = ["pdf", "html"]\nid = "emea daily"\n\n'
        "# Alerts",
    )
    monday, emea = _prereads(config)
    assert monday.id == MONDAY and monday.out_dir == config.parent / "prereads"
    assert emea.id == "emea daily" and emea.cron == "0 0 * * *"  # 1d = midnight, wall clock
    assert emea.out_dir == config.parent / "prereads" / "emea"
    assert emea.recipients == ("cro@example.com", "vp@example.com")
    assert (emea.period, emea.teams, emea.formats) == ("ttm", ("EMEA",), ("pdf", "html"))


def test_the_first_preread_goes_after_the_refresh_schedules(tmp_path: Path):
    path = tmp_path / "scorecard.toml"
    without = CONFIG[: CONFIG.index("# The pre-read")] + CONFIG[CONFIG.index("# Alerts") :]
    path.write_text(without)
    schedule_edit.add_preread(
        path, PrereadSpec(out="out", cron="30 7 * * mon"), expected=_version(path)
    )
    assert path.read_text() == without.replace(
        '# weekdays at 06:00\nid = "weekdays"\n\n# Alerts',
        '# weekdays at 06:00\nid = "weekdays"\n\n[[schedule.preread]]\ncron = "30 7 * * mon"\n'
        'out = "out"\n\n# Alerts',
    )
    assert [p.id for p in _prereads(path)] == ["preread 30 7 * * mon"]
    # a file with no [schedule] at all: the section and its time zone are written
    bare = tmp_path / "bare" / "scorecard.toml"
    bare.parent.mkdir()
    bare.write_text('[store]\ndata_dir = "d"  # mine\n')
    schedule_edit.add_preread(bare, PrereadSpec(out="p", cron="0 7 * * mon"),
                              expected=_version(bare), timezone="Europe/Paris")  # fmt: skip
    settings_ = load_settings(bare, environ={})
    assert settings_.schedules.timezone == "Europe/Paris"
    assert bare.read_text().startswith('[store]\ndata_dir = "d"  # mine\n')


def test_editing_changes_the_fields_and_keeps_the_hints_of_what_did_not_change(config: Path):
    detail = schedule_edit.edit_preread(
        config, MONDAY,
        PrereadSpec(out="prereads", cron="0 8 * * mon", period="2026-Q3", formats=("html",)),
        expected=_version(config),
    )  # fmt: skip
    assert detail == (
        f"edited pre-read {MONDAY}: 0 7 * * mon pdf into prereads -> "
        "0 8 * * mon 2026-Q3 html into prereads"
    )
    text = config.read_text()
    # the changed cron loses its "07:00" comment; the unchanged empty recipients keep their hint
    assert "# Mondays at 07:00" not in text
    assert 'cron = "0 8 * * mon"\nout = "prereads"\nrecipients = []            # e.g.' in text
    assert text.startswith("# The team's configuration: keep this line.\n")
    assert "# The pre-read, after the Monday refresh:\n[[schedule.preread]]" in text
    (pre,) = _prereads(config)
    assert (pre.id, pre.period, pre.formats) == ("preread 0 8 * * mon", "2026-Q3", ("html",))
    # to an interval with a name: cron goes, every and id come; clearing the period removes it
    schedule_edit.edit_preread(
        config, "preread 0 8 * * mon", PrereadSpec(out="prereads", every="1d", id="daily"),
        expected=_version(config),
    )  # fmt: skip
    text = config.read_text()
    assert 'out = "prereads"\nrecipients = []            # e.g.' in text
    assert '\nevery = "1d"\nid = "daily"\n\n# Alerts follow.' in text
    assert "cron = " not in text.split("[[schedule.preread]]")[1]
    assert "period" not in text and "format" not in text
    assert [p.id for p in _prereads(config)] == ["daily"]


def test_pause_resume_and_delete_keep_the_file_as_written(config: Path):
    schedule_edit.set_preread_paused(config, MONDAY, True, expected=_version(config))
    assert '# e.g. ["cro@example.com"]\npaused = true\n\n# Alerts' in config.read_text()
    assert [p.paused for p in _prereads(config)] == [True]
    # an edit keeps it paused
    schedule_edit.edit_preread(config, MONDAY, PrereadSpec(out="prereads", cron="0 7 * * mon"),
                               expected=_version(config))  # fmt: skip
    assert [p.paused for p in _prereads(config)] == [True]
    schedule_edit.set_preread_paused(config, MONDAY, False, expected=_version(config))
    assert config.read_text() == CONFIG  # byte for byte the file as it was

    assert schedule_edit.delete_preread(config, MONDAY, expected=_version(config)) == (
        f"deleted pre-read {MONDAY}"
    )
    text = config.read_text()
    assert "[[schedule.preread]]" not in text and _prereads(config) == ()
    assert "# Alerts follow.\n[alerts]\nstale_after_hours = 50   # the longest gap" in text
    assert '# weekdays at 06:00\nid = "weekdays"\n' in text  # the refresh schedule untouched
    with pytest.raises(ScheduleEditError, match=re.escape(f"no pre-read {MONDAY!r}")):
        schedule_edit.delete_preread(config, MONDAY, expected=_version(config))


def test_the_shipped_config_round_trips_unchanged(tmp_path: Path):
    path = tmp_path / "scorecard.toml"
    shutil.copy(ROOT / "scorecard.toml", path)
    (pre,) = _prereads(path)
    schedule_edit.set_preread_paused(path, pre.id, True, expected=_version(path))
    schedule_edit.set_preread_paused(path, pre.id, False, expected=_version(path))
    assert path.read_bytes() == (ROOT / "scorecard.toml").read_bytes()


# --- checked before writing: the field named, the file unchanged ------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (PrereadSpec(out="p", cron="0 25 * * mon"), "cron", "hour field '25'"),
        (PrereadSpec(out="p", cron="0 7 * *"), "cron", "expected 5 fields"),
        (PrereadSpec(out="p"), "cron", "either a cron expression or an interval"),
        (PrereadSpec(out="p", cron="0 7 * * mon", every="1d"), "cron", "either a cron"),
        (PrereadSpec(out="p", every="7h"), "every", "use 5m, 10m"),
        (PrereadSpec(out="", cron="0 7 * * mon"), "out", "give the folder"),
        (PrereadSpec(out="/srv/prereads", cron="0 7 * * mon"), "out", "outside the folder"),
        (PrereadSpec(out="../elsewhere", cron="0 7 * * mon"), "out", "outside the folder"),
        (PrereadSpec(out="p/../../up", cron="0 7 * * mon"), "out", "outside the folder"),
        (PrereadSpec(out="p", cron="0 7 * * mon", recipients=("cro@example.com", "cro")),
         "recipients", "'cro' is not an e-mail address"),
        (PrereadSpec(out="p", cron="0 7 * * mon", recipients=("A <a@x.com>, b@x.com",)),
         "recipients", "is not an e-mail address"),
        (PrereadSpec(out="p", cron="0 7 * * mon", period="2026-Q5"), "period",
         "is not one of the forms"),
        (PrereadSpec(out="p", cron="0 7 * * mon", period="2026-06-30..2026-03-01"), "period",
         "ends before it starts"),
        (PrereadSpec(out="p", cron="0 7 * * mon", teams=("EMEA", "EMEA")), "teams",
         "named twice"),
        (PrereadSpec(out="p", cron="0 7 * * mon", teams=("EMEA", " ")), "teams", "empty"),
        (PrereadSpec(out="p", cron="0 7 * * mon", formats=("docx",)), "format",
         "choose pdf and/or html"),
        (PrereadSpec(out="p", cron="0 7 * * mon", formats=()), "format", "none: choose pdf"),
        # one id namespace with the refresh schedules (the scheduler and the run log share it)
        (PrereadSpec(out="p", cron="0 9 * * *", id="weekdays"), "id", "'weekdays' exists"),
        # the same times as the Monday pre-read and no name: its default id twice
        (PrereadSpec(out="other", cron="0 7 * * mon"), "id",
         re.escape(f"{MONDAY!r} exists already")),
    ],
)  # fmt: skip
def test_a_bad_preread_is_refused_naming_the_field(config: Path, spec, field, message):
    with pytest.raises(ScheduleEditError, match=message) as refused:
        schedule_edit.add_preread(config, spec, expected=_version(config))
    assert refused.value.field == field and str(refused.value).startswith(f"{field}: ")
    assert config.read_text() == CONFIG
    if field == "id" and not spec.id:
        return  # the Monday entry keeping its own times is no clash
    # an edit is checked the same way
    with pytest.raises(ScheduleEditError, match=message) as refused_edit:
        schedule_edit.edit_preread(config, MONDAY, spec, expected=_version(config))
    assert refused_edit.value.field == field
    assert config.read_text() == CONFIG


def test_a_file_changed_since_it_was_read_is_not_overwritten(config: Path):
    seen = _version(config)
    changed = CONFIG.replace("stale_after_hours = 50", "stale_after_hours = 70")
    config.write_text(changed)  # someone else, by hand
    spec = PrereadSpec(out="p", every="1d")
    for change in (
        lambda: schedule_edit.add_preread(config, spec, expected=seen),
        lambda: schedule_edit.edit_preread(config, MONDAY, spec, expected=seen),
        lambda: schedule_edit.set_preread_paused(config, MONDAY, True, expected=seen),
        lambda: schedule_edit.delete_preread(config, MONDAY, expected=seen),
    ):
        with pytest.raises(ConcurrentEdit, match="changed by someone else since this page"):
            change()
        assert config.read_text() == changed


_NAMES = st.text(alphabet="abcdefgh", min_size=1, max_size=6)


@settings(max_examples=30, deadline=None)
@given(
    recipients=st.lists(_NAMES.map(lambda n: f"{n}@example.com"), max_size=3, unique=True),
    teams=st.lists(_NAMES, max_size=3, unique=True),
    formats=st.sampled_from([("pdf",), ("html",), ("pdf", "html")]),
    period=st.sampled_from(["", "2026-Q3", "FY2026", "ttm", "all", "2026-03-01..2026-06-30"]),
    timing=st.sampled_from([("0 7 * * mon", ""), ("", "1d"), ("", "6h"), ("15 6 1 * *", "")]),
)
def test_what_is_saved_reads_back_as_given(tmp_path_factory, recipients, teams, formats,
                                           period, timing):  # fmt: skip
    # invariant: any valid pre-read, added then read as the scheduler reads it, is what the
    # form gave, and the rest of the file is untouched
    path = tmp_path_factory.mktemp("rt") / "scorecard.toml"
    path.write_text(CONFIG)
    cron, every = timing
    spec = PrereadSpec(out="out/x", cron=cron, every=every, recipients=tuple(recipients),
                       period=period, teams=tuple(teams), formats=formats, id="mine")  # fmt: skip
    schedule_edit.add_preread(path, spec, expected=_version(path))
    monday, mine = _prereads(path)
    assert monday.id == MONDAY
    assert (mine.id, mine.every, mine.out_dir) == ("mine", every, path.parent / "out" / "x")
    assert (mine.recipients, mine.teams, mine.formats, mine.period) == (
        tuple(recipients),
        tuple(teams),
        formats,
        period,
    )
    if cron:
        assert mine.cron == cron
    text = path.read_text()
    assert text.startswith(CONFIG[: CONFIG.index("# Alerts")])
    assert text.endswith("# Alerts follow.\n[alerts]\nstale_after_hours = 50   # the longest gap "
                         "between jobs\n")  # fmt: skip


# --- paused pre-reads are listed but never fired ----------------------------------------------


def test_a_paused_preread_is_not_scheduled(config: Path, tmp_path: Path):
    schedule_edit.add_preread(config, PrereadSpec(out="p", every="1d", id="daily"),
                              expected=_version(config))  # fmt: skip
    schedule_edit.set_preread_paused(config, MONDAY, True, expected=_version(config))
    settings_ = load_settings(config, environ={"SCORECARD_DATA_DIR": str(tmp_path / "data")})
    assert [(p.id, p.paused) for p in settings_.schedules.prereads] == [
        (MONDAY, True),
        ("daily", False),
    ]
    # Monday 2026-11-23 00:00 UTC: the weekdays refresh and the daily pre-read, never Monday's
    upcoming = next_runs(settings_, datetime(2026, 11, 23, tzinfo=UTC), n=6)
    assert set(upcoming["job"]) == {"weekdays", "daily"}
    scheduler = build_scheduler(settings_, scheduler_class=BackgroundScheduler)
    assert {job.id for job in scheduler.get_jobs()} == {HEARTBEAT, "weekdays", "daily"}
    # resumed: scheduled again on the next tick
    schedule_edit.set_preread_paused(config, MONDAY, False, expected=_version(config))
    scheduler.start(paused=True)
    try:
        heartbeat = scheduler.get_job(HEARTBEAT)
        heartbeat.func(*heartbeat.args, **heartbeat.kwargs)
        assert {job.id for job in scheduler.get_jobs()} == {HEARTBEAT, "weekdays", "daily",
                                                            MONDAY}  # fmt: skip
    finally:
        scheduler.shutdown(wait=False)
