"""The HubSpot connector: the v3 CRM API over plain `httpx`, mapped into the canonical model
(see connectors/hubspot_mapping.py).

Why not `hubspot-api-client`: it is generated code (one class per endpoint and model) on
urllib3 with its own retry rules, it reads ``Retry-After`` only through urllib3's defaults
and cannot tell the 10-second limit from the daily one, and a dropped connection mid-page
surfaces as a different exception per endpoint. We need six endpoints, one paging loop and
one retry policy we can test, so a small `httpx` client (already a dependency) is shorter
and clearer.

* Token: ``HUBSPOT_TOKEN`` (a private app's access token) from the environment or `.env`;
  never logged, and scrubbed from every message.
* Owners (``/crm/v3/owners``, active and archived) → users; deal pipelines
  (``/crm/v3/pipelines/deals``) → stages; deals and contacts listed 100 a page
  (``after`` cursors) or, incrementally, searched by ``hs_lastmodifieddate`` /
  ``lastmodifieddate``; their property histories read by batch (``propertiesWithHistory``,
  50 a batch); contact → deal associations by v4 batch read; archived (deleted) records
  listed with ``archived=true``.
* Every call has a timeout; 429 waits ``Retry-After`` (the 10-second limit) and retries, the
  daily limit stops the pull with a clear message; 5xx and dropped connections are retried
  with backoff; a cursor that never ends is stopped after ``max_pages``.
* Goal targets (``/crm/v3/objects/goal_targets``) of the goals named in ``quota_goals`` →
  quotas; with ``campaigns = true``, marketing campaigns (``/marketing/v3/campaigns``) and
  the contacts of their reports → campaigns and members. Not pulled: forecast submissions
  (no public API) — README, "Connect HubSpot".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl

from connectors import hubspot_mapping as m
from connectors.base import LastPull, Progress, Pulled, RefreshError, SourceSettings

log = logging.getLogger(__name__)
MODIFIED = {"deals": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}
HISTORY_BATCH = 50  # HubSpot reads at most 50 records a batch when history is asked for
ASSOCIATION_BATCH = 1000


class HubSpotError(RefreshError):
    """A HubSpot pull failed; the message names what was being read and the cause."""


@dataclass(frozen=True)
class HubSpotConfig:
    """`[sources.hubspot]` of scorecard.toml."""

    base_url: str = "https://api.hubapi.com"
    page_size: int = 100
    http_timeout_seconds: float = 30.0
    retries: int = 4  # per call, for 5xx and dropped connections
    rate_limit_retries: int = 8  # per call, for 429 (10-second limit)
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 60.0  # the longest Retry-After we sit out
    campaigns: bool = False  # marketing campaigns (Marketing Hub: marketing.campaigns.read)
    max_pages: int = 10_000  # a cursor still going after this many pages is broken
    search_limit: int = 10_000  # HubSpot's search returns at most this many results
    full_refresh_days: float = 7.0
    lookback_minutes: float = 5.0
    # The portal (account) id: not used by the pull, only for links to records in HubSpot
    # (connectors/crm_links.py), so it may sit beside the other settings.
    portal_id: str | int | None = None
    mapping: m.MappingConfig = field(default_factory=m.MappingConfig)

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> HubSpotConfig:
        raw = dict(settings.sources.get("hubspot", {}))
        scalars = {k: v for k, v in raw.items() if not isinstance(v, Mapping | list)}
        try:
            return cls(**scalars, mapping=m.MappingConfig.from_toml(raw))
        except (TypeError, m.MappingError) as exc:
            raise HubSpotError(f"scorecard.toml [sources.hubspot]: {exc}") from exc


def token_from_env(environ: Mapping[str, str]) -> str:
    token = environ.get("HUBSPOT_TOKEN", "").strip()
    if not token:
        raise HubSpotError(
            "HubSpot token missing: set HUBSPOT_TOKEN (a private app's access token) in the "
            "environment or .env; see README, 'HubSpot'"
        )
    return token


class Client:
    """One pull's conversation with the HubSpot API: auth, retries, paging."""

    def __init__(self, token: str, cfg: HubSpotConfig) -> None:
        self.cfg, self._token = cfg, token
        self.http = httpx.Client(
            base_url=cfg.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(
                cfg.http_timeout_seconds, connect=min(10.0, cfg.http_timeout_seconds)
            ),
        )
        self.calls = 0
        self.rate_limited = 0
        self.paused = 0
        self.warned_daily = False

    def close(self) -> None:
        self.http.close()

    def fail(self, message: str) -> HubSpotError:
        return HubSpotError(message.replace(self._token, "***"))

    def call(self, what: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One request with retries: 429 after ``Retry-After``, 5xx and dropped connections
        with backoff; 401 / 403 / other 4xx fail at once with a message saying why."""
        attempt = limited = 0
        while True:
            self.calls += 1
            try:
                response = self.http.request(method, path, **kwargs)
                if response.status_code == 200:
                    data = response.json()
                    self._pace(what, response)
                    return data
                problem = f"HubSpot answered HTTP {response.status_code}"
            except httpx.TimeoutException:
                response = None
                problem = (
                    f"timeout: HubSpot did not answer within {self.cfg.http_timeout_seconds:g} s"
                )
            except (httpx.TransportError, ValueError) as exc:
                # ValueError: a body cut short is not JSON (a connection dropped mid-page)
                response = None
                problem = f"connection to HubSpot failed or was dropped ({type(exc).__name__})"
            if response is not None and response.status_code == 429:
                body = _json(response)
                if str(body.get("policyName", "")).upper() == "DAILY":
                    raise self.fail(
                        f"{what}: HubSpot's daily API limit for this app is used up "
                        "(429, policy DAILY); the limit resets at midnight in the portal's "
                        "time zone. The last snapshot stays current"
                    )
                limited += 1
                self.rate_limited += 1
                if limited > self.cfg.rate_limit_retries:
                    raise self.fail(
                        f"{what}: rate limited by HubSpot (429, "
                        f"{body.get('policyName') or 'TEN_SECONDLY_ROLLING'}) {limited} times "
                        "in a row; gave up. Other apps may share this portal's limit: try later"
                    )
                wait = _retry_after(response, self.cfg)
                log.warning("%s: rate limited by HubSpot, waiting %.1f s", what, wait)
                time.sleep(wait)
                continue
            if response is not None and response.status_code < 500:
                raise self.fail(f"{what}: {_refused(response)}")
            if attempt >= self.cfg.retries:
                raise self.fail(f"{what}: {problem} (gave up after {attempt + 1} attempts)")
            attempt += 1
            wait = self.cfg.backoff_seconds * 2 ** (attempt - 1)
            log.warning("%s: transient HubSpot error, retry %d in %.1f s", what, attempt, wait)
            time.sleep(wait)

    def _pace(self, what: str, response: httpx.Response) -> None:
        """Sit out the rest of the 10-second window when its last call was used, instead
        of running into a 429; say so once when the daily limit is nearly used up."""
        headers = response.headers
        if headers.get("X-HubSpot-RateLimit-Remaining") == "0":
            try:
                window = float(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", ""))
            except ValueError:
                window = 10_000.0
            self.paused += 1
            log.info("%s: HubSpot's 10-second limit reached, pausing %.1f s", what, window / 1000)
            time.sleep(min(window / 1000, self.cfg.max_wait_seconds))
        daily = headers.get("X-HubSpot-RateLimit-Daily-Remaining", "")
        if daily.isdigit() and int(daily) < 1000 and not self.warned_daily:
            self.warned_daily = True
            log.warning("HubSpot: only %s calls of this app's daily limit are left", daily)

    def pages(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page's ``results``, following ``paging.next.after`` until it ends."""
        after: str | None = None
        seen: set[str] = set()
        for _ in range(self.cfg.max_pages):
            if method == "GET":
                query = {**(params or {}), **({"after": after} if after else {})}
                data = self.call(what, "GET", path, params=query)
            else:
                data = self.call(what, "POST", path, json={**(body or {}), "after": after or "0"})
            yield list(data.get("results") or [])
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            if after in seen:
                raise self.fail(f"{what}: HubSpot sent the page cursor {after!r} twice")
            seen.add(after)
        raise self.fail(
            f"{what}: the page cursor did not end after {self.cfg.max_pages:,} pages of "
            f"{self.cfg.page_size}; stopped (raise max_pages under [sources.hubspot] if the "
            "portal really holds more)"
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: httpx.Response, cfg: HubSpotConfig) -> float:
    header = response.headers.get("Retry-After")
    try:
        wait = float(header) if header else cfg.backoff_seconds
    except ValueError:
        wait = cfg.backoff_seconds
    return min(max(wait, 0.0), cfg.max_wait_seconds)


def _scopes(body: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") or {}
        for key in ("requiredGranularScopes", "requiredScopes"):
            found += [str(s) for s in context.get(key) or []]
    return list(dict.fromkeys(found))


def _refused(response: httpx.Response) -> str:
    body = _json(response)
    message = str(body.get("message") or "")[:300]
    if response.status_code == 401:
        return (
            "bad token: HubSpot refused HUBSPOT_TOKEN (401: expired, revoked or mistyped); "
            "copy the access token of the private app again"
        )
    if response.status_code == 403:
        scopes = _scopes(body)
        if scopes or body.get("category") == "MISSING_SCOPES":
            named = " or ".join(scopes) or "(HubSpot did not say which)"
            return (
                f"missing scope: the private app needs {named} (403 MISSING_SCOPES); add it "
                "under the app's Scopes in HubSpot, see README, 'HubSpot'"
            )
        return f"access denied (403): {message}"
    return f"HubSpot refused the request (HTTP {response.status_code}): {message}"


# -- reading the portal --------------------------------------------------------------------


def owners(client: Client) -> pl.DataFrame:
    """Active and archived (deactivated) owners with their primary team's name."""
    rows: list[dict[str, Any]] = []
    for archived in ("false", "true"):
        for page in client.pages(
            "owners",
            "GET",
            "/crm/v3/owners",
            params={"limit": client.cfg.page_size, "archived": archived},
        ):
            rows += page
    schema = {
        "id": m.S,
        "email": m.S,
        "firstName": m.S,
        "lastName": m.S,
        "teams": pl.List(pl.Struct({"id": m.S, "name": m.S, "primary": pl.Boolean()})),
    }
    frame = pl.from_dicts(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    primary = pl.col("teams").list.eval(
        pl.element().filter(pl.element().struct.field("primary")).struct.field("name")
    )
    return frame.with_columns(team_name=primary.list.first())


def teams(owner_frame: pl.DataFrame) -> pl.DataFrame:
    """Every team an owner belongs to: (team_id, team_name)."""
    return (
        owner_frame.select(t=pl.col("teams"))
        .explode("t")
        .drop_nulls()
        .select(team_id=pl.col("t").struct.field("id"), team_name=pl.col("t").struct.field("name"))
        .unique("team_id", keep="first", maintain_order=True)
    )


def pipelines(client: Client) -> pl.DataFrame:
    """Deal pipelines, one row per stage (ids, labels, display orders, closed, probability)."""
    data = client.call("deal pipelines", "GET", "/crm/v3/pipelines/deals")
    stage = pl.Struct(
        {
            "id": m.S,
            "label": m.S,
            "displayOrder": pl.Int64(),
            "archived": pl.Boolean(),
            "metadata": pl.Struct({"isClosed": m.S, "probability": m.S}),
        }
    )
    schema = {
        "id": m.S,
        "label": m.S,
        "displayOrder": pl.Int64(),
        "archived": pl.Boolean(),
        "stages": pl.List(stage),
    }
    rows = data.get("results") or []
    frame = pl.from_dicts(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    # archived pipelines and stages are kept: old deals and their history may name them
    return (
        frame.select(
            pipeline_id="id",
            pipeline_label="label",
            pipeline_order="displayOrder",
            _gone=pl.col("archived").fill_null(False),
            s="stages",
        )
        .explode("s")
        .unnest("s")
        .filter(pl.col("id").is_not_null())
        .unnest("metadata")
        .select(
            "pipeline_id",
            "pipeline_label",
            "pipeline_order",
            stage_id="id",
            stage_label="label",
            stage_order="displayOrder",
            is_closed="isClosed",
            probability="probability",
            archived=pl.col("_gone") | pl.col("archived").fill_null(False),
        )
    )


def list_objects(
    client: Client, kind: str, properties: list[str], progress: Progress, fraction: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    params = {"limit": client.cfg.page_size, "properties": ",".join(properties)}
    for page in client.pages(kind, "GET", f"/crm/v3/objects/{kind}", params=params):
        rows += page
        progress(f"{kind}: {len(rows):,} read", fraction)
    return rows


def archived_ids(client: Client, kind: str) -> pl.Series:
    """Ids of the archived (deleted) records HubSpot still lists."""
    rows: list[dict[str, Any]] = []
    params = {"limit": client.cfg.page_size, "archived": "true", "properties": "hs_object_id"}
    for page in client.pages(f"{kind} (archived)", "GET", f"/crm/v3/objects/{kind}", params=params):
        rows += page
    return m.records(rows, [])["id"]


def search_changed(
    client: Client,
    kind: str,
    properties: list[str],
    since: datetime,
    progress: Progress,
    fraction: float,
) -> list[dict[str, Any]] | None:
    """Records modified at or after `since`, oldest change first; None when more changed
    than HubSpot's search returns (then a full pull is the only complete one)."""
    prop = MODIFIED[kind]
    body = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": prop,
                        "operator": "GTE",
                        "value": str(int(since.timestamp() * 1000)),
                    }
                ]
            }
        ],
        "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
        "properties": properties,
        "limit": client.cfg.page_size,
    }
    rows: list[dict[str, Any]] = []
    for page in client.pages(
        f"{kind} (changed)", "POST", f"/crm/v3/objects/{kind}/search", body=body
    ):
        rows += page
        if len(rows) >= client.cfg.search_limit:
            return None
        progress(f"{kind}: {len(rows):,} changed", fraction)
    return rows


def batch_records(client: Client, kind: str, ids: list[str], properties: list[str]
                  ) -> list[dict[str, Any]]:  # fmt: skip
    """The current properties of `ids`, read 100 records a batch."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), client.cfg.page_size):
        data = client.call(
            kind, "POST", f"/crm/v3/objects/{kind}/batch/read",
            json={"inputs": [{"id": i} for i in ids[start : start + client.cfg.page_size]],
                  "properties": properties},
        )  # fmt: skip
        rows += data.get("results") or []
    return rows


def histories(client: Client, kind: str, ids: list[str], properties: list[str]) -> pl.DataFrame:
    """The property histories of `ids`, read 50 records a batch."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), HISTORY_BATCH):
        chunk = ids[start : start + HISTORY_BATCH]
        data = client.call(
            f"{kind} history",
            "POST",
            f"/crm/v3/objects/{kind}/batch/read",
            json={
                "inputs": [{"id": i} for i in chunk],
                "properties": [],
                "propertiesWithHistory": properties,
            },
        )
        rows += data.get("results") or []
    return m.history(rows, properties)


def associated(client: Client, kinds: tuple[str, str], ids: list[str]) -> pl.DataFrame:
    """(from_id, to_id) for every record of kind ``kinds[1]`` associated with the records
    `ids` of kind ``kinds[0]``. A record with more associations than one answer holds gets
    a ``paging.next.after`` of its own: it is asked again with that cursor (bounded)."""
    what = f"{kinds[0][:-1]}-{kinds[1][:-1]} associations"
    pairs: list[dict[str, Any]] = []
    todo: list[dict[str, str]] = [{"id": i} for i in ids]
    for _ in range(client.cfg.max_pages):
        if not todo:
            break
        again: list[dict[str, str]] = []
        for start in range(0, len(todo), ASSOCIATION_BATCH):
            data = client.call(
                what,
                "POST",
                f"/crm/v4/associations/{kinds[0]}/{kinds[1]}/batch/read",
                json={"inputs": todo[start : start + ASSOCIATION_BATCH]},
            )
            for result in data.get("results") or []:
                pairs.append(result)
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    again.append({"id": str((result.get("from") or {}).get("id")), "after": after})
        todo = again
    else:
        raise client.fail(
            f"{what}: the page cursor did not end after {client.cfg.max_pages:,} pages; stopped"
        )
    # toObjectId: a number in live answers, text in the reference; read as text either way
    schema = {"from": pl.Struct({"id": m.S}), "to": pl.List(pl.Struct({"toObjectId": m.S}))}
    frame = pl.from_dicts(pairs, schema=schema) if pairs else pl.DataFrame(schema=schema)
    return (
        frame.select(from_id=pl.col("from").struct.field("id"), to=pl.col("to"))
        .explode("to")
        .select("from_id", to_id=pl.col("to").struct.field("toObjectId"))
        .drop_nulls()
    )


def campaigns(client: Client, cfg: HubSpotConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Marketing campaigns, and (campaign_id, lead_id) for the contacts of their reports."""
    props = m.campaign_properties(cfg.mapping)
    params = {"limit": client.cfg.page_size, "properties": ",".join(props)}
    rows: list[dict[str, Any]] = []
    try:
        for page in client.pages("campaigns", "GET", "/marketing/v3/campaigns", params=params):
            rows += page
        frame = m.records(rows, props)
        pairs: list[dict[str, str]] = []
        for campaign in frame.filter(~pl.col("archived"))["id"]:
            for kind in cfg.mapping.campaign_contacts:
                path = f"/marketing/v3/campaigns/{campaign}/reports/contacts/{kind}"
                for page in client.pages(
                    "campaign contacts", "GET", path, params={"limit": client.cfg.page_size}
                ):
                    pairs += [{"campaign_id": campaign, "lead_id": r.get("id")} for r in page]
    except HubSpotError as exc:
        raise HubSpotError(
            f"{exc}. Campaigns are optional: set campaigns = false under [sources.hubspot] in "
            "scorecard.toml to skip them"
        ) from None
    bad = m.unreadable(frame, m.value_kinds("campaigns", cfg.mapping))
    if bad:
        raise client.fail(
            f"campaigns: values HubSpot sent could not be read as dates or numbers: {bad}"
        )
    return frame, pl.DataFrame(pairs, schema={"campaign_id": m.S, "lead_id": m.S})


# -- the pull -------------------------------------------------------------------------------


@dataclass
class _Plan:
    full: bool
    since: datetime | None
    previous: dict[str, pl.DataFrame]
    last_full: datetime
    marks: dict[str, str]
    stages: str = ""  # the pipelines' fingerprint at the last refresh


def stages_fingerprint(pipeline_frame: pl.DataFrame, mc: m.MappingConfig) -> str:
    """Changes when a pipeline's stages (ids, names, order, closed / won) change."""
    table = m.stage_table(pipeline_frame, mc).sort("stage_id")
    rows = table.select("stage_id", "stage", "is_closed", "is_won").rows()
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:12]


def _plan(last: LastPull | None, cfg: HubSpotConfig, force_full: bool, now: datetime) -> _Plan:
    """Incremental when the last snapshot came from HubSpot with the same mapping and its
    full refresh is recent enough; full otherwise."""
    if last is None:
        return _Plan(True, None, {}, now, {})
    detail = last.detail or {}
    last_full = datetime.fromisoformat(detail.get("full_refresh_at", "1970-01-01T00:00:00+00:00"))
    marks = detail.get("watermarks") or {}
    usable = (
        last.source == "hubspot"
        and detail.get("mapping") == cfg.mapping.fingerprint()
        and set(marks) == set(MODIFIED)
        and not force_full
        and now - last_full < timedelta(days=cfg.full_refresh_days)
    )
    if not usable:
        return _Plan(True, None, {}, now, {})
    since = min(datetime.fromisoformat(w) for w in marks.values())
    since -= timedelta(minutes=cfg.lookback_minutes)
    return _Plan(False, since, last.read_all(), last_full, dict(marks), detail.get("stages", ""))


def _touched(
    client: Client, plan: _Plan, raw: Mapping[str, Any], changed: list[dict[str, Any]]
) -> list[str]:
    """Unchanged contacts whose deals changed: those that converted into a deal deleted
    since, and those associated with a changed deal (a deal linked to a contact does not
    change the contact). Read again, the deal each converted into is found anew, as a
    full pull finds it."""
    dead = pl.concat([raw["dead_deals"], raw["deals"].filter(pl.col("archived"))["id"]])
    live = raw["deals"].filter(~pl.col("archived"))["id"].to_list()
    linked = associated(client, ("deals", "contacts"), live)["to_id"]
    leads = plan.previous["leads"]
    orphans = leads.filter(pl.col("converted_opp_id").is_in(dead.implode()))["lead_id"]
    seen = {r["id"] for r in changed}
    return sorted(set(orphans.to_list()) | set(linked.to_list()) - seen)


@dataclass
class _Raw:
    owners: pl.DataFrame
    pipelines: pl.DataFrame
    deals: pl.DataFrame
    deal_history: pl.DataFrame
    contacts: pl.DataFrame
    contact_history: pl.DataFrame
    contact_deals: pl.DataFrame
    goals: pl.DataFrame | None
    campaigns: tuple[pl.DataFrame, pl.DataFrame] | None
    dead_deals: pl.Series
    dead_contacts: pl.Series


def _read(client: Client, cfg: HubSpotConfig, plan: _Plan, progress: Progress) -> _Raw | None:
    """Everything the pull needs; None when an incremental pull cannot be complete (the
    deal pipelines changed, or more records changed than search returns): the caller then
    pulls in full."""
    mc = cfg.mapping
    progress("HubSpot: owners and teams", 0.05)
    owner_frame = owners(client)
    progress("HubSpot: deal pipelines", 0.1)
    pipeline_frame = pipelines(client)
    if not plan.full and plan.stages != stages_fingerprint(pipeline_frame, mc):
        log.info("HubSpot's deal pipelines changed since the last refresh: pulling in full")
        return None  # old history rows may name stages that are gone or renamed
    goals = None
    if mc.quota_goals:  # small: read whole every time
        progress("HubSpot: goals (quotas)", 0.12)
        try:
            rows = list_objects(client, "goal_targets", m.GOAL_PROPERTIES, progress, 0.12)
        except HubSpotError as exc:
            raise HubSpotError(
                f"{exc}. Goals are optional: remove quota_goals under [sources.hubspot] in "
                "scorecard.toml to skip them"
            ) from None
        goals = m.records(rows, m.GOAL_PROPERTIES)
        bad = m.unreadable(goals, m.value_kinds("goal_targets", mc))
        if bad:
            raise client.fail(
                f"goal_targets: values HubSpot sent could not be read as dates or numbers: {bad}"
            )
    raw: dict[str, Any] = {}
    for i, (kind, props, history_props) in enumerate(
        (
            ("deals", m.deal_properties(mc), m.deal_history_properties(mc)),
            ("contacts", m.contact_properties(mc), m.contact_history_properties(mc)),
        )
    ):
        fraction = 0.15 + 0.4 * i
        if plan.full:
            rows = list_objects(client, kind, props, progress, fraction)
            dead = pl.Series("id", [], m.S)
        else:
            assert plan.since is not None
            found = search_changed(client, kind, props, plan.since, progress, fraction)
            if found is None:
                log.info("more HubSpot %s changed than search returns: pulling in full", kind)
                return None
            rows, dead = found, archived_ids(client, kind)
            if kind == "contacts":  # leads whose deals changed: read again, see _touched
                rows += batch_records(client, kind, _touched(client, plan, raw, rows), props)
        frame = m.records(rows, props)
        bad = m.unreadable(frame, m.value_kinds(kind, mc))
        if bad:
            raise client.fail(
                f"{kind}: values HubSpot sent could not be read as dates or numbers: {bad}"
            )
        live = frame.filter(~pl.col("archived"))["id"].to_list()
        progress(f"{kind}: {frame.height:,} records; reading their history", fraction + 0.2)
        raw[kind] = frame
        raw[f"{kind}_history"] = histories(client, kind, live, history_props)
        raw[f"dead_{kind}"] = dead
    progress("HubSpot: contact-deal associations", 0.9)
    live = raw["contacts"].filter(~pl.col("archived"))["id"].to_list()
    links = associated(client, ("contacts", "deals"), live).select(
        contact_id="from_id", deal_id="to_id"
    )
    return _Raw(
        owner_frame,
        pipeline_frame,
        raw["deals"],
        raw["deals_history"],
        raw["contacts"],
        raw["contacts_history"],
        links,
        goals,
        campaigns(client, cfg) if cfg.campaigns else None,
        raw["dead_deals"],
        raw["dead_contacts"],
    )


def _canonical(
    raw: _Raw, cfg: HubSpotConfig, plan: _Plan, fiscal_start_month: int
) -> dict[str, pl.DataFrame]:
    mc = cfg.mapping
    table = m.stage_table(raw.pipelines, mc)
    conflicts = m.stage_conflicts(table)
    if conflicts.height:
        row = conflicts.row(0, named=True)
        raise HubSpotError(
            f"deal pipelines: the stage name {row['stage']!r} is open in one pipeline and "
            f"closed or won in another ({row['pipelines']}); give the stages distinct names "
            "with [sources.hubspot.stage_names] (stage id = name)"
        )
    opps = m.opportunities(raw.deals, table, mc)
    live_deals = raw.deals.filter(~pl.col("archived"))["id"]
    hist = m.stage_history(raw.deal_history, live_deals, table, mc)
    all_opps = opps
    if not plan.full:
        touched = pl.concat([raw.deals["id"], raw.dead_deals])
        all_opps = m.merge_keyed(
            "opportunities", plan.previous["opportunities"], opps, "opp_id", touched
        )
        hist = m.merge_keyed(
            "stage_history", plan.previous["stage_history"], hist, "opp_id", touched
        )
    leads = m.leads(raw.contacts, raw.contact_deals, all_opps, mc)
    lead_hist = m.lead_history(raw.contact_history, leads, mc)
    if not plan.full:
        touched = pl.concat([raw.contacts["id"], raw.dead_contacts])
        leads = m.merge_keyed("leads", plan.previous["leads"], leads, "lead_id", touched)
        lead_hist = m.merge_keyed(
            "lead_history", plan.previous["lead_history"], lead_hist, "lead_id", touched
        )
    users = m.users(raw.owners, mc)
    out = {} if raw.goals is None else {
        "quotas": m.quotas(raw.goals, teams(raw.owners), users, mc, fiscal_start_month)
    }  # fmt: skip
    if raw.campaigns is not None:
        out["campaigns"] = m.campaigns(raw.campaigns[0], mc)
        out["campaign_members"] = m.campaign_members(raw.campaigns[1], leads)
    return out | {
        "users": users,
        "stages": m.stages(table, mc, pl.concat([all_opps["stage"], hist["stage"]])),
        "opportunities": all_opps,
        "stage_history": hist,
        "leads": leads,
        "lead_history": lead_hist,
    }


def _watermarks(raw: _Raw, plan: _Plan) -> dict[str, str]:
    """The latest change seen per object (kept from the last pull when nothing changed)."""
    marks = dict(plan.marks)
    for kind, frame in (("deals", raw.deals), ("contacts", raw.contacts)):
        latest = frame.select(m.stamp(MODIFIED[kind]).max()).item() if frame.height else None
        if latest is not None:
            marks[kind] = max(latest.isoformat(), marks.get(kind, ""))
        marks.setdefault(kind, datetime(1970, 1, 1, tzinfo=UTC).isoformat())
    return marks


def pull(settings: SourceSettings, progress: Progress, **options: Any) -> Pulled:
    """Pull the portal into canonical frames (full, or incremental on the last snapshot).

    Options: ``full=True`` forces a full refresh; ``last`` (a `LastPull`, None when there is
    no snapshot) is the current snapshot an incremental pull merges into (the caller reads the
    store: a connector knows no storage); ``environ`` replaces os.environ (tests).
    Raises `HubSpotError` naming what was read and the cause; nothing is stored then.
    """
    environ = options.get("environ") or os.environ
    cfg = HubSpotConfig.from_settings(settings)
    token = token_from_env(environ)
    now = datetime.now(UTC)
    plan = _plan(options.get("last"), cfg, bool(options.get("full")), now)
    client = Client(token, cfg)
    try:
        progress(f"Reading HubSpot ({'full' if plan.full else 'incremental'} refresh)", 0.02)
        raw = _read(client, cfg, plan, progress)
        if raw is None:
            log.warning("pulling HubSpot in full (see the reason logged above)")
            plan = _Plan(True, None, {}, now, {})
            raw = _read(client, cfg, plan, progress)
            assert raw is not None
        frames = _canonical(raw, cfg, plan, settings.scoring.fiscal_start_month)
    finally:
        client.close()
    detail = {
        "mode": "full" if plan.full else "incremental",
        "mapping": cfg.mapping.fingerprint(),
        "full_refresh_at": (now if plan.full else plan.last_full).isoformat(),
        "watermarks": _watermarks(raw, plan),
        "stages": stages_fingerprint(raw.pipelines, cfg.mapping),
        "calls": client.calls,
        "rate_limited": client.rate_limited,
        "paused": client.paused,
        "records": {"deals": raw.deals.height, "contacts": raw.contacts.height},
    }
    return Pulled(frames=frames, data_as_of=options.get("as_of") or now.date(), detail=detail)
