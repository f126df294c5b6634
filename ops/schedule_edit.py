"""Schedules edited from the app: `[[schedule.jobs]]` (refreshes) and `[[schedule.preread]]`
(the executive pre-read) of `scorecard.toml` added, changed, paused, resumed or deleted, and
`[schedule] timezone` set.

Every change is made the same way (`_change`):
- checked first, field by field (source, cron or interval, time zone; for a pre-read also its
  out folder, recipients, period, teams and formats), with a message naming the field, and
  then as a whole file the way the app and the scheduler will read it;
- refused when the file changed since the editor read it (`expected` is the `config_version`
  the page showed): a concurrent edit is never overwritten;
- written with tomlkit, which keeps the user's comments, spacing and every other section, so
  the file stays the one people edit by hand (a hand-written writer would drop comments or
  re-order tables);
- written atomically: a temporary file in the same folder, fsync'd, then `os.replace`, so a
  failure half-way leaves the old file as it was; under a lock on the folder, so two saves at
  the same instant cannot both pass the version check.

The scheduler (`ops.schedule.reload`) picks a change up on its next tick.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomlkit
from tomlkit.exceptions import ParseError
from tomlkit.items import AoT, Comment, Item, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from model.calendar import PeriodError, parse_period
from ops.config import (
    ConfigError,
    PrereadJob,
    ScheduleJob,
    config_version,
    every_cron,
    preread_job,
    read_schedules,
    schedule_job,
    toml_error,
)
from ops.schedule import check_cron
from ops.sources import SOURCES


class ScheduleEditError(ConfigError):
    """A schedule change that was not saved; `field` names the form field to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConcurrentEdit(ScheduleEditError):
    """The file changed since it was read: saving would overwrite someone else's change."""


@dataclass(frozen=True)
class JobSpec:
    """A schedule as the form gives it: a source and either a cron expression or an interval."""

    source: str
    cron: str = ""
    every: str = ""  # "30m", "6h", "1d"
    full: bool = False


@dataclass(frozen=True)
class PrereadSpec:
    """A pre-read schedule as the form gives it: when, into which folder, for whom."""

    out: str  # a folder, relative to scorecard.toml
    cron: str = ""
    every: str = ""  # "30m", "6h", "1d"
    recipients: tuple[str, ...] = ()  # e-mail addresses; () = written only, not mailed
    period: str = ""  # 2026-Q3, FY2026, ttm, all, 2026-03-01..2026-06-30; "" = data's quarter
    teams: tuple[str, ...] = ()  # () = all teams
    formats: tuple[str, ...] = ("pdf",)  # pdf and/or html
    id: str = ""  # its name in the run log; "" = "preread <cron>"


FORMATS = ("pdf", "html")


@dataclass(frozen=True)
class ScheduleFile:
    """The schedules as read from one version of the file."""

    path: Path
    version: str  # `config_version` of what was read ("" = no file yet)
    timezone: str
    jobs: tuple[ScheduleJob, ...]
    prereads: tuple[PrereadJob, ...] = ()


def read(path: Path) -> ScheduleFile:
    """The schedules of `path` and the version they were read from."""
    data = path.read_bytes() if path.exists() else b""
    schedules = read_schedules(_parse(data.decode("utf-8"), path), path.parent)
    return ScheduleFile(path, config_version(path) if data else "", schedules.timezone,
                        schedules.jobs, schedules.prereads)  # fmt: skip


def add_job(path: Path, spec: JobSpec, *, expected: str, timezone: str = "UTC") -> str:
    """Append a schedule; `timezone` is written only when `[schedule]` has none yet.
    Returns what changed, for the audit log."""

    def change(doc: TOMLDocument) -> str:
        section = _schedule_table(doc)
        zone = str(section.get("timezone", "")) or _check_timezone(timezone)
        _check_spec(spec, zone)
        if "timezone" not in section:
            section["timezone"] = zone
        entry = tomlkit.table()
        _fill(entry, spec)
        if not _after_last(section.get("jobs"), entry):
            _first_job(section, entry)
        return f"added {schedule_job(entry.unwrap()).id}"

    return _change(path, expected, change)


def _after_last(entries: object, entry: Table) -> bool:
    """Append `entry` after the last table of the array `entries`, the comments that followed
    that table moved after the new one (they introduce what follows); False when the array
    has no table yet."""
    if not (isinstance(entries, AoT) and len(entries)):
        return False
    tail = _trailing(entries[-1])
    entries[-1].add(tomlkit.nl())
    entries.append(entry)
    _append(entry, tail)
    return True


def edit_job(path: Path, job_id: str, spec: JobSpec, *, expected: str) -> str:
    """Change the source, times or full flag of the schedule `job_id` (its `id` key, paused
    state and other keys stay)."""

    def change(doc: TOMLDocument) -> str:
        entry = _find(doc, job_id)
        _check_spec(spec, str(_schedule_table(doc).get("timezone", "UTC")))
        before = schedule_job(entry.unwrap())
        _fill(entry, spec)
        after = schedule_job(entry.unwrap())
        return f"edited {job_id}: {_describe(before)} -> {_describe(after)}"

    return _change(path, expected, change)


def set_paused(path: Path, job_id: str, paused: bool, *, expected: str) -> str:
    """Pause (kept in the file, not run) or resume the schedule `job_id`."""

    def change(doc: TOMLDocument) -> str:
        _pause(_find(doc, job_id), paused)
        return f"{'paused' if paused else 'resumed'} {job_id}"

    return _change(path, expected, change)


def delete_job(path: Path, job_id: str, *, expected: str) -> str:
    """Remove the schedule `job_id`; comments introducing what follows it stay."""

    def change(doc: TOMLDocument) -> str:
        section = _schedule_table(doc)
        _delete(section, "jobs", _index(section["jobs"], job_id))
        return f"deleted {job_id}"

    return _change(path, expected, change)


# --- pre-read schedules: [[schedule.preread]] -------------------------------------------------


def add_preread(path: Path, spec: PrereadSpec, *, expected: str, timezone: str = "UTC") -> str:
    """Append a pre-read schedule; `timezone` is written only when `[schedule]` has none yet.
    Returns what changed, for the audit log."""
    base = Path(path).parent

    def change(doc: TOMLDocument) -> str:
        section = _schedule_table(doc)
        zone = str(section.get("timezone", "")) or _check_timezone(timezone)
        _check_preread(spec, zone, base)
        if "timezone" not in section:
            section["timezone"] = zone
        entry = tomlkit.table()
        _fill_preread(entry, spec)
        if not _after_last(section.get("preread"), entry):
            _first_preread(section, entry)
        return f"added pre-read {preread_job(entry.unwrap(), base).id}"

    return _change(path, expected, change)


def edit_preread(path: Path, preread_id: str, spec: PrereadSpec, *, expected: str) -> str:
    """Change the pre-read schedule `preread_id` to `spec` (its paused state and any keys the
    form does not know stay)."""
    base = Path(path).parent

    def change(doc: TOMLDocument) -> str:
        entry = _find(doc, preread_id, key="preread", base=base)
        _check_preread(spec, str(_schedule_table(doc).get("timezone", "UTC")), base)
        before = preread_job(entry.unwrap(), base)
        _fill_preread(entry, spec)
        after = preread_job(entry.unwrap(), base)
        return (
            f"edited pre-read {preread_id}: "
            f"{_describe_preread(before, base)} -> {_describe_preread(after, base)}"
        )

    return _change(path, expected, change)


def set_preread_paused(path: Path, preread_id: str, paused: bool, *, expected: str) -> str:
    """Pause (kept in the file, not run) or resume the pre-read schedule `preread_id`."""
    base = Path(path).parent

    def change(doc: TOMLDocument) -> str:
        _pause(_find(doc, preread_id, key="preread", base=base), paused)
        return f"{'paused' if paused else 'resumed'} pre-read {preread_id}"

    return _change(path, expected, change)


def delete_preread(path: Path, preread_id: str, *, expected: str) -> str:
    """Remove the pre-read schedule `preread_id`; comments introducing what follows it stay."""
    base = Path(path).parent

    def change(doc: TOMLDocument) -> str:
        section = _schedule_table(doc)
        entries = section.get("preread")
        if not isinstance(entries, AoT):
            raise ScheduleEditError("schedule", f"no pre-read {preread_id!r} in scorecard.toml")
        _delete(section, "preread", _index(entries, preread_id, base=base))
        return f"deleted pre-read {preread_id}"

    return _change(path, expected, change)


def set_timezone(path: Path, timezone: str, *, expected: str) -> str:
    """Set `[schedule] timezone`: the zone cron times are read in."""

    def change(doc: TOMLDocument) -> str:
        _set(_schedule_table(doc), "timezone", _check_timezone(timezone))
        return f"time zone {timezone}"

    return _change(path, expected, change)


# --- one change: lock, version check, edit, check, atomic write ------------------------------


def _change(path: Path, expected: str, edit: Callable[[TOMLDocument], str]) -> str:
    path = Path(path)
    with _folder_lock(path.parent):
        data = path.read_bytes() if path.exists() else b""
        if (config_version(path) if data else "") != expected:
            raise ConcurrentEdit(
                path.name,
                "changed by someone else since this page read it; nothing was saved. The "
                "page now shows the file as it is: make your change again.",
            )
        doc = _parse(data.decode("utf-8"), path)
        detail = edit(doc)
        text = tomlkit.dumps(doc)
        _check_file(text, path)
        write_atomic(path, text)
    return detail


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old file or the new one, never
    a part: a temporary file in the same folder (same file system), flushed and fsync'd,
    given the old file's permissions, then renamed over it; the folder is fsync'd so the
    rename survives a crash. On any failure the temporary file is removed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself (its inode never changes, unlike the file's)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _parse(text: str, path: Path) -> TOMLDocument:
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ScheduleEditError(path.name, f"not valid TOML: {exc}") from exc


def _check_file(text: str, path: Path) -> None:
    """The new file as the app and the scheduler will read it: valid TOML, a valid
    `[schedule]`, known sources, cron fields in range, no two schedules with one id."""
    try:
        schedules = read_schedules(tomllib.loads(text), path.parent)
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleEditError(path.name, toml_error(exc)) from exc
    except ConfigError as exc:
        raise ScheduleEditError("schedule", str(exc)) from exc
    seen: set[str] = set()
    for job in schedules.jobs:
        if job.id in seen:
            raise ScheduleEditError(
                "cron", f"a schedule {job.id!r} exists already: change the times or the source"
            )
        seen.add(job.id)
        _check_spec(
            JobSpec(job.source, "" if job.every else job.cron, job.every), schedules.timezone
        )
    for pre in schedules.prereads:  # one id namespace: the scheduler and the run log share it
        if pre.id in seen:
            raise ScheduleEditError(
                "id", f"a schedule {pre.id!r} exists already: give this pre-read another name "
                "(id) or other times",
            )  # fmt: skip
        seen.add(pre.id)


# --- checks of the form's fields ------------------------------------------------------------


def _check_spec(spec: JobSpec, timezone: str) -> None:
    if spec.source not in SOURCES:
        raise ScheduleEditError(
            "source", f"{spec.source!r} is not a source; use one of {', '.join(sorted(SOURCES))}"
        )
    _check_times(spec.cron, spec.every, timezone)


def _check_times(cron: str, every: str, timezone: str) -> None:
    """Either a cron expression in range or an interval the scheduler can keep, not both."""
    cron, every = cron.strip(), every.strip()
    if bool(cron) == bool(every):
        raise ScheduleEditError("cron", "give either a cron expression or an interval (every)")
    if every:
        try:
            every_cron(every)
        except ConfigError as exc:
            raise ScheduleEditError("every", str(exc)) from None
    else:
        try:
            check_cron(cron, timezone)
        except ConfigError as exc:
            raise ScheduleEditError("cron", str(exc)) from None


# An address as a mail server takes it: one @, no spaces, a dot in the domain. Deliverability is
# the mail server's business; this catches the typos and the "name <addr>, other" pasted lists.
_ADDRESS = re.compile(r"[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"'.]+")


def _check_preread(spec: PrereadSpec, timezone: str, base: Path) -> None:
    """Each field of a pre-read schedule as the scheduler and the pre-read will use it."""
    _check_times(spec.cron, spec.every, timezone)
    out = spec.out.strip()
    if not out:
        raise ScheduleEditError(
            "out", "give the folder the pre-read is written to, relative to scorecard.toml"
        )
    if Path(out).is_absolute() or not (base / out).resolve().is_relative_to(base.resolve()):
        raise ScheduleEditError(
            "out", f"{out!r} is outside the folder of scorecard.toml; give a folder inside it, "
            'e.g. "prereads"',
        )  # fmt: skip
    for address in spec.recipients:
        if not _ADDRESS.fullmatch(address.strip()):
            raise ScheduleEditError(
                "recipients", f"{address!r} is not an e-mail address (one per line, like "
                "cro@example.com)",
            )  # fmt: skip
    if spec.period.strip():
        try:  # the pre-read's own parser; "ttm" and "all" resolve against the data when it runs
            today = date.today()
            parse_period(spec.period, as_of=today, data_start=today)
        except PeriodError as exc:
            raise ScheduleEditError("period", str(exc)) from None
    teams = [team.strip() for team in spec.teams]
    if "" in teams:
        raise ScheduleEditError("teams", "a team name is empty; leave teams empty for all teams")
    if len(set(teams)) != len(teams):
        raise ScheduleEditError("teams", "a team is named twice")
    if not spec.formats or set(spec.formats) - set(FORMATS):
        raise ScheduleEditError(
            "format", f"{', '.join(spec.formats) or 'none'}: choose pdf and/or html"
        )
    if spec.id != spec.id.strip():
        raise ScheduleEditError("id", "the name starts or ends with spaces")


def _check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(str(timezone))
    except (ValueError, ZoneInfoNotFoundError):
        raise ScheduleEditError(
            "timezone", f"{timezone!r} is not a time zone; use a name like Europe/Berlin or UTC"
        ) from None
    return str(timezone)


# --- tomlkit: edit in place, comments kept where they belong ------------------------------


def _describe(job: ScheduleJob) -> str:
    return f"{job.source} {job.when}{' full' if job.full else ''}"


def _describe_preread(job: PrereadJob, base: Path) -> str:
    out = job.out_dir.relative_to(base) if job.out_dir.is_relative_to(base) else job.out_dir
    teams = f" for {', '.join(job.teams)}" if job.teams else ""
    period = f" {job.period}" if job.period else ""
    to = f" to {len(job.recipients)} recipient(s)" if job.recipients else ""
    return f"{job.when}{period}{teams} {'+'.join(job.formats)} into {out}{to}"


def _schedule_table(doc: TOMLDocument) -> Table:
    if "schedule" not in doc:
        doc.add(tomlkit.nl())
        doc.add("schedule", tomlkit.table())
    section = doc["schedule"]
    if not isinstance(section, Table):
        raise ScheduleEditError("schedule", "[schedule] must be a table")
    return section


def _first_job(section: Table, entry: Table) -> None:
    """Start `[[schedule.jobs]]` with `entry`: before the section's other sub-tables (the
    pre-reads) and the comment paragraph introducing them, or at the section's end."""
    if "jobs" in section:
        section.remove("jobs")  # an empty `jobs = []`
    body = section.value.body
    nested = [i for i, (k, v) in enumerate(body) if k is not None and isinstance(v, AoT | Table)]
    if not nested:
        entry.add(tomlkit.nl())
        section.append("jobs", tomlkit.aot())
        section["jobs"].append(entry)
        return
    at = nested[0]
    while at and body[at - 1][0] is None and isinstance(body[at - 1][1], Comment):
        at -= 1  # the comments just above the first sub-table introduce it
    if at and body[at - 1][0] is None and isinstance(body[at - 1][1], Whitespace):
        at -= 1  # and the blank line above them separates them from the jobs
    jobs = tomlkit.aot()
    jobs.append(entry)
    section.value._insert_at(at, "jobs", jobs)  # tomlkit has no public insert-before


def _first_preread(section: Table, entry: Table) -> None:
    """Start `[[schedule.preread]]` with `entry` at the end of `[schedule]`: after the refresh
    schedules; the comments that closed the section (they introduce the next one) follow it."""
    if "preread" in section:
        section.remove("preread")  # an empty `preread = []`
    body = section.value.body
    nested = [v for k, v in body if k is not None and isinstance(v, AoT | Table)]
    last = nested[-1] if nested else section
    holder = last[-1] if isinstance(last, AoT) else last
    tail = _trailing(holder)
    if holder is not section:
        holder.add(tomlkit.nl())
    prereads = tomlkit.aot()
    prereads.append(entry)
    section.append("preread", prereads)
    _append(entry, tail or [tomlkit.nl()])


def _index(entries: AoT, job_id: str, *, base: Path | None = None) -> int:
    """The position of the schedule `job_id`: a refresh job, or with `base` a pre-read."""
    for number, entry in enumerate(entries):
        read = schedule_job(entry.unwrap()) if base is None else preread_job(entry.unwrap(), base)
        if read.id == job_id:
            return number
    raise ScheduleEditError(
        "schedule", f"no schedule {job_id!r} in scorecard.toml (deleted meanwhile?)"
    )


def _find(doc: TOMLDocument, job_id: str, *, key: str = "jobs", base: Path | None = None) -> Table:
    entries = _schedule_table(doc).get(key)
    if not isinstance(entries, AoT):
        raise ScheduleEditError("schedule", f"no schedule {job_id!r} in scorecard.toml")
    return entries[_index(entries, job_id, base=base)]


def _pause(entry: Table, paused: bool) -> None:
    if paused:
        _set(entry, "paused", True)
    elif "paused" in entry:
        del entry["paused"]


def _delete(section: Table, key: str, index: int) -> None:
    """Remove entry `index` of the array of tables `key`; comments after it stay in place."""
    entries = section[key]
    tail = _trailing(entries[index])
    if len(entries) == 1:
        # the array goes; its slot keeps the comments (they describe the next section)
        body = section.value.body
        slot = next(i for i, (k, _) in enumerate(body) if k is not None and k.key == key)
        section.remove(key)
        body[slot] = (None, Whitespace("".join(item.as_string() for item in tail)))
    else:
        if index > 0 and index == len(entries) - 1:
            _trailing(entries[index - 1])  # the gap before the deleted entry ...
            _append(entries[index - 1], tail)  # ... becomes what followed it
        del entries[index]


def _fill(entry: Table, spec: JobSpec) -> None:
    """Write the spec's keys into `entry`: source, cron or every (the other removed), full."""
    _set(entry, "source", spec.source)
    timing, other = ("every", "cron") if spec.every.strip() else ("cron", "every")
    _set(entry, timing, (spec.every or spec.cron).strip())
    if other in entry:
        del entry[other]
    if spec.full:
        _set(entry, "full", True)
    elif "full" in entry:
        del entry["full"]


def _fill_preread(entry: Table, spec: PrereadSpec) -> None:
    """Write the spec's keys into `entry`; an optional key left empty is removed, unless it was
    written empty already (`recipients = []  # e.g. [...]` keeps its hint)."""
    timing, other = ("every", "cron") if spec.every.strip() else ("cron", "every")
    _set(entry, timing, (spec.every or spec.cron).strip())
    if other in entry:
        del entry[other]
    _set(entry, "out", spec.out.strip())
    values: dict[str, Any] = {
        "recipients": [r.strip() for r in spec.recipients],
        "period": spec.period.strip(),
        "teams": [t.strip() for t in spec.teams],
        "format": list(spec.formats) if tuple(spec.formats) != ("pdf",) else [],
        "id": spec.id.strip(),
    }
    for key, value in values.items():
        if value or (key in entry and entry[key] == value):  # unchanged: its comment stays
            _set(entry, key, value)
        elif key in entry:
            del entry[key]


def _set(table: Table, key: str, value: object) -> None:
    """Set `key`; an end-of-line comment stays only while the value is unchanged (it described
    the old value); a new key goes before the comments that follow the table's last key."""
    if key in table:
        if table[key] != value:
            table[key] = value
            table[key].trivia.comment = ""
            table[key].trivia.comment_ws = ""
        return
    tail = _trailing(table)
    table.add(key, value)
    _append(table, tail)


def _trailing(table: Table) -> list[Item]:
    """Take the comments and blank lines after the table's last key off its end: in TOML they
    sit before the next header and belong to what follows."""
    body = table.value.body
    end = len(body)
    while end and body[end - 1][0] is None:
        end -= 1
    tail = [item for _, item in body[end:]]
    del body[end:]
    return tail


def _append(table: Table, items: list[Item]) -> None:
    for item in items:
        table.add(item)
