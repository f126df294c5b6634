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
    options = ["--secrets.files", str(secrets)] if secrets is not None else []
    environment = {"SCORECARD_DATA_DIR": str(data_dir), **env}
    log = data_dir.parent / f"app-{port}.log"
    with running_script(ROOT / "app.py", port=port, log=log, options=options, **environment) as url:
        yield url


@contextlib.contextmanager
def running_script(
    script: Path,
    *,
    log: Path,
    port: int | None = None,
    options: list[str] | None = None,
    args: list[str] | None = None,
    **env: str,
) -> Iterator[str]:
    """Run `streamlit run script` headless on 127.0.0.1 (`options` for Streamlit, `args` for
    the script, `env` added to the environment, output to `log`); yield its base URL."""
    port = port or free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
        *(options or []),
    ]  # fmt: skip
    if args:
        cmd += ["--", *args]
    out = open(log, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url)
        yield url
    finally:
        out.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
