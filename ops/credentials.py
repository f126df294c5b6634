"""Which environment variables the sources read their credentials from, and whether each is
set: names only, never a value (not even its length), for the Data & refresh page.

Credentials live only in the environment / `.env` (scorecard.toml holds none); this is the
one list of their names on the ops side, checked against the connectors' own in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

# (source, variable, what it is for); "one of" groups say which alternatives suffice.
VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("salesforce", "SF_USERNAME", "login: user name"),
    ("salesforce", "SF_PASSWORD", "login: password (secret)"),
    ("salesforce", "SF_SECURITY_TOKEN", "login: security token (secret)"),
    ("salesforce", "SF_SESSION_ID", "or: an existing session (secret)"),
    ("salesforce", "SF_INSTANCE_URL", "or: the session's instance URL"),
    ("salesforce", "SF_DOMAIN", "optional: login, test (sandbox) or My Domain"),
    ("hubspot", "HUBSPOT_TOKEN", "private app access token (secret)"),
    ("hubspot", "HUBSPOT_PORTAL_ID", "optional: portal id for record links"),
    ("warehouse", "WAREHOUSE_URL", "postgresql://user:password@host/db (secret)"),
    ("warehouse", "WAREHOUSE_HOST", "or: host, with the four below"),
    ("warehouse", "WAREHOUSE_PORT", "or: port (default 5432)"),
    ("warehouse", "WAREHOUSE_DATABASE", "or: database"),
    ("warehouse", "WAREHOUSE_USER", "or: user"),
    ("warehouse", "WAREHOUSE_PASSWORD", "or: password (secret)"),
)


def environment_status(environ: Mapping[str, str]) -> pl.DataFrame:
    """One row per credential variable, in the order above: source, variable, what it is for,
    and `set` (present and not blank). Only the names leave this function."""
    return pl.DataFrame(
        {
            "source": [source for source, _, _ in VARIABLES],
            "variable": [name for _, name, _ in VARIABLES],
            "for": [purpose for _, _, purpose in VARIABLES],
            "set": [bool(environ.get(name, "").strip()) for _, name, _ in VARIABLES],
        }
    )
