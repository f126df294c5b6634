"""SMTP delivery against a local aiosmtpd server, and the scheduled pre-read.

The server listens on 127.0.0.1 without TLS (SMTP_STARTTLS=0) and accepts one login,
"scorecard" / PASSWORD; a wrong password is refused, and the error must not show it.
"""

from __future__ import annotations

import base64
import logging
import smtplib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from apscheduler.schedulers.background import BackgroundScheduler

from connectors.validate import validate_tables
from ops.config import PrereadJob, ScheduleSettings, Settings, load_settings
from ops.deliver import (
    Attachment,
    DeliveryError,
    SmtpSettings,
    message,
    send,
    smtp_from_env,
)
from ops.runlog import get_run, recent_runs
from ops.schedule import build_scheduler, fire_preread, fire_times
from snapshots.store import Store
from tests.ops.conftest import SMTP_PASSWORD, Inbox, _authenticate, free_port

PASSWORD = SMTP_PASSWORD
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box, port = Inbox(), free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield box, port
    controller.stop()


def _smtp(port: int, password: str = PASSWORD) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", port, "scorecard@example.com", "scorecard", password, False)


def _env(monkeypatch: pytest.MonkeyPatch, port: int, password: str = PASSWORD) -> None:
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_USER": "scorecard",
        "SMTP_PASSWORD": password,
        "SMTP_FROM": "scorecard@example.com",
        "SMTP_STARTTLS": "0",
    }.items():
        monkeypatch.setenv(name, value)


def test_a_pdf_is_delivered_as_an_attachment(inbox):
    box, port = inbox
    pdf = b"%PDF-1.4 a tiny test document"
    mail = message(
        _smtp(port), ["cro@example.com"], "Pre-read", "Hello", [Attachment("p.pdf", pdf)]
    )
    send(_smtp(port), mail)
    (received,) = box.mails
    assert received["To"] == "cro@example.com" and received["Subject"] == "Pre-read"
    (part,) = [p for p in received.walk() if p.get_filename()]
    assert part.get_filename() == "p.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_payload(decode=True) == pdf


def test_a_refused_login_names_the_server_not_the_password(inbox, caplog):
    box, port = inbox
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + PASSWORD
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1") as failure:
        send(_smtp(port, wrong), message(_smtp(port, wrong), ["a@example.com"], "x", "y"))
    assert wrong not in str(failure.value) and PASSWORD not in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert wrong not in caplog.text and not box.mails


def test_settings_from_the_environment():
    env = {"SMTP_HOST": "mail.example.com", "SMTP_USER": "u@example.com", "SMTP_PASSWORD": "pw12"}
    smtp = smtp_from_env(env)
    assert (smtp.port, smtp.sender, smtp.starttls) == (587, "u@example.com", True)
    assert "pw12" not in repr(smtp)
    assert smtp_from_env({}) is None  # no SMTP_HOST: delivery is off
    assert smtp_from_env({**env, "SMTP_STARTTLS": "0"}).port == 25
    with pytest.raises(DeliveryError, match="SMTP_PORT"):
        smtp_from_env({**env, "SMTP_PORT": "smtp"})


def test_preread_schedule_is_parsed(tmp_path: Path):
    config = tmp_path / "scorecard.toml"
    config.write_text(
        '[preread]\napp_url = "https://scorecard.example.com"\n'
        '[schedule]\ntimezone = "Europe/Berlin"\n'
        '[[schedule.preread]]\ncron = "0 7 * * mon"\nout = "prereads"\n'
        'recipients = ["cro@example.com"]\nteams = ["EMEA"]\nformat = ["pdf", "html"]\n',
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    (job,) = settings.schedules.prereads
    assert job == PrereadJob(
        cron="0 7 * * mon",
        out_dir=tmp_path / "prereads",
        recipients=("cro@example.com",),
        teams=("EMEA",),
        formats=("pdf", "html"),
        id="preread 0 7 * * mon",
    )
    assert settings.preread.app_url == "https://scorecard.example.com"


def test_scheduled_preread_fires_at_its_time_is_logged_and_mailed(
    tmp_path: Path, tiny_org, inbox, monkeypatch, caplog
):
    box, port = inbox
    _env(monkeypatch, port)
    caplog.set_level(logging.DEBUG)
    data_dir = tmp_path / "data"
    Store(data_dir).write(validate_tables(tiny_org).frames, source="test", data_as_of=_day())
    job = PrereadJob(
        cron="0 7 * * mon", out_dir=tmp_path / "out", recipients=("cro@example.com",), id="monday"
    )
    settings = Settings(
        data_dir=data_dir, schedules=ScheduleSettings(timezone="Europe/Berlin", prereads=(job,))
    )
    sunday = datetime(2026, 3, 1, 12, tzinfo=BERLIN)
    # The clock: Sunday noon; the next firing is Monday 07:00 Berlin time.
    (at,) = fire_times(job, "Europe/Berlin", sunday, 1)
    assert at == datetime(2026, 3, 2, 7, tzinfo=BERLIN)
    scheduled = build_scheduler(settings, scheduler_class=BackgroundScheduler, now=sunday)
    held = scheduled.get_job("monday")
    assert held.func is fire_preread and held.trigger.get_next_fire_time(None, sunday) == at

    record = held.func(*held.args, clock=lambda: at)  # what the scheduler runs at that time

    assert (record.outcome, record.trigger, record.job, record.source) == (
        "ok", "schedule", "monday", "preread",
    )  # fmt: skip
    assert record.started_at == at and get_run(data_dir, record.run_id) == record
    assert recent_runs(data_dir)["source"].to_list() == ["preread"]
    (written,) = (tmp_path / "out").iterdir()
    assert written.name == "preread_2026-Q1_2026-03-01_all-teams.pdf"
    (mail,) = box.mails
    (part,) = [p for p in mail.walk() if p.get_filename()]
    assert part.get_filename() == written.name
    assert part.get_payload(decode=True) == written.read_bytes()
    assert PASSWORD not in caplog.text


def test_a_failed_delivery_is_recorded_without_the_password(
    tmp_path: Path, tiny_org, inbox, monkeypatch, caplog
):
    _, port = inbox
    wrong = "not-" + PASSWORD
    _env(monkeypatch, port, password=wrong)
    caplog.set_level(logging.DEBUG)
    data_dir = tmp_path / "data"
    Store(data_dir).write(validate_tables(tiny_org).frames, source="test", data_as_of=_day())
    job = PrereadJob(cron="0 7 * * mon", out_dir=tmp_path / "out", recipients=("a@x.com",))
    settings = Settings(data_dir=data_dir)
    at = datetime(2026, 3, 2, 7, tzinfo=BERLIN)
    record = fire_preread(settings, job, clock=lambda: at)
    assert record.outcome == "failed" and "DeliveryError" in record.error
    assert wrong not in record.error and wrong not in caplog.text


def _day():
    from datetime import date

    return date(2026, 3, 1)


# -- a server that echoes the AUTH line in its refusal -------------------------------------
# A password whose URL encoding differs from it ("/", " ", "+", "!"), as a relay's error page
# or a proxy might show it.
ECHOED = "s3cret/Pa55 w+rd!"


def _echo_refusal(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """Refuse every login, quoting what the client sent: for PLAIN the base64 of
    "\\0user\\0password" (the AUTH PLAIN line), for LOGIN base64(user) and base64(password),
    and the password URL-encoded."""
    login, password = auth_data.login, auth_data.password
    if mechanism == "PLAIN":
        sent = "AUTH PLAIN " + base64.b64encode(b"\0" + login + b"\0" + password).decode()
    else:
        sent = (
            f"AUTH LOGIN {base64.b64encode(login).decode()} {base64.b64encode(password).decode()}"
        )
    url = quote_plus(password.decode())
    return AuthResult(
        success=False, handled=False, message=f"535 5.7.8 refused: {sent} (url: {url})"
    )


@pytest.fixture(params=["PLAIN", "LOGIN"])
def echoing_server(request) -> Iterator[tuple[int, str]]:
    """A real SMTP server on 127.0.0.1 offering one mechanism and echoing its AUTH line."""
    mechanism, port = request.param, free_port()
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    controller = Controller(
        Inbox(),
        hostname="127.0.0.1",
        port=port,
        authenticator=_echo_refusal,
        auth_require_tls=False,
        auth_exclude_mechanism=[other],
    )
    controller.start()
    yield port, mechanism
    controller.stop()


def _encodings(user: str, password: str) -> dict[str, str]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "raw": password,
        "AUTH PLAIN": b64(f"\0{user}\0{password}"),
        "AUTH LOGIN password": b64(password),
        "AUTH LOGIN user": b64(user),
        "URL-encoded": quote_plus(password),
        "URL-encoded (quote)": quote(password, safe=""),
    }


def test_echoed_credentials_are_scrubbed_in_every_encoding(
    tmp_path: Path, tiny_org, echoing_server, monkeypatch, caplog
):
    port, mechanism = echoing_server
    _env(monkeypatch, port, password=ECHOED)
    caplog.set_level(logging.DEBUG)
    # first, the server really echoes them: the unscrubbed reply holds the encodings
    with (
        smtplib.SMTP("127.0.0.1", port, timeout=30) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as raw,
    ):
        client.login("scorecard", ECHOED)
    shown = _encodings("scorecard", ECHOED)
    key = "AUTH PLAIN" if mechanism == "PLAIN" else "AUTH LOGIN password"
    assert shown[key].encode() in raw.value.smtp_error
    assert quote_plus(ECHOED).encode() in raw.value.smtp_error
    caplog.clear()
    # the error of send()
    with pytest.raises(DeliveryError) as failure:
        send(_smtp(port, ECHOED), message(_smtp(port, ECHOED), ["a@example.com"], "x", "y"))
    assert "535" in str(failure.value) and "refused: AUTH " + mechanism in str(failure.value)
    # the scheduled pre-read's log and its run log
    data_dir = tmp_path / "data"
    Store(data_dir).write(validate_tables(tiny_org).frames, source="test", data_as_of=_day())
    job = PrereadJob(cron="0 7 * * mon", out_dir=tmp_path / "out", recipients=("a@x.com",))
    record = fire_preread(
        Settings(data_dir=data_dir), job, clock=lambda: datetime(2026, 3, 2, 7, tzinfo=BERLIN)
    )
    assert record.outcome == "failed" and "refused: AUTH " + mechanism in record.error
    logged = recent_runs(data_dir)["error"][0]
    # our log (the test server's own debug log shows what it received, as servers do)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ops"))
    assert "refused: AUTH " + mechanism in ours
    for name, form in shown.items():
        assert form not in str(failure.value), name
        assert form not in record.error and form not in logged, name
        assert form not in ours, name
