"""Mail delivery (SMTP) of files such as the scheduled pre-read.

Settings come from the environment / `.env` only, never from `scorecard.toml`:
SMTP_HOST (delivery is off without it), SMTP_PORT (default 587 with STARTTLS, else 25),
SMTP_USER and SMTP_PASSWORD (no login when SMTP_USER is empty), SMTP_FROM (default SMTP_USER),
SMTP_STARTTLS (1/0, default 1: upgrade the connection to TLS before logging in).
The password is never logged and never part of an error message, in any form a server may
echo it in: as typed, inside the base64 of an AUTH PLAIN or AUTH LOGIN line, or URL-encoded.
"""

from __future__ import annotations

import base64
import logging
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import quote, quote_plus

log = logging.getLogger("ops.deliver")
_FALSE = ("0", "false", "no", "off")


class DeliveryError(RuntimeError):
    """A message could not be sent (the text names the server, never the password)."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and as whom to send; `password` is left out of repr()."""

    host: str
    port: int
    sender: str
    user: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = True
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime: str = "application/pdf"


def smtp_from_env(environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
    """The SMTP settings from the environment, or None when SMTP_HOST is not set."""
    env = os.environ if environ is None else environ
    host = env.get("SMTP_HOST", "").strip()
    if not host:
        return None
    starttls = env.get("SMTP_STARTTLS", "1").strip().lower() not in _FALSE
    user = env.get("SMTP_USER", "").strip()
    sender = env.get("SMTP_FROM", "").strip() or user
    if not sender:
        raise DeliveryError("SMTP_HOST is set but neither SMTP_FROM nor SMTP_USER is")
    try:
        port = int(env.get("SMTP_PORT") or (587 if starttls else 25))
    except ValueError:
        raise DeliveryError(f"SMTP_PORT must be a number, not {env['SMTP_PORT']!r}") from None
    password = env.get("SMTP_PASSWORD", "")
    return SmtpSettings(host, port, sender, user, password, starttls)


def message(
    smtp: SmtpSettings,
    recipients: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """The mail: a plain-text body and the attachments."""
    mail = EmailMessage()
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = subject
    mail.set_content(body)
    for a in attachments:
        maintype, subtype = a.mime.split("/", 1)
        mail.add_attachment(a.content, maintype=maintype, subtype=subtype, filename=a.filename)
    return mail


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def secret_forms(smtp: SmtpSettings) -> list[str]:
    """The credentials in every form a server's reply or a log may show them, longest first:
    the password as typed, as bytes' repr (non-ASCII), URL-encoded; AUTH PLAIN's
    base64("\0user\0password") (and with the user as authorization id); AUTH LOGIN's
    base64(user) and base64(password). Empty without a password."""
    user, password = smtp.user, smtp.password
    if not password:
        return []
    forms = {
        password,
        repr(password.encode("utf-8"))[2:-1],
        quote(password),
        quote(password, safe=""),
        quote_plus(password),
        _b64(f"\0{user}\0{password}"),
        _b64(f"{user}\0{user}\0{password}"),
        _b64(password),
        _b64(user) if user else "",
    }
    # a very short form (the base64 of a one-letter user) would blank out ordinary words
    return sorted((f for f in forms if len(f) >= 4 or f == password), key=len, reverse=True)


def _scrub(text: str, smtp: SmtpSettings) -> str:
    """`text` without any form of the credentials (`secret_forms`)."""
    for form in secret_forms(smtp):
        text = text.replace(form, "***")
    return text


def send(smtp: SmtpSettings, mail: EmailMessage) -> None:
    """Send `mail`; raises `DeliveryError` (without the password) when the server refuses."""
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password)
            client.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        text = f"sending mail via {smtp.host}:{smtp.port} failed: {type(exc).__name__}: {exc}"
        # `from None`: the original exception (and its arguments) stays out of tracebacks.
        raise DeliveryError(_scrub(text, smtp)) from None
    log.info("mailed %r to %d recipient(s) via %s", mail["Subject"], len(mail["To"].split(",")),
             smtp.host)  # fmt: skip
