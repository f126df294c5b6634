"""Test the Salesforce connection (ops/connection.py) against the local Bulk API emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from connectors.demo import generate_demo_org
from ops.config import Settings
from ops.connection import salesforce_login, sf_variables
from tests.sfemulator.org import as_of_midnight, org_from_canonical
from tests.sfemulator.server import BulkEmulator

AS_OF = date(2026, 11, 16)
USER, PASSWORD, TOKEN = "integration@example.com", "s3cret-Pa55", "TOKxyz987"
ENV = {"SF_USERNAME": USER, "SF_PASSWORD": PASSWORD, "SF_SECURITY_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def emu() -> Iterator[BulkEmulator]:
    demo = generate_demo_org(as_of=AS_OF, scale=0.05, quarters=1)
    org = org_from_canonical(demo, now=as_of_midnight(AS_OF + timedelta(days=1)))
    server = BulkEmulator(org, username=USER, password=PASSWORD, token=TOKEN).start()
    yield server
    server.stop()


def sf_settings(tmp_path: Path, login_url: str) -> Settings:
    sf = {"login_url": login_url, "http_timeout_seconds": 2.0}
    return Settings(data_dir=tmp_path / "data", sources={"salesforce": sf})


def test_a_good_login_names_the_instance(emu: BulkEmulator, tmp_path: Path):
    outcome = salesforce_login(sf_settings(tmp_path, emu.url), ENV)
    assert outcome.ok
    # the emulator answers the SOAP login with itself as the org's server
    assert outcome.message == f"Logged in to Salesforce: the org's instance is {emu.url}."


def test_a_refused_login_says_why_without_the_secret(emu: BulkEmulator, tmp_path: Path):
    env = {**ENV, "SF_PASSWORD": "wrong-Pa55"}
    outcome = salesforce_login(sf_settings(tmp_path, emu.url), env)
    assert not outcome.ok
    assert outcome.message.startswith(f"Salesforce login at {emu.url} failed: bad credentials")
    assert "wrong-Pa55" not in outcome.message and TOKEN not in outcome.message


def test_missing_credentials_and_an_unreachable_server(emu: BulkEmulator, tmp_path: Path):
    outcome = salesforce_login(sf_settings(tmp_path, emu.url), {})
    assert not outcome.ok and outcome.message.startswith("Salesforce credentials missing")
    # a port nobody listens on (the emulator's, once stopped, is not guaranteed free)
    outcome = salesforce_login(sf_settings(tmp_path, "http://127.0.0.1:9"), ENV)
    assert not outcome.ok
    assert "connection to Salesforce failed" in outcome.message
    assert PASSWORD not in outcome.message


def test_a_session_is_named_not_claimed_verified(tmp_path: Path):
    env = {
        "SF_SESSION_ID": "00D!session-secret",
        "SF_INSTANCE_URL": "https://acme.my.salesforce.com",
    }
    outcome = salesforce_login(sf_settings(tmp_path, ""), env)
    assert outcome.ok and "https://acme.my.salesforce.com" in outcome.message
    assert "checked by the first call of a refresh" in outcome.message
    assert "session-secret" not in outcome.message


def test_variables_say_set_never_the_value():
    table = sf_variables({**ENV, "SF_DOMAIN": "  "})
    assert dict(table.iter_rows()) == {
        "SF_USERNAME": "set",
        "SF_PASSWORD": "set",
        "SF_SECURITY_TOKEN": "set",
        "SF_SESSION_ID": "not set",
        "SF_INSTANCE_URL": "not set",
        "SF_DOMAIN": "not set",  # blank counts as not set
    }
    assert not any(v in str(table.rows()) for v in (USER, PASSWORD, TOKEN))
