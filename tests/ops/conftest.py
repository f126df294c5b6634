"""A local SMTP server (aiosmtpd) and a local webhook receiver (http.server) on 127.0.0.1; one
PySpark `local[2]` session for the engine tests (both modules run on one worker: xdist_group
"engines")."""

from __future__ import annotations

import email
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ops.engines import SparkEngine

SMTP_PASSWORD = "s3cret-Pa55word"
# the token in the path is what makes a Slack webhook URL a secret
HOOK_PATH = "/services/T0001/B0002/hooksecretTOKEN123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"scorecard"
    return AuthResult(success=ok and auth_data.password == SMTP_PASSWORD.encode(), handled=False)


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A running SMTP server; SMTP_* in the environment point at it."""
    box, port = Inbox(), free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    for name, value in {
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_USER": "scorecard",
        "SMTP_PASSWORD": SMTP_PASSWORD, "SMTP_FROM": "scorecard@example.com",
        "SMTP_STARTTLS": "0",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    yield box
    controller.stop()


class Receiver:
    """What the webhook receiver got, and the statuses it answers (200 once they run out)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.posts: list[dict] = []
        self.paths: list[str] = []
        self.answers: list[int] = []
        self.headers: dict[str, str] = {}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 taking JSON POSTs at `HOOK_PATH`."""
    port = free_port()
    got = Receiver(f"http://127.0.0.1:{port}{HOOK_PATH}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got.paths.append(self.path)
            got.posts.append(json.loads(body))
            status = got.answers.pop(0) if got.answers else 200
            if self.path != HOOK_PATH:
                status = 404
            self.send_response(status)
            for name, value in got.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkEngine]:
    """One Spark session for every engine test module (starting one takes ~10 s); skipped with
    the reason when Java is missing."""
    if shutil.which("java") is None:
        pytest.skip("PySpark needs Java 17+: apt-get install openjdk-17-jre-headless")
    engine = SparkEngine()
    yield engine
    engine.close()
