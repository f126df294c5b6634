"""Posting a text to a Slack-compatible incoming webhook (``{"text": ...}``).

The webhook URL is a secret (whoever holds it may post to the channel): it comes from the
environment only, and never appears in an error message or a log line — httpx's own request
log ("HTTP Request: POST <url> ...") is scrubbed by a filter on the "httpx" logger.
A 5xx or 429 answer and a network error are retried with doubling backoff (a 429's
Retry-After is honoured, up to `MAX_WAIT_SECONDS`); any other refusal fails at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import httpx

log = logging.getLogger("ops.webhook")
MAX_WAIT_SECONDS = 60.0


class WebhookError(RuntimeError):
    """A webhook did not accept the message (the text names the channel, never the URL)."""


def url_forms(url: str) -> list[str]:
    """The URL and its secret part (the path with its token) in the forms a log may show."""
    parts = urlsplit(url)
    secret = parts.path + (f"?{parts.query}" if parts.query else "")
    forms = {url, quote(url, safe=""), secret if len(secret) > 1 else ""}
    return sorted((f for f in forms if f), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """`text` without the URL or its path."""
    for form in url_forms(url):
        text = text.replace(form, "***")
    return text


class _HideUrls(logging.Filter):
    """Rewrites log records that would show a registered webhook URL."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.urls:
            return True
        text = record.getMessage()
        clean = text
        for url in self.urls:
            clean = scrub(clean, url)
        if clean != text:
            record.msg, record.args = clean, None
        return True


_HIDE = _HideUrls()
logging.getLogger("httpx").addFilter(_HIDE)  # httpcore's debug log names host and port only


def post_text(
    url: str,
    text: str,
    *,
    name: str,
    retries: int = 3,
    backoff_seconds: float = 2.0,
    timeout_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``{"text": text}`` to the webhook `url`; returns the number of attempts.

    Raises `WebhookError` naming the channel `name` (never the URL) when it is refused or
    stays unavailable after `retries` retries."""
    _HIDE.urls.add(url)
    attempt = 1
    while True:
        retry_after: float | None = None
        try:
            with httpx.Client(timeout=timeout_seconds, follow_redirects=False) as client:
                answer = client.post(url, json={"text": text})
            if answer.is_success:
                log.info("webhook %s accepted the message (attempt %d)", name, attempt)
                return attempt
            problem = f"answered {answer.status_code} {answer.reason_phrase}".rstrip()
            transient = answer.status_code >= 500 or answer.status_code == 429
            retry_after = _retry_after(answer.headers.get("Retry-After"))
        except httpx.HTTPError as exc:  # timeouts, refused connections, bad URLs
            problem = f"could not be reached ({type(exc).__name__}: {scrub(str(exc), url)})"
            transient = isinstance(exc, httpx.TransportError)
        if not transient or attempt > retries:
            tail = f" after {attempt} attempts" if attempt > 1 else ""
            raise WebhookError(f"webhook {name} {problem}{tail}") from None
        wait = retry_after if retry_after is not None else backoff_seconds * 2 ** (attempt - 1)
        log.warning("webhook %s %s; retry %d in %g s", name, problem, attempt, wait)
        sleep(wait)
        attempt += 1


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (dates are ignored)."""
    try:
        return min(float(value), MAX_WAIT_SECONDS) if value else None
    except ValueError:
        return None
