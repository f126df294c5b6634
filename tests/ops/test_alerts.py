"""Alerts (ops/alerts.py, ops/webhook.py): a failed refresh, the digest, a stale store.

Messages arrive at a real SMTP server (aiosmtpd) and a real HTTP receiver on 127.0.0.1
(tests/ops/conftest.py). No secret — the SMTP password, a source password, the webhook URL
or its token — may appear in a message, a log line or the run log.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import RefreshError
from model.calendar import parse_period
from model.schema import TABLES
from model.tables import Tables
from ops.alerts import (
    Alert,
    after_refresh,
    check_stale,
    compose_digest,
    dispatch,
    failed_alert,
    recent_alerts,
    score_line,
    stale_alert,
)
from ops.config import (
    AlertChannel,
    AlertSettings,
    ConfigError,
    ScheduleJob,
    ScheduleSettings,
    Settings,
    load_settings,
)
from ops.runlog import finish_run, recent_runs, start_run
from ops.schedule import fire
from ops.sources import SOURCES, Pulled
from ops.webhook import WebhookError, post_text
from scoring.model import PillarScore, Scale, Signal, not_measured
from scoring.scorecard import Scorecard
from snapshots.store import Store
from tests.ops.conftest import HOOK_PATH, SMTP_PASSWORD, Receiver, free_port

MAIL = AlertChannel(name="ops mail", email=("ops@example.com",))
HOOK = AlertChannel(name="team chat", webhook_env="SCORECARD_SLACK_WEBHOOK")
SF_PASSWORD = "sf-Pa55-secret"
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _settings(
    tmp_path: Path, *channels: AlertChannel, jobs: tuple[ScheduleJob, ...] = (), **alerts
) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        schedules=ScheduleSettings(timezone="Europe/Berlin", jobs=jobs),
        alerts=AlertSettings(channels=channels, **alerts),
    )


def _body(mail: Message) -> str:
    return mail.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")


def _log_tables(data_dir: Path) -> str:
    """Everything the run log holds, as text: the runs and the alert attempts."""
    return str(recent_runs(data_dir).rows()) + str(recent_alerts(data_dir).rows())


def _assert_no_secrets(receiver: Receiver, *texts: str) -> None:
    for secret in (SMTP_PASSWORD, SF_PASSWORD, receiver.url, HOOK_PATH, "hooksecretTOKEN123"):
        for text in texts:
            assert secret not in text


# --------------------------------------------------------------------- a failed refresh


def test_failed_refresh_alerts_by_mail_and_webhook(
    tmp_path: Path, inbox, receiver: Receiver, monkeypatch, caplog
):
    monkeypatch.setenv("SCORECARD_SLACK_WEBHOOK", receiver.url)
    monkeypatch.setenv("SF_PASSWORD", SF_PASSWORD)

    def broken(settings, progress, **options):
        # a source that puts secrets in its error, as a careless API might
        raise RefreshError(f"login refused for password {SF_PASSWORD} (via {receiver.url})")

    monkeypatch.setitem(SOURCES, "broken", broken)
    job = ScheduleJob(source="broken", cron="0 6 * * *", id="nightly")
    settings = _settings(tmp_path, MAIL, HOOK, jobs=(job,))
    caplog.set_level(logging.DEBUG)

    record = fire(settings, job)  # what the scheduler runs

    assert record.outcome == "failed"
    (mail,) = inbox.mails
    assert mail["Subject"] == "Scorecard refresh failed: broken"
    assert mail["To"] == "ops@example.com"
    body = _body(mail)
    assert "The scheduled refresh of broken (job nightly) failed at 20" in body
    assert "Error: login refused for password *** (via ***)" in body
    assert "The previous snapshot is still current" in body
    (post,) = receiver.posts
    assert list(post) == ["text"]  # Slack's incoming-webhook shape
    assert post["text"] == f"*Scorecard refresh failed: broken*\n{body.rstrip()}"
    alerts = recent_alerts(settings.data_dir)
    assert alerts.select("channel", "event", "outcome", "run_id", "error").rows() == [
        ("team chat", "failed", "sent", record.run_id, None),
        ("ops mail", "failed", "sent", record.run_id, None),
    ]
    _assert_no_secrets(receiver, body, post["text"], caplog.text, _log_tables(settings.data_dir))


def test_a_bug_in_a_source_still_alerts(tmp_path: Path, receiver: Receiver, monkeypatch):
    monkeypatch.setenv("SCORECARD_SLACK_WEBHOOK", receiver.url)

    def buggy(settings, progress, **options):
        raise ValueError("bad mapping for Stage")

    monkeypatch.setitem(SOURCES, "buggy", buggy)
    job = ScheduleJob(source="buggy", cron="0 6 * * *", id="nightly")
    settings = _settings(tmp_path, HOOK, jobs=(job,))
    with pytest.raises(ValueError, match="bad mapping"):  # the scheduler logs the traceback
        fire(settings, job)
    (post,) = receiver.posts
    assert post["text"].startswith("*Scorecard refresh failed: buggy*")
    assert "Error: unexpected error, see the process log: ValueError: bad mapping" in post["text"]


def test_a_failing_channel_never_fails_the_refresh(
    tmp_path: Path, inbox, receiver: Receiver, monkeypatch, tiny_org, caplog
):
    monkeypatch.setenv("SCORECARD_SLACK_WEBHOOK", receiver.url)
    monkeypatch.setitem(
        SOURCES,
        "tiny",
        lambda s, p, **o: Pulled(frames=dict(tiny_org), data_as_of=date(2026, 3, 1)),
    )
    receiver.answers = [404]
    job = ScheduleJob(source="tiny", cron="0 6 * * *", id="nightly")
    settings = _settings(tmp_path, HOOK, MAIL, jobs=(job,))
    caplog.set_level(logging.DEBUG)

    record = fire(settings, job)

    assert record.ok and Store(settings.data_dir).current_id() == record.snapshot_id
    assert recent_runs(settings.data_dir)["outcome"].to_list() == ["ok"]
    alerts = recent_alerts(settings.data_dir)
    assert alerts.select("channel", "event", "outcome", "error").rows() == [
        ("ops mail", "digest", "sent", None),
        ("team chat", "digest", "failed", "webhook team chat answered 404 Not Found"),
    ]
    (mail,) = inbox.mails  # the other channel still got its digest
    assert mail["Subject"] == "Scorecard digest: tiny data as of 2026-03-01, 2026-Q1"
    assert "Overall:" in _body(mail) and "the first snapshot." in _body(mail)
    _assert_no_secrets(receiver, caplog.text, _log_tables(settings.data_dir))


def test_digest_after_each_scheduled_refresh(
    tmp_path: Path, inbox, receiver: Receiver, monkeypatch, tiny_org
):
    monkeypatch.setenv("SCORECARD_SLACK_WEBHOOK", receiver.url)
    frames = dict(tiny_org)
    monkeypatch.setitem(
        SOURCES, "tiny", lambda s, p, **o: Pulled(frames=dict(frames), data_as_of=date(2026, 3, 1))
    )
    job = ScheduleJob(source="tiny", cron="0 6 * * *", id="nightly")
    digest_only = AlertChannel(name="team chat", webhook_env="SCORECARD_SLACK_WEBHOOK",
                               events=("digest",))  # fmt: skip
    settings = _settings(tmp_path, digest_only, jobs=(job,))

    fire(settings, job)
    # Beta (EMEA, open in Discovery) grows from 500 to 800 before the second refresh
    opps = frames["opportunities"]
    frames["opportunities"] = opps.with_columns(
        amount=pl.when(pl.col("name") == "Beta").then(800.0).otherwise(pl.col("amount"))
    )
    fire(settings, job)

    first, second = (p["text"] for p in receiver.posts)
    assert first.startswith("*Scorecard digest: tiny data as of 2026-03-01, 2026-Q1*\n")
    assert "; the first snapshot.\n" in first
    assert "compared with the snapshot of 20" in second
    assert "(data as of 2026-03-01), both judged for 2026-Q1 as of 2026-03-01." in second
    assert "Overall:" in first and "Shared outcomes:" in first
    assert "there is no earlier one to compare deals with" in first
    assert "Biggest deal changes:\n• Beta (EMEA, $800): amount up $500 → $800\n" in second
    assert "All changes (all teams):\n• amount up: 1 deal, +$300 in total" in second
    assert "O2" not in second  # names, not IDs
    assert inbox.mails == []  # the mail channel is not configured here


# --------------------------------------------------------------------- the digest


def _tables(opps: list[tuple]) -> Tables:
    """A snapshot holding `opps`: (id, name, owner, stage, amount, close date)."""
    stages = [("Qualification", 1, False, False), ("Discovery", 2, False, False),
              ("Proposal", 3, False, False), ("Negotiation", 4, False, False),
              ("Closed Won", 5, True, True), ("Closed Lost", 6, True, False)]  # fmt: skip
    closed = {s: (c, w) for s, _, c, w in stages}
    category = {
        "Qualification": "pipeline", "Discovery": "pipeline", "Proposal": "best_case",
        "Negotiation": "commit", "Closed Won": "closed", "Closed Lost": "omitted",
    }  # fmt: skip
    frames = {
        "users": pl.DataFrame(
            [
                {"user_id": "u1", "name": "Ana", "team": "East", "function": "sales"},
                {"user_id": "u2", "name": "Bo", "team": "West", "function": "sales"},
            ],
            schema=TABLES["users"].polars_schema,
        ),
        "stages": pl.DataFrame(
            [
                {"stage": s, "position": p, "owner_function": "sales", "is_closed": c, "is_won": w}
                for s, p, c, w in stages
            ],
            schema=TABLES["stages"].polars_schema,
        ),
        "opportunities": pl.DataFrame(
            [
                {
                    "opp_id": i,
                    "name": n,
                    "owner_id": o,
                    "stage": s,
                    "amount": a,
                    "close_date": d,
                    "created_at": datetime(2026, 7, 1, tzinfo=UTC),
                    "is_closed": closed[s][0],
                    "is_won": closed[s][1],
                    "forecast_category": category[s],
                }
                for i, n, o, s, a, d in opps
            ],
            schema=TABLES["opportunities"].polars_schema,
        ),
    }
    return Tables.from_frames(frames)


SEP30, AUG31, AUG14 = date(2026, 9, 30), date(2026, 8, 31), date(2026, 8, 14)
EARLIER_ROWS = [
    ("A", "Acme renewal", "u1", "Discovery", 100.0, SEP30),
    ("B", "Bolt expansion", "u1", "Negotiation", 200.0, AUG31),
    ("C", "Cobalt pilot", "u2", "Proposal", 50.0, SEP30),
]  # fmt: skip
LATER_ROWS = [
    ("A", "Acme renewal", "u1", "Proposal", 150.0, SEP30),      # +50, forward, pipeline → best case
    ("B", "Bolt expansion", "u1", "Negotiation", 200.0, SEP30),  # pushed 30 days
    ("C", "Cobalt pilot", "u2", "Closed Won", 50.0, AUG14),     # won
    ("D", "Delta new logo", "u2", "Qualification", 80.0, SEP30),  # new
]  # fmt: skip
EARLIER, LATER = _tables(EARLIER_ROWS), _tables(LATER_ROWS)


def _card(pillars: list[tuple[str, float | None, str]]) -> Scorecard:
    """A scorecard of pillars with one signal each on a 0 → 100 scale (value = score), or
    not measured with a reason; the overall score is their mean."""
    q3 = parse_period("2026-Q3")

    def pillar(pillar_id: str, score: float | None, reason: str) -> PillarScore:
        signal = Signal("s", pillar_id, "S", "d", score, "score", Scale(0.0, 100.0))
        return PillarScore(pillar_id, (not_measured(signal, reason) if reason else signal,), ())

    pillars_ = tuple(pillar(*p) for p in pillars)
    return Scorecard(SEP30, q3, q3, (), pillars_, pl.DataFrame({"team": ["All teams"]}))


BEFORE = _card(
    [
        ("shared_outcomes", 72.0, ""),
        ("forecast_integrity", 50.0, ""),
        ("handoff_ownership", 40.0, ""),
    ]
)  # fmt: skip  overall (72 + 50 + 40) / 3 = 54.0
AFTER = _card(
    [
        ("shared_outcomes", 70.0, ""),
        ("forecast_integrity", None, "no forecast submissions"),
        ("handoff_ownership", 40.0, ""),
    ]
)  # fmt: skip  overall (70 + 40) / 2 = 55.0


def test_digest_of_a_hand_made_pair_of_snapshots():
    # The money each deal moved: B pushed, $200 at stake; A's biggest change is its stage
    # and category moves on $150 (its amount change is +$50); D new, $80; C won, $50.
    # With 3 deals: B, A, D; C is left out of the list but counted below.
    alert = compose_digest(AFTER, BEFORE, LATER, EARLIER, title="demo refreshed", deals=3)
    assert alert.event == "digest" and alert.subject == "Scorecard digest: demo refreshed"
    assert alert.body == "\n".join([
        "demo refreshed",
        "",
        "Overall: 55.0 ▲ +1.0 (was 54.0)",                        # 55.0 - 54.0
        "  Shared outcomes: 70.0 ▼ -2.0 (was 72.0)",              # 70.0 - 72.0
        "  Forecast integrity: not measured (no forecast submissions)",
        "  Handoff ownership: 40.0 → unchanged",
        "",
        "Biggest deal changes:",
        "• Bolt expansion (East, $200): close date pushed 30 days to 2026-09-30",  # 08-31 → 09-30
        "• Acme renewal (East, $150): amount up $100 → $150; stage forward Discovery → "
        "Proposal; forecast category up pipeline → best case",
        "• Delta new logo (West, $80): new",
        "",
        "All changes (all teams):",
        "• new: 1 deal, $80 now",
        "• won: 1 deal, $50 now",
        "• amount up: 1 deal, +$50 in total",                     # 150 - 100
        "• close date pushed: 1 deal, $200 now",
        "• stage forward: 1 deal, $150 now",
        "• forecast category up: 1 deal, $150 now",
    ])  # fmt: skip


def test_digest_without_changes_or_an_earlier_snapshot():
    same = compose_digest(BEFORE, BEFORE, EARLIER, EARLIER, title="t")
    assert same.body.endswith("Handoff ownership: 40.0 → unchanged\n\nNo deal changed since "
                              "the previous snapshot.")  # fmt: skip
    first = compose_digest(AFTER, None, LATER, None, title="t")
    assert "Overall: 55.0 (no earlier score to compare)" in first.body
    assert first.body.endswith("there is no earlier one to compare deals with.")


@settings(max_examples=15, deadline=None)
@given(st.permutations(range(len(EARLIER_ROWS))), st.permutations(range(len(LATER_ROWS))))
def test_digest_does_not_depend_on_row_order(earlier_order, later_order):
    expected = compose_digest(AFTER, BEFORE, LATER, EARLIER, title="t", deals=2)
    earlier = _tables([EARLIER_ROWS[i] for i in earlier_order])
    later = _tables([LATER_ROWS[i] for i in later_order])
    assert compose_digest(AFTER, BEFORE, later, earlier, title="t", deals=2) == expected


@pytest.mark.parametrize(
    ("now", "before", "line"),
    [
        (80.0, 75.25, "Score: 80.0 ▲ +4.8 (was 75.2)"),  # 80 - 75.25 = 4.75 → +4.8
        (70.0, 70.04, "Score: 70.0 → unchanged"),  # -0.04 rounds to 0.0
        (None, 70.0, "Score: not measured (why)"),
    ],
)
def test_score_line(now, before, line):
    assert score_line("Score", now, before, "why") == line


# --------------------------------------------------------------------- stale


def _ok_run(data_dir: Path, at: datetime) -> None:
    run = start_run(data_dir, source="demo", trigger="schedule", now=at - timedelta(minutes=2))
    finish_run(data_dir, run, outcome="ok", now=at, snapshot_id="s")


def test_stale_after_n_hours_with_an_injected_clock(
    tmp_path: Path, receiver: Receiver, monkeypatch
):
    monkeypatch.setenv("SCORECARD_SLACK_WEBHOOK", receiver.url)
    stale_only = AlertChannel(name="team chat", webhook_env="SCORECARD_SLACK_WEBHOOK",
                              events=("stale",))  # fmt: skip
    settings = _settings(tmp_path, stale_only, stale_after_hours=6)
    data = settings.data_dir
    assert check_stale(settings, now=T0) is None  # nothing ever refreshed: nothing to judge
    _ok_run(data, T0)
    # neither a failed run nor a pre-read (recorded as source "preread") resets the clock
    failed = start_run(data, source="demo", trigger="schedule", now=T0 + timedelta(hours=3))
    finish_run(data, failed, outcome="failed", now=T0 + timedelta(hours=3), error="boom")
    pre = start_run(data, source="preread", trigger="schedule", now=T0 + timedelta(hours=4))
    finish_run(data, pre, outcome="ok", now=T0 + timedelta(hours=4))

    assert check_stale(settings, now=T0 + timedelta(hours=5, minutes=59)) is None
    assert check_stale(settings, now=T0 + timedelta(hours=7)) == {"team chat": None}
    assert check_stale(settings, now=T0 + timedelta(hours=8)) is None  # told once
    (post,) = receiver.posts
    assert post["text"].startswith("*Scorecard data is stale: no successful refresh for 7 hours*")
    assert "the limit is 6 hours" in post["text"]
    assert "last successful refresh was of demo at 2026-11-23 06:00 UTC" in post["text"]
    assert "python -m ops schedule" in post["text"]

    _ok_run(data, T0 + timedelta(hours=9))  # fresh again ...
    assert check_stale(settings, now=T0 + timedelta(hours=14)) is None
    assert check_stale(settings, now=T0 + timedelta(hours=15, minutes=30)) == {"team chat": None}
    assert len(receiver.posts) == 2  # ... and stale again: a new alert
    assert "for 6 hours" in receiver.posts[1]["text"]  # 15:30 - 09:00 = 6.5 h, shown as 6


def test_channels_get_only_their_events(tmp_path: Path, inbox, receiver: Receiver, monkeypatch):
    monkeypatch.setenv("SCORECARD_SLACK_WEBHOOK", receiver.url)
    hook = AlertChannel(name="team chat", webhook_env="SCORECARD_SLACK_WEBHOOK",
                        events=("failed",))  # fmt: skip
    settings = _settings(tmp_path, MAIL, hook)
    outcomes = dispatch(settings, Alert("stale", "s", "b"))
    assert outcomes == {"ops mail": None} and receiver.posts == [] and len(inbox.mails) == 1


def test_unset_webhook_variable_is_recorded(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SCORECARD_SLACK_WEBHOOK", raising=False)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    settings = _settings(tmp_path, HOOK, MAIL)
    outcomes = dispatch(settings, Alert("failed", "s", "b"))
    assert outcomes == {
        "team chat": "SCORECARD_SLACK_WEBHOOK is not set in the environment (.env)",
        "ops mail": "SMTP_HOST is not set in the environment (.env), so no mail can be sent",
    }
    assert recent_alerts(settings.data_dir)["outcome"].to_list() == ["failed", "failed"]
    # the run log then holds alerts but no refresh yet: it reads as such
    assert check_stale(settings, now=T0) is None
    assert recent_runs(settings.data_dir).is_empty()


def test_skipped_refresh_sends_nothing(tmp_path: Path, receiver: Receiver, monkeypatch):
    from ops.runlog import get_run

    monkeypatch.setenv("SCORECARD_SLACK_WEBHOOK", receiver.url)
    settings = _settings(tmp_path, HOOK)
    run = start_run(settings.data_dir, source="demo", trigger="schedule", now=T0)
    record = finish_run(settings.data_dir, run, outcome="skipped-locked", now=T0)
    assert after_refresh(settings, get_run(settings.data_dir, record.run_id)) == {}
    assert receiver.posts == []


# --------------------------------------------------------------------- the webhook sender


def test_webhook_500_then_200_is_retried(receiver: Receiver):
    receiver.answers = [500, 503]
    waits: list[float] = []
    attempts = post_text(receiver.url, "hello", name="team chat", sleep=waits.append)
    assert attempts == 3 and waits == [2.0, 4.0]  # backoff 2 s, doubled
    assert receiver.posts == [{"text": "hello"}] * 3


def test_webhook_429_waits_as_told(receiver: Receiver):
    receiver.answers = [429]
    receiver.headers = {"Retry-After": "7"}
    waits: list[float] = []
    assert post_text(receiver.url, "hi", name="team chat", sleep=waits.append) == 2
    assert waits == [7.0]


def test_webhook_gives_up_after_the_retries(receiver: Receiver):
    receiver.answers = [502] * 5
    waits: list[float] = []
    with pytest.raises(WebhookError, match=r"^webhook team chat answered 502 Bad Gateway after 3 "):
        post_text(receiver.url, "x", name="team chat", retries=2, sleep=waits.append)
    assert waits == [2.0, 4.0] and len(receiver.posts) == 3


def test_webhook_404_is_a_clear_error_without_the_url(receiver: Receiver, caplog):
    caplog.set_level(logging.DEBUG)  # httpx logs each request with its URL at INFO
    receiver.answers = [404]
    with pytest.raises(WebhookError) as raised:
        post_text(receiver.url, "x", name="team chat", sleep=lambda s: None)
    assert str(raised.value) == "webhook team chat answered 404 Not Found"
    assert len(receiver.posts) == 1  # not retried: a wrong URL stays wrong
    assert "HTTP Request: POST" in caplog.text  # the request was logged ...
    assert HOOK_PATH not in caplog.text and "hooksecretTOKEN123" not in caplog.text  # ... scrubbed


def test_unreachable_webhook_error_without_the_url(caplog):
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}{HOOK_PATH}"  # nothing listens there
    waits: list[float] = []
    with pytest.raises(WebhookError, match=r"^webhook team chat could not be reached") as raised:
        post_text(url, "x", name="team chat", retries=1, sleep=waits.append)
    assert waits == [2.0]
    assert HOOK_PATH not in str(raised.value) and HOOK_PATH not in caplog.text


# --------------------------------------------------------------------- configuration


def test_alerts_section_is_read_into_settings(tmp_path: Path):
    config = tmp_path / "scorecard.toml"
    config.write_text(
        """
[alerts]
stale_after_hours = 30
digest_deals = 3

[[alerts.channels]]
name = "revops mail"
email = ["revops@example.com", "cro@example.com"]
events = ["failed", "digest"]

[[alerts.channels]]
name = "team chat"
webhook_env = "SCORECARD_SLACK_WEBHOOK"
""",
        encoding="utf-8",
    )
    alerts = load_settings(config, environ={}).alerts
    assert alerts.stale_after_hours == 30.0 and alerts.digest_deals == 3
    mail, chat = alerts.channels
    assert (mail.kind, mail.email, mail.events) == (
        "email", ("revops@example.com", "cro@example.com"), ("failed", "digest"),
    )  # fmt: skip
    assert (chat.kind, chat.webhook_env, chat.events) == (
        "webhook", "SCORECARD_SLACK_WEBHOOK", ("failed", "stale", "digest"),
    )  # fmt: skip
    assert load_settings(tmp_path / "none.toml", environ={}).alerts == AlertSettings()


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ('webhook = "https://hooks.slack.com/services/T/B/x"', "the webhook URL is a secret"),
        ('webhook_env = "https://hooks.slack.com/services/T/B/x"', "not hold the URL itself"),
        ('email = ["a@example.com"]\nevents = ["broken"]', "unknown events ['broken']"),
        ('email = ["a@example.com"]\nwebhook_env = "HOOK"', "either email"),
        ('name = "x"', "either email"),
    ],
)
def test_alerts_config_mistakes(tmp_path: Path, channel: str, message: str):
    config = tmp_path / "scorecard.toml"
    config.write_text(f"[[alerts.channels]]\n{channel}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        load_settings(config, environ={})
    assert "hooks.slack.com" not in str(raised.value)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("stale_after_hours = 0", "stale_after_hours must be a positive number of hours"),
        ('stale_after_hours = "a day"', "stale_after_hours must be a positive number of hours"),
        ("digest_deals = 0", "digest_deals must be a whole number of deals"),
        ("digest = true", "unexpected keyword argument 'digest'"),
    ],
)
def test_alerts_settings_mistakes(tmp_path: Path, setting: str, message: str):
    config = tmp_path / "scorecard.toml"
    config.write_text(f"[alerts]\n{setting}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(config, environ={})


def test_schedule_list_names_the_channels_never_the_url(tmp_path: Path, receiver: Receiver):
    from ops.alerts import describe_channels

    chat = AlertChannel(name="team chat", webhook_env="HOOK", events=("failed", "stale"))
    settings = _settings(tmp_path, MAIL, chat, stale_after_hours=50)
    assert describe_channels(settings, {"HOOK": receiver.url}) == [
        "Alerts (stale after 50 hours):",
        "  ops mail: e-mail to ops@example.com; failed, stale, digest",
        "  team chat: webhook from HOOK (set); failed, stale",
    ]
    assert (
        describe_channels(settings, {})[2]
        == "  team chat: webhook from HOOK (NOT SET); failed, stale"
    )
    assert describe_channels(_settings(tmp_path)) == [
        "Alerts: none configured ([alerts] in scorecard.toml)"
    ]


def test_alert_times_in_the_reporting_time_zone(tmp_path: Path):
    run = start_run(tmp_path, source="demo", trigger="schedule", now=T0)
    record = finish_run(tmp_path, run, outcome="failed", now=T0, error="boom")
    # 06:00 UTC on 2026-11-23 is 07:00 in Berlin (CET, UTC+1)
    assert "failed at 2026-11-23 07:00 CET." in failed_alert(record, "Europe/Berlin").body
    stale = stale_alert(T0, "demo", T0 + timedelta(hours=30), 26, "Europe/Berlin")
    assert "was of demo at 2026-11-23 07:00 CET." in stale.body
    assert "for 30 hours (the limit is 26 hours)" in stale.body
