"""Which environment variables HubSpot and the warehouse read their credentials from, and
whether each is set: names only, never a value (not even its length), for the Data & refresh
page. Salesforce's are listed by `ops.connection.sf_variables` beside its login test.

Credentials live only in the environment / `.env` (scorecard.toml holds none); the tests check
these names against the ones the connectors read.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

# (source, variable, what it is for); "one of" groups say which alternatives suffice.
VARIABLES: tuple[tuple[str, str, str], ...] = (
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
    and its `status`, "set" or "not set" (blank counts as not set; as `sf_variables` says it).
    Only the names leave this function."""
    return pl.DataFrame(
        {
            "source": [source for source, _, _ in VARIABLES],
            "variable": [name for _, name, _ in VARIABLES],
            "for": [purpose for _, _, purpose in VARIABLES],
            "status": [
                "set" if environ.get(name, "").strip() else "not set" for _, name, _ in VARIABLES
            ],
        }
    )
