"""Scheduled refreshes: the `[[schedule.jobs]]` of `scorecard.toml`, fired by APScheduler.

`python -m ops schedule` runs a long-lived `BlockingScheduler` whose jobs call
`run_refresh(..., trigger="schedule")`. Cron expressions are read in `[schedule] timezone`, so
"0 6 * * mon-fri" stays 06:00 local time across daylight-saving changes. Two fixes on top of
APScheduler 3:

- day-of-week numbers mean what they mean in crontab (0 and 7 = Sunday; APScheduler 3 reads
  0 as Monday), and a time repeated when clocks go back fires once, not twice;
- a run missed while the scheduler was not running (machine off) runs once at start: the
  in-memory job store forgets everything across restarts, so the run log decides.

As in APScheduler (unlike crontab), day-of-month and day-of-week restrict together (AND).

Jobs and pre-reads paused from the app (`paused = true`) are listed but never fired. Each tick
re-reads `scorecard.toml` when it changed (`reload`), so a schedule added, edited, paused or
deleted on the Data & refresh page takes effect within a minute, without restarting the
scheduler.

`[[schedule.preread]]` entries write the executive pre-read (reports/) into a folder on
their own cron, mail it when SMTP is configured (ops/deliver.py) and are recorded in the
run log with source "preread" (no missed-run catch-up: a late pre-read is not worth sending).
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

import polars as pl
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from ops import alerts
from ops.config import (
    ConfigError,
    PrereadJob,
    ScheduleJob,
    Settings,
    config_version,
    load_settings,
)
from ops.deliver import Attachment, message, send, smtp_from_env
from ops.heartbeat import TICK_SECONDS, write_beat
from ops.jobs import Clock, redact, run_refresh, utc_now
from ops.runlog import (
    RunRecord,
    finish_run,
    job_first_seen,
    last_attempt_of_job,
    last_run,
    start_run,
)
from ops.sources import SOURCES
from snapshots.store import StoreError

if TYPE_CHECKING:
    from scoring.preread import PreRead

log = logging.getLogger("ops.schedule")
Job = TypeVar("Job", ScheduleJob, PrereadJob)
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC_DAYS = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")
# Look-back windows for the latest past fire time: short first, so frequent jobs stay cheap.
_WINDOWS = tuple(timedelta(days=d) for d in (1 / 24, 1, 8, 32, 367))
PREREAD_SOURCE = "preread"  # the run log's source of a scheduled pre-read
HEARTBEAT = "heartbeat"  # the scheduler's job of the tick
MISSED = " (missed)"  # suffix of a one-off catch-up run's job id
_MIME = {"pdf": "application/pdf", "html": "text/html"}


class WallClockCronTrigger(CronTrigger):
    """A cron trigger firing once per wall-clock time: APScheduler 3 fires a time twice in the
    hour repeated when clocks go back (e.g. 02:30 on 2026-10-25 in Berlin); the repeat is skipped.
    A time skipped when clocks go forward fires at the same instant an hour later on the clock."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire = super().get_next_fire_time(previous_fire_time, now)
        while (
            fire is not None
            and fire.fold == 1
            and fire.replace(fold=0).utcoffset() != fire.utcoffset()
        ):
            fire = super().get_next_fire_time(fire, fire)
        return fire


def cron_weekdays(field: str) -> str:
    """A crontab day-of-week field in APScheduler 3 terms: numeric parts become day names."""
    parts: list[str] = []
    for part in field.lower().split(","):
        match = _NUMERIC_DAYS.fullmatch(part)
        if part == "*" or match is None:
            parts.append(part)
            continue
        first, last, step = match.groups()
        low = 0 if first == "*" else int(first)
        high = 6 if first == "*" or (step and not last) else int(last or first)
        if high > 7 or low > high:
            raise ConfigError(f"day of week {part!r}: days are 0-7 (0 and 7 = Sunday)")
        parts.extend(_CRON_DAYS[d] for d in range(low, high + 1, int(step or 1)))
    return ",".join(dict.fromkeys(parts))


def trigger_for(job: ScheduleJob | PrereadJob, timezone: str) -> CronTrigger:
    """The APScheduler trigger of `job`'s 5-field cron expression, in `timezone`."""
    minute, hour, day, month, weekday = job.cron.split()
    try:
        return WallClockCronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=cron_weekdays(weekday),
            timezone=ZoneInfo(timezone),
        )
    except ValueError as exc:
        raise ConfigError(f"[schedule] {job.id}: cron {job.cron!r}: {exc}") from exc


CRON_FIELDS = ("minute", "hour", "day_of_month", "month", "day_of_week")


def check_cron(cron: str, timezone: str) -> None:
    """Raise ConfigError naming the field of `cron` that is wrong ("hour field '25': ...")."""
    parts = str(cron).split()
    if len(parts) != 5:
        raise ConfigError(
            f"cron {cron!r}: expected 5 fields (minute hour day-of-month month day-of-week), "
            f"found {len(parts)}"
        )
    for name, value in zip(CRON_FIELDS, parts, strict=True):
        try:
            value_for = cron_weekdays(value) if name == "day_of_week" else value
            arg = "day" if name == "day_of_month" else name
            CronTrigger(**{arg: value_for}, timezone=ZoneInfo(timezone))
        except (ValueError, ConfigError) as exc:
            label = name.replace("_", "-")
            raise ConfigError(f"cron {cron!r}, {label} field {value!r}: {exc}") from None


def active(jobs: tuple[Job, ...]) -> list[Job]:
    """The jobs (refreshes or pre-reads) that run: those not paused."""
    return [job for job in jobs if not job.paused]


def fire_times(
    job: ScheduleJob | PrereadJob, timezone: str, now: datetime, n: int
) -> list[datetime]:
    """The next `n` times `job` fires at or after `now`."""
    trigger = trigger_for(job, timezone)
    times: list[datetime] = []
    fire = trigger.get_next_fire_time(None, now)
    while fire is not None and len(times) < n:
        times.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return times


def last_fire_before(
    job: ScheduleJob | PrereadJob, timezone: str, now: datetime
) -> datetime | None:
    """The latest time at or before `now` that `job` fired (or should have), within a year."""
    trigger = trigger_for(job, timezone)
    for window in _WINDOWS:
        latest = None
        fire = trigger.get_next_fire_time(None, now - window)
        while fire is not None and fire <= now:
            latest, fire = fire, trigger.get_next_fire_time(fire, fire)
        if latest is not None:
            return latest
    return None


def next_runs(settings: Settings, now: datetime, n: int = 5) -> pl.DataFrame:
    """The next `n` scheduled refreshes over all jobs, soonest first (one row per firing).

    Columns: fire_at (in the schedule's time zone), job, source, full, cron.
    """
    tz = settings.schedules.timezone
    rows = [
        {"fire_at": at, "job": job.id, "source": job.source, "full": job.full, "cron": job.cron}
        for job in active(settings.schedules.jobs)
        for at in fire_times(job, tz, now, n)
    ] + [
        {"fire_at": at, "job": job.id, "source": PREREAD_SOURCE, "full": False, "cron": job.cron}
        for job in active(settings.schedules.prereads)
        for at in fire_times(job, tz, now, n)
    ]
    schema = {
        "fire_at": pl.Datetime("us", tz),
        "job": pl.String,
        "source": pl.String,
        "full": pl.Boolean,
        "cron": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).sort("fire_at", "job").head(n)


def overview(jobs: tuple[ScheduleJob, ...], timezone: str, now: datetime) -> pl.DataFrame:
    """The refresh schedules as the page lists them, one row per schedule in file order: what it
    refreshes, when, whether it is paused, and its next run (none while paused)."""
    rows = [
        {
            "schedule": job.id,
            "source": job.source,
            "when": job.when,
            "full refresh": job.full,
            "status": "paused" if job.paused else "active",
            "next run": None if job.paused else next(iter(fire_times(job, timezone, now, 1)), None),
        }
        for job in jobs
    ]
    schema = {"schedule": pl.String, "source": pl.String, "when": pl.String,
              "full refresh": pl.Boolean, "status": pl.String,
              "next run": pl.Datetime("us", timezone)}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def preread_overview(
    prereads: tuple[PrereadJob, ...], timezone: str, now: datetime, base: Path
) -> pl.DataFrame:
    """The pre-read schedules as the page lists them, one row per schedule in file order: when,
    which period and teams, in which formats, into which folder (relative to `base`, the
    folder of scorecard.toml), mailed to whom, whether it is paused, and its next run."""
    rows = [
        {
            "pre-read": job.id,
            "when": job.when,
            "period": job.period or "quarter of the data's date",
            "teams": ", ".join(job.teams) or "All teams",
            "formats": ", ".join(job.formats),
            "folder": str(
                job.out_dir.relative_to(base) if job.out_dir.is_relative_to(base) else job.out_dir
            ),
            "recipients": ", ".join(job.recipients) or "not mailed",
            "status": "paused" if job.paused else "active",
            "next run": None if job.paused else next(iter(fire_times(job, timezone, now, 1)), None),
        }
        for job in prereads
    ]
    schema = {name: pl.String for name in ("pre-read", "when", "period", "teams", "formats",
                                          "folder", "recipients", "status")}  # fmt: skip
    return pl.DataFrame(rows, schema={**schema, "next run": pl.Datetime("us", timezone)})


def missed_jobs(settings: Settings, now: datetime) -> list[ScheduleJob]:
    """Jobs whose latest fire time passed with no attempt since, to run once now.

    A fire time before the scheduler first saw the job is not missed. Several missed jobs of one
    source run once (the full one, if any).
    """
    chosen: dict[str, ScheduleJob] = {}
    for job in active(settings.schedules.jobs):
        seen = job_first_seen(settings.data_dir, job.id, now=now)
        fired = last_fire_before(job, settings.schedules.timezone, now)
        attempted = last_attempt_of_job(settings.data_dir, job.id)
        if fired is None or fired <= seen or (attempted is not None and attempted >= fired):
            continue
        if job.source not in chosen or job.full:
            chosen[job.source] = job
    return list(chosen.values())


def fire(settings: Settings, job: ScheduleJob) -> RunRecord:
    """One scheduled run: refresh the job's source, recorded with trigger "schedule"; then
    the failed alert or the digest (`ops.alerts`; a failing channel is only recorded)."""
    options = {"full": True} if job.full else {}
    try:
        record = run_refresh(settings, job.source, trigger="schedule", job=job.id, **options)
    except Exception:  # a bug: recorded as failed, re-raised for the traceback; still alert
        failed = last_run(settings.data_dir, source=job.source)
        if failed is not None and failed.job == job.id and failed.outcome == "failed":
            alerts.after_refresh(settings, failed)
        raise
    log.info("%s: %s%s", job.id, record.outcome, f" ({record.error})" if record.error else "")
    alerts.after_refresh(settings, record)
    return record


def tick(
    settings: Settings, *, clock: Clock = utc_now, scheduler: BaseScheduler | None = None
) -> None:
    """Every `TICK_SECONDS`: the schedules re-read if `scorecard.toml` changed (`reload`, given
    the running `scheduler`), the heartbeat (Data & refresh shows the scheduler is running)
    and the stale check of `[alerts]`. Never raises: the scheduler keeps running."""
    now = clock()
    if scheduler is not None:
        try:
            settings = reload(scheduler, settings, now=now)
        except Exception as exc:  # a bug; the previous schedules keep running
            log.warning("schedules not re-read: %s", redact(f"{type(exc).__name__}: {exc}"))
    try:
        write_beat(settings.data_dir, now)
    except OSError as exc:
        log.warning("heartbeat not written: %s", exc)
    try:
        alerts.check_stale(settings, now=now)
    except Exception as exc:  # e.g. an unreadable run log; the next tick tries again
        log.warning("stale check failed: %s", redact(f"{type(exc).__name__}: {exc}"))


def sync_jobs(scheduler: BaseScheduler, settings: Settings) -> None:
    """Make the scheduler's refresh and pre-read jobs those of `settings`: new ones added,
    changed ones rescheduled, deleted and paused ones removed. The heartbeat and one-off
    catch-up runs stay; a run already under way finishes."""
    tz = settings.schedules.timezone
    wanted = {
        job.id: (fire, trigger_for(job, tz), (settings, job))
        for job in active(settings.schedules.jobs)
    } | {pre.id: (fire_preread, trigger_for(pre, tz), (settings, pre))
         for pre in active(settings.schedules.prereads)}  # fmt: skip
    for job in scheduler.get_jobs():
        if job.id != HEARTBEAT and not job.id.endswith(MISSED) and job.id not in wanted:
            scheduler.remove_job(job.id)
    for job_id, (func, trigger, args) in wanted.items():
        current = scheduler.get_job(job_id)
        if current is None:
            scheduler.add_job(func, trigger, args=args, id=job_id, name=job_id)
            continue
        if repr(current.trigger) != repr(trigger):
            scheduler.reschedule_job(job_id, trigger=trigger)
        scheduler.modify_job(job_id, func=func, args=args)


def reload(
    scheduler: BaseScheduler, settings: Settings, *, now: datetime | None = None
) -> Settings:
    """The settings to run with: re-read when `scorecard.toml` changed since `settings` were
    read, and the scheduler's jobs brought in line. A file that cannot be used (a TOML error,
    an unknown source) is logged once and the previous schedules keep running. The data folder
    never changes under a running scheduler."""
    path = settings.config_path
    version = config_version(path)
    if path is None or version == settings.config_version:
        return settings
    try:
        fresh = replace(load_settings(path), data_dir=settings.data_dir)
        check_sources(fresh)
        sync_jobs(scheduler, fresh)
        for job in active(fresh.schedules.jobs):  # a new job's earlier slots are not "missed"
            job_first_seen(fresh.data_dir, job.id, now=now or utc_now())
    except (ConfigError, OSError, UnicodeDecodeError, StoreError) as exc:
        log.warning("%s changed but cannot be used, previous schedules kept: %s", path, exc)
        fresh = replace(settings, config_version=version)  # not retried until it changes again
    else:
        log.info("%s changed: %d refresh schedule(s) running now", path,
                 len(active(fresh.schedules.jobs)))  # fmt: skip
    if scheduler.get_job(HEARTBEAT) is not None:
        scheduler.modify_job(HEARTBEAT, args=(fresh,))
    return fresh


def check_sources(settings: Settings) -> None:
    """Raise ConfigError for a job naming a source that does not exist."""
    for job in settings.schedules.jobs:
        if job.source not in SOURCES:
            raise ConfigError(f"[[schedule.jobs]] {job.id}: unknown source {job.source!r}")


def fire_preread(settings: Settings, job: PrereadJob, *, clock: Clock = utc_now) -> RunRecord:
    """One scheduled pre-read of the current snapshot: written into `job.out_dir`, mailed to
    `job.recipients` when SMTP is configured, recorded in the run log (source "preread")."""
    from ops.decisions import journal_frames
    from reports import build as preread_build  # heavy (charts, PDF): loaded only when one runs

    data_dir = settings.data_dir
    run_id = start_run(data_dir, source=PREREAD_SOURCE, trigger="schedule", now=clock(), job=job.id)
    try:
        decisions, answers = journal_frames(data_dir, tuple(job.teams))
        pre = preread_build.build(
            settings, period=job.period, teams=job.teams, decisions=decisions, answers=answers
        )
        paths = [
            preread_build.write(pre, job.out_dir / preread_build.file_name(pre, fmt))
            for fmt in job.formats
        ]
        _mail_preread(job, pre, paths)
    except Exception as exc:  # recorded and logged; the scheduler keeps running
        error = redact(f"{type(exc).__name__}: {exc}")
        log.error("%s: failed (%s)", job.id, error)
        return finish_run(data_dir, run_id, outcome="failed", now=clock(), error=error)
    log.info("%s: wrote %s", job.id, ", ".join(str(p) for p in paths))
    return finish_run(data_dir, run_id, outcome="ok", now=clock(), snapshot_id=pre.snapshot_id)


def _mail_preread(job: PrereadJob, pre: PreRead, paths: list[Path]) -> None:
    """Mail the written files to the job's recipients, if any and if SMTP is configured."""
    if not job.recipients:
        return
    smtp = smtp_from_env()
    if smtp is None:
        log.info("%s: SMTP_HOST not set, so the pre-read is not mailed", job.id)
        return
    files = [Attachment(p.name, p.read_bytes(), _MIME[p.suffix.lstrip(".")]) for p in paths]
    body = "\n\n".join([pre.subtitle, *pre.drivers, f"Live view: {pre.link}"])
    send(smtp, message(smtp, job.recipients, pre.title, body, files))


def build_scheduler(
    settings: Settings,
    *,
    scheduler_class: type[BaseScheduler] = BlockingScheduler,
    now: datetime | None = None,
) -> BaseScheduler:
    """A scheduler holding every job, plus a one-off run now for each missed job.

    One worker: jobs due together run one after the other rather than skipping for the lock.
    `coalesce` folds fire times missed while running into one run.
    """
    schedules = settings.schedules
    check_sources(settings)
    scheduler = scheduler_class(
        timezone=ZoneInfo(schedules.timezone),
        # the heartbeat has its own worker: a long refresh must not look like a dead scheduler
        executors={"default": ThreadPoolExecutor(max_workers=1), "beat": ThreadPoolExecutor(1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": schedules.misfire_grace_seconds,
        },
    )
    sync_jobs(scheduler, settings)
    now = now or utc_now()
    # the first beat at once, so the page sees a new scheduler without waiting a tick
    scheduler.add_job(
        tick, "interval", seconds=TICK_SECONDS, args=(settings,),
        kwargs={"scheduler": scheduler}, id=HEARTBEAT, name=HEARTBEAT, next_run_time=now,
        executor="beat",
    )  # fmt: skip
    for job in missed_jobs(settings, now):
        log.info("%s: missed its run at %s; running it once now", job.id, now)
        missed = f"{job.id}{MISSED}"
        scheduler.add_job(fire, "date", run_date=now, args=(settings, job), id=missed, name=missed)
    return scheduler


def describe(settings: Settings, now: datetime) -> str:
    """The jobs and their next runs, for the terminal."""
    upcoming = next_runs(settings, now, n=6)
    jobs = [*settings.schedules.jobs, *settings.schedules.prereads]
    lines = [f"{len(jobs)} job(s), times in {settings.schedules.timezone}:"]
    lines += [f"  {job.id}{' (paused)' if getattr(job, 'paused', False) else ''}" for job in jobs]
    lines += ["Next runs:"] + [
        f"  {row['fire_at']:%a %Y-%m-%d %H:%M %Z}  {row['job']}"
        for row in upcoming.iter_rows(named=True)
    ]
    return "\n".join(lines + alerts.describe_channels(settings))


def serve(settings: Settings) -> None:
    """Run the scheduler until interrupted (Ctrl-C or SIGTERM)."""
    if not settings.schedules.jobs and not settings.schedules.prereads:
        raise ConfigError(
            "no [[schedule.jobs]] or [[schedule.preread]] in the configuration: nothing to "
            "schedule (add one on the Data & refresh page or in scorecard.toml)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # the heartbeat runs every minute: its "Running job ... executed" lines would drown the log
    logging.getLogger("apscheduler.executors.beat").setLevel(logging.WARNING)
    scheduler = build_scheduler(settings)
    print(describe(settings, utc_now()), flush=True)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
