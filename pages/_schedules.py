"""Schedules on a page: the refresh schedules and the pre-read schedules, listed for every
role, and for ops the forms that add, edit, pause, resume and delete them and set their time
zone. Each change is written back to scorecard.toml by `ops.schedule_edit` (checked, atomic,
refused if the file changed since this page read it) and audited; the scheduler picks it up on
its next tick.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import available_timezones

import streamlit as st

from model.calendar import FORMS as PERIOD_FORMS
from ops import schedule_edit
from ops.config import (
    DEFAULT_CONFIG,
    EVERY_HOURS,
    EVERY_MINUTES,
    ConfigError,
    PrereadJob,
    Settings,
)
from ops.schedule import overview, preread_overview
from ops.schedule_edit import (
    FORMATS,
    ConcurrentEdit,
    JobSpec,
    PrereadSpec,
    ScheduleEditError,
    ScheduleFile,
)
from ops.sources import SOURCES
from pages import _auth, _data, _widgets
from pages._text import md_text
from snapshots.store import StoreError

SEEN = "schedule_seen"  # session key: the file version this page last showed
MESSAGE = "schedule_message"  # session key: the outcome of the last change, shown once
PREREAD_MESSAGE = "preread_schedule_message"  # the same, for a pre-read schedule
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
OUT_HELP = (
    "The folder the pre-read files are written to, relative to the folder of scorecard.toml "
    "(e.g. `prereads`); it is created on the first run. A folder outside it is refused."
)
RECIPIENTS_HELP = (
    "E-mail addresses, one per line (or separated by commas). They get the files when SMTP "
    "is configured on the server (SMTP_HOST in .env); empty = written to the folder only."
)
PERIOD_HELP = (
    f"The period the pre-read covers: {PERIOD_FORMS}. Empty = the quarter of the data's date "
    "when it runs (ttm and all are also counted back from that date)."
)
PAUSED_HELP = "A paused pre-read stays in scorecard.toml but is not written or sent."
TEAMS_HELP = "The teams the pre-read is about; none chosen = all teams (the company view)."
FORMATS_HELP = "PDF to attach and print, HTML to open in a browser; both if you like."
NAME_HELP = (
    "Its name in the run log and in this list. Empty = `preread <when>`; a name keeps its "
    "run history when you change the times later."
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
    st.markdown("**Refresh schedules**")
    _listing(current)
    if editable:
        _message()
        _add_form(current, seen)
        if current.jobs:
            _change_form(current, seen)
        _timezone_form(current, seen)
    st.markdown("**Pre-read schedules**")
    _preread_listing(current)
    if editable:
        _message(PREREAD_MESSAGE)
        teams = _known_teams(settings)
        _preread_add_form(current, seen, teams)
        if current.prereads:
            _preread_change_form(current, seen, teams)
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


def _message(key: str = MESSAGE) -> None:
    outcome = st.session_state.pop(key, None)
    if outcome is None:
        return
    kind, text = outcome
    if kind == "ok":
        st.success(text, icon=":material/check_circle:")
    else:
        st.error(text, icon=":material/error:")


def _save(change, *args, message_key: str = MESSAGE, **kwargs) -> None:
    """Run one change of `ops.schedule_edit`; audit it and rerun on success, else say why
    (after the rerun the outcome is shown where `message_key` is read)."""
    if not _auth.current_user().may_refresh:  # defence in depth: forms are drawn for ops only
        st.error("Only the ops role may change schedules.", icon=":material/lock:")
        return
    try:
        detail = change(*args, **kwargs)
    except ConcurrentEdit as exc:
        st.session_state[message_key] = ("error", f"Not saved: {md_text(exc)}")
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
    st.session_state[message_key] = (
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


# --- pre-read schedules ----------------------------------------------------------------------


def _preread_listing(current: ScheduleFile) -> None:
    if not current.prereads:
        st.caption(
            "No pre-read schedule yet: the executive pre-read is written only on demand "
            "(`python -m ops preread`)."
        )
        return
    frame = preread_overview(current.prereads, current.timezone, datetime.now(UTC),
                             current.path.parent)  # fmt: skip
    text = st.column_config.TextColumn
    st.dataframe(
        frame,
        key="preread_schedule_list",
        hide_index=True,
        placeholder=_widgets.MISSING,
        width="stretch",
        column_config={
            "pre-read": text("Pre-read", help="Its name in the run log (source “preread”)."),
            "when": text("When", help=CRON_HELP),
            "period": text("Period", help=PERIOD_HELP),
            "teams": text("Teams", help=TEAMS_HELP),
            "formats": text("Formats", help=FORMATS_HELP),
            "folder": text("Folder", help=OUT_HELP),
            "recipients": text("Mailed to", help=RECIPIENTS_HELP),
            "status": text("Status", help=PAUSED_HELP),
            "next run": st.column_config.DatetimeColumn(
                "Next run", format="ddd D MMM YYYY, HH:mm", timezone=current.timezone,
                help=f"In {current.timezone}; none while paused.",
            ),
        },
    )  # fmt: skip


def _known_teams(settings: Settings) -> list[str]:
    """The teams of the current snapshot, offered in the forms (others can be typed)."""
    try:
        snapshot = _data.store().readable().snapshot
        return _data.sales_teams(str(settings.data_dir), snapshot.id)
    except StoreError:  # no data yet, or unreadable: teams are typed by hand
        return []


def _addresses(text: str) -> tuple[str, ...]:
    """The addresses of the recipients box: one per line or separated by commas."""
    parts = text.replace(";", "\n").replace(",", "\n").splitlines()
    return tuple(part.strip() for part in parts if part.strip())


def _preread_spec(cron: str, every: str, out: str, recipients: str, period: str,
                  teams: list[str], formats: list[str], name: str) -> PrereadSpec:  # fmt: skip
    every = "" if every == NO_INTERVAL else every
    return PrereadSpec(
        out=out.strip(), cron="" if every else cron.strip(), every=every,
        recipients=_addresses(recipients), period=period.strip(), teams=tuple(teams),
        formats=tuple(formats), id=name.strip(),
    )  # fmt: skip


def _preread_fields(key: str, teams: list[str], job: PrereadJob | None, base: Path) -> PrereadSpec:
    """The form's fields, filled with `job`'s values when it is given (keys carry `key`);
    `base` is the folder of scorecard.toml, which the out folder is relative to."""
    cron = st.text_input("Cron", value="" if job is None or job.every else job.cron,
                         key=f"{key}_cron", placeholder="0 7 * * mon", help=CRON_HELP)  # fmt: skip
    every = st.selectbox(
        "…or every", INTERVALS, key=f"{key}_every", help=EVERY_HELP,
        index=INTERVALS.index(job.every) if job and job.every in INTERVALS else 0,
    )  # fmt: skip
    out = st.text_input("Folder", value="prereads" if job is None else _folder(job, base),
                        key=f"{key}_out", help=OUT_HELP)  # fmt: skip
    recipients = st.text_area("Mail to", value="\n".join(job.recipients) if job else "",
                              key=f"{key}_recipients", placeholder="cro@example.com",
                              help=RECIPIENTS_HELP, height=80)  # fmt: skip
    period = st.text_input("Period", value=job.period if job else "", key=f"{key}_period",
                           placeholder="quarter of the data's date", help=PERIOD_HELP)  # fmt: skip
    chosen = list(job.teams) if job else []
    picked = st.multiselect("Teams", list(dict.fromkeys([*teams, *chosen])), default=chosen,
                            key=f"{key}_teams", help=TEAMS_HELP, accept_new_options=True,
                            placeholder="All teams")  # fmt: skip
    formats = st.multiselect("Formats", list(FORMATS), default=list(job.formats) if job else
                             ["pdf"], key=f"{key}_formats", help=FORMATS_HELP)  # fmt: skip
    default_name = job is None or job.id == f"preread {job.when}"
    name = st.text_input("Name (optional)", value="" if default_name else job.id,
                         key=f"{key}_name", help=NAME_HELP)  # fmt: skip
    return _preread_spec(cron, every, out, recipients, period, picked, formats, name)


def _folder(job: PrereadJob, base: Path) -> str:
    """The out folder as written: relative to scorecard.toml's folder when it is inside."""
    out = job.out_dir
    return str(out.relative_to(base)) if out.is_relative_to(base) else str(out)


def _preread_add_form(current: ScheduleFile, seen: str, teams: list[str]) -> None:
    with (
        st.expander("Add a pre-read schedule", icon=":material/add:"),
        st.form("preread_add", border=False),
    ):
        spec = _preread_fields("preread_add", teams, None, current.path.parent)
        if st.form_submit_button("Add pre-read schedule", type="primary",
                                 key="preread_add_submit"):  # fmt: skip
            _save(schedule_edit.add_preread, current.path, spec, expected=seen,
                  timezone=current.timezone, message_key=PREREAD_MESSAGE)  # fmt: skip


def _preread_change_form(current: ScheduleFile, seen: str, teams: list[str]) -> None:
    with st.expander("Change a pre-read schedule", icon=":material/edit:"):
        prereads = {job.id: job for job in current.prereads}
        job_id = st.selectbox(
            "Pre-read", list(prereads), key="preread_edit_job",
            format_func=lambda j: f"{j} (paused)" if prereads[j].paused else j,
        )  # fmt: skip
        job = prereads[job_id]
        # keys carry the schedule, so choosing another one fills the fields with its values
        with st.form(f"preread_edit::{job.id}", border=False):
            spec = _preread_fields(f"preread_edit::{job.id}", teams, job, current.path.parent)
            if st.form_submit_button("Save changes", type="primary", key="preread_edit_submit"):
                _save(schedule_edit.edit_preread, current.path, job.id, spec, expected=seen,
                      message_key=PREREAD_MESSAGE)  # fmt: skip
        pause, delete = st.columns(2)
        with pause:
            if st.button("Resume" if job.paused else "Pause", key="preread_pause",
                         icon=":material/play_circle:" if job.paused
                         else ":material/pause_circle:"):  # fmt: skip
                _save(schedule_edit.set_preread_paused, current.path, job.id, not job.paused,
                      expected=seen, message_key=PREREAD_MESSAGE)  # fmt: skip
        with delete:
            sure = st.checkbox("Yes, delete this pre-read schedule", key="preread_delete_confirm")
            if st.button("Delete", key="preread_delete", disabled=not sure,
                         icon=":material/delete:"):  # fmt: skip
                _save(schedule_edit.delete_preread, current.path, job.id, expected=seen,
                      message_key=PREREAD_MESSAGE)  # fmt: skip
