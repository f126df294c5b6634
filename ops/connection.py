"""Test the Salesforce connection from the app: log in with the environment's credentials.

Credentials still come only from the environment (.env); the page shows which SF_*
variables are set, never their values, and the outcome of one login.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from connectors.base import RefreshError
from ops.config import Settings
from ops.jobs import redact

SF_VARIABLES = (
    "SF_USERNAME",
    "SF_PASSWORD",
    "SF_SECURITY_TOKEN",
    "SF_SESSION_ID",
    "SF_INSTANCE_URL",
    "SF_DOMAIN",
)


@dataclass(frozen=True)
class LoginOutcome:
    """The result of one login: whether it worked and what to tell the user."""

    ok: bool
    message: str


def sf_variables(environ: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Which SF_* variables the environment sets ("set" / "not set"), never their values."""
    env = os.environ if environ is None else environ
    return pl.DataFrame(
        {
            "variable": list(SF_VARIABLES),
            "in the environment": ["set" if env.get(k, "").strip() else "not set"
                                   for k in SF_VARIABLES],
        }
    )  # fmt: skip


def salesforce_login(settings: Settings, environ: Mapping[str, str] | None = None) -> LoginOutcome:
    """Log in to Salesforce as a refresh would (login URL / domain from [sources.salesforce]
    and SF_DOMAIN) and say which org instance answered, or why it failed."""
    from connectors.salesforce import login_check

    env = os.environ if environ is None else environ
    try:
        instance = login_check(settings, env)
    except RefreshError as exc:
        return LoginOutcome(False, redact(str(exc), env))
    if env.get("SF_USERNAME", "").strip():
        return LoginOutcome(True, f"Logged in to Salesforce: the org's instance is {instance}.")
    return LoginOutcome(
        True,
        f"A session for {instance} is set (SF_SESSION_ID); it is checked by the first call of "
        "a refresh, not here. Set SF_USERNAME / SF_PASSWORD / SF_SECURITY_TOKEN to test a login.",
    )
