"""Where a deal lives in its CRM: the link from the deal page to the record.

* **Salesforce** (the Salesforce source, or a files export of Salesforce: a preset named
  for it) — ``{instance_url}/lightning/r/Opportunity/{id}/view``. The instance URL is
  ``[sources.salesforce] instance_url`` in scorecard.toml, else the instance the refresh
  logged in to (the snapshot manifest's ``detail.instance_url``), else ``SF_INSTANCE_URL``.
* **HubSpot** (the HubSpot source, or a files export of HubSpot) —
  ``https://app.hubspot.com/contacts/{portal_id}/deal/{id}``, when a portal (account) id is
  configured: ``[sources.hubspot] portal_id``, else ``HUBSPOT_PORTAL_ID``.

Anything else (the demo org, an export of unknown origin, a missing setting) has no link,
and `CrmLink.why` says why in words a user can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

SALESFORCE, HUBSPOT = "Salesforce", "HubSpot"
_PORTAL_ID = re.compile(r"^\d{1,15}$")
_HOST = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?$")


@dataclass(frozen=True)
class CrmLink:
    """The record's address in its CRM, or why there is none."""

    url: str | None
    crm: str | None  # "Salesforce" / "HubSpot", None when unknown
    why: str | None = None  # set when url is None


def crm_of(source: str, detail: Mapping[str, Any] | None) -> str | None:
    """Which CRM a snapshot's records come from: its source, or for a files export the
    preset it was mapped with (``salesforce_export``, ``fivetran_hubspot`` …)."""
    if source == "salesforce":
        return SALESFORCE
    if source == "hubspot":
        return HUBSPOT
    if source == "files":
        preset = str((detail or {}).get("preset") or "").lower()
        if "salesforce" in preset:
            return SALESFORCE
        if "hubspot" in preset:
            return HUBSPOT
    return None


def _instance_url(value: object) -> str | None:
    """`value` as "https://host[:port]" (a bare host gets https), or None if it is none."""
    text = str(value or "").strip().rstrip("/")
    if text and "://" not in text:
        text = "https://" + text
    return text if _HOST.match(text) else None


def record_link(
    deal_id: str,
    *,
    source: str,
    detail: Mapping[str, Any] | None,
    sources: Mapping[str, Mapping[str, Any]],
    environ: Mapping[str, str],
) -> CrmLink:
    """The link to opportunity/deal `deal_id` in the CRM the snapshot came from.

    `source` and `detail` are the snapshot's (its manifest), `sources` the ``[sources.*]``
    settings, `environ` the environment."""
    crm = crm_of(source, detail)
    record = quote(deal_id, safe="")
    if crm == SALESFORCE:
        configured = sources.get("salesforce", {}).get("instance_url")
        recorded = (detail or {}).get("instance_url")
        candidates = (configured, recorded, environ.get("SF_INSTANCE_URL"))
        instance = next((u for u in map(_instance_url, candidates) if u), None)
        if instance is None:
            why = (
                "No link to Salesforce: its instance URL is not known. Set instance_url "
                '(e.g. "https://acme.my.salesforce.com") in [sources.salesforce] of '
                "scorecard.toml."
            )
            if configured:
                why = (
                    "No link to Salesforce: instance_url in [sources.salesforce] is not an "
                    'address like "https://acme.my.salesforce.com".'
                )
            return CrmLink(None, crm, why)
        return CrmLink(f"{instance}/lightning/r/Opportunity/{record}/view", crm)
    if crm == HUBSPOT:
        portal = str(
            sources.get("hubspot", {}).get("portal_id") or environ.get("HUBSPOT_PORTAL_ID") or ""
        ).strip()
        if not _PORTAL_ID.match(portal):
            what = "is not a number" if portal else "is not configured"
            return CrmLink(
                None,
                crm,
                f"No link to HubSpot: the portal (account) id {what}. Set portal_id in "
                "[sources.hubspot] of scorecard.toml (HubSpot shows it under Account & "
                "billing, and in the address of every record).",
            )
        return CrmLink(f"https://app.hubspot.com/contacts/{portal}/deal/{record}", crm)
    origin = {"demo": "the demo org is generated, it has no CRM"}.get(
        source, f"the source {source!r} does not say which CRM its records come from"
    )
    return CrmLink(None, None, f"No link to a CRM record: {origin}.")
