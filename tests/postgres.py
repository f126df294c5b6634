"""A throwaway PostgreSQL for tests: Debian's PostgreSQL 15 binaries, a cluster in a temporary
folder, listening on 127.0.0.1 on a free port (its socket in that folder too), stopped at the end.

``initdb`` refuses to run as root, so as root the cluster is created and run as ``nobody``
(through ``runuser``). Absent binaries skip with the reason, never fail silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def missing_reason() -> str | None:
    """Why a PostgreSQL cannot be started here, or None when it can."""
    for tool in ("initdb", "pg_ctl"):
        if not (BIN / tool).exists():
            return f"no PostgreSQL here ({BIN / tool} is absent): apt-get install postgresql"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root and runuser is absent: initdb refuses to run as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str]) -> None:
    prefix = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    out = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a cluster; yields the URL of its ``postgres`` database (user ``postgres``, trust)."""
    root = Path(tempfile.mkdtemp(prefix="scorecard-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
    port = _free_port()
    try:
        _run([str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"])
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(
            [
                str(BIN / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ]
        )
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
