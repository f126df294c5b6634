"""A throwaway PostgreSQL server for tests: initdb in a temporary folder, pg_ctl start on a
free port of 127.0.0.1 (its unix socket in that folder too), stopped at the end. Never a
system service. initdb refuses to run as root, so as root the server runs as `nobody`.

Use the session fixture `pg` (a `PgServer`); `pg.database(name)` makes a fresh database and
returns its URL. Skips with the reason when Debian's PostgreSQL binaries are absent
(``apt-get install postgresql``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN_DIRS = [Path(p) for p in os.environ.get("PG_BIN", "").split(os.pathsep) if p] + sorted(
    Path("/usr/lib/postgresql").glob("*/bin"), reverse=True
)
SUPERUSER = "postgres"


def pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl (newest Debian version first), or None."""
    for folder in BIN_DIRS:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A running server: where it lives, its port, and how to run its client tools."""

    bin: Path
    root: Path
    port: int
    run_as: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str = "") -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True, text=True, check=check, timeout=60, cwd=self.root,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop", check=False)

    def running(self) -> bool:
        return self._ctl("status", check=False).returncode == 0

    def sql(self, statements: str, database: str = "postgres") -> str:
        """Run SQL (several statements allowed) as the superuser with psql; its output."""
        done = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", self.url(database), "-c", statements],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout

    def database(self, name: str) -> str:
        """A fresh, empty database `name` (dropped first when it exists); its URL."""
        import adbc_driver_postgresql.dbapi as pgdb

        with pgdb.connect(self.url()) as conn:
            conn.adbc_connection.set_autocommit(True)  # type: ignore[attr-defined]
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_server() -> Iterator[PgServer]:
    """Start a server in a temporary folder; yield it; stop it and remove the folder."""
    folder = pg_bin()
    if folder is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="pgtest-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as nobody
        shutil.chown(root, "nobody")
        root.chmod(0o700)
        run_as = ["runuser", "-u", "nobody", "--"]
    server = PgServer(folder, root, _free_port(), run_as)
    init = subprocess.run(
        [*run_as, str(folder / "initdb"), "-D", str(server.data), "-A", "trust",
         "-U", SUPERUSER, "--no-sync", "-E", "UTF8", "--locale=C"],
        capture_output=True, text=True, timeout=120, cwd=root,
    )  # fmt: skip
    if init.returncode:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr[-2000:]}")
    # password logins over TCP (tests of wrong passwords), trust on the unix socket
    (server.data / "pg_hba.conf").write_text(
        "local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {exc.stderr}{log[-2000:]}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """A PostgreSQL server on 127.0.0.1 for the whole test session."""
    yield from start_server()
