# ruff: noqa: E501  (XML wire templates are kept on their real lines)
"""A Bulk API 1.0 emulator: a real HTTP server on 127.0.0.1 speaking Salesforce's wire format.

SOAP login (`/services/Soap/u/{ver}`), query/queryAll jobs, batches with the real state
machine (Queued → InProgress → Completed | Failed; PK-chunked originals → NotProcessed),
result lists and CSV results (gzip when asked), Salesforce's XML error bodies. Test hooks
(`Faults`) expire sessions, fail or stall batches, drop connections and slow responses.
See /work/shared/salesforce/PROTOCOL.md §2.
"""

from __future__ import annotations

import gzip
import itertools
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl

from tests.sfemulator import soql
from tests.sfemulator.org import MIN_VERSION, OBJECTS, Org, render_csv, sfid18

NS = "http://www.force.com/2009/06/asyncapi/dataload"
PARTNER = "urn:partner.soap.sforce.com"
PK_OBJECTS = {"Account", "Campaign", "CampaignMember", "Contact", "Lead", "Opportunity", "User"}
ORG_ID = "00D000000000001"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up on purpose (timeouts, dropped connections) are expected


@dataclass
class Batch:
    id: str
    job: Job
    soql: str
    state: str = "Queued"
    message: str | None = None
    polls: int = 0
    results: list[bytes] = field(default_factory=list)
    rows: int = 0
    error: str | None = None
    pk_original: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Job:
    id: str
    object: str
    operation: str
    version: str
    pk_chunk: int | None
    state: str = "Open"
    batches: list[Batch] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Faults:
    """Test hooks; each is consumed or stays on as documented."""

    expire_next: int = 0  # the next N bulk calls find the session expired (then re-login works)
    fail_next_batch: str | None = None  # message of the next batch to fail
    never_complete: set[str] = field(default_factory=set)  # objects whose batches hang
    drop_next: int = 0  # close the next N connections without answering
    drop_path: str = ""  # ...only for paths containing this
    lose_next: int = 0  # carry out the next N requests, then close without answering
    lose_path: str = ""  # ...only for (method, path) where "METHOD path" contains this
    slow_seconds: float = 0.0  # wait this long before answering paths containing slow_path
    slow_path: str = ""


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _xml(root: str, items: list[tuple[str, Any]]) -> bytes:
    body = "".join(f" <{k}>{_esc(v)}</{k}>\n" for k, v in items if v is not None)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}\n   xmlns="{NS}">\n{body}</{root}>'
    ).encode()


def _esc(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_body(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><error\n   xmlns="{NS}">\n'
        f" <exceptionCode>{code}</exceptionCode>\n <exceptionMessage>{_esc(message)}"
        "</exceptionMessage>\n</error>"
    ).encode()


class BulkEmulator:
    """The emulator: `start()` binds a free port on 127.0.0.1; `url` is its base URL."""

    def __init__(
        self,
        org: Org,
        *,
        username: str,
        password: str,
        token: str = "",
        gzip_results: bool = True,
        polls_until_done: int = 2,
        max_rows_per_result: int | None = None,
    ) -> None:
        self.org = org
        self.credentials = (username, password + token)
        self.gzip = gzip_results
        self.polls_until_done = polls_until_done
        self.max_rows_per_result = max_rows_per_result
        self.faults = Faults()
        self.sessions: set[str] = set()
        self.jobs: dict[str, Job] = {}
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.RLock()
        self._counter = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> BulkEmulator:
        handler = type("Handler", (_Handler,), {"emu": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def new_id(self, prefix: str) -> str:
        return sfid18(f"{prefix}x{next(self._counter):011d}")

    # -- SOAP login ----------------------------------------------------------------------
    def login(self, body: bytes, version: str) -> tuple[int, bytes]:
        root = ET.fromstring(body)
        user = root.findtext(f".//{{{PARTNER}}}username")
        password = root.findtext(f".//{{{PARTNER}}}password")
        if (user, password) != self.credentials:
            return 500, _login_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        sid = f"{ORG_ID}!AQ4AQ{next(self._counter):08d}Emulated.Session"
        self.sessions.add(sid)
        return 200, _login_ok(self.url, version, sid, user)

    def expire_sessions(self) -> None:
        """Every session issued so far becomes invalid (as after a timeout or logout)."""
        self.sessions.clear()

    # -- jobs and batches ----------------------------------------------------------------
    def create_job(self, body: bytes, version: str, pk_header: str | None) -> tuple[int, bytes]:
        try:
            info = ET.fromstring(body)
        except ET.ParseError:
            return 400, error_body("InvalidXML", "Unable to parse Job")
        op = info.findtext(f"{{{NS}}}operation")
        obj = info.findtext(f"{{{NS}}}object") or ""
        if op not in ("query", "queryAll") or (op == "queryAll" and float(version) < 39.0):
            return 400, error_body("InvalidJob", f"Invalid operation: {op}")
        known = {o.lower(): o for o in OBJECTS}
        if (
            obj.lower() not in known
            or obj in self.org.denied
            or float(version) < MIN_VERSION.get(obj, 0)
        ):
            return 400, error_body("InvalidJob", f"Unable to find object: {obj}")
        chunk = _pk_chunk(pk_header)
        job = Job(self.new_id("750"), known[obj.lower()], op, version, chunk)
        self.jobs[job.id] = job
        return 201, self.job_xml(job)

    def job_xml(self, job: Job) -> bytes:
        count = {
            s: sum(b.state == s for b in job.batches)
            for s in ("Queued", "InProgress", "Completed", "Failed")
        }
        return _xml(
            "jobInfo",
            [
                ("id", job.id),
                ("operation", job.operation),
                ("object", job.object),
                ("createdById", "005000000000001AAA"),
                ("createdDate", _stamp(job.created)),
                ("systemModstamp", _stamp(job.created)),
                ("state", job.state),
                ("concurrencyMode", "Parallel"),
                ("contentType", "CSV"),
                ("numberBatchesQueued", count["Queued"]),
                ("numberBatchesInProgress", count["InProgress"]),
                ("numberBatchesCompleted", count["Completed"]),
                ("numberBatchesFailed", count["Failed"]),
                ("numberBatchesTotal", len(job.batches)),
                ("numberRecordsProcessed", sum(b.rows for b in job.batches)),
                ("numberRetries", 0),
                ("apiVersion", job.version),
                ("numberRecordsFailed", 0),
                ("totalProcessingTime", 0),
                ("apiActiveProcessingTime", 0),
                ("apexProcessingTime", 0),
            ],
        )

    def set_job_state(self, job: Job, body: bytes) -> tuple[int, bytes]:
        state = ET.fromstring(body).findtext(f"{{{NS}}}state")
        if state not in ("Closed", "Aborted") or job.state == "Aborted":
            return 400, error_body(
                "InvalidJobState", f"Invalid state change from {job.state} to {state}"
            )
        job.state = state
        if state == "Aborted":
            for b in job.batches:
                if b.state == "Queued":
                    b.state = "NotProcessed"
        return 200, self.job_xml(job)

    def add_batch(self, job: Job, text: str) -> tuple[int, bytes]:
        if job.state != "Open":
            return 400, error_body("InvalidJobState", f"Job {job.id} is not open")
        batch = Batch(self.new_id("751"), job, text, pk_original=job.pk_chunk is not None)
        if not batch.pk_original:
            self.execute(batch)
        job.batches.append(batch)
        return 201, batch_xml(batch)

    def execute(self, batch: Batch) -> None:
        """Run the query now (the org as of batch creation); reveal it on completion."""
        if self.faults.fail_next_batch is not None:
            batch.error, self.faults.fail_next_batch = self.faults.fail_next_batch, None
            return
        try:
            frame = self.run_soql(batch.job, batch.soql)
        except soql.SoqlError as exc:
            batch.error = f"InvalidBatch : Failed to process query: {exc}"
            return
        batch.rows = frame.height
        types = {c: OBJECTS[batch.job.object][c] for c in frame.columns}
        step = self.max_rows_per_result or max(frame.height, 1)
        batch.results = [
            render_csv(frame.slice(i, step), types) for i in range(0, max(frame.height, 1), step)
        ]

    def run_soql(self, job: Job, text: str) -> pl.DataFrame:
        query = soql.parse(text)
        if query.object.lower() != job.object.lower():
            raise soql.SoqlError(
                "INVALID_TYPE",
                f"Query object {query.object} does not match job object {job.object}",
            )
        data = self.org.frame(job.object)
        schema = dict(data.schema)
        fields = [soql.resolve(f, schema, query, job.object) for f in query.fields]
        if job.operation == "query" and "IsDeleted" in schema:
            data = data.filter(~pl.col("IsDeleted"))
        if query.where is not None:
            data = data.filter(soql.compile_where(query.where, schema, query, job.object))
        if query.order_by:
            name = soql.resolve(query.order_by[0], schema, query, job.object)
            data = data.sort(name, descending=query.order_by[1], nulls_last=True)
        else:
            data = data.sort("Id")
        if query.limit is not None:
            data = data.head(query.limit)
        return data.select(fields)

    def poll(self, job: Job) -> None:
        """One status request: every batch of the job moves one step along its state machine."""
        for batch in list(job.batches):
            batch.polls += 1
            if batch.state == "Queued" and batch.pk_original:
                self.split(job, batch)
            elif batch.state == "Queued":
                batch.state = "InProgress"
            elif (
                batch.state == "InProgress"
                and job.object not in self.faults.never_complete
                and batch.polls >= self.polls_until_done
            ):
                batch.state, batch.message = (
                    ("Failed", batch.error) if batch.error else ("Completed", None)
                )

    def split(self, job: Job, original: Batch) -> None:
        """PK chunking: one batch per `chunk` ids of the object; the original → NotProcessed."""
        query_text = original.soql
        if job.object not in PK_OBJECTS or re.search(r"\b(ORDER|LIMIT)\b", query_text, re.I):
            original.state = "Failed"
            original.message = f"InvalidBatch : Failed to process query: PK chunking is not supported for this query on entity '{job.object}'"
            return
        ids = self.org.frame(job.object)["Id"].sort().str.slice(0, 15)
        bounds = ids.gather_every(job.pk_chunk).to_list()[1:] if job.pk_chunk else []
        edges = [None, *bounds, None]
        joiner = " AND " if re.search(r"\bWHERE\b", query_text, re.I) else " WHERE "
        for low, high in itertools.pairwise(edges):
            parts = [f"Id >= '{low}'" if low else "", f"Id < '{high}'" if high else ""]
            clause = " AND ".join(p for p in parts if p)
            text = query_text + (joiner + clause if clause else "")
            chunk = Batch(self.new_id("751"), job, text)
            self.execute(chunk)
            job.batches.append(chunk)
        original.state = "NotProcessed"


def _pk_chunk(header: str | None) -> int | None:
    if not header or header.strip().lower() == "false":
        return None
    sizes = re.findall(r"chunkSize\s*=\s*(\d+)", header)
    return int(sizes[0]) if sizes else 100_000


def batch_xml(batch: Batch, root: str = "batchInfo", declaration: bool = True) -> bytes:
    items = [
        ("id", batch.id),
        ("jobId", batch.job.id),
        ("state", batch.state),
        ("stateMessage", batch.message),
        ("createdDate", _stamp(batch.created)),
        ("systemModstamp", _stamp(batch.created)),
        ("numberRecordsProcessed", batch.rows if batch.state == "Completed" else 0),
        ("numberRecordsFailed", 0),
        ("totalProcessingTime", 0),
        ("apiActiveProcessingTime", 0),
        ("apexProcessingTime", 0),
    ]
    if declaration:
        return _xml(root, items)
    return (
        f"<{root}>"
        + "".join(f"<{k}>{_esc(v)}</{k}>" for k, v in items if v is not None)
        + f"</{root}>"
    ).encode()


def _login_ok(url: str, version: str, sid: str, user: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="{PARTNER}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body><loginResponse><result>
  <metadataServerUrl>{url}/services/Soap/m/{version}/{ORG_ID}</metadataServerUrl>
  <passwordExpired>false</passwordExpired><sandbox>false</sandbox>
  <serverUrl>{url}/services/Soap/u/{version}/{ORG_ID}</serverUrl>
  <sessionId>{sid}</sessionId>
  <userId>005000000000001AAA</userId>
  <userInfo><organizationId>{ORG_ID}EAA</organizationId><organizationName>Emulated Org</organizationName>
   <roleId xsi:nil="true"/><sessionSecondsValid>7200</sessionSecondsValid><userName>{_esc(user)}</userName>
  </userInfo>
 </result></loginResponse></soapenv:Body>
</soapenv:Envelope>""".encode()


def _login_fault(code: str, message: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>
  <detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>
  <sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>
 </soapenv:Fault></soapenv:Body>
</soapenv:Envelope>""".encode()


_JOB = re.compile(
    r"^/services/async/(\d+\.\d)/job(?:/(\w+)(?:/batch(?:/(\w+)(?:/(result|request)(?:/(\w+))?)?)?)?)?$"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms ACK stalls
    emu: BulkEmulator

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        emu, faults = self.emu, self.emu.faults
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        emu.log.append((method, self.path, dict(self.headers)))
        with emu.lock:
            drop = faults.drop_next > 0 and faults.drop_path in self.path
            if drop:
                faults.drop_next -= 1
        if drop:  # a dropped connection: close without a response
            self.close_connection = True
            self.connection.close()
            return
        if faults.slow_seconds and faults.slow_path in self.path:
            time.sleep(faults.slow_seconds)
        try:
            with emu.lock:
                status, payload, ctype = self._route(method, body)
        except Exception as exc:  # an emulator bug shows as Salesforce's "Unknown"
            status, payload, ctype = 500, error_body("Unknown", repr(exc)), "application/xml"
        with emu.lock:
            lose = faults.lose_next > 0 and faults.lose_path in f"{method} {self.path}"
            if lose:
                faults.lose_next -= 1
        if lose:  # done, but the answer is lost on the way back
            self.close_connection = True
            self.connection.close()
            return
        try:
            self._send(status, payload, ctype)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            self.close_connection = True

    def _send(self, status: int, payload: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if "gzip" in (self.headers.get("Accept-Encoding") or "") and self.emu.gzip:
            payload = gzip.compress(payload, compresslevel=1)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _route(self, method: str, body: bytes) -> tuple[int, bytes, str]:
        emu = self.emu
        login = re.match(r"^/services/Soap/u/(\d+\.\d)/?$", self.path)
        if login and method == "POST":
            status, payload = emu.login(body, login.group(1))
            return status, payload, "text/xml;charset=UTF-8"
        match = _JOB.match(self.path)
        if not match:
            return 404, error_body("InvalidUrl", f"Unknown path: {self.path}"), "application/xml"
        if emu.faults.expire_next > 0:
            emu.faults.expire_next -= 1
            emu.sessions.clear()
        if self.headers.get("X-SFDC-Session") not in emu.sessions:
            return 400, error_body("InvalidSessionId", "Invalid session id"), "application/xml"
        version, job_id, batch_id, leaf, result_id = match.groups()
        xml = "application/xml"
        if job_id is None:
            status, payload = emu.create_job(
                body, version, self.headers.get("Sforce-Enable-PKChunking")
            )
            return status, payload, xml
        job = emu.jobs.get(job_id)
        if job is None:
            return 400, error_body("InvalidJob", f"Invalid job id: {job_id}"), xml
        if batch_id is None and "/batch" not in self.path:
            if method == "POST":
                status, payload = emu.set_job_state(job, body)
                return status, payload, xml
            emu.poll(job)
            return 200, emu.job_xml(job), xml
        if batch_id is None:
            if method == "POST":
                status, payload = emu.add_batch(job, body.decode("utf-8"))
                return status, payload, xml
            emu.poll(job)
            inner = b"".join(batch_xml(b, declaration=False) for b in job.batches)
            return (
                200,
                (
                    f'<?xml version="1.0" encoding="UTF-8"?>\n<batchInfoList\n   xmlns="{NS}">\n'.encode()
                    + inner
                    + b"</batchInfoList>"
                ),
                xml,
            )
        batch = next((b for b in job.batches if b.id == batch_id), None)
        if batch is None:
            return 400, error_body("InvalidBatch", f"Invalid batch id: {batch_id}"), xml
        if leaf is None:
            emu.poll(job)
            return 200, batch_xml(batch), xml
        if leaf == "request":
            return 200, batch.soql.encode(), "text/csv"
        if batch.state != "Completed":
            return 400, error_body("InvalidBatch", "Batch not completed"), xml
        if result_id is None:
            items = "".join(
                f"<result>752x{batch.id[4:12]}{i:03d}</result>" for i in range(len(batch.results))
            )
            return (
                200,
                f'<?xml version="1.0" encoding="UTF-8"?>\n<result-list xmlns="{NS}">{items}</result-list>'.encode(),
                xml,
            )
        index = int(result_id[-3:])
        return 200, batch.results[index], "text/csv"
