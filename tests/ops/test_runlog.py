"""The run log and `run_refresh`: outcomes recorded, retries, no credentials, retention, CLI."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from connectors.validate import validate_tables
from ops import cli as cli
from ops.config import ScheduleSettings, Settings
from ops.jobs import run_refresh
from ops.refresh import RefreshError
from ops.runlog import RUNS_DB, last_failure, last_run, recent_runs
from ops.sources import SOURCES, Pulled
from snapshots.store import Store, StoreError

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TINY_ROWS = {"users": 3, "stages": 4, "opportunities": 2, "stage_history": 3, "leads": 1}


class FakeClock:
    """Each call returns the next second after T0: runs get predictable start/end times."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class FlakySourceError(RefreshError):
    transient = True


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        schedules=ScheduleSettings(retries=2, backoff_seconds=0.5),
    )


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch, tiny_org) -> str:
    """A source returning the tiny org at once."""
    monkeypatch.setitem(
        SOURCES, "quick", lambda s, p, **o: Pulled(frames=dict(tiny_org), data_as_of=AS_OF)
    )
    return "quick"


AS_OF = date(2026, 3, 1)


def _failing(monkeypatch: pytest.MonkeyPatch, tiny_org, errors: list[Exception]) -> list[int]:
    """Source "flaky": raises the given errors in turn, then returns the tiny org."""
    calls: list[int] = []

    def pull(settings, progress, **options):
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return Pulled(frames=dict(tiny_org), data_as_of=AS_OF)

    monkeypatch.setitem(SOURCES, "flaky", pull)
    return calls


def test_ok_run_is_recorded_with_rows_snapshot_and_times(settings, quick):
    clock = FakeClock()
    record = run_refresh(settings, quick, trigger="page", clock=clock)
    assert record.ok and record.attempts == 1 and record.error is None
    assert record.trigger == "page" and record.source == "quick" and record.job is None
    assert record.rows == TINY_ROWS
    assert record.snapshot_id == Store(settings.data_dir).current_id() == record.result.snapshot.id
    # clock calls: lock note 06:00:01, abandon_stale :02, start :03, finish :04
    assert record.started_at == T0 + timedelta(seconds=3)
    assert record.ended_at == T0 + timedelta(seconds=4)
    runs = recent_runs(settings.data_dir)
    assert runs.height == 1
    row = runs.row(0, named=True)
    assert row["outcome"] == "ok" and row["total_rows"] == 13  # 3 + 4 + 2 + 3 + 1
    assert row["seconds"] == 1.0
    assert runs.schema["started_at"] == pl.Datetime("us", "UTC")
    assert last_run(settings.data_dir) == record
    assert last_failure(settings.data_dir) is None


def test_empty_log_reads_as_empty(tmp_path: Path):
    empty = recent_runs(tmp_path / "nowhere")
    assert empty.height == 0 and "outcome" in empty.columns
    assert not (tmp_path / "nowhere").exists()  # reading does not create the log
    assert last_run(tmp_path / "nowhere") is None


def test_a_log_a_first_refresh_is_creating_reads_as_empty(tmp_path: Path):
    """SQLite makes the file on connect and the first refresh creates its tables a moment
    later: a page reading in between sees a file with no `runs` table. Nothing has run yet,
    so that reads as an empty log, not as a damaged one (a test once met "no such table")."""
    sqlite3.connect(tmp_path / "runs.sqlite").close()  # the file, and no table yet
    assert (tmp_path / "runs.sqlite").exists()
    assert recent_runs(tmp_path).height == 0
    assert last_run(tmp_path) is None


def test_a_damaged_log_still_says_so(tmp_path: Path):
    (tmp_path / "runs.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match=r"run log runs\.sqlite .* cannot be read"):
        recent_runs(tmp_path)


def test_wal_mode(settings, quick):
    run_refresh(settings, quick, trigger="manual")
    conn = sqlite3.connect(settings.data_dir / RUNS_DB)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_newest_first_and_limit(settings, quick):
    for trigger in ("cli", "page", "schedule"):
        run_refresh(settings, quick, trigger=trigger)
    runs = recent_runs(settings.data_dir, limit=2)
    assert runs["trigger"].to_list() == ["schedule", "page"]
    assert runs["run_id"].to_list() == [3, 2]


def test_validation_failure_is_recorded_not_retried(settings, quick, monkeypatch, tiny_org):
    good = run_refresh(settings, quick, trigger="manual")
    calls = _failing(monkeypatch, tiny_org, [RefreshError("opportunities.close_date: bad")] * 3)
    record = run_refresh(settings, "flaky", trigger="schedule", sleep=_no_sleep)
    assert record.outcome == "failed" and record.attempts == 1 and len(calls) == 1
    assert record.error == "opportunities.close_date: bad"
    assert record.snapshot_id is None and record.rows == {}
    assert Store(settings.data_dir).current_id() == good.snapshot_id
    assert last_failure(settings.data_dir) == record
    assert last_run(settings.data_dir, outcome="ok") == good


def _no_sleep(seconds: float) -> None:
    raise AssertionError("must not wait")


def test_transient_errors_are_retried_with_doubling_backoff(settings, monkeypatch, tiny_org):
    calls = _failing(monkeypatch, tiny_org, [ConnectionError("reset"), TimeoutError("slow")])
    waits: list[float] = []
    messages: list[str] = []
    record = run_refresh(
        settings,
        "flaky",
        trigger="schedule",
        sleep=waits.append,
        progress=lambda m, f: messages.append(m),
    )
    assert record.ok and record.attempts == 3 and len(calls) == 3
    assert waits == [0.5, 1.0]  # backoff 0.5 s, doubled
    assert "flaky: ConnectionError, retry 1 in 0.5 s" in messages


def test_marked_refresh_error_is_retried_and_gives_up(settings, monkeypatch, tiny_org):
    errors: list[Exception] = [FlakySourceError("API busy")] * 5
    calls = _failing(monkeypatch, tiny_org, errors)
    record = run_refresh(settings, "flaky", trigger="manual", sleep=lambda s: None)
    assert len(calls) == 3  # 1 + retries (2)
    assert record.outcome == "failed"
    assert record.error == "API busy (gave up after 3 attempts)"


def test_unexpected_error_is_recorded_then_raised(settings, monkeypatch, tiny_org):
    _failing(monkeypatch, tiny_org, [KeyError("bug")])
    with pytest.raises(KeyError):
        run_refresh(settings, "flaky", trigger="manual")
    record = last_run(settings.data_dir)
    assert record.outcome == "failed" and record.error.startswith("unexpected error")


def test_a_password_in_the_environment_never_reaches_the_log(settings, monkeypatch, tiny_org):
    secret = "hunter2-Sup3rSecret"
    monkeypatch.setenv("SF_PASSWORD", secret)
    _failing(
        monkeypatch,
        tiny_org,
        [
            RefreshError(f"login refused for ana@example.com / {secret}"),
            ConnectionError(f"https://ana:{secret}@example.my.salesforce.com unreachable"),
            ConnectionError(f"https://ana:{secret}@example.my.salesforce.com unreachable"),
            ConnectionError(f"https://ana:{secret}@example.my.salesforce.com unreachable"),
        ],
    )
    first = run_refresh(settings, "flaky", trigger="manual")
    second = run_refresh(settings, "flaky", trigger="manual", sleep=lambda s: None)
    assert first.error == "login refused for ana@example.com / ***"
    assert second.error.startswith("ConnectionError: https://ana:***@example")
    for path in settings.data_dir.glob(f"{RUNS_DB}*"):  # the database and its WAL
        assert secret.encode() not in path.read_bytes()
    assert not recent_runs(settings.data_dir)["error"].str.contains(secret, literal=True).any()


def test_retention_through_run_refresh(tmp_path: Path, quick, tiny_org):
    settings = Settings(data_dir=tmp_path / "data", keep_snapshots=2, max_age_days=30)
    store = Store(settings.data_dir)
    now = datetime.now(UTC)
    old = store.write(
        validate_tables(tiny_org).frames, source="x", data_as_of=AS_OF, now=now - timedelta(60)
    )
    runs = [run_refresh(settings, quick, trigger="schedule") for _ in range(3)]
    # run 1: old one is 60 days old (> 30) → gone; runs 2, 3: keep the newest 2
    assert old.id not in [s.id for s in store.list()]
    assert [s.id for s in store.list()] == [runs[2].snapshot_id, runs[1].snapshot_id]
    assert store.current_id() == runs[2].snapshot_id


def test_retention_age_follows_the_injected_clock(tmp_path: Path, quick):
    settings = Settings(data_dir=tmp_path / "data", keep_snapshots=10, max_age_days=30)
    first = run_refresh(settings, quick, trigger="cli")
    later = datetime.now(UTC) + timedelta(days=31)
    second = run_refresh(settings, quick, trigger="cli", clock=lambda: later)
    # by the clock, the first snapshot is 31 days old; the new (current) one is always kept
    assert [s.id for s in Store(settings.data_dir).list()] == [second.snapshot_id]
    assert first.snapshot_id != second.snapshot_id


def test_cli_refresh_goes_through_the_run_log(data_dir, quick, capsys):
    assert cli.main(["refresh", "--source", quick]) == 0
    assert "stored in" in capsys.readouterr().out
    assert last_run(data_dir).trigger == "cli"
    assert cli.main(["runs", "--limit", "5"]) == 0
    assert re.search(r"  quick +cli +ok +13 rows", capsys.readouterr().out)


def test_cli_failure_message_comes_from_the_run(data_dir, monkeypatch, tiny_org, capsys):
    _failing(monkeypatch, tiny_org, [RefreshError("flaky: 1 problem(s)")])
    assert cli.main(["refresh", "--source", "flaky"]) == 1
    assert "refresh failed: flaky: 1 problem(s)" in capsys.readouterr().err
    assert last_failure(data_dir).trigger == "cli"


_OPENER = """
import sys, time
from pathlib import Path
from ops.sqlite_log import connect
path, go = Path(sys.argv[1]), Path(sys.argv[2])
Path(sys.argv[3]).touch()
while not go.exists():
    time.sleep(0.001)
for _ in range(20):
    with connect(path, "CREATE TABLE IF NOT EXISTS t (a INTEGER);") as conn:
        conn.execute("INSERT INTO t VALUES (1)")
"""


def test_processes_opening_a_new_log_together_all_write(tmp_path: Path):
    # Three processes open a log file that does not exist yet at the same moment: SQLite
    # refuses a concurrent switch to WAL mode at once ("database is locked", no busy wait),
    # which failed a refresh in CI. Five fresh files, 3 × 20 writes each: all 60 land.
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    for k in range(5):
        log, go = tmp_path / f"log{k}.sqlite", tmp_path / f"go{k}"
        procs = [
            subprocess.Popen([sys.executable, "-c", _OPENER, str(log), str(go),
                              str(tmp_path / f"ready{k}-{i}")],
                             cwd=root, stderr=subprocess.PIPE, text=True)
            for i in range(3)
        ]  # fmt: skip
        _wait_until(lambda k=k: len(list(tmp_path.glob(f"ready{k}-*"))) == 3)
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        with sqlite3.connect(log) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 60


def _wait_until(condition, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_failure_quoting_a_secret_in_any_encoding_is_recorded_without_it(
    settings, monkeypatch, tiny_org
):
    # A source whose error quotes the API token as typed, URL-encoded (an echoed query
    # string) and base64-encoded (an echoed Basic auth header): the run log and the record
    # hold none of the three forms, only ***.
    import base64
    from urllib.parse import quote

    token = "s3cr3t/t0ken+with=signs"
    monkeypatch.setenv("ACME_API_TOKEN", token)
    encoded = base64.b64encode(f"{token}".encode()).decode()
    message = f"401 for ?key={quote(token, safe='')} (Authorization: Basic {encoded}; raw {token})"
    _failing(monkeypatch, tiny_org, [RefreshError(message)] * 3)
    record = run_refresh(settings, "flaky", trigger="manual", clock=FakeClock())
    assert not record.ok and record.error.count("***") == 3
    stored = last_failure(settings.data_dir).error
    for form in (token, quote(token, safe=""), encoded):
        assert form not in record.error and form not in stored
