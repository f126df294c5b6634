"""Schedules: cron times across daylight saving, missed runs once, next runs, a real short run."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from ops.config import ConfigError, ScheduleJob, ScheduleSettings, Settings, load_settings
from ops.runlog import finish_run, job_first_seen, recent_runs, start_run
from ops.schedule import (
    WallClockCronTrigger,
    build_scheduler,
    cron_weekdays,
    fire_times,
    last_fire_before,
    missed_jobs,
    next_runs,
)
from ops.sources import SOURCES, Pulled

BERLIN = ZoneInfo("Europe/Berlin")
ROOT = Path(__file__).resolve().parents[2]
WEEKDAYS_6 = ScheduleJob(source="demo", cron="0 6 * * 1-5", id="weekdays")
SUNDAY_FULL = ScheduleJob(source="demo", cron="0 5 * * 0", full=True, id="sunday full")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _settings(tmp_path: Path, *jobs: ScheduleJob) -> Settings:
    schedules = ScheduleSettings(timezone="Europe/Berlin", jobs=jobs)
    return Settings(data_dir=tmp_path / "data", schedules=schedules)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("1-5", "mon,tue,wed,thu,fri"),  # crontab numbers: 1 = Monday ...
        ("0", "sun"),  # ... 0 and 7 = Sunday (APScheduler 3 would read 0 as Monday)
        ("7", "sun"),
        ("5-7", "fri,sat,sun"),
        ("*/2", "sun,tue,thu,sat"),
        ("mon-fri", "mon-fri"),  # names mean the same in both: passed through
        ("*", "*"),
    ],
)
def test_crontab_weekday_numbers(field: str, expected: str):
    assert cron_weekdays(field) == expected


def test_weekday_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match="days are 0-7"):
        cron_weekdays("8")


def test_daily_0230_on_the_spring_forward_day_fires_once():
    # 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST, so 02:30 does not exist that day;
    # the run happens at 01:30 UTC (03:30 CEST, the instant 02:30 CET would have been).
    job = ScheduleJob(source="demo", cron="30 2 * * *", id="daily")
    times = fire_times(job, "Europe/Berlin", berlin(2026, 3, 27, 12), 4)
    assert [t.astimezone(UTC) for t in times] == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET (UTC+1)
        utc(2026, 3, 29, 1, 30),  # the spring-forward day: once
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST (UTC+2)
        utc(2026, 3, 31, 0, 30),
    ]


def test_daily_0230_on_the_fall_back_day_fires_once_not_twice():
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice; one run.
    job = ScheduleJob(source="demo", cron="30 2 * * *", id="daily")
    times = fire_times(job, "Europe/Berlin", berlin(2026, 10, 23, 12), 3)
    assert [t.astimezone(UTC) for t in times] == [
        utc(2026, 10, 24, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 0, 30),  # the first 02:30 (CEST); the repeat at 01:30 UTC is skipped
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]


def test_weekday_0600_stays_0600_local_across_both_changes():
    spring = fire_times(WEEKDAYS_6, "Europe/Berlin", berlin(2026, 3, 27), 3)
    assert [t.astimezone(UTC) for t in spring] == [
        utc(2026, 3, 27, 5),  # Fri 06:00 CET
        utc(2026, 3, 30, 4),  # Mon 06:00 CEST (weekend skipped)
        utc(2026, 3, 31, 4),
    ]
    autumn = fire_times(WEEKDAYS_6, "Europe/Berlin", berlin(2026, 10, 23), 2)
    assert [t.astimezone(UTC) for t in autumn] == [utc(2026, 10, 23, 4), utc(2026, 10, 26, 5)]
    assert {(t.hour, t.minute) for t in spring + autumn} == {(6, 0)}


def test_last_fire_before_now():
    tz = "Europe/Berlin"
    assert last_fire_before(WEEKDAYS_6, tz, berlin(2026, 11, 26, 9)) == berlin(2026, 11, 26, 6)
    # Saturday: the last weekday run was Friday's
    assert last_fire_before(WEEKDAYS_6, tz, berlin(2026, 11, 28, 10)) == berlin(2026, 11, 27, 6)
    assert last_fire_before(WEEKDAYS_6, tz, berlin(2026, 11, 27, 6)) == berlin(2026, 11, 27, 6)
    monthly = ScheduleJob(source="demo", cron="0 6 1 * *", id="monthly")
    assert last_fire_before(monthly, tz, berlin(2026, 11, 26, 9)) == berlin(2026, 11, 1, 6)


def _attempt(settings: Settings, job: ScheduleJob, at: datetime, outcome: str = "ok") -> None:
    run_id = start_run(settings.data_dir, source=job.source, trigger="schedule", now=at, job=job.id)
    finish_run(settings.data_dir, run_id, outcome=outcome, now=at + timedelta(minutes=1))


def test_a_run_missed_while_the_machine_was_off_runs_once(tmp_path: Path):
    settings = _settings(tmp_path, WEEKDAYS_6)
    # first start, Monday 2026-11-16 05:00: nothing can have been missed yet
    assert missed_jobs(settings, berlin(2026, 11, 16, 5)) == []
    _attempt(settings, WEEKDAYS_6, berlin(2026, 11, 16, 6))  # Monday's run happened
    assert missed_jobs(settings, berlin(2026, 11, 16, 20)) == []
    # off from Monday evening until Thursday 09:00: Tue, Wed and Thu 06:00 missed → one run
    assert missed_jobs(settings, berlin(2026, 11, 19, 9)) == [WEEKDAYS_6]
    _attempt(settings, WEEKDAYS_6, berlin(2026, 11, 19, 9, 0, 5))  # the catch-up run
    assert missed_jobs(settings, berlin(2026, 11, 19, 9, 30)) == []


def test_a_failed_attempt_counts_a_lock_skip_does_not(tmp_path: Path):
    settings = _settings(tmp_path, WEEKDAYS_6)
    job_first_seen(settings.data_dir, WEEKDAYS_6.id, now=berlin(2026, 11, 1))
    _attempt(settings, WEEKDAYS_6, berlin(2026, 11, 19, 6), outcome="failed")
    assert missed_jobs(settings, berlin(2026, 11, 19, 9)) == []
    _attempt(settings, WEEKDAYS_6, berlin(2026, 11, 20, 6), outcome="skipped-locked")
    assert missed_jobs(settings, berlin(2026, 11, 20, 9)) == [WEEKDAYS_6]


def test_missed_jobs_of_one_source_run_once_preferring_the_full_one(tmp_path: Path):
    settings = _settings(tmp_path, WEEKDAYS_6, SUNDAY_FULL)
    for job in (WEEKDAYS_6, SUNDAY_FULL):
        job_first_seen(settings.data_dir, job.id, now=berlin(2026, 11, 1))
    # Monday 2026-11-23 09:00, nothing ran since: both Sunday 05:00 and Monday 06:00 missed
    assert missed_jobs(settings, berlin(2026, 11, 23, 9)) == [SUNDAY_FULL]


def test_scheduler_holds_every_job_and_one_catch_up(tmp_path: Path):
    settings = _settings(tmp_path, WEEKDAYS_6, SUNDAY_FULL)
    for job in (WEEKDAYS_6, SUNDAY_FULL):
        job_first_seen(settings.data_dir, job.id, now=berlin(2026, 11, 1))
    now = berlin(2026, 11, 23, 9)
    scheduler = build_scheduler(settings, scheduler_class=BackgroundScheduler, now=now)
    scheduler.start(paused=True)  # job defaults (coalesce, ...) apply once started
    jobs = {job.id: job for job in scheduler.get_jobs()}
    scheduler.shutdown()
    assert sorted(jobs) == ["heartbeat", "sunday full", "sunday full (missed)", "weekdays"]
    # the heartbeat beats at once, then every minute, on its own worker
    assert jobs["heartbeat"].next_run_time == now and jobs["heartbeat"].executor == "beat"
    assert jobs["heartbeat"].trigger.interval == timedelta(seconds=60)
    assert jobs["sunday full (missed)"].trigger.run_date == now
    assert jobs["weekdays"].coalesce is True and jobs["weekdays"].max_instances == 1
    assert isinstance(jobs["weekdays"].trigger, WallClockCronTrigger)


def test_unknown_source_in_a_job_is_a_config_error(tmp_path: Path):
    settings = _settings(tmp_path, ScheduleJob(source="nowhere", cron="0 6 * * *", id="x"))
    with pytest.raises(ConfigError, match="unknown source 'nowhere'"):
        build_scheduler(settings, scheduler_class=BackgroundScheduler)


def test_next_runs_for_the_page(tmp_path: Path):
    settings = _settings(tmp_path, WEEKDAYS_6, SUNDAY_FULL)
    runs = next_runs(settings, berlin(2026, 3, 27, 12), n=4)  # Friday noon, before spring DST
    assert runs.columns == ["fire_at", "job", "source", "full", "cron"]
    assert runs.schema["fire_at"] == pl.Datetime("us", "Europe/Berlin")
    assert runs["fire_at"].to_list() == [
        berlin(2026, 3, 29, 5),  # Sun 05:00 CEST, the full one
        berlin(2026, 3, 30, 6),
        berlin(2026, 3, 31, 6),
        berlin(2026, 4, 1, 6),
    ]
    assert runs["job"].to_list() == ["sunday full", "weekdays", "weekdays", "weekdays"]
    assert runs["full"].to_list() == [True, False, False, False]
    assert next_runs(_settings(tmp_path), berlin(2026, 3, 27)).height == 0


def test_schedule_section_is_parsed(tmp_path: Path):
    config = tmp_path / "scorecard.toml"
    config.write_text(
        '[schedule]\ntimezone = "Europe/Berlin"\nretries = 1\n'
        '[[schedule.jobs]]\nsource = "salesforce"\ncron = "0 6 * * mon-fri"\n'
        '[[schedule.jobs]]\nsource = "salesforce"\ncron = "0 5 * * sun"\nfull = true\n'
    )
    schedules = load_settings(config, environ={}).schedules
    assert schedules.timezone == "Europe/Berlin" and schedules.retries == 1
    assert schedules.jobs == (
        ScheduleJob("salesforce", "0 6 * * mon-fri", False, "salesforce 0 6 * * mon-fri"),
        ScheduleJob("salesforce", "0 5 * * sun", True, "salesforce 0 5 * * sun full"),
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[schedule.jobs]]\nsource = "demo"\ncron = "0 6 * * *"\n', "timezone is required"),
        ('[schedule]\ntimezone = "Mars/Olympus"\n', "Mars/Olympus"),
        ('[schedule]\ntimezone = "UTC"\n[[schedule.jobs]]\nsource = "demo"\ncron = "0 6 *"\n',
         "expected 5 fields"),
        ('[schedule]\ntimezone = "UTC"\n[[schedule.jobs]]\nsource = "demo"\n', "source and cron"),
        ('[schedule]\ntimezone = "UTC"\nretry = 3\n', "retry"),
    ],
)  # fmt: skip
def test_bad_schedule_section_is_refused(tmp_path: Path, text: str, problem: str):
    config = tmp_path / "scorecard.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_settings(config, environ={})


def test_shipped_config_has_valid_jobs(tmp_path: Path):
    settings = load_settings(ROOT / "scorecard.toml", environ={})
    assert settings.schedules.timezone == "Europe/Berlin" and settings.schedules.jobs
    settings = Settings(data_dir=tmp_path, schedules=settings.schedules)
    assert next_runs(settings, berlin(2026, 11, 23), n=3).height == 3


def test_real_scheduler_fires_refreshes_and_a_missed_run_once(
    tmp_path: Path, monkeypatch, tiny_org
):
    pulled = lambda s, p, **o: Pulled(frames=dict(tiny_org), data_as_of=date(2026, 3, 1))  # noqa: E731
    monkeypatch.setitem(SOURCES, "every_second", pulled)
    monkeypatch.setitem(SOURCES, "daily", pulled)
    ticking = ScheduleJob(source="every_second", cron="0 6 * * *", id="ticking")
    daily = ScheduleJob(source="daily", cron="0 6 * * *", id="daily")
    settings = _settings(tmp_path, ticking, daily)
    now = datetime.now(UTC)
    job_first_seen(settings.data_dir, "daily", now=now - timedelta(days=3))  # known, never ran
    scheduler = build_scheduler(settings, scheduler_class=BackgroundScheduler, now=now)
    # cron has minutes at best: for the test, "ticking" fires every second instead
    scheduler.reschedule_job("ticking", trigger=WallClockCronTrigger(second="*", timezone=BERLIN))
    scheduler.start()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and _runs(settings, "ticking") < 2:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    runs = recent_runs(settings.data_dir)
    assert _runs(settings, "ticking") >= 2
    assert _runs(settings, "daily") == 1  # the missed run, once
    assert set(runs["trigger"]) == {"schedule"} and set(runs["outcome"]) == {"ok"}


def _runs(settings: Settings, job: str) -> int:
    return recent_runs(settings.data_dir).filter(pl.col("job") == job).height
