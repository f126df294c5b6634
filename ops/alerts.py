"""Alerts: a failed or stale refresh, and the digest of what changed after a scheduled one.

Which channel gets which event is `[alerts]` in scorecard.toml (`AlertSettings`): e-mail
channels go through SMTP_* of the environment (ops/deliver.py), webhook channels post
``{"text": ...}`` to the URL in the environment variable they name (ops/webhook.py).

- **failed**: a scheduled refresh failed — its error, and that the previous snapshot is
  still current.
- **stale**: no successful refresh for `stale_after_hours` — checked on every scheduler tick,
  sent once until a refresh succeeds again.
- **digest**: after each successful scheduled refresh, the scorecard's overall and pillar
  scores against the previous snapshot (same view: the new data's date and quarter), the
  biggest deal changes, and counts and amounts by kind of change.

Sending never raises: each attempt (sent or failed, with the reason) is a row of the
``alerts`` table in the run log (``runs.sqlite``). No secret reaches a message, a log line or
that table: the text is scrubbed of secret-looking environment values, the SMTP password in
every encoding and every configured webhook URL.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import polars as pl

from model.tables import ALL_TEAMS, Tables
from ops.config import AlertChannel, Settings
from ops.deliver import DeliveryError, message, secret_forms, send, smtp_from_env
from ops.jobs import Clock, redact, utc_now
from ops.runlog import _DDL as RUNS_DDL
from ops.runlog import RUNS_DB, RunRecord, iso
from ops.sqlite_log import connect, read
from ops.webhook import WebhookError, post_text, scrub
from scoring.changes import snapshot_changes, snapshot_changes_summary
from scoring.model import money

if TYPE_CHECKING:
    from scoring.scorecard import Scorecard

log = logging.getLogger("ops.alerts")
Sleep = Callable[[float], None]

_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sent_at TEXT NOT NULL,
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    outcome TEXT NOT NULL,
    run_id INTEGER,
    subject TEXT NOT NULL,
    error TEXT
);
"""
ALERTS_SCHEMA = {
    "alert_id": pl.Int64,
    "sent_at": pl.String,
    "event": pl.String,
    "channel": pl.String,
    "outcome": pl.String,
    "run_id": pl.Int64,
    "subject": pl.String,
    "error": pl.String,
}


@dataclass(frozen=True)
class Alert:
    """One message: which event, a subject line and a plain-text body."""

    event: str
    subject: str
    body: str

    @property
    def text(self) -> str:
        """Subject and body in one text, for a chat channel."""
        return f"*{self.subject}*\n{self.body}"


# --------------------------------------------------------------------- the alerts log


def _record(
    data_dir: Path, alert: Alert, channel: str, outcome: str, now: datetime,
    run_id: int | None, error: str | None,
) -> None:  # fmt: skip
    # the runs table too: a stale alert may come before any refresh, and the run log's
    # readers expect it in every runs.sqlite
    with connect(Path(data_dir) / RUNS_DB, RUNS_DDL + _DDL) as conn:
        conn.execute(
            "INSERT INTO alerts (sent_at, event, channel, outcome, run_id, subject, error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (iso(now), alert.event, channel, outcome, run_id, alert.subject, error),
        )


def recent_alerts(data_dir: Path | str, limit: int = 50) -> pl.DataFrame:
    """The newest `limit` alert attempts, newest first (one row per alert × channel)."""
    path = Path(data_dir) / RUNS_DB
    rows: list[tuple[Any, ...]] = []
    if path.exists():
        with read(path) as conn:
            known = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alerts'"
            ).fetchone()
            if known:
                rows = conn.execute(
                    f"SELECT {', '.join(ALERTS_SCHEMA)} FROM alerts ORDER BY alert_id DESC LIMIT ?",
                    (limit,),
                ).fetchall()
    frame = pl.DataFrame(rows, schema=ALERTS_SCHEMA, orient="row")
    return frame.with_columns(pl.col("sent_at").str.to_datetime(time_unit="us", time_zone="UTC"))


# --------------------------------------------------------------------- sending


def _secrets(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    urls = [
        environ.get(c.webhook_env, "").strip() for c in settings.alerts.channels if c.webhook_env
    ]
    return [u for u in urls if u]


def clean(text: str, settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """`text` without secrets: secret-looking environment values, the SMTP password in every
    encoding, every configured webhook URL."""
    env = os.environ if environ is None else environ
    text = redact(text, env)
    for url in _secrets(settings, env):
        text = scrub(text, url)
    try:
        smtp = smtp_from_env(env)
    except DeliveryError:
        smtp = None
    for form in secret_forms(smtp) if smtp else ():
        text = text.replace(form, "***")
    return text


def _send_one(
    channel: AlertChannel, alert: Alert, env: Mapping[str, str], sleep: Sleep
) -> str | None:
    """Send `alert` on `channel`; None when sent, else why not."""
    if channel.webhook_env:
        url = env.get(channel.webhook_env, "").strip()
        if not url:
            return f"{channel.webhook_env} is not set in the environment (.env)"
        post_text(url, alert.text, name=channel.name, sleep=sleep)
        return None
    smtp = smtp_from_env(env)
    if smtp is None:
        return "SMTP_HOST is not set in the environment (.env), so no mail can be sent"
    send(smtp, message(smtp, channel.email, alert.subject, alert.body))
    return None


def dispatch(
    settings: Settings,
    alert: Alert,
    *,
    run_id: int | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = utc_now,
) -> dict[str, str | None]:
    """Send `alert` on every channel subscribed to its event; never raises.

    Returns channel name -> None (sent) or the reason it was not; each attempt is recorded
    in the run log's ``alerts`` table."""
    env = os.environ if environ is None else environ
    alert = Alert(
        alert.event, clean(alert.subject, settings, env), clean(alert.body, settings, env)
    )
    outcomes: dict[str, str | None] = {}
    for channel in settings.alerts.channels:
        if alert.event not in channel.events:
            continue
        try:
            problem = _send_one(channel, alert, env, sleep)
        except (WebhookError, DeliveryError) as exc:
            problem = str(exc)
        except Exception as exc:  # a channel's bug must not stop the scheduler or the others
            problem = f"{type(exc).__name__}: {exc}"
        problem = clean(problem, settings, env) if problem else None
        outcomes[channel.name] = problem
        if problem:
            log.warning("alert %r not sent on %s: %s", alert.subject, channel.name, problem)
        else:
            log.info("alert %r sent on %s", alert.subject, channel.name)
        try:
            _record(settings.data_dir, alert, channel.name, "failed" if problem else "sent",
                    clock(), run_id, problem)  # fmt: skip
        except Exception as exc:  # a full data folder: the log line above is all there is
            log.warning("alert attempt not recorded: %s", clean(str(exc), settings, env))
    return outcomes


# --------------------------------------------------------------------- composing


def _when(moment: datetime | None, timezone: str = "UTC") -> str:
    """ "2026-11-24 07:00 CET": `moment` in `timezone` (the reporting time zone)."""
    if moment is None:
        return "an unknown time"
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


_TRIGGER = {"schedule": "scheduled", "page": "page's", "cli": "command-line"}


def failed_alert(record: RunRecord, timezone: str = "UTC") -> Alert:
    """The alert for a refresh that failed (`record`, its run log row)."""
    job = f" (job {record.job})" if record.job else ""
    attempts = f" after {record.attempts} attempts" if record.attempts > 1 else ""
    body = "\n".join(
        [
            f"The {_TRIGGER.get(record.trigger, record.trigger)} refresh of {record.source}{job} "
            f"failed at "
            f"{_when(record.ended_at, timezone)}{attempts}.",
            f"Error: {record.error or 'no message recorded'}",
            "The previous snapshot is still current: the scorecard shows the data as it was.",
            "Details: the Data & refresh page, or `python -m ops runs`.",
        ]
    )
    return Alert("failed", f"Scorecard refresh failed: {record.source}", body)


def _hours(hours: float) -> str:
    shown = f"{hours:.0f}"
    return f"{shown} hour" if shown == "1" else f"{shown} hours"


def stale_alert(
    last_ok: datetime | None, source: str, now: datetime, hours: float, timezone: str = "UTC"
) -> Alert:
    """The alert for no successful refresh in `hours` (the last one at `last_ok`)."""
    age = (now - last_ok).total_seconds() / 3600 if last_ok else None
    since = _hours(age) if age is not None else "ever"
    body = "\n".join(
        [
            f"No refresh has succeeded for {since} (the limit is {_hours(hours)}).",
            f"The last successful refresh was of {source} at {_when(last_ok, timezone)}."
            if last_ok
            else "No successful refresh is recorded.",
            "Is the scheduler running (`python -m ops schedule`)? Did the last runs fail? "
            "See the Data & refresh page, or `python -m ops runs`.",
        ]
    )
    return Alert("stale", f"Scorecard data is stale: no successful refresh for {since}", body)


def _arrow(delta: float) -> str:
    return "▲" if delta > 0 else "▼" if delta < 0 else "→"


def score_line(label: str, now: float | None, before: float | None, reason: str = "") -> str:
    """ "Overall: 62.0 ▲ +3.5 (was 58.5)"; a score that is not measured says so (and why)."""
    if now is None:
        return f"{label}: not measured" + (f" ({reason})" if reason else "")
    if before is None:
        return f"{label}: {now:.1f} (no earlier score to compare)"
    delta = round(now - before, 1)
    if delta == 0:
        return f"{label}: {now:.1f} → unchanged"
    return f"{label}: {now:.1f} {_arrow(delta)} {delta:+.1f} (was {before:.1f})"


def _signed(amount: float) -> str:
    return ("+" if amount > 0 else "-" if amount < 0 else "") + money(abs(amount))


# what a kind of change says on a deal's line, and in the counts
_KIND_TEXT = {
    "new": "new",
    "won": "won",
    "lost": "lost",
    "reopened": "reopened",
    "amount_up": "amount up",
    "amount_down": "amount down",
    "close_pushed": "close date pushed",
    "close_pulled_in": "close date pulled in",
    "stage_forward": "stage forward",
    "stage_back": "stage back",
    "category_up": "forecast category up",
    "category_down": "forecast category down",
}
_CATEGORY = {"best_case": "best case", "most_likely": "most likely"}


def _deal_change(row: Mapping[str, Any]) -> str:
    """One change of a deal, in words: "amount up $100 → $150"."""
    kind = row["kind"]
    text = _KIND_TEXT[kind]
    if kind.startswith("amount_"):
        return f"{text} {money(row['amount_before'])} → {money(row['amount_after'])}"
    if kind.startswith("close_"):
        days = abs(row["days_moved"] or 0)
        return f"{text} {days} days to {row['close_date_after']}"
    if kind.startswith("stage_"):
        return f"{text} {row['stage_before']} → {row['stage_after']}"
    if kind.startswith("category_"):
        before, after = (
            _CATEGORY.get(c, c or "none")
            for c in (row["forecast_category_before"], row["forecast_category_after"])
        )
        return f"{text} {before} → {after}"
    return text


def biggest_deal_changes(earlier: Tables, later: Tables, limit: int) -> pl.DataFrame:
    """The `limit` deals whose changes moved the most money: for an amount change the change
    itself, for any other change (won, lost, new, pushed …) the deal's amount. One row per
    deal × kind of the chosen deals, biggest deal first. Columns as `snapshot_changes`, plus
    `weight` (the money behind the deal's biggest change)."""
    rows = snapshot_changes(earlier, later)
    moved = (
        pl.when(pl.col("kind").cast(pl.String).str.starts_with("amount_"))
        .then(pl.col("amount_delta").abs())
        .otherwise(pl.col("amount_after").fill_null(0.0))
    )
    weights = (
        rows.with_columns(moved=moved)
        .group_by("opp_id")
        .agg(weight=pl.col("moved").max(), deal=pl.col("name").first())
        .sort(["weight", "deal", "opp_id"], descending=[True, False, False], nulls_last=True)
        .head(limit)
        .with_row_index("rank")
    )
    return rows.join(weights.drop("deal"), on="opp_id").sort("rank", "kind")


def _deal_lines(deals: pl.DataFrame) -> list[str]:
    """ "• Acme renewal (East, $150): amount up $100 → $150; stage forward …" per deal."""
    lines = []
    for group in deals.partition_by("rank", maintain_order=True):
        first = group.row(0, named=True)
        name = first["name"] or "(a deal without a name)"
        team = first["team"] or "no team"
        changes = "; ".join(_deal_change(r) for r in group.iter_rows(named=True))
        lines.append(f"• {name} ({team}, {money(first['amount_after'])}): {changes}")
    return lines


def _count_lines(summary: pl.DataFrame) -> list[str]:
    """The All teams counts and amounts of each kind of change that happened."""
    company = summary.filter((pl.col("team") == ALL_TEAMS) & (pl.col("deals") > 0))
    lines = []
    for row in company.iter_rows(named=True):
        kind, deals = row["kind"], row["deals"]
        noun = "deal" if deals == 1 else "deals"
        if kind.startswith("amount_"):
            figure = f"{_signed(row['amount_delta'])} in total"
        else:
            figure = f"{money(row['amount'])} now"
        lines.append(f"• {_KIND_TEXT[kind]}: {deals} {noun}, {figure}")
    return lines


def compose_digest(
    card: Scorecard,
    previous_card: Scorecard | None,
    later: Tables,
    earlier: Tables | None,
    *,
    title: str,
    lead: str = "",
    deals: int = 5,
) -> Alert:
    """The digest of one refresh: scores with arrows against the previous snapshot's (same
    view), the `deals` biggest deal changes and the counts and amounts of each kind of change
    (all teams). Names, not IDs; money as $1.2M."""
    before = {p.id: p.score for p in previous_card.pillars} if previous_card else {}
    lines = [title, *([lead] if lead else []), ""]
    lines.append(score_line("Overall", card.overall,
                            previous_card.overall if previous_card else None,
                            card.coverage))  # fmt: skip
    for pillar in card.pillars:
        reason = next((s.reason for s in pillar.signals if not s.measured), "")
        old = before.get(pillar.id)
        lines.append("  " + score_line(pillar.name, pillar.score, old, reason))
    if earlier is None:
        lines += ["", "This is the first snapshot: there is no earlier one to compare deals with."]
        return Alert("digest", f"Scorecard digest: {title}", "\n".join(lines))
    biggest = biggest_deal_changes(earlier, later, deals)
    counts = _count_lines(snapshot_changes_summary(earlier, later))
    if biggest.is_empty():
        lines += ["", "No deal changed since the previous snapshot."]
    else:
        lines += ["", "Biggest deal changes:", *_deal_lines(biggest)]
        lines += ["", "All changes (all teams):", *counts]
    return Alert("digest", f"Scorecard digest: {title}", "\n".join(lines))


# --------------------------------------------------------------------- hooks


def _wants(settings: Settings, event: str) -> bool:
    return any(event in c.events for c in settings.alerts.channels)


def digest_for(settings: Settings, snapshot_id: str) -> Alert:
    """The digest of snapshot `snapshot_id` against the one before it, both judged for the
    new data's date and its quarter (as the pre-read and `python -m ops scorecard`)."""
    from reports.snapshot_tables import read_bundle  # heavy: only when a digest is due
    from scoring.scorecard import compute
    from snapshots.store import Store

    store = Store(settings.data_dir)
    snap = store.get(snapshot_id)
    params = settings.scoring
    as_of = snap.data_as_of
    period = params.calendar.quarter_of(as_of)
    later = read_bundle(snap)
    card = compute(later, as_of=as_of, period=period, params=params)
    previous = store.previous(snap)
    earlier = read_bundle(previous) if previous else None
    previous_card = compute(earlier, as_of=as_of, period=period, params=params) if earlier else None
    tz = params.timezone
    title = f"{snap.source} data as of {as_of:%Y-%m-%d}, {period.name}"
    compared = (
        f"compared with the snapshot of {_when(previous.created_at, tz)} (data as of "
        f"{previous.data_as_of:%Y-%m-%d}), both judged for {period.name} as of {as_of:%Y-%m-%d}"
        if previous
        else "the first snapshot"
    )
    lead = f"Refreshed {_when(snap.created_at, tz)}; {compared}."
    return compose_digest(
        card, previous_card, later, earlier, title=title, lead=lead,
        deals=settings.alerts.digest_deals,
    )  # fmt: skip


def after_refresh(
    settings: Settings,
    record: RunRecord,
    *,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = utc_now,
) -> dict[str, str | None]:
    """After a scheduled refresh: a failure -> the failed alert; success -> the digest.
    Never raises (a digest that cannot be composed is logged and recorded as such)."""
    if record.outcome == "failed" and _wants(settings, "failed"):
        alert = failed_alert(record, settings.scoring.timezone)
    elif record.ok and record.snapshot_id and _wants(settings, "digest"):
        try:
            alert = digest_for(settings, record.snapshot_id)
        except Exception as exc:
            problem = clean(f"{type(exc).__name__}: {exc}", settings, environ)
            log.exception("digest of %s could not be composed", record.snapshot_id)
            alert = Alert("digest", f"Scorecard digest: {record.source} refreshed",
                          f"The refresh succeeded, but its digest failed: {problem}")  # fmt: skip
    else:
        return {}
    return dispatch(settings, alert, run_id=record.run_id, environ=environ, sleep=sleep,
                    clock=clock)  # fmt: skip


def _last_stale_alert(data_dir: Path) -> datetime | None:
    alerts = recent_alerts(data_dir, limit=200).filter(pl.col("event") == "stale")
    return None if alerts.is_empty() else alerts["sent_at"][0]


def check_stale(
    settings: Settings,
    *,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = utc_now,
) -> dict[str, str | None] | None:
    """On each scheduler tick: when no refresh succeeded for `stale_after_hours`, send the
    stale alert — once, until a refresh succeeds again. Returns the outcomes when one was
    sent, else None. The age counts from the last successful refresh, or with none recorded
    from when the current snapshot was written (nothing to judge without either)."""
    if not _wants(settings, "stale"):
        return None
    now = now or clock()
    limit = timedelta(hours=settings.alerts.stale_after_hours)
    last_ok, source = _last_success(settings.data_dir)
    since = last_ok or _snapshot_time(settings.data_dir)
    if since is None or now - since < limit:
        return None
    sent = _last_stale_alert(settings.data_dir)
    if sent is not None and sent >= since:
        return None  # already told since the last success
    hours, tz = settings.alerts.stale_after_hours, settings.scoring.timezone
    alert = stale_alert(last_ok, source, now, hours, tz)
    return dispatch(settings, alert, environ=environ, sleep=sleep, clock=lambda: now)


def _last_success(data_dir: Path) -> tuple[datetime | None, str]:
    """When the last successful refresh ended, and its source (a pre-read is no refresh)."""
    from ops.schedule import PREREAD_SOURCE  # ops.schedule imports this module

    path = Path(data_dir) / RUNS_DB
    if not path.exists():
        return None, ""
    with read(path) as conn:
        try:
            row = conn.execute(
                "SELECT coalesce(ended_at, started_at), source FROM runs"
                " WHERE outcome = 'ok' AND source != ? ORDER BY run_id DESC LIMIT 1",
                (PREREAD_SOURCE,),
            ).fetchone()
        except sqlite3.OperationalError:  # only alerts recorded so far: no runs table yet
            row = None
    return (datetime.fromisoformat(row[0]), row[1]) if row else (None, "")


def _snapshot_time(data_dir: Path) -> datetime | None:
    from snapshots.store import Store, StoreError

    try:
        return Store(data_dir).current().created_at
    except (StoreError, OSError):
        return None


def describe_channels(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """The alert channels for the terminal: where each goes and which events it gets; of a
    webhook only whether its variable is set, never the URL."""
    env = os.environ if environ is None else environ
    channels = settings.alerts.channels
    if not channels:
        return ["Alerts: none configured ([alerts] in scorecard.toml)"]
    lines = [f"Alerts (stale after {_hours(settings.alerts.stale_after_hours)}):"]
    for c in channels:
        if c.webhook_env:
            state = "set" if env.get(c.webhook_env) else "NOT SET"
            where = f"webhook from {c.webhook_env} ({state})"
        else:
            where = f"e-mail to {', '.join(c.email)}"
        lines.append(f"  {c.name}: {where}; {', '.join(c.events)}")
    return lines
