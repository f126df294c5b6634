"""The Salesforce connector: Bulk API 1.0 query jobs through `salesforce-bulk`, mapped into
the canonical model (see connectors/salesforce_mapping.py and ../shared/salesforce/PROTOCOL.md).

* Login: username + password + security token (SOAP, ``domain`` login / test / My Domain), or
  an existing session id + instance URL; secrets only from the environment / `.env`.
* Each object is one bulk ``queryAll`` job (``IsDeleted`` shows deletes), PK-chunked for large
  objects, polled with a deadline (never the client's silent ``wait_for_batch``); every HTTP
  call has a timeout, transient failures are retried with backoff, an expired session is
  renewed once. Results are read with one ``.read()`` each and parsed by polars from bytes.
* Incremental: only records with ``SystemModstamp`` (history: ``CreatedDate``) at or after the
  last watermark (minus a look-back) are pulled and merged into the last snapshot; small
  objects are pulled whole; a full refresh runs every ``full_refresh_days``.
"""

from __future__ import annotations

import contextvars
import io
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import polars as pl
import requests
import salesforce_bulk.salesforce_bulk as _bulk_module
from salesforce_bulk import BulkApiError, SalesforceBulk
from simple_salesforce import SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from connectors import salesforce_mapping as m
from connectors.base import LastPull, Progress, Pulled, RefreshError, SourceSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
NOT_FOUND = b"Records not found for this query"
INCREMENTAL = {
    "Opportunity": "SystemModstamp",
    "OpportunityHistory": "SystemModstamp",
    "Lead": "SystemModstamp",
    "LeadHistory": "CreatedDate",
    "CampaignMember": "SystemModstamp",
}
FORECASTING = ("ForecastingQuota", "Period", "ForecastingSubmission", "ForecastingSubmissionItem")


class SalesforceError(RefreshError):
    """A Salesforce pull failed; the message names the object and the cause in plain words."""


class _Unanswered(Exception):
    """A call that must not be sent twice got no answer (dropped connection or timeout)."""


@dataclass(frozen=True)
class Credentials:
    """Secrets from the environment; `repr` never shows them."""

    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    session_id: str = field(default="", repr=False)
    instance_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Credentials:
        creds = cls(
            *(
                environ.get(k, "").strip()
                for k in (
                    "SF_USERNAME",
                    "SF_PASSWORD",
                    "SF_SECURITY_TOKEN",
                    "SF_SESSION_ID",
                    "SF_INSTANCE_URL",
                )
            )
        )
        if not (creds.username and creds.password) and not (
            creds.session_id and creds.instance_url
        ):
            raise SalesforceError(
                "Salesforce credentials missing: set SF_USERNAME, SF_PASSWORD and "
                "SF_SECURITY_TOKEN "
                "(or SF_SESSION_ID and SF_INSTANCE_URL) in the environment or .env"
            )
        return creds

    def secrets(self) -> list[str]:
        return [
            s for s in (self.password, self.token, self.password + self.token, self.session_id) if s
        ]


@dataclass(frozen=True)
class SalesforceConfig:
    """`[sources.salesforce]` of scorecard.toml (see the comments there)."""

    domain: str = "login"
    login_url: str = ""
    api_version: str = "62.0"
    pk_chunk_size: int = 100_000
    pk_chunk_objects: tuple[str, ...] = ("Opportunity", "Lead", "CampaignMember")
    poll_seconds: float = 2.0
    batch_timeout_seconds: float = 1800.0
    http_timeout_seconds: float = 120.0
    retries: int = 3
    backoff_seconds: float = 1.0
    full_refresh_days: float = 7.0
    lookback_minutes: float = 5.0
    forecasting: bool = True
    # The org's address for links to its records (the deal page); default: the instance
    # the last login reached, e.g. "https://acme.my.salesforce.com".
    instance_url: str = ""
    mapping: m.MappingConfig = field(default_factory=m.MappingConfig)

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> SalesforceConfig:
        raw = dict(settings.sources.get("salesforce", {}))
        scalars = {k: v for k, v in raw.items() if not isinstance(v, Mapping)}
        if "pk_chunk_objects" in scalars:
            scalars["pk_chunk_objects"] = tuple(scalars["pk_chunk_objects"])
        try:
            cfg = cls(**scalars, mapping=m.MappingConfig.from_toml(raw))
        except (TypeError, m.MappingError) as exc:
            raise SalesforceError(f"scorecard.toml [sources.salesforce]: {exc}") from exc
        if float(cfg.api_version) < 59.0:
            raise SalesforceError(f"api_version {cfg.api_version} is too old: use 59.0 or later")
        return cfg

    @property
    def login_server(self) -> str:
        return self.login_url.rstrip("/") or f"https://{self.domain}.salesforce.com"


# -- HTTP with timeouts -------------------------------------------------------------------
# salesforce-bulk calls module-level requests.get/post without timeouts (PROTOCOL §1.5);
# it gets this stand-in, which sends them through the pull's session (timeouts, keep-alive).
_HTTP: contextvars.ContextVar[requests.Session] = contextvars.ContextVar("sf_http")


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = (min(10.0, timeout), timeout)

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


class _RequestsStandIn:
    def get(self, *args: Any, **kwargs: Any) -> requests.Response:
        return _HTTP.get().get(*args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        return _HTTP.get().post(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)


_bulk_module.requests = _RequestsStandIn()  # type: ignore[assignment]


class BulkClient:
    """One pull's Bulk API conversation: login, retries, re-login, jobs, results."""

    def __init__(self, creds: Credentials, cfg: SalesforceConfig) -> None:
        self.creds, self.cfg = creds, cfg
        self.http = _TimeoutSession(cfg.http_timeout_seconds)
        _HTTP.set(self.http)
        self.bulk: SalesforceBulk | None = None
        self.stats: dict[str, dict[str, Any]] = {}
        self.instance_url = ""  # the org's own host after login (links to its records)

    def scrub(self, text: str) -> str:
        for secret in self.creds.secrets():
            text = text.replace(secret, "***")
        return text

    def fail(self, message: str) -> SalesforceError:
        return SalesforceError(self.scrub(message))

    # -- login -------------------------------------------------------------------------
    def login(self) -> None:
        c, cfg = self.creds, self.cfg
        if not c.username:
            self.bulk = SalesforceBulk(
                sessionId=c.session_id, host=c.instance_url.rstrip("/"), API_version=cfg.api_version
            )
            self.instance_url = c.instance_url.rstrip("/")
            return
        try:
            sid, instance = SalesforceLogin(
                username=c.username,
                password=c.password,
                security_token=c.token,
                sf_version=cfg.api_version,
                session=self.http,
                **_login_target(cfg),
            )
        except SalesforceAuthenticationFailed as exc:
            raise self.fail(_login_problem(exc, cfg)) from None
        except requests.RequestException as exc:
            raise self.fail(
                f"Salesforce login at {cfg.login_server} failed: {_http_problem(exc, cfg)}"
            ) from None
        scheme = "http://" if cfg.login_server.startswith("http://") else ""
        self.bulk = SalesforceBulk(
            sessionId=sid, host=scheme + instance, API_version=cfg.api_version
        )
        self.instance_url = (scheme or "https://") + instance.rstrip("/")

    # -- one call, with retries and one re-login -----------------------------------------
    def call(self, obj: str, what: Callable[[SalesforceBulk], T], *, resend: bool = True) -> T:
        """`what(bulk)` with retries of server errors and dropped connections, and one
        re-login when the session expired. `resend=False` for a call that creates something:
        a dropped connection then raises `_Unanswered` instead of sending it again."""
        relogged, attempt = False, 0
        while True:
            assert self.bulk is not None
            try:
                return what(self.bulk)
            except BulkApiError as exc:
                if "InvalidSessionId" in str(exc) and not relogged and self.creds.username:
                    log.info("Salesforce session expired; logging in again")
                    self.login()
                    relogged = True
                    continue
                if "InvalidSessionId" in str(exc):
                    raise self.fail(_expired(self.creds)) from None
                if (exc.status_code or 0) < 500 or attempt >= self.cfg.retries:
                    raise self.fail(f"{obj}: {_api_problem(exc, self.cfg)}{_hint(obj)}") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not resend:
                    raise _Unanswered(_http_problem(exc, self.cfg)) from None
                if attempt >= self.cfg.retries:
                    raise self.fail(
                        f"{obj}: {_http_problem(exc, self.cfg)} "
                        f"(gave up after {attempt + 1} attempts)"
                    ) from None
            attempt += 1
            wait = self.cfg.backoff_seconds * 2 ** (attempt - 1)
            log.warning("%s: transient Salesforce error, retry %d in %.1f s", obj, attempt, wait)
            time.sleep(wait)

    # -- one object ----------------------------------------------------------------------
    def query(
        self, obj: str, soql: str, *, pk: bool, progress: Callable[[str], None]
    ) -> list[bytes]:
        """Run a queryAll job for `obj` and return the raw CSV result files."""
        chunk = self.cfg.pk_chunk_size if pk else False
        job = self.call(
            obj, lambda b: b.create_queryall_job(obj, contentType="CSV", pk_chunking=chunk)
        )
        try:
            original = self._add_batch(obj, job, soql)
            work = self._wait(obj, job, original, pk, progress)
        except BaseException:
            self._abort(job)
            raise
        self.call(obj, lambda b: b.close_job(job))
        started, bodies = time.perf_counter(), []
        for batch in work:
            ids = self.call(
                obj, lambda b, i=batch["id"]: b.get_query_batch_result_ids(i, job_id=job)
            )
            for rid in ids or []:
                bodies.append(
                    self.call(
                        obj,
                        lambda b, i=batch["id"], r=rid: b.get_query_batch_results(
                            i, r, job_id=job
                        ).read(),
                    )
                )
        self.stats[obj] = {
            "batches": len(work),
            "bytes": sum(map(len, bodies)),
            "transfer_seconds": round(time.perf_counter() - started, 3),
        }
        return bodies

    def _add_batch(self, obj: str, job: str, soql: str) -> str:
        """Add the query batch to the new `job`, once. A request whose answer was lost may
        have created the batch all the same; the job's batch list says so (the job is ours
        and new, so its first batch is this one). Sending it again would add a second batch,
        and with PK chunking a second set of chunks: rows read twice, or a wait for the
        first batch's chunks that never ends."""
        attempt = 0
        while True:
            try:
                return self.call(obj, lambda b: b.query(job, soql), resend=False)
            except _Unanswered as exc:
                problem = str(exc)
            # The server may still be creating it: look now, and once more a poll later.
            for pause in (0.0, self.cfg.poll_seconds):
                time.sleep(pause)
                batches = self._batches(obj, job)
                if batches:
                    log.warning("%s: the answer to a new batch was lost; using the batch", obj)
                    return str(batches[0]["id"])
            if attempt >= self.cfg.retries:
                raise self.fail(f"{obj}: {problem} (gave up after {attempt + 1} attempts)")
            attempt += 1
            log.warning("%s: the query batch was not created, sending it again", obj)
            time.sleep(self.cfg.backoff_seconds * 2 ** (attempt - 1))

    def _batches(self, obj: str, job: str) -> list[dict[str, Any]]:
        """The job's batches in the order they were created ([] when it has none)."""
        try:
            batches = self.call(obj, lambda b: b.get_batch_list(job))
        except (KeyError, TypeError):  # an empty batchInfoList has no batchInfo element
            return []
        if isinstance(batches, dict):
            return [batches]
        return list(batches or [])

    def _wait(
        self, obj: str, job: str, original: str, pk: bool, progress: Callable[[str], None]
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.cfg.batch_timeout_seconds
        while True:
            batches = self._batches(obj, job)
            failed = [b for b in batches if b["state"] == "Failed"]
            if failed:
                raise self.fail(_batch_problem(obj, failed[0].get("stateMessage") or ""))
            first = next(b for b in batches if b["id"] == original)
            # With PK chunking the original batch is only split (NotProcessed); its chunks
            # are the work.
            chunks = [b for b in batches if b["id"] != original and b["state"] != "NotProcessed"]
            work = chunks if pk else [first]
            if first["state"] == "NotProcessed" and not pk:
                raise self.fail(f"{obj}: Salesforce did not process the query (job aborted?)")
            done = [b for b in work if b["state"] == "Completed"]
            ready = first["state"] in (("NotProcessed",) if pk else ("Completed",))
            if ready and work and len(done) == len(work):
                return work
            rows = sum(int(b.get("numberRecordsProcessed") or 0) for b in done)
            progress(f"{obj}: {len(done)}/{len(work) or 1} batches done, {rows:,} rows")
            if time.monotonic() > deadline:
                states = ", ".join(sorted({b["state"] for b in batches}))
                raise self.fail(
                    f"{obj}: timed out after {self.cfg.batch_timeout_seconds:g} s waiting "
                    f"for the Bulk API to finish (batches {states}); the job was aborted"
                )
            time.sleep(self.cfg.poll_seconds)

    def _abort(self, job: str) -> None:
        try:
            assert self.bulk is not None
            self.bulk.abort_job(job)
        except Exception:  # best effort: the error that got us here matters more
            log.warning("could not abort Salesforce job")


def _login_target(cfg: SalesforceConfig) -> dict[str, str]:
    if cfg.login_url:
        return {"scratch_url": cfg.login_url.rstrip("/")}
    return {"domain": cfg.domain}


def _login_problem(exc: SalesforceAuthenticationFailed, cfg: SalesforceConfig) -> str:
    code = str(getattr(exc, "code", ""))
    plain = {
        "INVALID_LOGIN": "bad credentials (username, password or security token are wrong, "
        "or the user is locked out)",
        "LOGIN_MUST_USE_SECURITY_TOKEN": "bad credentials: this org requires the security token "
        "(SF_SECURITY_TOKEN)",
        "API_DISABLED_FOR_ORG": "missing permission: API access is not enabled for this org",
        "API_CURRENTLY_DISABLED": "missing permission: the user lacks the 'API Enabled' permission",
        "PASSWORD_LOCKOUT": "the user is locked out after too many failed logins",
    }.get(code, f"{code}: {getattr(exc, 'message', '')}")
    return f"Salesforce login at {cfg.login_server} failed: {plain}"


def _expired(creds: Credentials) -> str:
    if creds.username:
        return "Salesforce session expired again right after logging in again; try later"
    return (
        "Salesforce session expired: SF_SESSION_ID is no longer valid; set a fresh one "
        "or use SF_USERNAME / SF_PASSWORD / SF_SECURITY_TOKEN"
    )


def _http_problem(exc: Exception, cfg: SalesforceConfig) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timeout: Salesforce did not answer within {cfg.http_timeout_seconds:g} s"
    return f"connection to Salesforce failed or was dropped ({type(exc).__name__})"


def _api_problem(exc: BulkApiError, cfg: SalesforceConfig) -> str:
    text = str(exc)
    code = re.search(r"<exceptionCode>(\w+)</exceptionCode>", text)
    message = re.search(r"<exceptionMessage>(.*?)</exceptionMessage>", text, re.S)
    if (
        code
        and code.group(1) in ("InvalidJob", "InvalidEntity")
        and message
        and ("Unable to find object" in message.group(1) or "not supported" in message.group(1))
    ):
        return (
            "not available to this user: missing permission, or the object does not exist "
            f"in this org at API version {cfg.api_version} ({message.group(1)})"
        )
    if code and message:
        return f"Salesforce refused the request: {code.group(1)}: {message.group(1)}"
    return f"Salesforce answered HTTP {exc.status_code}"


def _hint(obj: str) -> str:
    """What to set when an optional object is refused."""
    if obj in FORECASTING:
        return (
            ". The forecasting objects are optional: if this org does not use Collaborative "
            "Forecasts (or this user may not read them), set forecasting = false under "
            "[sources.salesforce] in scorecard.toml to skip them"
        )
    return ""


def _batch_problem(obj: str, message: str) -> str:
    column = re.search(r"No such column '([^']+)'", message)
    if column:
        return (
            f"{obj}: unknown field '{column.group(1)}' (a custom field in [sources.salesforce."
            "fields] that this org lacks, or hidden from this user by field-level security)"
        )
    return f"{obj}: the Bulk API batch failed: {message}"


# -- parsing ------------------------------------------------------------------------------


def parse_results(bodies: list[bytes], fields: list[str]) -> pl.DataFrame:
    """CSV result files → one all-text frame with the requested column names."""
    frames = [
        pl.read_csv(io.BytesIO(b), infer_schema=False)
        for b in bodies
        if not b.startswith(NOT_FOUND)
    ]
    if not frames:
        return pl.DataFrame(schema=dict.fromkeys(fields, pl.String))
    by_lower = {f.lower(): f for f in fields}
    return pl.concat(frames).rename(lambda c: by_lower.get(c.lower(), c))


def soql(obj: str, fields: list[str], since: datetime | None) -> str:
    where = []
    if obj == "Group":
        where.append("Type = 'Queue'")
    if since is not None:
        where.append(f"{INCREMENTAL[obj]} >= {since.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    return f"SELECT {', '.join(fields)} FROM {obj}" + (
        f" WHERE {' AND '.join(where)}" if where else ""
    )


# -- the pull -----------------------------------------------------------------------------


@dataclass
class _Plan:
    full: bool
    since: dict[str, datetime]
    marks: dict[str, str]
    previous: dict[str, pl.DataFrame]
    last_full: datetime


def _plan(last: LastPull | None, cfg: SalesforceConfig, force_full: bool, now: datetime) -> _Plan:
    """Incremental when the last snapshot came from this org with the same mapping and its
    full refresh is recent enough; full otherwise."""
    if last is None:
        return _Plan(True, {}, {}, {}, now)
    detail = last.detail or {}
    last_full = datetime.fromisoformat(detail.get("full_refresh_at", "1970-01-01T00:00:00+00:00"))
    usable = (
        last.source == "salesforce"
        and detail.get("mapping") == cfg.mapping.fingerprint()
        and detail.get("watermarks")
        and not force_full
        and now - last_full < timedelta(days=cfg.full_refresh_days)
    )
    if not usable:
        return _Plan(True, {}, {}, {}, now)
    back = timedelta(minutes=cfg.lookback_minutes)
    since = {o: datetime.fromisoformat(w) - back for o, w in detail["watermarks"].items()}
    return _Plan(False, since, dict(detail["watermarks"]), last.read_all(), last_full)


def _objects(cfg: SalesforceConfig) -> list[str]:
    names = list(m.object_fields(cfg.mapping))
    if not cfg.forecasting:
        return [n for n in names if n not in FORECASTING]
    if float(cfg.api_version) < 62.0:  # submissions exist from API 62.0 (Winter '25)
        return [n for n in names if n not in FORECASTING[1:]]
    return names


def _pull_objects(
    client: BulkClient, cfg: SalesforceConfig, plan: _Plan, progress: Progress
) -> dict[str, pl.DataFrame]:
    fields, names, raw = m.object_fields(cfg.mapping), _objects(cfg), {}
    for i, obj in enumerate(names):
        fraction = 0.05 + 0.5 * i / len(names)
        progress(f"{obj}: querying", fraction)
        text = soql(obj, fields[obj], None if plan.full else plan.since.get(obj))
        bodies = client.query(
            obj,
            text,
            pk=obj in cfg.pk_chunk_objects,
            progress=lambda msg, f=fraction: progress(msg, f),
        )
        started = time.perf_counter()
        frame, bad = m.typed(parse_results(bodies, fields[obj]), cfg.mapping)
        if bad:
            raise client.fail(f"{obj}: values Salesforce sent could not be read: {bad}")
        client.stats[obj].update(
            rows=frame.height, parse_seconds=round(time.perf_counter() - started, 3)
        )
        progress(
            f"{obj}: {frame.height:,} rows in {client.stats[obj]['batches']} batches", fraction
        )
        raw[obj] = frame
    return raw


def _watermarks(raw: Mapping[str, pl.DataFrame], plan: _Plan) -> dict[str, str]:
    """The latest change seen per object (kept from the last pull when nothing changed)."""
    marks = dict(plan.marks)
    for obj, column in INCREMENTAL.items():
        if raw[obj].height:
            latest = raw[obj][column].max()
            marks[obj] = max(latest.isoformat(), marks.get(obj, ""))
    return marks


def _canonical(
    raw: Mapping[str, pl.DataFrame], cfg: SalesforceConfig, plan: _Plan, fiscal_start_month: int
) -> dict[str, pl.DataFrame]:
    mc, prev = cfg.mapping, plan.previous
    users = m.users(raw, mc)
    out = {
        "users": users,
        "stages": m.stages(raw, mc),
        "campaigns": m.campaigns(raw["Campaign"], mc),
    }
    opps, hist = m.opportunities(raw["Opportunity"], mc), m.stage_history(raw["OpportunityHistory"])
    leads, members = m.leads(raw["Lead"], mc), m.campaign_members(raw["CampaignMember"], mc)
    if not plan.full:
        opps = m.merge_keyed(
            "opportunities", prev["opportunities"], opps, raw["Opportunity"].select(opp_id="Id")
        )
        leads = m.merge_keyed("leads", prev["leads"], leads, raw["Lead"].select(lead_id="Id"))
        members = m.merge_keyed(
            "campaign_members",
            prev["campaign_members"],
            members,
            raw["CampaignMember"].select(campaign_id="CampaignId", lead_id="LeadId"),
        )
        hist = _merge_stage_history(prev["stage_history"], hist, raw)
    lead_hist = m.lead_history(raw["LeadHistory"], leads, mc)
    if not plan.full:
        lead_hist = _merge_lead_history(prev["lead_history"], lead_hist, leads, raw, mc)
    out |= {
        "opportunities": opps,
        "stage_history": hist,
        "leads": leads,
        "lead_history": lead_hist,
        "campaign_members": members,
    }
    if "ForecastingQuota" in raw:
        out["quotas"] = m.quotas(raw, users, mc, fiscal_start_month)
    if "ForecastingSubmission" in raw:
        out["forecasts"] = m.forecasts(raw, users, fiscal_start_month)
    return out


def _deleted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("IsDeleted"))


def _merge_stage_history(
    old: pl.DataFrame, new: pl.DataFrame, raw: Mapping[str, pl.DataFrame]
) -> pl.DataFrame:
    gone = m.stage_history(
        _deleted(raw["OpportunityHistory"]).with_columns(IsDeleted=pl.lit(False))
    )
    dead = _deleted(raw["Opportunity"])["Id"]
    return m.merge_history(old, new, gone, dead, "opp_id")


def _merge_lead_history(
    old: pl.DataFrame,
    new: pl.DataFrame,
    leads: pl.DataFrame,
    raw: Mapping[str, pl.DataFrame],
    mc: m.MappingConfig,
) -> pl.DataFrame:
    gone = m.lead_history(
        _deleted(raw["LeadHistory"]).with_columns(IsDeleted=pl.lit(False)), leads, mc
    )
    dead = _deleted(raw["Lead"])["Id"]
    return m.merge_history(old, new, gone, dead, "lead_id")


LOGIN_CHECK_TIMEOUT = 20.0  # seconds


def login_check(settings: SourceSettings, environ: Mapping[str, str] | None = None) -> str:
    """Log in with the environment's credentials and pull nothing: the org's instance URL.

    With SF_SESSION_ID / SF_INSTANCE_URL nothing is sent (a session is checked by the first
    call of a refresh); the instance URL is the one given.

    Raises:
        SalesforceError: the credentials missing or refused, or Salesforce unreachable, in
        words a user can act on and without a secret.
    """
    environ = os.environ if environ is None else environ
    cfg = SalesforceConfig.from_settings(settings)
    if environ.get("SF_DOMAIN"):
        cfg = replace(cfg, domain=environ["SF_DOMAIN"].strip())
    # someone waits on the page for this answer: no two-minute timeout as for a pull
    cfg = replace(cfg, http_timeout_seconds=min(cfg.http_timeout_seconds, LOGIN_CHECK_TIMEOUT))
    client = BulkClient(Credentials.from_env(environ), cfg)
    client.login()
    return client.instance_url


def pull(settings: SourceSettings, progress: Progress, **options: Any) -> Pulled:
    """Pull the org into canonical frames (full, or incremental on the last snapshot).

    Options: ``full=True`` forces a full refresh; ``last`` (a `LastPull`, None when there is
    no snapshot) is the current snapshot an incremental pull merges into (the caller reads the
    store: a connector knows no storage); ``environ`` replaces os.environ (tests).
    Raises `SalesforceError` naming the object and the cause; nothing is stored then.
    """
    environ = options.get("environ") or os.environ
    cfg = SalesforceConfig.from_settings(settings)
    if environ.get("SF_DOMAIN"):  # .env may pick the sandbox ("test") or a My Domain
        cfg = replace(cfg, domain=environ["SF_DOMAIN"].strip())
    creds = Credentials.from_env(environ)
    now = datetime.now(UTC)
    plan = _plan(options.get("last"), cfg, bool(options.get("full")), now)
    client = BulkClient(creds, cfg)
    progress(f"Logging in to Salesforce ({'full' if plan.full else 'incremental'} refresh)", 0.02)
    client.login()
    raw = _pull_objects(client, cfg, plan, progress)
    frames = _canonical(raw, cfg, plan, settings.scoring.fiscal_start_month)
    detail = {
        "mode": "full" if plan.full else "incremental",
        "api_version": cfg.api_version,
        "mapping": cfg.mapping.fingerprint(),
        "full_refresh_at": (now if plan.full else plan.last_full).isoformat(),
        "watermarks": _watermarks(raw, plan),
        "objects": client.stats,
        "instance_url": client.instance_url,  # the deal page links to records there
    }
    return Pulled(frames=frames, data_as_of=options.get("as_of") or now.date(), detail=detail)
