"""The app starts as a real server and serves its health endpoint on the demo store."""

from __future__ import annotations

import urllib.request

from tests.appserver import running_app


def test_server_health_and_page(demo_store_dir):
    with running_app(demo_store_dir) as url:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as resp:
            assert resp.status == 200
            assert resp.read().decode().strip() == "ok"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200
            assert "<html" in resp.read().decode().lower()
