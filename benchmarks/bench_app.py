"""Page render times with a cold and a warm cache: ``python -m benchmarks.bench_app``.

The store is the demo org as the refresh command writes it (with the default view's
scorecard and the intermediates precomputed).

AppTest: each page run in Streamlit's AppTest, first with empty caches (cold: the page
computes its metrics), then again in new sessions (warm: what a second user, or a rerun,
pays). AppTest adds its own element-tree handling, so these are upper bounds.

Real server + Debian's Chromium (Playwright): time from navigation until the script has
finished and the page is drawn, first and later visits (each a new session); and the
server's own time for each of those script runs, as `app.py` logs it with
``SCORECARD_TIMINGS`` (the whole script: sidebar, filters and page) — the "server-side
rerun" of the performance targets.

Prints a Markdown table; the numbers in benchmarks/RESULTS.md come from here.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "Scorecard": ("pages/scorecard.py", ""),
    "Pipeline flow": ("pages/pipeline.py", "pipeline"),
    "Handoffs": ("pages/handoffs.py", "handoffs"),
    "Forecast": ("pages/forecast.py", "forecast"),
    "Campaigns & sourcing": ("pages/campaigns.py", "campaigns"),
    "Data trust": ("pages/data_trust.py", "data_trust"),
}
AS_OF = date(2026, 11, 16)


def _store(folder: Path) -> Path:
    from ops.config import Settings
    from ops.refresh import refresh

    refresh(Settings(data_dir=folder), "demo", as_of=AS_OF)
    return folder


def _server_side(repeat: int) -> dict[str, tuple[float, float]]:
    """Per page: (cold seconds, median warm seconds) of a full AppTest run (an upper bound:
    AppTest adds its own element-tree handling)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def run(script: str) -> float:
        """One session opening `script`: the app (sidebar, scorecard home) runs first, then
        the page; only the page's own run is timed (the home page times its first run)."""
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        started = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - started
        if script != "pages/scorecard.py":
            at.switch_page(script)
            started = time.perf_counter()
            at.run()
            elapsed = time.perf_counter() - started
        if at.exception:
            raise RuntimeError(f"{script}: {at.exception[0].value}")
        return elapsed

    out = {}
    for title, (script, _) in PAGES.items():
        st.cache_data.clear()
        st.cache_resource.clear()
        cold = run(script)
        warm = statistics.median(run(script) for _ in range(repeat))
        out[title] = (cold, warm)
    return out


def _browser(data_dir: Path, repeat: int) -> dict[str, tuple[float, float, float, float]]:
    """Per page, in headless Chromium against the real server: (first visit seconds, median
    later visit seconds) from navigation to the page drawn, and the server's own time for
    the script run of the first and (median) later visits, as `app.py` logs them
    (``SCORECARD_TIMINGS``). Every visit is a new session; later visits find warm caches."""
    from playwright.sync_api import sync_playwright

    from tests.appserver import running_app

    def visit(page, url: str) -> float:
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
        page.wait_for_selector("[data-testid='stMain'] h1")
        return time.perf_counter() - started

    timings = data_dir.parent / "timings.tsv"
    out = {}
    with running_app(data_dir, SCORECARD_TIMINGS=str(timings)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        for title, (_, path) in PAGES.items():
            timings.write_text("", encoding="utf-8")
            first = visit(page, f"{base}/{path}")
            later = statistics.median(visit(page, f"{base}/{path}") for _ in range(repeat))
            runs = [
                float(line.split("\t")[1])
                for line in timings.read_text(encoding="utf-8").splitlines()
                if line.split("\t")[0] == title
            ]
            out[title] = (first, later, runs[0], statistics.median(runs[1:]))
        browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    repeat = int((argv or sys.argv[1:] or ["3"])[0])
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = _store(Path(tmp) / "data")
        import os

        os.environ["SCORECARD_DATA_DIR"] = str(data_dir)
        server = _server_side(repeat)
        browser = _browser(data_dir, repeat) if Path("/usr/bin/chromium").exists() else {}
    lines = [
        "| page | AppTest cold | AppTest warm | server script, first | server script, warm "
        "| browser first | browser warm |",
        "|---|---|---|---|---|---|---|",
    ]
    nan = float("nan")
    for title in PAGES:
        cells = [*server[title], *browser.get(title, (nan, nan, nan, nan))]
        cold, warm, first, later, script_first, script_warm = cells
        ms = [f"{x * 1000:.0f} ms" for x in (cold, warm, script_first, script_warm, first, later)]
        lines.append(f"| {title} | " + " | ".join(ms) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
