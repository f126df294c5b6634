"""A HubSpot API emulator: a real HTTP server on 127.0.0.1 speaking the v3 CRM JSON shapes.

The shapes follow HubSpot's public API reference:

* ``GET /crm/v3/owners`` (``limit``, ``after``, ``archived``): ``results`` of owners with
  ``id``, ``email``, ``firstName``, ``lastName``, ``userId``, ``teams`` [{``id``, ``name``,
  ``primary``}] and ``paging.next.after`` —
  https://developers.hubspot.com/docs/api-reference/crm-crm-owners-v3/guide
* ``GET /crm/v3/pipelines/deals``: ``results`` of pipelines (``id``, ``label``,
  ``displayOrder``, ``stages`` with ``metadata.isClosed`` and ``metadata.probability`` as
  strings) — https://developers.hubspot.com/docs/api-reference/latest/crm/pipelines/guide.md
* ``GET /crm/v3/objects/{deals|contacts}`` (``limit`` ≤ 100, ``after``, ``properties``,
  ``archived``): ``results`` [{``id``, ``properties`` (all text, null when unset),
  ``createdAt``, ``updatedAt``, ``archived``, ``archivedAt``}] and ``paging.next.after``
  (a live answer with ``propertiesWithHistory`` is quoted in HubSpot/hubspot-api-nodejs#154).
* ``POST /crm/v3/objects/{kind}/search``: ``filterGroups`` / ``filters`` (``GTE`` on the
  last-modified property, value in epoch milliseconds), ``sorts``, ``properties``,
  ``limit``, ``after``; answers ``total``, ``results``, ``paging``; at most 10,000 results
  per query (400 beyond) — https://developers.hubspot.com/docs/api-reference/2026-03/crm/search-the-crm
* ``POST /crm/v3/objects/{kind}/batch/read``: ``inputs`` [{``id``}], ``properties``,
  ``propertiesWithHistory`` (each a list of {``value``, ``timestamp``, ``sourceType``, ...},
  newest first; at most 50 inputs when history is asked) —
  https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/batch/get-objects
* ``GET /crm/v3/objects/goal_targets``: goal targets with ``hs_goal_name``,
  ``hs_target_amount``, ``hs_start_datetime``, ``hs_end_datetime``, ``hubspot_owner_id`` /
  ``hs_assignee_team_id`` (scope ``crm.objects.goals.read``) —
  https://developers.hubspot.com/docs/api-reference/latest/crm/objects/goals/guide
* ``GET /marketing/v3/campaigns`` (``limit``, ``after``, ``properties``): campaigns with
  UUID ids and ``properties`` (``hs_name``, ``hs_start_date``, ``hs_end_date`` as
  YYYY-MM-DD, ``hs_spend_items_sum_amount``); ``GET /marketing/v3/campaigns/{campaignGuid}/
  reports/contacts/{contactType}``: ``results`` [{``id``}] and ``paging`` (scope
  ``marketing.campaigns.read``) —
  https://developers.hubspot.com/docs/api-reference/latest/marketing/campaigns/reports/get-contact-ids
* ``POST /crm/v4/associations/{contacts/deals|deals/contacts}/batch/read``: ``inputs``
  [{``id``}] (at most 1,000); ``results`` [{``from``: {``id``}, ``to``: [{``toObjectId``,
  ``associationTypes`` [{``category``, ``typeId``, ``label``}]}], ``paging``}], ``status``;
  the reference shows ``toObjectId`` as text, live answers send a number (sent here) —
  https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/batch/get-associations
* Errors: ``{"status": "error", "message", "correlationId", "category"}``; 401
  ``INVALID_AUTHENTICATION``; 403 ``MISSING_SCOPES`` with ``errors[].context
  .requiredGranularScopes`` (the shape in HubSpot/hubspot-api-nodejs#268); 429 with
  ``errorType`` "RATE_LIMIT", ``policyName`` (``TEN_SECONDLY_ROLLING`` or ``DAILY``) and a
  ``Retry-After`` header; every answer carries the ``X-HubSpot-RateLimit-*`` headers
  (``-Daily``, ``-Daily-Remaining``, ``-Interval-Milliseconds``, ``-Max``, ``-Remaining``, as
  quoted from a live answer in HubSpot/hubspot-api-python#143).

The 10-second limit is emulated as fixed windows (``burst_max`` calls per ``window_ms``):
``X-HubSpot-RateLimit-Remaining`` counts down, and a call over it gets the 429.

Test hooks (`Faults`): a run of answers with a given status, a connection dropped half-way
through a page, a page cursor that never ends.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.hubspot_emulator.portal import Portal

SEARCH_LIMIT = 10_000
SCOPE = {"goal_targets": "crm.objects.goals.read"}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up on purpose are expected


@dataclass
class Rule:
    """Answer the next `times` requests whose path contains `path` with `status` (and a
    HubSpot error body), or drop them half-way through (`status` 0), or, for `status` -1,
    answer normally but with a page cursor that never ends, or for -2, answer slowly."""

    path: str
    status: int
    times: int = 1
    also: str = ""  # a second part the path must contain
    policy: str = "TEN_SECONDLY_ROLLING"
    retry_after: str = "0"


@dataclass
class Faults:
    rules: list[Rule] = field(default_factory=list)

    def take(self, path: str) -> Rule | None:
        for rule in self.rules:
            if rule.times > 0 and rule.path in path and rule.also in path:
                rule.times -= 1
                return rule
        return None


def error(status: int, message: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


class HubSpotEmulator:
    """`start()` binds a free port on 127.0.0.1; `url` is its base URL."""

    def __init__(self, portal: Portal, *, token: str) -> None:
        self.portal, self.token = portal, token
        self.faults = Faults()
        self.log: list[tuple[str, str]] = []
        self.daily_remaining = 250_000
        # the 10-second limit, as fixed windows: `burst_max` calls per `window_ms`
        self.burst_max, self.window_ms = 190, 10_000
        self.slow_seconds = 1.0  # how long a `Rule(status=-2)` answer takes
        self.association_page = 500  # associated records per object in one answer
        self._window_start, self._window_calls = 0.0, 0
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> HubSpotEmulator:
        handler = type("Handler", (_Handler,), {"emu": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def burst(self) -> tuple[int, float]:
        """Count a call in the current window: (calls left in it, seconds until it ends)."""
        now = time.monotonic()
        with self.portal.lock:
            if now - self._window_start >= self.window_ms / 1000:
                self._window_start, self._window_calls = now, 0
            self._window_calls += 1
            left = self.burst_max - self._window_calls
            return left, self._window_start + self.window_ms / 1000 - now

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- routes ---------------------------------------------------------------------------
    def route(self, method: str, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parsed = urlparse(url)
        path, query = parsed.path, {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/crm/v3/owners":
            return self._scoped("crm.objects.owners.read") or self._owners(query)
        if method == "GET" and path == "/crm/v3/pipelines/deals":
            return self._scoped("crm.objects.deals.read") or (
                200,
                {"results": self.portal.pipelines},
            )
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
            kind = parts[3]
            if kind not in self.portal.objects:
                return 400, error(
                    400, f"Unable to infer object type from: {kind}", "VALIDATION_ERROR"
                )
            denied = self._scoped(SCOPE.get(kind, f"crm.objects.{kind}.read"))
            if denied:
                return denied
            if method == "GET" and len(parts) == 4:
                return self._list(kind, query)
            if method == "POST" and parts[4:] == ["search"]:
                return self._search(kind, body)
            if method == "POST" and parts[4:] == ["batch", "read"]:
                return self._batch_read(kind, body)
        if method == "GET" and parts[:3] == ["marketing", "v3", "campaigns"]:
            denied = self._scoped("marketing.campaigns.read")
            if denied:
                return denied
            if len(parts) == 3:
                props = [p for p in query.get("properties", "").split(",") if p]
                rows = [
                    {**c, "properties": {p: c["properties"].get(p) for p in props}}
                    for c in self.portal.campaigns
                ]
                return 200, self._page(rows, query)
            if len(parts) == 7 and parts[4:6] == ["reports", "contacts"]:
                reports = self.portal.campaign_contacts.get(parts[3])
                if reports is None:
                    return 404, error(404, f"Campaign {parts[3]} not found", "OBJECT_NOT_FOUND")
                ids = [{"id": c} for c in reports.get(parts[6], [])]
                return 200, self._page(ids, query)
        if method == "POST" and path in (
            "/crm/v4/associations/contacts/deals/batch/read",
            "/crm/v4/associations/deals/contacts/batch/read",
        ):
            denied = self._scoped("crm.objects.contacts.read") or self._scoped(
                "crm.objects.deals.read"
            )
            return denied or self._associations(body, reverse=parts[3] == "deals")
        return 404, error(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    def _scoped(self, scope: str) -> tuple[int, dict[str, Any]] | None:
        if scope in self.portal.granted:
            return None
        return 403, error(
            403,
            "This app hasn't been granted all required scopes to make this call. Read more "
            "about required scopes here: https://developers.hubspot.com/scopes.",
            "MISSING_SCOPES",
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": [scope]},
                }
            ],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )

    @staticmethod
    def _page(items: list[Any], query: dict[str, str], cap: int = 100) -> dict[str, Any]:
        limit = min(int(query.get("limit") or 10), cap)
        after = query.get("after") or "0"
        start = int(after) if after.isdigit() else 0  # cursors are opaque to clients
        out: dict[str, Any] = {"results": items[start : start + limit]}
        if start + limit < len(items):
            after = str(start + limit)
            out["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return out

    def _owners(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        archived = query.get("archived") == "true"
        owners = [o for o in self.portal.owners if o["archived"] == archived]
        return 200, self._page(owners, query, cap=500)

    def _records(self, kind: str, archived: bool) -> list[Any]:
        recs = self.portal.objects[kind]
        return [recs[k] for k in sorted(recs, key=int) if recs[k].archived == archived]

    def _list(self, kind: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        props = [p for p in query.get("properties", "").split(",") if p]
        recs = self._records(kind, query.get("archived") == "true")
        page = self._page(recs, query)
        page["results"] = [r.api(props) for r in page["results"]]
        return 200, page

    def _search(self, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        recs = self._records(kind, False)
        for group in body.get("filterGroups") or []:
            for f in group.get("filters") or []:
                if f.get("operator") != "GTE":
                    return 400, error(400, "unsupported operator", "VALIDATION_ERROR")
                since = datetime.fromtimestamp(int(f["value"]) / 1000, UTC)
                recs = [r for r in recs if _when(r.properties.get(f["propertyName"])) >= since]
        for sort in body.get("sorts") or []:
            recs.sort(key=lambda r, p=sort["propertyName"]: (r.properties.get(p) or "", int(r.id)))
        start, limit = int(body.get("after") or 0), min(int(body.get("limit") or 10), 200)
        if start + limit > SEARCH_LIMIT:
            return 400, error(
                400,
                "There was a problem with the request.",
                "VALIDATION_ERROR",
                errors=[{"message": "Search results are limited to 10,000 records."}],
            )
        page = self._page(recs, {"after": str(start), "limit": str(limit)}, cap=200)
        props = body.get("properties") or []
        page["results"] = [r.api(props) for r in page["results"]]
        page["total"] = len(recs)
        return 200, page

    def _batch_read(self, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        inputs = body.get("inputs") or []
        history = body.get("propertiesWithHistory") or []
        if len(inputs) > (50 if history else 100):
            return 400, error(
                400,
                f"Batch input size {len(inputs)} exceeds the limit",
                "VALIDATION_ERROR",
            )
        recs = self.portal.objects[kind]
        found = [recs[i["id"]] for i in inputs if i["id"] in recs and not recs[i["id"]].archived]
        now = _iso_now()
        return 200, {
            "status": "COMPLETE",
            "results": [r.api(body.get("properties") or [], history) for r in found],
            "requestedAt": now,
            "startedAt": now,
            "completedAt": now,
        }

    def _associations(self, body: dict[str, Any], reverse: bool) -> tuple[int, dict[str, Any]]:
        if len(body.get("inputs") or []) > 1000:
            return 400, error(400, "Batch input size exceeds the limit of 1000", "VALIDATION_ERROR")
        links = self.portal.associations
        if reverse:  # deal → contacts
            links = {}
            for contact, deals in sorted(self.portal.associations.items()):
                for deal in deals:
                    links.setdefault(deal, []).append(contact)
        results = []
        for item in body.get("inputs") or []:
            deals = links.get(item["id"], [])
            start = int(item.get("after") or 0)
            page = deals[start : start + self.association_page]
            if page:
                result: dict[str, Any] = {
                    "from": {"id": item["id"]},
                    "to": [
                        {
                            "toObjectId": int(d),
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None}
                            ],
                        }
                        for d in page
                    ],
                }
                if start + len(page) < len(deals):
                    after = str(start + len(page))
                    result["paging"] = {"next": {"after": after, "link": None}}
                results.append(result)
        return 200, {"status": "COMPLETE", "results": results}


def _when(text: str | None) -> datetime:
    if not text:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    emu: HubSpotEmulator
    remaining = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        emu = self.emu
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        emu.log.append((method, self.path))
        left, reset = emu.burst()
        self.remaining = max(left, 0)
        if self.headers.get("Authorization") != f"Bearer {emu.token}":
            self._send(
                401,
                error(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at "
                    "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                ),
            )
            return
        with emu.portal.lock:
            rule = emu.faults.take(self.path)
        if left < 0:  # over the 10-second limit
            wait = f"{math.ceil(reset)}" if emu.window_ms >= 1000 else f"{reset:.3f}"
            rule = Rule(self.path, 429, retry_after=wait)
        if rule is not None and rule.status == 429:
            body = error(
                429,
                f"You have reached your {rule.policy.lower()} limit.",
                "RATE_LIMITS",
                errorType="RATE_LIMIT",
                policyName=rule.policy,
            )
            self._send(429, body, {"Retry-After": rule.retry_after})
            return
        if rule is not None and rule.status == -2:  # a slow answer
            time.sleep(emu.slow_seconds)
        if rule is not None and rule.status >= 400:
            self._send(rule.status, error(rule.status, "internal error", "INTERNAL_ERROR"))
            return
        try:
            with emu.portal.lock:
                status, payload = emu.route(method, self.path, json.loads(raw or b"{}"))
        except Exception as exc:  # an emulator bug shows as HubSpot's 500
            status, payload = 500, error(500, repr(exc), "INTERNAL_ERROR")
        if rule is not None and rule.status == -1 and status == 200:
            payload["paging"] = {"next": {"after": f"x{len(emu.log)}", "link": "?after=x"}}
        if rule is not None and rule.status == 0:  # headers and half the page, then hang up
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._send(status, payload)

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        emu = self.emu
        emu.daily_remaining -= 1
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-HubSpot-RateLimit-Daily", "250000")
            self.send_header("X-HubSpot-RateLimit-Daily-Remaining", str(emu.daily_remaining))
            self.send_header("X-HubSpot-RateLimit-Interval-Milliseconds", str(emu.window_ms))
            self.send_header("X-HubSpot-RateLimit-Max", str(emu.burst_max))
            self.send_header("X-HubSpot-RateLimit-Remaining", str(self.remaining))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
