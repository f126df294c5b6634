"""Configuration: `scorecard.toml` read once into a typed `Settings`; secrets from the environment.

`.env` is loaded with python-dotenv (it never overrides variables already set). Only
``SCORECARD_*`` variables and source credentials are read from the environment.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

from model.params import (
    ForecastParams,
    FunnelParams,
    PipelineParams,
    RiskParams,
    ScoreParams,
    ScoringParams,
    StallParams,
)
from model.schema import FUNCTIONS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "scorecard.toml"


class ConfigError(ValueError):
    """`scorecard.toml` is unreadable or holds a value of the wrong kind."""


def config_version(path: Path | None) -> str:
    """A fingerprint of the configuration file's bytes ("" when there is none): a change made
    elsewhere since a reader saw the file shows as a different version."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""
    except FileNotFoundError:
        return ""


# An interval must fall on the same wall-clock times every day, so it is written as a cron:
# minutes dividing an hour, hours dividing a day, or one day.
_EVERY = re.compile(r"\s*(\d+)\s*(m|min|h|d)\s*")
EVERY_MINUTES = (5, 10, 15, 20, 30)
EVERY_HOURS = (1, 2, 3, 4, 6, 8, 12)


def every_cron(every: str) -> str:
    """The cron expression of an interval: "30m" -> "*/30 * * * *", "6h" -> "0 */6 * * *",
    "1d" -> "0 0 * * *" (midnight). Raises ConfigError naming what is allowed."""
    match = _EVERY.fullmatch(str(every))
    if match is None:
        raise ConfigError(f'every {every!r}: write a number and a unit, e.g. "30m", "6h" or "1d"')
    count, unit = int(match[1]), match[2]
    if unit in ("m", "min") and count in EVERY_MINUTES:
        return f"*/{count} * * * *"
    if unit == "h" and count in EVERY_HOURS:
        return "0 * * * *" if count == 1 else f"0 */{count} * * *"
    if unit == "d" and count == 1:
        return "0 0 * * *"
    raise ConfigError(
        f"every {every!r}: use {', '.join(f'{m}m' for m in EVERY_MINUTES)}, "
        f"{', '.join(f'{h}h' for h in EVERY_HOURS)} or 1d, so runs fall on the same times "
        "each day (other times: a cron expression)"
    )


@dataclass(frozen=True)
class DemoSettings:
    seed: int = 7
    quarters: int = 8
    scale: float = 1.0
    as_of: date | None = None


@dataclass(frozen=True)
class ScheduleJob:
    """One `[[schedule.jobs]]` entry: refresh `source` at the times of the 5-field `cron`.

    An entry may say `every = "6h"` instead of a cron; `cron` then holds the equivalent
    expression ("0 */6 * * *": wall-clock times, so daylight saving never shifts them)."""

    source: str
    cron: str
    full: bool = False  # ask the source for a full refresh (incremental sources)
    id: str = ""  # stable name in the run log; default "<source> <cron>[ full]"
    every: str = ""  # "30m", "6h", "1d" as written in scorecard.toml; "" = a cron entry
    paused: bool = False  # kept in scorecard.toml but not run (paused from the app)

    @property
    def when(self) -> str:
        """The times as written: "every 6h" or the cron expression."""
        return f"every {self.every}" if self.every else self.cron


@dataclass(frozen=True)
class PrereadJob:
    """One `[[schedule.preread]]` entry: write the executive pre-read (reports/) into
    `out_dir` at the times of `cron`, and mail it to `recipients` when SMTP is configured."""

    cron: str
    out_dir: Path
    recipients: tuple[str, ...] = ()
    # 2026-Q3, FY2026, ttm, all or 2026-03-01..2026-06-30; "" = the quarter of the data's date
    period: str = ""
    teams: tuple[str, ...] = ()  # () = all teams
    formats: tuple[str, ...] = ("pdf",)  # pdf and/or html
    id: str = ""  # stable name in the run log; default "preread <cron>" ("preread every 6h")
    every: str = ""  # "30m", "6h", "1d" as written in scorecard.toml; "" = a cron entry
    paused: bool = False  # kept in scorecard.toml but not run (paused from the app)

    @property
    def when(self) -> str:
        """The times as written: "every 6h" or the cron expression."""
        return f"every {self.every}" if self.every else self.cron


@dataclass(frozen=True)
class PrereadSettings:
    """`[preread]`: where the pre-read's "open the live view" link points."""

    app_url: str = "http://localhost:8501"


@dataclass(frozen=True)
class ScheduleSettings:
    """`[schedule]`: when `python -m ops schedule` refreshes, and how runs retry."""

    timezone: str = "UTC"
    jobs: tuple[ScheduleJob, ...] = ()
    prereads: tuple[PrereadJob, ...] = ()  # [[schedule.preread]]
    retries: int = 2  # transient source errors, every trigger
    backoff_seconds: float = 30.0  # doubled on each retry
    misfire_grace_seconds: int = 3600


ROLES = ("exec", "lead", "ops")


@dataclass(frozen=True)
class AccessSettings:
    """`[access]`: roles of signed-in users (sign-in itself is `[auth]` in secrets.toml)."""

    role_claim: str = "roles"  # ID-token claim holding roles or groups; "" = table only
    team_claim: str = ""  # ID-token claim holding a lead's team; "" = table only
    default_role: str = ""  # role of a signed-in user found nowhere; "" = no access
    claim_roles: Mapping[str, str] = field(default_factory=dict)  # claim value -> role
    users: Mapping[str, str] = field(default_factory=dict)  # email (lower case) -> role
    teams: Mapping[str, str] = field(default_factory=dict)  # email (lower case) -> team
    # email (lower case) -> the function whose leader answers the quarterly questions
    functions: Mapping[str, str] = field(default_factory=dict)


ALERT_EVENTS = ("failed", "stale", "digest")


@dataclass(frozen=True)
class AlertChannel:
    """One `[[alerts.channels]]` entry: where alerts go and which events it gets.

    An e-mail channel lists `email` recipients (sent through SMTP_* of the environment); a
    webhook channel names the environment variable holding its URL (`webhook_env`): the URL
    is a secret, so it never appears in scorecard.toml."""

    name: str
    events: tuple[str, ...] = ALERT_EVENTS
    email: tuple[str, ...] = ()
    webhook_env: str = ""

    @property
    def kind(self) -> str:
        return "webhook" if self.webhook_env else "email"


@dataclass(frozen=True)
class AlertSettings:
    """`[alerts]`: who hears about a failed or stale refresh and gets the digest."""

    channels: tuple[AlertChannel, ...] = ()
    stale_after_hours: float = 26.0  # no successful refresh for this long = stale
    digest_deals: int = 5  # the biggest deal changes listed in the digest


@dataclass(frozen=True)
class EngineSettings:
    """`[engine]`: where the derivation graph's nodes are built (`model.engine`): "polars"
    (in this process, the default), "duckdb", "spark" or "warehouse"; `spark_url`: a Spark
    Connect URL (sc://host:15002) or a local master (default local[2]); `schema`: the
    warehouse schema the canonical tables are written to and the nodes read (default
    "scorecard"; the connection is the warehouse source's, from the environment / .env)."""

    name: str = "polars"
    spark_url: str = ""
    schema: str = "scorecard"


@dataclass(frozen=True)
class Settings:
    """Everything the refresh command and the app read from configuration."""

    data_dir: Path
    config_path: Path | None = None
    config_version: str = ""  # `config_version` of the file these settings were read from
    default_source: str = "demo"
    keep_snapshots: int = 30
    max_age_days: int | None = 400
    store_mode: int | None = None  # permissions of snapshot folders (files: without x bits)
    demo: DemoSettings = field(default_factory=DemoSettings)
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    scoring: ScoringParams = field(default_factory=ScoringParams)
    schedules: ScheduleSettings = field(default_factory=ScheduleSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    preread: PrereadSettings = field(default_factory=PrereadSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)


def _mode(value: Any) -> int | None:
    """`[store] mode` as permission bits: "0750" (octal text, as chmod takes it) or None."""
    if value is None:
        return None
    try:
        mode = int(str(value), 8)
    except ValueError:
        raise ConfigError(f'[store] mode must be octal like "0750", not {value!r}') from None
    if not 0 <= mode <= 0o777:
        raise ConfigError(f'[store] mode must be octal like "0750", not {value!r}')
    return mode


def toml_error(exc: tomllib.TOMLDecodeError) -> str:
    """What is wrong and where, for a person: "[access.users] appears twice (at line 9,
    column 1)" rather than the parser's "Cannot declare ('access', 'users') twice"."""
    text = str(exc)
    twice = re.match(r"Cannot declare \((.*)\) twice(.*)", text)
    if twice:
        keys = ".".join(k.strip().strip("'\"") for k in twice[1].split(",") if k.strip())
        text = f"[{keys}] appears twice{twice[2]}"
    return text


def _section(raw: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    node: Any = raw
    for key in keys:
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
    if not isinstance(node, Mapping):
        raise ConfigError(f"[{'.'.join(keys)}] must be a table")
    return dict(node)


def _scoring(raw: Mapping[str, Any]) -> ScoringParams:
    stalls = _section(raw, "stalls")
    funnel = _section(raw, "funnel")
    calendar = _section(raw, "calendar")
    try:
        return ScoringParams(
            fiscal_start_month=int(calendar.get("fiscal_start_month", 1)),
            timezone=str(calendar.get("timezone", "UTC")),
            stall=StallParams(
                thresholds_days={k: float(v) for k, v in stalls.pop("thresholds_days", {}).items()},
                **stalls,
            ),
            funnel=FunnelParams(
                sla_hours=float(funnel.get("sla_hours", 24)),
                sla_hours_by_source={
                    k: float(v) for k, v in funnel.get("sla_hours_by_source", {}).items()
                },
                recycle_statuses=tuple(funnel.get("recycle_statuses", ("Recycled", "Nurture"))),
                sales_statuses=tuple(
                    funnel.get("sales_statuses", ("Working", "Accepted", "Qualified"))
                ),
            ),
            forecast=ForecastParams(**_section(raw, "forecast")),
            pipeline=PipelineParams(**_section(raw, "pipeline")),
            risk=RiskParams(**_section(raw, "risk")),
            score=ScoreParams(
                weights=_section(raw, "score", "weights") or ScoreParams().weights,
                scales={k: tuple(v) for k, v in _section(raw, "score", "scales").items()},
            ),
        )
    except TypeError as exc:  # an unknown key in a section
        raise ConfigError(f"scorecard.toml: {exc}") from exc


def _schedule_job(entry: Any) -> ScheduleJob:
    """One `[[schedule.jobs]]` entry: source and either cron or every (an interval)."""
    if (
        not isinstance(entry, Mapping)
        or "source" not in entry
        or (("cron" in entry) == ("every" in entry))
    ):
        raise ConfigError("each [[schedule.jobs]] needs source and cron (or every, not both)")
    entry = dict(entry)
    if "every" in entry:
        entry["every"] = str(entry["every"]).strip()
        try:
            entry["cron"] = every_cron(entry["every"])
        except ConfigError as exc:
            raise ConfigError(f"[[schedule.jobs]] {exc}") from None
    if len(str(entry["cron"]).split()) != 5:
        raise ConfigError(f"[[schedule.jobs]] cron {entry['cron']!r}: expected 5 fields")
    try:
        job = ScheduleJob(**entry)
    except TypeError as exc:
        raise ConfigError(f"[[schedule.jobs]]: {exc}") from exc
    default_id = f"{job.source} {job.when}{' full' if job.full else ''}"
    return replace(job, id=job.id or default_id, full=bool(job.full), paused=bool(job.paused))


def schedule_job(entry: Any) -> ScheduleJob:
    """One `[[schedule.jobs]]` entry read as the scheduler reads it (the editor finds jobs by
    the id this gives)."""
    return _schedule_job(entry)


def read_schedules(raw: Mapping[str, Any], base: Path) -> ScheduleSettings:
    """`[schedule]` of a parsed configuration (`base`: the folder of the file)."""
    return _schedules(raw, base)


def _preread_job(entry: Any, base: Path) -> PrereadJob:
    """`out` is a folder, relative to the config file; `format` "pdf", "html" or a list; the
    times a cron or (like a refresh schedule) `every = "6h"`."""
    if (
        not isinstance(entry, Mapping)
        or "out" not in entry
        or (("cron" in entry) == ("every" in entry))
    ):
        raise ConfigError("each [[schedule.preread]] needs cron (or every, not both) and out")
    entry = dict(entry)
    every = str(entry.pop("every", "")).strip()
    try:
        cron = every_cron(every) if every else str(entry.pop("cron"))
    except ConfigError as exc:
        raise ConfigError(f"[[schedule.preread]] {exc}") from None
    if len(cron.split()) != 5:
        raise ConfigError(f"[[schedule.preread]] cron {cron!r}: expected 5 fields")
    formats = entry.pop("format", ["pdf"])
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    if not formats or set(formats) - {"pdf", "html"}:
        raise ConfigError(f"[[schedule.preread]] format {formats!r}: use pdf and/or html")
    out = Path(str(entry.pop("out")))
    try:
        return PrereadJob(
            cron=cron,
            out_dir=out if out.is_absolute() else base / out,
            recipients=tuple(str(r) for r in entry.pop("recipients", ())),
            period=str(entry.pop("period", "")),
            teams=tuple(str(t) for t in entry.pop("teams", ())),
            formats=formats,
            id=str(entry.pop("id", "")) or f"preread {f'every {every}' if every else cron}",
            every=every,
            paused=bool(entry.pop("paused", False)),
            **entry,
        )
    except TypeError as exc:
        raise ConfigError(f"[[schedule.preread]]: {exc}") from exc


def preread_job(entry: Any, base: Path) -> PrereadJob:
    """One `[[schedule.preread]]` entry read as the scheduler reads it (`base`: the folder of
    the file; the editor finds pre-reads by the id this gives)."""
    return _preread_job(entry, base)


def _preread(raw: Mapping[str, Any]) -> PrereadSettings:
    try:
        return PrereadSettings(**_section(raw, "preread"))
    except TypeError as exc:
        raise ConfigError(f"[preread]: {exc}") from exc


def _schedules(raw: Mapping[str, Any], base: Path) -> ScheduleSettings:
    section = _section(raw, "schedule")
    jobs = tuple(_schedule_job(e) for e in section.pop("jobs", []))
    prereads = tuple(_preread_job(e, base) for e in section.pop("preread", []))
    if (jobs or prereads) and "timezone" not in section:
        raise ConfigError('[schedule] timezone is required, e.g. timezone = "Europe/Berlin"')
    try:
        ZoneInfo(str(section.get("timezone", "UTC")))
        return ScheduleSettings(jobs=jobs, prereads=prereads, **section)
    except (TypeError, ValueError, ZoneInfoNotFoundError) as exc:
        raise ConfigError(f"[schedule]: {exc}") from exc


def _role(value: Any, where: str) -> str:
    if value not in ROLES:
        raise ConfigError(f"[access] {where}: role {value!r} is not one of {ROLES}")
    return str(value)


def _leads(value: Any, where: str) -> str:
    if value not in FUNCTIONS:
        raise ConfigError(f"[access] {where}: leads {value!r} is not one of {FUNCTIONS}")
    return str(value)


def _access(raw: Mapping[str, Any]) -> AccessSettings:
    """`[access.users]` entries are a role or a table {role, team, leads}; emails compare
    lower-cased; `leads` names the function whose leader the user is."""
    section = _section(raw, "access")
    entries = section.pop("users", {})
    users = {
        str(k).lower(): v if isinstance(v, Mapping) else {"role": v} for k, v in entries.items()
    }
    default = str(section.pop("default_role", ""))
    try:
        return AccessSettings(
            default_role=_role(default, "default_role") if default else "",
            claim_roles={str(k): _role(v, k) for k, v in section.pop("claim_roles", {}).items()},
            users={email: _role(u.get("role"), email) for email, u in users.items()},
            teams={email: str(u["team"]) for email, u in users.items() if u.get("team")},
            functions={e: _leads(u["leads"], e) for e, u in users.items() if u.get("leads")},
            **section,
        )
    except TypeError as exc:
        raise ConfigError(f"[access]: {exc}") from exc


def _alert_channel(entry: Any, number: int) -> AlertChannel:
    where = f"[[alerts.channels]] #{number}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a table")
    entry = dict(entry)
    if any(str(k).lower() in ("webhook", "webhook_url", "url") for k in entry):
        raise ConfigError(
            f"{where}: the webhook URL is a secret: put it in the environment / .env and name "
            'the variable here, e.g. webhook_env = "SCORECARD_SLACK_WEBHOOK"'
        )
    name = str(entry.pop("name", "") or f"channel {number}")
    email = entry.pop("email", ())
    email = (email,) if isinstance(email, str) else tuple(str(e) for e in email)
    webhook_env = str(entry.pop("webhook_env", ""))
    if bool(email) == bool(webhook_env):
        raise ConfigError(f'{where} ({name}): give either email = [...] or webhook_env = "..."')
    if webhook_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", webhook_env):
        raise ConfigError(
            f"{where} ({name}): webhook_env must name an environment variable, "
            "not hold the URL itself"
        )
    events = entry.pop("events", ALERT_EVENTS)
    events = (events,) if isinstance(events, str) else tuple(str(e) for e in events)
    unknown = sorted(set(events) - set(ALERT_EVENTS))
    if unknown:
        raise ConfigError(f"{where} ({name}): unknown events {unknown}; use {ALERT_EVENTS}")
    if entry:
        raise ConfigError(f"{where} ({name}): unknown keys {sorted(entry)}")
    return AlertChannel(name=name, events=events, email=email, webhook_env=webhook_env)


def _alerts(raw: Mapping[str, Any]) -> AlertSettings:
    section = _section(raw, "alerts")
    channels = tuple(_alert_channel(e, n) for n, e in enumerate(section.pop("channels", []), 1))
    try:
        alerts = AlertSettings(channels=channels, **section)
    except TypeError as exc:
        raise ConfigError(f"[alerts]: {exc}") from exc
    if not isinstance(alerts.stale_after_hours, int | float) or alerts.stale_after_hours <= 0:
        raise ConfigError(f"[alerts] stale_after_hours must be a positive number of hours, "
                          f"not {alerts.stale_after_hours!r}")  # fmt: skip
    if not isinstance(alerts.digest_deals, int) or alerts.digest_deals < 1:
        raise ConfigError(f"[alerts] digest_deals must be a whole number of deals (1 or more), "
                          f"not {alerts.digest_deals!r}")  # fmt: skip
    return replace(alerts, stale_after_hours=float(alerts.stale_after_hours))


def _engine(raw: Mapping[str, Any]) -> EngineSettings:
    section = _section(raw, "engine")
    try:
        engine = EngineSettings(**{k: str(v) for k, v in section.items()})
    except TypeError as exc:
        raise ConfigError(f"[engine]: {exc}") from exc
    if engine.name not in ENGINES:
        raise ConfigError(f"[engine] name {engine.name!r}: use one of {', '.join(ENGINES)}")
    return engine


ENGINES = ("polars", "duckdb", "spark", "warehouse")


def load_settings(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read `scorecard.toml` (or `path`) and the environment into `Settings`.

    ``SCORECARD_CONFIG`` names another config file; ``SCORECARD_DATA_DIR`` overrides
    ``[store].data_dir``. A missing config file gives the defaults.
    """
    if environ is None:
        load_dotenv(PROJECT_ROOT / ".env", override=False)
        environ = os.environ
    config_path = Path(path or environ.get("SCORECARD_CONFIG") or DEFAULT_CONFIG)
    raw: dict[str, Any] = {}
    version = ""
    if config_path.exists():
        data = config_path.read_bytes()
        version = hashlib.sha256(data).hexdigest()
        try:
            raw = tomllib.loads(data.decode("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path} is not valid TOML: {toml_error(exc)}") from exc
    store = _section(raw, "store")
    data_dir = Path(environ.get("SCORECARD_DATA_DIR") or store.get("data_dir", "data"))
    base = config_path.parent if config_path.exists() else Path.cwd()
    if not data_dir.is_absolute():
        data_dir = base / data_dir
    sources = _section(raw, "sources")
    demo = dict(sources.get("demo", {}))
    as_of = demo.pop("as_of", None)
    return Settings(
        data_dir=data_dir,
        config_path=config_path if config_path.exists() else None,
        config_version=version,
        default_source=str(sources.get("default", "demo")),
        keep_snapshots=int(store.get("keep_snapshots", 30)),
        max_age_days=store.get("max_age_days", 400),
        store_mode=_mode(store.get("mode")),
        demo=DemoSettings(
            as_of=date.fromisoformat(str(as_of)) if as_of else None,
            **{k: demo[k] for k in ("seed", "quarters", "scale") if k in demo},
        ),
        sources={k: v for k, v in sources.items() if isinstance(v, Mapping)},
        scoring=_scoring(raw),
        schedules=_schedules(raw, base),
        access=_access(raw),
        preread=_preread(raw),
        alerts=_alerts(raw),
        engine=_engine(raw),
    )
