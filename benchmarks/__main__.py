"""Benchmark runner: ``python -m benchmarks [--sizes S,M] [--quick]``.

For each size it writes the scaled org once (Parquet and CSV, canonical layout, under
``data/benchmarks/<size>/``), then runs every measurement in a fresh subprocess that reports
its wall time and its own peak RSS (``ru_maxrss``; polars allocates in Rust, so tracemalloc
would miss it). Results go to ``benchmarks/results/<timestamp>.json`` and a Markdown table
is printed (paste it into ``benchmarks/RESULTS.md``).

Measurements: refresh from files as the refresh command runs it (pull, validate, precompute
the default scorecard and the intermediates every view starts from, write the snapshot); the
full scorecard (`scoring.scorecard.compute`, best of `repeat`) from bare tables (nothing
derived yet) and from the refreshed snapshot as the app reads it (seeded with the stored
intermediates); and the covered signals computed by the project and by the pandas reference
(`benchmarks.reference_pandas`), with their ratio; and the same signals end to end from the
Parquet files (read + compute, each run reading the files again) by the project, by the pandas
reference and by the DuckDB reference (`benchmarks.reference_duckdb`, SQL reading only the
columns it needs), with every ratio from the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "benchmarks"
RESULTS = Path(__file__).resolve().parent / "results"
TASKS = (
    "refresh_parquet",
    "refresh_csv",
    "scorecard",
    "scorecard_snapshot",
    "signals_polars",
    "signals_pandas",
    "parquet_polars",
    "parquet_pandas",
    "parquet_duckdb",
    "views",
)
# The views of the targets (issue 16), each computed cold from the refreshed snapshot
# as the app reads it: (label, as-of days before the data's, period or None for the as-of
# day's quarter, teams).
VIEWS = (
    ("default view", 0, None, ()),
    ("one team", 0, None, ("EMEA",)),
    ("two teams", 0, None, ("EMEA", "APAC")),
    ("as of four weeks earlier", 28, None, ()),
    ("previous quarter", 0, "previous", ()),
    ("fiscal year", 0, "FY2026", ()),
)


# ---------------------------------------------------------------- child side
def _prepare(size: str) -> dict:
    from benchmarks import scale

    frames = scale.generate(size)
    for fmt in ("parquet", "csv"):
        scale.write_org(frames, DATA / size / fmt, fmt)
    counts = scale.row_counts(frames)
    (DATA / size / "rows.json").write_text(json.dumps(counts), encoding="utf-8")
    return {"rows": counts}


def _load(size: str) -> dict:
    import polars as pl

    from model.schema import TABLES

    folder = DATA / size / "parquet"
    return {n: pl.read_parquet(folder / f"{n}.parquet") for n in TABLES}


def _refresh(size: str, fmt: str) -> float:
    """Seconds of a refresh from files, as the refresh command runs it: pull, validate,
    precompute the default scorecard and its intermediates, write the snapshot. The Parquet
    run's snapshot is kept (`data/benchmarks/<size>/store`) for `scorecard_snapshot`."""
    from benchmarks.scale import AS_OF
    from ops.config import Settings
    from ops.refresh import refresh

    folder = DATA / size / fmt
    store = DATA / size / "store"
    if fmt == "parquet":
        shutil.rmtree(store, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        target = store if fmt == "parquet" else Path(tmp)
        started = time.perf_counter()
        refresh(Settings(data_dir=target), "files", path=folder,
                mapping=str(folder / "canonical.toml"), as_of=AS_OF)  # fmt: skip
        return time.perf_counter() - started


def _snapshot_bundle(size: str):
    """The stored snapshot read as the app reads it (tables seeded with the intermediates its
    refresh stored), and a function giving a fresh bundle of the same (nothing derived)."""
    from reports.snapshot_tables import read_bundle
    from snapshots.store import Store

    base = read_bundle(Store(DATA / size / "store").current())
    return base.fresh


def _best(fn, repeat: int) -> tuple[float, float]:
    """(first run, best run) seconds of `fn`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times[0], min(times)


def _from_parquet(task: str, size: str, repeat: int) -> dict:
    """Parquet → the eight signals, end to end: every run reads the files again. polars and
    pandas read whole tables as the project's files source does (pandas via polars' reader
    and `to_pandas`, the reference's own input path); DuckDB scans only the columns its SQL
    names."""
    import polars as pl

    from benchmarks import reference_duckdb as duck
    from benchmarks import reference_pandas as ref
    from benchmarks.scale import AS_OF
    from model.calendar import period_of
    from model.schema import TABLES
    from model.tables import Tables

    folder, period = DATA / size / "parquet", period_of(AS_OF)

    def read() -> dict:
        return {n: pl.read_parquet(folder / f"{n}.parquet") for n in TABLES}

    def run() -> None:
        if task == "parquet_duckdb":
            duck.compute_all(folder, as_of=AS_OF, period=period)
        elif task == "parquet_pandas":
            ref.compute_all(ref.to_pandas(read()), as_of=AS_OF, period=period)
        else:
            ref.project_all(Tables.from_frames(read()), as_of=AS_OF, period=period)

    first, best = _best(run, repeat)
    return {"seconds": best, "first_seconds": first}


def _views(size: str, repeat: int) -> dict:
    """Each view of `VIEWS` cold: the scorecard computed on a bundle holding only what the
    snapshot stored (`Tables.fresh`), as the first visitor of that view after a refresh
    pays; and how long reading the snapshot took (once per server process)."""
    from datetime import timedelta

    from benchmarks.scale import AS_OF
    from model.calendar import parse_period, period_of, previous
    from scoring.scorecard import compute

    started = time.perf_counter()
    fresh = _snapshot_bundle(size)
    out: dict = {"load_seconds": time.perf_counter() - started, "views": {}}
    for label, back, period_name, teams in VIEWS:
        as_of = AS_OF - timedelta(days=back)
        period = period_of(as_of)
        if period_name == "previous":
            period = previous(period)
        elif period_name:
            period = parse_period(period_name)

        def run(as_of=as_of, period=period, teams=teams) -> None:
            compute(fresh(), as_of=as_of, period=period, teams=teams)

        first, best = _best(run, repeat)
        out["views"][label] = {"first_seconds": first, "seconds": best}
    return out


def _child(task: str, size: str, repeat: int) -> dict:
    from benchmarks import reference_pandas as ref
    from benchmarks.scale import AS_OF
    from model.calendar import period_of
    from model.tables import Tables
    from scoring.scorecard import compute

    if task == "prepare":
        return _prepare(size)
    if task.startswith("refresh_"):
        return {"seconds": _refresh(size, task.removeprefix("refresh_"))}
    if task.startswith("parquet_"):
        return _from_parquet(task, size, repeat)
    if task == "views":
        return _views(size, repeat)
    if task == "scorecard_snapshot":
        fresh = _snapshot_bundle(size)
        period = period_of(AS_OF)
        first, best = _best(lambda: compute(fresh(), as_of=AS_OF, period=period), repeat)
        return {"seconds": best, "first_seconds": first}
    frames, period = _load(size), period_of(AS_OF)
    if task == "signals_pandas":
        t = ref.to_pandas(frames)
        del frames
        first, best = _best(lambda: ref.compute_all(t, as_of=AS_OF, period=period), repeat)
    else:
        tables = Tables.from_frames(frames)
        fn = compute if task == "scorecard" else ref.project_all

        def run() -> None:
            # A fresh bundle each run: nothing derived by an earlier run is reused.
            fn(Tables(frames=tables.frames, missing=tables.missing), as_of=AS_OF, period=period)

        first, best = _best(run, repeat)
    return {"seconds": best, "first_seconds": first}


# ---------------------------------------------------------------- parent side
def _run(task: str, size: str, repeat: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks", "--child", task, "--sizes", size,
           "--repeat", str(repeat)]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import polars as pl

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    mem = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in ln)
    return {"cpu": cpu, "cores": len(__import__("os").sched_getaffinity(0)),
            "ram_gib": round(int(mem.split()[1]) / 2**20, 1), "python": platform.python_version(),
            "polars": pl.__version__, "pandas": __import__("pandas").__version__,
            "duckdb": __import__("duckdb").__version__}  # fmt: skip


def markdown(results: dict) -> str:
    """The results as a Markdown table: one row per size."""
    head = ("| size | opps | history | leads | lead hist. | refresh parquet | refresh csv | "
            "scorecard, bare tables | scorecard, from snapshot | signals polars | "
            "signals pandas | pandas / polars | Parquet → signals, polars | "
            "Parquet → signals, pandas | Parquet → signals, DuckDB | pandas / polars, Parquet | "
            "DuckDB / polars, Parquet |")  # fmt: skip
    lines = [head, "|" + "---|" * head.count(" |")]
    for size, r in results["sizes"].items():
        rows = r["rows"]

        def cell(task: str, r: dict = r) -> str:
            m = r.get(task, {})
            if "error" in m:
                return "error"
            return f"{m['seconds']:.2f} s / {m['peak_rss_mb'] / 1024:.2f} GB" if m else "–"

        def ratio(slow: str, fast: str, r: dict = r) -> str:
            a, b = r.get(slow, {}), r.get(fast, {})
            return (
                f"{a['seconds'] / b['seconds']:.1f}×" if "seconds" in a and "seconds" in b else "–"
            )

        cells = [cell(t) for t in TASKS if t != "views"]
        cells.insert(TASKS.index("parquet_polars"), ratio("signals_pandas", "signals_polars"))
        cells += [
            ratio("parquet_pandas", "parquet_polars"),
            ratio("parquet_duckdb", "parquet_polars"),
        ]
        lines.append(f"| {size} | {rows['opportunities']:,} | {rows['stage_history']:,} | "
                     f"{rows['leads']:,} | {rows['lead_history']:,} | " +
                     " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines) + views_markdown(results)


def views_markdown(results: dict) -> str:
    """The cold view times (task "views") as a second table: one row per size."""
    rows = {s: r["views"] for s, r in results["sizes"].items() if "views" in r.get("views", {})}
    if not rows:
        return ""
    head = "| size | read snapshot | " + " | ".join(label for label, *_ in VIEWS) + " | peak RSS |"
    lines = ["", "", head, "|" + "---|" * (len(VIEWS) + 3)]
    for size, r in rows.items():
        cells = [f"{r['views'][label]['first_seconds']:.2f} s" for label, *_ in VIEWS]
        lines.append(f"| {size} | {r['load_seconds']:.2f} s | " + " | ".join(cells)
                     + f" | {r['peak_rss_mb'] / 1024:.2f} GB |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--sizes", default="S,M", help="comma-separated: S (demo), M, L")
    ap.add_argument("--quick", action="store_true", help="S only, one repetition")
    ap.add_argument("--repeat", type=int, default=3, help="runs per in-memory measurement")
    ap.add_argument("--tasks", default=",".join(TASKS),
                    help="comma-separated subset of: " + ", ".join(TASKS))  # fmt: skip
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(ROOT))
        result = _child(args.child, args.sizes, args.repeat)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({**result, "peak_rss_mb": round(peak, 1)}))
        return
    sizes = ["S"] if args.quick else args.sizes.split(",")
    repeat = 1 if args.quick else args.repeat
    tasks = [t for t in TASKS if t in args.tasks.split(",")]
    if unknown := set(args.tasks.split(",")) - set(TASKS):
        ap.error(f"unknown --tasks {sorted(unknown)}; choose from {', '.join(TASKS)}")
    results = {"machine": machine(), "started": datetime.now(UTC).isoformat(), "sizes": {}}
    for size in sizes:
        print(f"[{size}] generating and writing files ...", file=sys.stderr)
        entry = {"rows": _run("prepare", size, 1)["rows"]}
        for task in tasks:
            print(f"[{size}] {task} ...", file=sys.stderr)
            entry[task] = _run(task, size, repeat)
        results["sizes"][size] = entry
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results["machine"]))
    print(markdown(results))


if __name__ == "__main__":
    main()
