"""Schedules written back to scorecard.toml: comments kept, atomic, concurrent edits refused,
checked field by field; paused jobs not run; the scheduler picks a change up on its next tick."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from hypothesis import given, settings
from hypothesis import strategies as st

from ops import schedule_edit
from ops.config import ConfigError, config_version, every_cron, load_settings
from ops.runlog import job_first_seen
from ops.schedule import HEARTBEAT, build_scheduler, next_runs, tick
from ops.schedule_edit import ConcurrentEdit, JobSpec, ScheduleEditError

ROOT = Path(__file__).resolve().parents[2]

# A hand-written file: comments on keys, between tables and before the next section.
CONFIG = """\
# The team's configuration: keep this line.
[store]
data_dir = "data"   # where snapshots live

[schedule]
timezone = "Europe/Berlin"  # cron times are Berlin wall-clock times
retries = 1

# Refreshes:
[[schedule.jobs]]
source = "demo"
cron = "0 6 * * mon-fri"   # weekdays at 06:00
id = "weekdays"

[[schedule.jobs]]
source = "demo"
cron = "0 5 * * sun"       # Sundays at 05:00, full
full = true

# The pre-read, after the Monday refresh:
[[schedule.preread]]
cron = "0 7 * * mon"
out = "prereads"

[alerts]
stale_after_hours = 50   # the longest gap between jobs
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "scorecard.toml"
    path.write_text(CONFIG)
    return path


def _version(path: Path) -> str:
    return schedule_edit.read(path).version


def _ids(path: Path) -> list[str]:
    return [job.id for job in load_settings(path, environ={}).schedules.jobs]


# --- comments and other sections kept ------------------------------------------------------


def test_adding_a_job_keeps_every_comment_and_section(config: Path):
    detail = schedule_edit.add_job(
        config, JobSpec("hubspot", every="6h"), expected=_version(config)
    )
    assert detail == "added hubspot every 6h"
    text = config.read_text()
    # the new entry follows the last job; the comment introducing the pre-read stays above it
    assert text == CONFIG.replace(
        "full = true\n\n# The pre-read",
        'full = true\n\n[[schedule.jobs]]\nsource = "hubspot"\nevery = "6h"\n\n# The pre-read',
    )
    settings = load_settings(config, environ={})
    assert [j.id for j in settings.schedules.jobs] == ["weekdays", "demo 0 5 * * sun full",
                                                       "hubspot every 6h"]  # fmt: skip
    assert settings.schedules.jobs[2].cron == "0 */6 * * *"  # six-hourly on the wall clock
    assert settings.alerts.stale_after_hours == 50 and len(settings.schedules.prereads) == 1


def test_editing_drops_only_the_comment_of_the_changed_value(config: Path):
    detail = schedule_edit.edit_job(
        config,
        "weekdays",
        JobSpec("salesforce", cron="30 6 * * mon-fri"),
        expected=_version(config),
    )
    assert detail == "edited weekdays: demo 0 6 * * mon-fri -> salesforce 30 6 * * mon-fri"
    text = config.read_text()
    # the id key stays (the run log knows the job by it); the stale "06:00" comment goes
    assert 'source = "salesforce"\ncron = "30 6 * * mon-fri"\nid = "weekdays"\n' in text
    assert "# weekdays at 06:00" not in text
    assert "# Sundays at 05:00, full" in text and "# The team's configuration" in text
    # switching the other job to an interval replaces its cron key, full goes when unticked
    schedule_edit.edit_job(
        config, "demo 0 5 * * sun full", JobSpec("demo", every="1d"), expected=_version(config)
    )
    assert _ids(config) == ["weekdays", "demo every 1d"]
    assert (
        '[[schedule.jobs]]\nsource = "demo"\nevery = "1d"\n\n# The pre-read' in config.read_text()
    )


def test_pause_resume_and_delete_every_job_keeps_the_comments_that_follow(config: Path):
    schedule_edit.set_paused(config, "demo 0 5 * * sun full", True, expected=_version(config))
    assert "full = true\npaused = true\n\n# The pre-read" in config.read_text()
    jobs = load_settings(config, environ={}).schedules.jobs
    assert [j.paused for j in jobs] == [False, True]
    schedule_edit.set_paused(config, "demo 0 5 * * sun full", False, expected=_version(config))
    assert config.read_text() == CONFIG  # resumed: byte for byte the file as it was

    schedule_edit.delete_job(config, "demo 0 5 * * sun full", expected=_version(config))
    schedule_edit.delete_job(config, "weekdays", expected=_version(config))
    text = config.read_text()
    assert "[[schedule.jobs]]" not in text and _ids(config) == []
    for kept in ("# Refreshes:", "# The pre-read, after the Monday refresh:",
                 "# the longest gap between jobs", "# where snapshots live"):  # fmt: skip
        assert kept in text
    # and a first job again goes where the jobs were: above the pre-read's comment
    schedule_edit.add_job(config, JobSpec("demo", cron="0 6 * * *"), expected=_version(config))
    assert '# Refreshes:\n[[schedule.jobs]]\nsource = "demo"\ncron = "0 6 * * *"\n\n# The pre' in (
        config.read_text()
    )


def test_the_first_job_of_a_file_without_schedule_gets_its_time_zone(tmp_path: Path):
    path = tmp_path / "scorecard.toml"
    path.write_text('[store]\ndata_dir = "d"  # mine\n')
    schedule_edit.add_job(
        path, JobSpec("demo", every="30m"), expected=_version(path), timezone="Europe/Paris"
    )
    settings = load_settings(path, environ={})
    assert settings.schedules.timezone == "Europe/Paris"
    assert settings.schedules.jobs[0].cron == "*/30 * * * *"
    assert path.read_text().startswith('[store]\ndata_dir = "d"  # mine\n')
    # no file at all: version "" and the file is created
    fresh = tmp_path / "new" / "scorecard.toml"
    fresh.parent.mkdir()
    schedule_edit.add_job(fresh, JobSpec("demo", cron="0 6 * * *"), expected="")
    assert _ids(fresh) == ["demo 0 6 * * *"]


def test_set_time_zone(config: Path):
    schedule_edit.set_timezone(config, "America/New_York", expected=_version(config))
    assert load_settings(config, environ={}).schedules.timezone == "America/New_York"
    assert '[schedule]\ntimezone = "America/New_York"\nretries = 1\n' in config.read_text()


# --- atomic, concurrent edits refused ---------------------------------------------------------


def test_a_failure_mid_write_leaves_the_old_file(config: Path, monkeypatch):
    before = config.read_bytes()
    os.chmod(config, 0o640)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(schedule_edit.os, "fsync", disk_full)  # the temp file is written, then
    with pytest.raises(OSError, match="No space left"):
        schedule_edit.add_job(config, JobSpec("demo", every="1h"), expected=_version(config))
    assert config.read_bytes() == before
    assert [p.name for p in config.parent.iterdir()] == ["scorecard.toml"]  # no temp file left
    monkeypatch.undo()
    schedule_edit.add_job(config, JobSpec("demo", every="1h"), expected=_version(config))
    assert config.stat().st_mode & 0o777 == 0o640  # the file keeps its permissions
    assert [p.name for p in config.parent.iterdir()] == ["scorecard.toml"]


def test_a_file_changed_since_it_was_read_is_not_overwritten(config: Path):
    seen = _version(config)
    config.write_text(CONFIG.replace("retries = 1", "retries = 3"))  # someone else, by hand
    with pytest.raises(ConcurrentEdit, match="changed by someone else since this page read it"):
        schedule_edit.delete_job(config, "weekdays", expected=seen)
    assert "retries = 3" in config.read_text() and "weekdays" in _ids(config)


def test_two_saves_at_once_one_wins_the_other_is_refused(config: Path):
    # both read the same version; the folder lock makes the second see the first's write
    seen = _version(config)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def save(cron: str) -> None:
        barrier.wait()
        try:
            schedule_edit.add_job(config, JobSpec("demo", cron=cron), expected=seen)
            outcomes.append("saved")
        except ConcurrentEdit:
            outcomes.append("refused")

    threads = [threading.Thread(target=save, args=(c,)) for c in ("0 1 * * *", "0 2 * * *")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "saved"]
    assert len(_ids(config)) == 3


# --- checked before writing, the field named ------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (JobSpec("nowhere", cron="0 6 * * *"), "source", "'nowhere' is not a source; use one of"),
        (JobSpec("demo", cron="0 25 * * *"), "cron", "hour field '25'"),
        (JobSpec("demo", cron="61 6 * * *"), "cron", "minute field '61'"),
        (JobSpec("demo", cron="0 6 * * 8"), "cron", "day-of-week field '8'"),
        (JobSpec("demo", cron="0 6 * *"), "cron", "expected 5 fields"),
        (JobSpec("demo", every="7h"), "every", "use 5m, 10m"),
        (JobSpec("demo", every="six hours"), "every", "a number and a unit"),
        (JobSpec("demo"), "cron", "either a cron expression or an interval"),
        (JobSpec("demo", cron="0 6 * * *", every="1h"), "cron", "either a cron"),
        # the same source and times as an existing job: one id twice
        (JobSpec("demo", cron="0 5 * * sun", full=True), "cron", "exists already"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(config: Path, spec, field, message):
    with pytest.raises(ScheduleEditError, match=message) as refused:
        schedule_edit.add_job(config, spec, expected=_version(config))
    assert refused.value.field == field and str(refused.value).startswith(f"{field}: ")
    assert config.read_text() == CONFIG


def test_a_bad_time_zone_or_unknown_job_is_refused(config: Path):
    with pytest.raises(ScheduleEditError, match="'Mars/Olympus' is not a time zone") as refused:
        schedule_edit.set_timezone(config, "Mars/Olympus", expected=_version(config))
    assert refused.value.field == "timezone"
    with pytest.raises(ScheduleEditError, match="no schedule 'gone'"):
        schedule_edit.delete_job(config, "gone", expected=_version(config))
    assert config.read_text() == CONFIG


@pytest.mark.parametrize(
    ("every", "cron"),
    [("5m", "*/5 * * * *"), ("30 min", "*/30 * * * *"), ("1h", "0 * * * *"),
     ("6h", "0 */6 * * *"), ("12h", "0 */12 * * *"), ("1d", "0 0 * * *")],
)  # fmt: skip
def test_intervals_are_wall_clock_crons(every: str, cron: str):
    assert every_cron(every) == cron


@pytest.mark.parametrize("every", ["7h", "45m", "2d", "0h", "1w", ""])
def test_intervals_that_drift_through_the_day_are_refused(every: str):
    with pytest.raises(ConfigError, match="every"):
        every_cron(every)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["add", "pause", "resume", "delete"]), min_size=1, max_size=6))
def test_any_sequence_of_changes_keeps_the_rest_of_the_file(tmp_path_factory, steps):
    # invariant: whatever the edits, [store], [alerts], the pre-read and the leading comment
    # are untouched and the file stays readable
    path = tmp_path_factory.mktemp("seq") / "scorecard.toml"
    path.write_text(CONFIG)
    for number, step in enumerate(steps):
        ids = _ids(path)
        if step == "add":
            schedule_edit.add_job(path, JobSpec("demo", cron=f"{number} 3 * * *"),
                                  expected=_version(path))  # fmt: skip
        elif ids:
            job = ids[number % len(ids)]
            if step == "delete":
                schedule_edit.delete_job(path, job, expected=_version(path))
            else:
                schedule_edit.set_paused(path, job, step == "pause", expected=_version(path))
    text = path.read_text()
    settings_ = load_settings(path, environ={})
    assert text.startswith("# The team's configuration: keep this line.\n[store]\n")
    assert text.endswith("[alerts]\nstale_after_hours = 50   # the longest gap between jobs\n")
    assert "# The pre-read, after the Monday refresh:\n[[schedule.preread]]" in text
    assert settings_.schedules.timezone == "Europe/Berlin" and settings_.schedules.retries == 1


# --- paused jobs, and the scheduler's next tick ---------------------------------------------


def test_paused_jobs_are_listed_but_never_fire(config: Path, tmp_path: Path):
    schedule_edit.set_paused(config, "weekdays", True, expected=_version(config))
    settings_ = load_settings(config, environ={"SCORECARD_DATA_DIR": str(tmp_path / "data")})
    upcoming = next_runs(settings_, datetime(2026, 11, 23, tzinfo=UTC), n=5)
    assert set(upcoming["job"]) == {"demo 0 5 * * sun full", "preread 0 7 * * mon"}
    scheduler = build_scheduler(settings_, scheduler_class=BackgroundScheduler)
    assert "weekdays" not in {job.id for job in scheduler.get_jobs()}


def test_the_scheduler_picks_a_change_up_on_its_next_tick(config: Path, tmp_path: Path):
    environ = {"SCORECARD_DATA_DIR": str(tmp_path / "data")}
    settings_ = load_settings(config, environ=environ)
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    scheduler = build_scheduler(settings_, scheduler_class=BackgroundScheduler, now=now)
    scheduler.start(paused=True)
    try:
        jobs = lambda: {job.id: job for job in scheduler.get_jobs()}  # noqa: E731
        assert set(jobs()) == {HEARTBEAT, "weekdays", "demo 0 5 * * sun full",
                               "preread 0 7 * * mon"}  # fmt: skip
        # the page adds one, edits one, pauses one
        schedule_edit.add_job(config, JobSpec("demo", every="2h"), expected=_version(config))
        schedule_edit.edit_job(config, "weekdays", JobSpec("demo", cron="0 8 * * mon-fri"),
                               expected=_version(config))  # fmt: skip
        schedule_edit.set_paused(config, "demo 0 5 * * sun full", True, expected=_version(config))
        heartbeat = jobs()[HEARTBEAT]
        heartbeat.func(*heartbeat.args, **heartbeat.kwargs)  # the tick, as the scheduler calls it
        now_jobs = jobs()
        assert set(now_jobs) == {HEARTBEAT, "weekdays", "demo every 2h", "preread 0 7 * * mon"}
        assert "hour='8'" in str(now_jobs["weekdays"].trigger)
        assert now_jobs["weekdays"].args[1].cron == "0 8 * * mon-fri"
        # the next tick runs with the new settings; an unchanged file changes nothing
        fresh = now_jobs[HEARTBEAT].args[0]
        assert fresh.config_version == config_version(config)
        assert fresh.data_dir == settings_.data_dir
        # known from this tick on: a restart days later catches its missed slot up, no earlier
        ticked = datetime.now(UTC)  # the tick above ran on the real clock
        later = ticked + timedelta(days=3)
        assert job_first_seen(fresh.data_dir, "demo every 2h", now=later) <= ticked
        tick(fresh, clock=lambda: now, scheduler=scheduler)
        assert set(jobs()) == set(now_jobs)
        # a broken edit by hand: logged, the previous schedules keep running
        good = config.read_text()
        config.write_text(good + "\n[[schedule.jobs]]\nsource = 'nowhere'\ncron = '0 1 * * *'\n")
        tick(fresh, clock=lambda: now, scheduler=scheduler)
        assert set(jobs()) == set(now_jobs)
        # fixed, and a job deleted: gone on the next tick
        config.write_text(good)
        schedule_edit.delete_job(config, "weekdays", expected=_version(config))
        tick(jobs()[HEARTBEAT].args[0], clock=lambda: now, scheduler=scheduler)
        assert set(jobs()) == {HEARTBEAT, "demo every 2h", "preread 0 7 * * mon"}
    finally:
        scheduler.shutdown(wait=False)


def test_the_shipped_config_round_trips_unchanged(tmp_path: Path):
    # pausing and resuming a job of the repository's own file gives the same bytes back
    path = tmp_path / "scorecard.toml"
    shutil.copy(ROOT / "scorecard.toml", path)
    job = _ids(path)[0]
    schedule_edit.set_paused(path, job, True, expected=_version(path))
    schedule_edit.set_paused(path, job, False, expected=_version(path))
    assert path.read_bytes() == (ROOT / "scorecard.toml").read_bytes()
