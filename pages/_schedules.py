"""Refresh schedules on a page: the list for every role, and for ops the forms that add, edit,
pause, resume and delete them and set their time zone. Each change is written back to
scorecard.toml by `ops.schedule_edit` (checked, atomic, refused if the file changed since this
page read it) and audited; the scheduler picks it up on its next tick.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import available_timezones

import streamlit as st

from ops import schedule_edit
from ops.config import DEFAULT_CONFIG, EVERY_HOURS, EVERY_MINUTES, ConfigError, Settings
from ops.schedule import overview
from ops.schedule_edit import ConcurrentEdit, JobSpec, ScheduleEditError, ScheduleFile
from ops.sources import SOURCES
from pages import _auth, _widgets
from pages._text import md_text

SEEN = "schedule_seen"  # session key: the file version this page last showed
MESSAGE = "schedule_message"  # session key: the outcome of the last change, shown once
NO_INTERVAL = "(use the cron expression)"
INTERVALS = (NO_INTERVAL, *(f"{m}m" for m in EVERY_MINUTES), *(f"{h}h" for h in EVERY_HOURS), "1d")
CRON_HELP = (
    "Five fields: minute hour day-of-month month day-of-week, in the schedule's time zone. "
    "`0 6 * * mon-fri` = weekdays at 06:00; `30 5 * * sun` = Sundays at 05:30; "
    "`0 */4 * * *` = every four hours. Day of week: 0 or 7 = Sunday, or mon … sun."
)
EVERY_HELP = (
    "Instead of a cron expression: every few minutes or hours, on the same clock times each "
    "day (6h = 00:00, 06:00, 12:00, 18:00)."
)
FULL_HELP = (
    "Incremental sources (Salesforce, HubSpot, warehouse) normally read only what changed; "
    "a full refresh reads everything again."
)


def config_path(settings: Settings) -> Path:
    """The file schedules are written to: the one the settings came from, else the one the
    app would read (SCORECARD_CONFIG or the project's scorecard.toml), created on first save."""
    return settings.config_path or Path(os.environ.get("SCORECARD_CONFIG") or DEFAULT_CONFIG)


def schedules(settings: Settings, *, editable: bool) -> None:
    """The schedule list; with `editable` (ops) the forms to change it."""
    path = config_path(settings)
    try:
        current = schedule_edit.read(path)
    except ConfigError as exc:
        st.error(f"The schedules cannot be read: {md_text(exc)}", icon=":material/error:")
        return
    seen = st.session_state.get(SEEN, current.version)
    _listing(current)
    if editable:
        _message()
        _add_form(current, seen)
        if current.jobs:
            _change_form(current, seen)
        _timezone_form(current, seen)
    st.session_state[SEEN] = current.version  # what the user now sees


def _listing(current: ScheduleFile) -> None:
    if not current.jobs:
        st.caption("No refresh schedule yet.")
        return
    frame = overview(current.jobs, current.timezone, datetime.now(UTC))
    st.dataframe(
        frame,
        key="schedule_list",
        hide_index=True,
        placeholder=_widgets.MISSING,
        width="stretch",
        column_config={
            "schedule": st.column_config.TextColumn("Schedule", help="Its name in the run log."),
            "source": st.column_config.TextColumn("Source"),
            "when": st.column_config.TextColumn("When", help=CRON_HELP),
            "full refresh": st.column_config.CheckboxColumn("Full refresh", help=FULL_HELP),
            "status": st.column_config.TextColumn(
                "Status", help="A paused schedule stays in scorecard.toml but does not run."
            ),
            "next run": st.column_config.DatetimeColumn(
                "Next run", format="ddd D MMM YYYY, HH:mm", timezone=current.timezone,
                help=f"In {current.timezone}; none while paused.",
            ),
        },
    )  # fmt: skip
    st.caption(f"Times in {md_text(current.timezone)}.")


def _message() -> None:
    outcome = st.session_state.pop(MESSAGE, None)
    if outcome is None:
        return
    kind, text = outcome
    if kind == "ok":
        st.success(text, icon=":material/check_circle:")
    else:
        st.error(text, icon=":material/error:")


def _save(change, *args, **kwargs) -> None:
    """Run one change of `ops.schedule_edit`; audit it and rerun on success, else say why."""
    if not _auth.current_user().may_refresh:  # defence in depth: forms are drawn for ops only
        st.error("Only the ops role may change schedules.", icon=":material/lock:")
        return
    try:
        detail = change(*args, **kwargs)
    except ConcurrentEdit as exc:
        st.session_state[MESSAGE] = ("error", f"Not saved: {md_text(exc)}")
        st.rerun()
    except ScheduleEditError as exc:
        st.error(f"Not saved. {md_text(exc)}", icon=":material/error:")
        return
    except OSError as exc:  # no server path in the message: the file's name is enough
        st.error(
            f"Not saved: the configuration file could not be written "
            f"({md_text(exc.strerror or type(exc).__name__)}). It is unchanged.",
            icon=":material/error:",
        )
        return
    _auth.record("schedule", detail)
    st.session_state[MESSAGE] = (
        "ok",
        f"Saved: {md_text(detail)}. The scheduler picks it up within a minute.",
    )
    st.rerun()


def _spec(source: str, cron: str, every: str, full: bool) -> JobSpec:
    every = "" if every == NO_INTERVAL else every
    return JobSpec(source=source, cron="" if every else cron.strip(), every=every, full=full)


def _add_form(current: ScheduleFile, seen: str) -> None:
    adding = st.expander("Add a schedule", icon=":material/add:")
    with adding, st.form("schedule_add", border=False):
        source = st.selectbox("Source", sorted(SOURCES), key="add_source",
                              help="What the refresh reads (see Sources above).")  # fmt: skip
        cron = st.text_input("Cron", key="add_cron", placeholder="0 6 * * mon-fri",
                             help=CRON_HELP)  # fmt: skip
        every = st.selectbox("…or every", INTERVALS, key="add_every", help=EVERY_HELP)
        full = st.checkbox("Full refresh", key="add_full", help=FULL_HELP)
        if st.form_submit_button("Add schedule", type="primary", key="schedule_add_submit"):
            _save(schedule_edit.add_job, current.path, _spec(source, cron, every, full),
                  expected=seen, timezone=current.timezone)  # fmt: skip


def _change_form(current: ScheduleFile, seen: str) -> None:
    with st.expander("Change a schedule", icon=":material/edit:"):
        jobs = {job.id: job for job in current.jobs}
        job_id = st.selectbox(
            "Schedule", list(jobs), key="edit_job",
            format_func=lambda j: f"{j} (paused)" if jobs[j].paused else j,
        )  # fmt: skip
        job = jobs[job_id]
        # keys carry the job, so choosing another schedule fills the fields with its values
        with st.form(f"schedule_edit::{job.id}", border=False):
            sources = sorted(SOURCES)
            source = st.selectbox(
                "Source", sources, key=f"edit_source::{job.id}",
                index=sources.index(job.source) if job.source in sources else 0,
            )  # fmt: skip
            cron = st.text_input("Cron", value="" if job.every else job.cron,
                                 key=f"edit_cron::{job.id}", help=CRON_HELP)  # fmt: skip
            every = st.selectbox(
                "…or every", INTERVALS, key=f"edit_every::{job.id}", help=EVERY_HELP,
                index=INTERVALS.index(job.every) if job.every in INTERVALS else 0,
            )  # fmt: skip
            full = st.checkbox("Full refresh", value=job.full, key=f"edit_full::{job.id}",
                               help=FULL_HELP)  # fmt: skip
            if st.form_submit_button("Save changes", type="primary", key="schedule_edit_submit"):
                _save(schedule_edit.edit_job, current.path, job.id,
                      _spec(source, cron, every, full), expected=seen)  # fmt: skip
        pause, delete = st.columns(2)
        with pause:
            label = "Resume" if job.paused else "Pause"
            if st.button(label, key="schedule_pause", icon=":material/pause_circle:"
                         if not job.paused else ":material/play_circle:"):  # fmt: skip
                _save(schedule_edit.set_paused, current.path, job.id, not job.paused,
                      expected=seen)  # fmt: skip
        with delete:
            sure = st.checkbox("Yes, delete this schedule", key="schedule_delete_confirm")
            if st.button("Delete", key="schedule_delete", disabled=not sure,
                         icon=":material/delete:"):  # fmt: skip
                _save(schedule_edit.delete_job, current.path, job.id, expected=seen)


def _timezone_form(current: ScheduleFile, seen: str) -> None:
    with st.expander("Time zone of the schedules", icon=":material/schedule:"):
        zones = sorted(available_timezones())
        zone = st.selectbox(
            "Time zone", zones, key="schedule_timezone",
            index=zones.index(current.timezone) if current.timezone in zones else 0,
            help="Cron times are wall-clock times in this zone; daylight saving is handled.",
        )  # fmt: skip
        if st.button("Save time zone", key="schedule_timezone_save"):
            _save(schedule_edit.set_timezone, current.path, zone, expected=seen)
