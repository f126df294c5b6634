"""Start the real Streamlit server on a free 127.0.0.1 port, for health and browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(url: str, *, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().decode().strip() == "ok":
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"app at {url} not healthy after {timeout:.0f} s: {last}")


@contextlib.contextmanager
def running_app(
    data_dir: Path, *, port: int | None = None, secrets: Path | None = None, **env: str
) -> Iterator[str]:
    """Run `streamlit run app.py` against `data_dir`; yield its base URL; stop it after.

    `secrets`: a secrets.toml read instead of the usual ones (e.g. with `[auth]`); `port`: a
    port chosen beforehand (its redirect URI must name it).
    """
    port = port or free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
    ]  # fmt: skip
    if secrets is not None:
        cmd += ["--secrets.files", str(secrets)]
    environment = {**os.environ, "SCORECARD_DATA_DIR": str(data_dir), **env}
    log = open(data_dir.parent / f"app-{port}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url)
        yield url
    finally:
        log.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
