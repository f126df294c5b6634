"""An emulated HubSpot portal: owners, deal pipelines, deals and contacts with property
histories, rendered from canonical frames (e.g. the demo org).

`portal_from_canonical(frames, now=...)` turns the canonical tables into HubSpot's model:

* users → owners (numeric ids, ``firstName``/``lastName``, ``teams`` with the primary team;
  the demo's lead queue is an owner too, marked a queue by the connector's ``queues``);
* each opportunity segment → a deal pipeline (the demo's "Mid-Market" is the ``default``
  pipeline with HubSpot-style stage ids, "Enterprise" a second one with numeric stage ids),
  its stages the canonical stages (closed-won = closed with probability 1.0);
* opportunities → deals; each stage_history row sets ``dealstage``, ``amount``,
  ``closedate`` and ``hs_manual_forecast_category``, and a property's history keeps a
  value only when it changed (as HubSpot's property history does);
* leads → contacts: funnel timestamps in the lifecycle-stage date properties (and custom
  ones HubSpot lacks: ``sales_accepted_date``, ``disqualified_date``, ``first_touch_date``),
  the lead status in ``hs_lead_status`` (``NEW``, ``WORKING`` ...), the owner and status
  history from lead_history, the converted deal as a contact → deal association.

`expected_canonical(frames)` gives the tables a correct connector reads back: HubSpot ids,
millisecond timestamps, no manager ids / account ids / campaign ids (HubSpot's owners have
no manager and the connector pulls no campaigns), and only the history rows at which a
recorded value changed. Quotas are team goal targets of the goal "Revenue quota" (with a
"Calls made" goal beside it that is no quota). Campaigns are marketing campaigns (UUID ids,
the channel in a ``campaign_type`` property); every member is an influenced contact and a
lead's earliest response its first touch; read back from the first-touch report, members
have no response time. Forecast submissions are not served (HubSpot has no public API).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

MS = "%Y-%m-%dT%H:%M:%S%.3fZ"
DEAL_HISTORY = ("dealstage", "amount", "closedate", "hs_manual_forecast_category")
CONTACT_HISTORY = ("hs_lead_status", "hubspot_owner_id")
CATEGORY = {
    "pipeline": "PIPELINE",
    "best_case": "BEST_CASE",
    "most_likely": "BEST_CASE",
    "commit": "COMMIT",
    "closed": "CLOSED",
    "omitted": "OMIT",
}
FUNNEL_PROPERTIES = {
    "mql_at": "hs_lifecyclestage_marketingqualifiedlead_date",
    "sal_at": "sales_accepted_date",
    "sql_at": "hs_lifecyclestage_salesqualifiedlead_date",
    "converted_at": "hs_lifecyclestage_opportunity_date",
    "disqualified_at": "disqualified_date",
    "first_touch_at": "first_touch_date",
}
QUEUE_EMAIL = "lead-queue@example.com"
DEFAULT_PIPELINE = "Mid-Market"
SCOPES = frozenset(
    {
        "crm.objects.owners.read",
        "crm.objects.deals.read",
        "crm.objects.contacts.read",
        "crm.objects.goals.read",
        "marketing.campaigns.read",
    }
)
QUOTA_GOAL = "Revenue quota"


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class Record:
    """One CRM object: current properties and every recorded value, oldest first."""

    id: str
    properties: dict[str, str | None]
    history: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    created: str = ""
    updated: str = ""
    archived: bool = False
    archived_at: str | None = None

    def api(self, props: list[str], with_history: list[str] = ()) -> dict[str, Any]:
        """The v3 object shape: ``properties`` (requested ones, null when unset) and
        ``propertiesWithHistory`` (newest value first)."""
        out: dict[str, Any] = {
            "id": self.id,
            "properties": {
                "hs_object_id": self.id,
                **{p: self.properties.get(p) for p in props},
            },
            "createdAt": self.created,
            "updatedAt": self.updated,
            "archived": self.archived,
        }
        if self.archived_at:
            out["archivedAt"] = self.archived_at
        if with_history:
            out["propertiesWithHistory"] = {
                p: [
                    {**v, "sourceType": "CRM_UI", "sourceId": "userId:1", "updatedByUserId": 1}
                    for v in reversed(self.history.get(p, []))
                ]
                for p in with_history
            }
        return out


@dataclass
class Portal:
    owners: list[dict[str, Any]]
    pipelines: list[dict[str, Any]]
    objects: dict[str, dict[str, Record]]
    associations: dict[str, list[str]]  # contact id → deal ids
    now: datetime
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    # campaign id → contact report ("contactFirstTouch", ...) → contact ids
    campaign_contacts: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    granted: set[str] = field(default_factory=lambda: set(SCOPES))
    lock: threading.RLock = field(default_factory=threading.RLock)

    def tick(self) -> datetime:
        """Let a second pass on the portal's clock; the new instant."""
        self.now += timedelta(seconds=1)
        return self.now

    def modified_property(self, kind: str) -> str:
        return "hs_lastmodifieddate" if kind == "deals" else "lastmodifieddate"

    def set(self, kind: str, record_id: str, **props: str | None) -> None:
        """Change properties now: the history records each changed value."""
        with self.lock:
            at = iso(self.tick())
            rec = self.objects[kind][record_id]
            for name, value in props.items():
                if rec.properties.get(name) != value:
                    rec.history.setdefault(name, []).append({"value": value or "", "timestamp": at})
                rec.properties[name] = value
            rec.properties[self.modified_property(kind)] = at
            rec.updated = at

    def create(self, kind: str, record_id: str, **props: str | None) -> None:
        with self.lock:
            at = iso(self.tick())
            rec = Record(record_id, {"createdate": at}, created=at, updated=at)
            self.objects[kind][record_id] = rec
        self.set(kind, record_id, **props)

    def archive(self, kind: str, record_id: str) -> None:
        """Delete a record: it moves to the archived list (restorable for 90 days)."""
        with self.lock:
            at = iso(self.tick())
            rec = self.objects[kind][record_id]
            rec.archived, rec.archived_at, rec.updated = True, at, at
            if kind == "contacts":
                self.associations.pop(record_id, None)
            else:
                for deals in self.associations.values():
                    if record_id in deals:
                        deals.remove(record_id)


# --- canonical → HubSpot ------------------------------------------------------------------


def id_maps(frames: Mapping[str, pl.DataFrame]) -> dict[str, dict[str, str]]:
    """Canonical id → HubSpot id, per kind (owners, deals, contacts), numbered in id order."""

    def numbered(ids: pl.Series, base: int) -> dict[str, str]:
        return {old: str(base + i) for i, old in enumerate(ids.sort().to_list())}

    return {
        "owners": numbered(frames["users"]["user_id"], 41_600_000),
        "deals": numbered(frames["opportunities"]["opp_id"], 9_100_000_000),
        "contacts": numbered(frames["leads"]["lead_id"], 51_000),
    }


def stage_ids(stages: pl.DataFrame) -> dict[tuple[str, str], str]:
    """(pipeline label, stage name) → stage id: HubSpot-style ids in the default pipeline
    ("closedwon"), numeric ones in the others (as HubSpot makes for new pipelines)."""
    out = {}
    for row in stages.iter_rows(named=True):
        out[(DEFAULT_PIPELINE, row["stage"])] = row["stage"].lower().replace(" ", "")
        out[("Enterprise", row["stage"])] = str(1_000_000 + row["position"])
    return out


def _pipelines(stages: pl.DataFrame, segments: list[str]) -> list[dict[str, Any]]:
    ids = stage_ids(stages)
    ordered = sorted(segments, key=lambda s: (s != DEFAULT_PIPELINE, s))
    out = []
    for order, label in enumerate(ordered):
        out.append(
            {
                "id": "default" if label == DEFAULT_PIPELINE else f"{700000 + order}",
                "label": label,
                "displayOrder": order,
                "archived": False,
                "createdAt": "2024-01-02T10:00:00.000Z",
                "updatedAt": "2024-01-02T10:00:00.000Z",
                "stages": [
                    {
                        "id": ids[(label, row["stage"])],
                        "label": row["stage"],
                        "displayOrder": row["position"] - 1,
                        "archived": False,
                        "metadata": {
                            "isClosed": str(row["is_closed"]).lower(),
                            "probability": "1.0"
                            if row["is_won"]
                            else ("0.0" if row["is_closed"] else f"{row['position'] / 10:.1f}"),
                        },
                        "createdAt": "2024-01-02T10:00:00.000Z",
                        "updatedAt": "2024-01-02T10:00:00.000Z",
                        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                    }
                    for row in stages.sort("position").iter_rows(named=True)
                ],
            }
        )
    return out


def team_ids(users: pl.DataFrame) -> dict[str, str]:
    return {t: str(300_000 + i) for i, t in enumerate(sorted(users["team"].unique()))}


def _goals(c: Mapping[str, pl.DataFrame], ids: Mapping[str, dict[str, str]]) -> dict:
    """Each quota (team, quarter) as a team goal target of the "Revenue quota" goal, plus a
    "Calls made" goal per quota that is not a quota (the connector must leave it out)."""
    teams = team_ids(c["users"])
    out = {}
    for i, row in enumerate(c["quotas"].sort("period", "team").iter_rows(named=True)):
        year, quarter = row["period"].split("-Q")
        start = datetime(int(year), 3 * int(quarter) - 2, 1)
        end = datetime(int(year) + (quarter == "4"), (3 * int(quarter)) % 12 + 1, 1)
        for k, (name, amount) in enumerate(((QUOTA_GOAL, row["amount"]), ("Calls made", 500.0))):
            gid = str(87_500_000_000 + 2 * i + k)
            at = "2024-01-02T10:00:00.000Z"
            props = {
                "hs_goal_name": name,
                "hs_target_amount": f"{amount:.2f}",
                "hs_start_datetime": start.strftime("%Y-%m-%dT00:00:00.000Z"),
                "hs_end_datetime": end.strftime("%Y-%m-%dT00:00:00.000Z"),
                "hubspot_owner_id": None,
                "hs_assignee_team_id": teams[row["team"]],
                "hs_createdate": at,
                "hs_lastmodifieddate": at,
            }
            out[gid] = Record(gid, props, created=at, updated=at)
    return out


def campaign_id(index: int) -> str:
    return f"6a1f0000-0000-4000-8000-{index:012d}"


def _campaign_ids(frames: Mapping[str, pl.DataFrame]) -> dict[str, str]:
    ids = frames["campaigns"]["campaign_id"].sort().to_list()
    return {old: campaign_id(i) for i, old in enumerate(ids)}


def _first_touches(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Each lead's first campaign response: the campaign that was its first touch."""
    return (
        frames["campaign_members"]
        .sort("lead_id", "responded_at", "campaign_id", nulls_last=True)
        .unique("lead_id", keep="first", maintain_order=True)
    )


def _campaigns(
    frames: Mapping[str, pl.DataFrame], ids: Mapping[str, dict[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[str]]]]:
    """Campaigns in the marketing campaigns API shape (UUID ids, properties as text); every
    member is an influenced contact, a lead's first response its first touch."""
    cids = _campaign_ids(frames)
    out = []
    for row in frames["campaigns"].sort("campaign_id").iter_rows(named=True):
        at = "2024-01-02T10:00:00.000Z"
        out.append(
            {
                "id": cids[row["campaign_id"]],
                "properties": {
                    "hs_name": row["name"],
                    "hs_start_date": row["start_date"] and row["start_date"].isoformat(),
                    "hs_end_date": row["end_date"] and row["end_date"].isoformat(),
                    "campaign_type": row["channel"],
                    "hs_spend_items_sum_amount": None if row["cost"] is None else str(row["cost"]),
                },
                "createdAt": at,
                "updatedAt": at,
            }
        )
    reports: dict[str, dict[str, list[str]]] = {c: {} for c in cids.values()}
    for kind, members in (
        ("influencedContacts", frames["campaign_members"]),
        ("contactFirstTouch", _first_touches(frames)),
    ):
        for row in members.sort("campaign_id", "lead_id").iter_rows(named=True):
            reports[cids[row["campaign_id"]]].setdefault(kind, []).append(
                ids["contacts"][row["lead_id"]]
            )
    return out, reports


def _owners(users: pl.DataFrame, ids: Mapping[str, str]) -> list[dict[str, Any]]:
    teams = team_ids(users)
    out = []
    for row in users.sort("user_id").iter_rows(named=True):
        first, _, last = (row["name"] or "").partition(" ")
        out.append(
            {
                "id": ids[row["user_id"]],
                "email": QUEUE_EMAIL
                if row["is_queue"]
                else f"{row['user_id'].lower()}@example.com",
                "type": "PERSON",
                "firstName": first,
                "lastName": last,
                "userId": 9_000_000 + int(ids[row["user_id"]]) % 100_000,
                "createdAt": "2024-01-02T10:00:00.000Z",
                "updatedAt": "2024-01-02T10:00:00.000Z",
                "archived": False,
                "teams": [{"id": teams[row["team"]], "name": row["team"], "primary": True}],
            }
        )
    return out


def _text(col: str, dtype: pl.DataType) -> pl.Expr:
    """A canonical value as HubSpot writes it in a property (all properties are text)."""
    c = pl.col(col)
    if isinstance(dtype, pl.Datetime):
        return c.dt.strftime(MS)
    if dtype == pl.Date:
        return c.dt.strftime("%Y-%m-%dT00:00:00.000Z")
    if dtype == pl.Float64:  # "32100", "12345678901.5"
        return c.cast(pl.String).str.replace(r"\.0$", "")
    return c.cast(pl.String)


def _versions(frame: pl.DataFrame, key: str, props: dict[str, str]) -> pl.DataFrame:
    """Long (key, property, value, timestamp) rows: a property's value is recorded at a row
    when it differs from the row before (the first row records every property)."""
    ordered = frame.sort(key, "entered_at")
    parts = []
    for prop, col in props.items():
        changed = pl.col(col).ne_missing(pl.col(col).shift(1).over(key)) | (
            pl.int_range(pl.len()).over(key) == 0
        )
        parts.append(
            ordered.filter(changed).select(
                pl.col(key),
                property=pl.lit(prop),
                value=pl.col(col).fill_null(""),
                timestamp=pl.col("entered_at").dt.strftime(MS),
            )
        )
    return pl.concat(parts)


def _records(
    current: pl.DataFrame, versions: pl.DataFrame, key: str, created: str, modified: str
) -> dict[str, Record]:
    history: dict[str, dict[str, list[dict[str, str]]]] = {}
    for row in versions.sort(key, "timestamp").iter_rows(named=True):
        history.setdefault(row[key], {}).setdefault(row["property"], []).append(
            {"value": row["value"], "timestamp": row["timestamp"]}
        )
    out = {}
    for row in current.iter_rows(named=True):
        rid = row.pop(key)
        past = history.get(rid, {})
        # last modified: its latest recorded change (ISO text in one format sorts by time)
        row[modified] = max([row[created], *(v["timestamp"] for vs in past.values() for v in vs)])
        out[rid] = Record(rid, row, past, created=row[created], updated=row[modified])
    return out


def _deals(c: Mapping[str, pl.DataFrame], ids: Mapping[str, dict[str, str]], now: str) -> dict:
    stage_id = {f"{seg}|{st}": v for (seg, st), v in stage_ids(c["stages"]).items()}
    opps = c["opportunities"].with_columns(
        _key=pl.col("opp_id").replace_strict(ids["deals"]),
    )
    pipeline_of = {
        p["label"]: p["id"] for p in _pipelines(c["stages"], ["Mid-Market", "Enterprise"])
    }
    sid = pl.concat_str("segment", pl.lit("|"), "stage").replace_strict(stage_id)
    schema = opps.schema
    current = opps.select(
        id="_key",
        dealname="name",
        hubspot_owner_id=pl.col("owner_id").replace_strict(ids["owners"], default=None),
        dealstage=sid,
        pipeline=pl.col("segment").replace_strict(pipeline_of),
        amount=_text("amount", schema["amount"]),
        createdate=_text("created_at", schema["created_at"]),
        closedate=_text("close_date", schema["close_date"]),
        hs_manual_forecast_category=pl.col("forecast_category")
        .cast(pl.String)
        .replace_strict(CATEGORY, default=None),
        lead_source="lead_source",
        sourced_by=pl.col("sourced_by").cast(pl.String),
        hs_lastmodifieddate=pl.lit(now),
    )
    hist = c["stage_history"].join(
        opps.select("opp_id", "_key", "segment"), on="opp_id", how="inner"
    )
    hist = hist.with_columns(
        dealstage=sid,
        amount=_text("amount", hist.schema["amount"]),
        closedate=_text("close_date", hist.schema["close_date"]),
        category=pl.col("forecast_category").cast(pl.String).replace_strict(CATEGORY, default=None),
    )
    versions = _versions(
        hist.drop("opp_id").rename({"_key": "id"}),
        "id",
        {"dealstage": "dealstage", "amount": "amount", "closedate": "closedate",
         "hs_manual_forecast_category": "category"},
    )  # fmt: skip
    return _records(current, versions, "id", "createdate", "hs_lastmodifieddate")


def status_value(status: str) -> str:
    """The internal value of a lead status option: "Working" → "WORKING"."""
    return status.upper().replace(" ", "_")


def _contacts(c: Mapping[str, pl.DataFrame], ids: Mapping[str, dict[str, str]], now: str) -> dict:
    leads = c["leads"].with_columns(_key=pl.col("lead_id").replace_strict(ids["contacts"]))
    stage = (
        pl.when(pl.col("converted_at").is_not_null())
        .then(pl.lit("opportunity"))
        .when(pl.col("sql_at").is_not_null())
        .then(pl.lit("salesqualifiedlead"))
        .when(pl.col("mql_at").is_not_null())
        .then(pl.lit("marketingqualifiedlead"))
        .otherwise(pl.lit("lead"))
    )
    owner = pl.col("owner_id").replace_strict(ids["owners"], default=None)
    current = leads.select(
        id="_key",
        createdate=_text("created_at", leads.schema["created_at"]),
        hubspot_owner_id=owner,
        lead_source="source",
        hs_lead_status=pl.col("status").str.to_uppercase().str.replace_all(" ", "_"),
        lifecyclestage=stage,
        **{p: _text(col, leads.schema[col]) for col, p in FUNNEL_PROPERTIES.items()},
        lastmodifieddate=pl.lit(now),
    )
    hist = c["lead_history"].join(leads.select("lead_id", "_key"), on="lead_id", how="inner")
    hist = hist.select(
        id="_key",
        entered_at="entered_at",
        status=pl.col("status").str.to_uppercase().str.replace_all(" ", "_"),
        owner=owner,
    )
    # the owner now, recorded after the last status change when it changed since (or at
    # creation for a contact without status history)
    last = (
        hist.sort("entered_at")
        .group_by("id")
        .agg(pl.col("owner").last(), at=pl.col("entered_at").max())
    )
    tail = (
        leads.select(id="_key", owner=owner, created="created_at")
        .join(last, on="id", how="left", suffix="_then")
        .filter(pl.col("owner_then").is_null() | (pl.col("owner") != pl.col("owner_then")))
        .select(
            "id",
            entered_at=pl.coalesce(pl.col("at") + pl.duration(milliseconds=1), "created"),
            status=pl.lit(None, pl.String),
            owner="owner",
        )
    )
    versions = pl.concat(
        [
            _versions(hist, "id", {"hs_lead_status": "status", "hubspot_owner_id": "owner"}),
            _versions(tail, "id", {"hubspot_owner_id": "owner"}),
        ]
    )
    return _records(current, versions, "id", "createdate", "lastmodifieddate")


def portal_from_canonical(frames: Mapping[str, pl.DataFrame], *, now: datetime) -> Portal:
    ids = id_maps(frames)
    stamp = iso(now)
    contacts = _contacts(frames, ids, stamp)
    links = frames["leads"].filter(pl.col("converted_opp_id").is_not_null())
    associations = {
        ids["contacts"][lead]: [ids["deals"][opp]]
        for lead, opp in zip(links["lead_id"], links["converted_opp_id"], strict=True)
        if opp in ids["deals"]
    }
    campaigns, reports = _campaigns(frames, ids)
    return Portal(
        campaigns=campaigns,
        campaign_contacts=reports,
        owners=_owners(frames["users"], ids["owners"]),
        pipelines=_pipelines(
            frames["stages"], frames["opportunities"]["segment"].unique().to_list()
        ),
        objects={
            "deals": _deals(frames, ids, stamp),
            "contacts": contacts,
            "goal_targets": _goals(frames, ids),
        },
        associations=associations,
        now=now,
    )


# --- what a correct connector reads back -------------------------------------------------


def _ms(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.selectors.datetime().dt.truncate("1ms"))


def _changed_rows(frame: pl.DataFrame, key: str, cols: list[str]) -> pl.DataFrame:
    ordered = frame.sort(key, "entered_at")
    changed = pl.any_horizontal(
        pl.col(c).ne_missing(pl.col(c).shift(1).over(key)) for c in cols
    ) | (pl.int_range(pl.len()).over(key) == 0)
    return ordered.filter(changed)


def expected_canonical(frames: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    ids = id_maps(frames)
    owner = {"owners": ids["owners"]}["owners"]

    def swap(col: str, kind: str) -> pl.Expr:
        return pl.col(col).replace_strict(ids[kind], default=None)

    users = frames["users"].with_columns(
        user_id=swap("user_id", "owners"), manager_id=pl.lit(None, pl.String)
    )
    opps = frames["opportunities"].with_columns(
        opp_id=swap("opp_id", "deals"),
        owner_id=pl.col("owner_id").replace_strict(owner, default=None),
        account_id=pl.lit(None, pl.String),
        campaign_id=pl.lit(None, pl.String),
    )
    hist = _changed_rows(
        frames["stage_history"], "opp_id", ["stage", "amount", "close_date", "forecast_category"]
    ).with_columns(opp_id=swap("opp_id", "deals"))
    leads = frames["leads"].with_columns(
        lead_id=swap("lead_id", "contacts"),
        owner_id=pl.col("owner_id").replace_strict(owner, default=None),
        campaign_id=pl.lit(None, pl.String),
        converted_opp_id=swap("converted_opp_id", "deals"),
    )
    lead_hist = _changed_rows(frames["lead_history"], "lead_id", ["status"]).with_columns(
        lead_id=swap("lead_id", "contacts"),
        owner_id=pl.col("owner_id").replace_strict(owner, default=None),
    )
    cids = _campaign_ids(frames)
    campaigns = frames["campaigns"].with_columns(
        campaign_id=pl.col("campaign_id").replace_strict(cids)
    )
    members = _first_touches(frames).select(
        campaign_id=pl.col("campaign_id").replace_strict(cids),
        lead_id=swap("lead_id", "contacts"),
        responded_at=pl.lit(None, pl.Datetime("us", "UTC")),
    )
    return {
        "campaigns": campaigns,
        "campaign_members": members,
        "users": users,
        "stages": frames["stages"],
        "opportunities": _ms(opps),
        "stage_history": _ms(hist),
        "leads": _ms(leads),
        "lead_history": _ms(lead_hist),
        "quotas": frames["quotas"],
    }
