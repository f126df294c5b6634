"""The scorecard with the derivation graph's ported nodes built on polars, DuckDB and PySpark,
at S, M and L, in one run (issue #20):

    python -m benchmarks.engines [--sizes S,M,L] [--engines polars,duckdb,spark,duckdb-parquet]

Every size's canonical Parquet files are written once (`data/benchmarks/<size>/parquet/`, the
files `python -m benchmarks` writes; reused when present). Then, one fresh process per engine
and size (so no engine inherits another's memory, JIT or caches), each run:

1. reads the Parquet files into a bundle of bare tables (the same for every engine);
2. opens the engine (`ops.engines.open_engine`: an in-process DuckDB database, or a PySpark
   `local[2]` session, the JVM started by the first run);
3. computes the default scorecard with every node that has a narwhals body built on the
   engine, as `python -m ops scorecard --engine` does (`ops.cli_scorecard.on_engine`), through
   `Timed`, which splits each engine call into *register* (a canonical table handed to the
   engine: DuckDB reads the Arrow data in place, Spark copies it into the JVM), *build* (the
   node's plan run to a table on the engine: a DuckDB table, a cached Spark DataFrame) and
   *collect* (that table back into polars through Arrow). The scorecard's threads call the
   engine concurrently, so these are sums over calls, not slices of the wall time;
4. computes the same scorecard again on polars from bare tables seeded with the node results
   of step 3: *the scorecard's polars part* (everything after the ported nodes, the same code
   on every engine).

On polars, step 3 is the scorecard from bare tables (the nodes built by their polars builds)
and "nodes" is step 3 minus step 4. Each run records the rows and in-memory bytes (polars'
`estimated_size`) of every node result, the peak RSS of the process (`ru_maxrss`: polars and
DuckDB allocate in it) and of its process tree sampled every 0.2 s (Spark's JVM is a child
process), and writes the scorecard's JSON; the parent checks every engine's scorecard equal to
polars' (numbers to a relative 1e-9, the same drivers). S and M run twice (the median of
two, i.e. their mean, is reported), L once. `duckdb-parquet` is DuckDB with each table read by
`read_parquet` from the Parquet files instead of registered from the bundle's Arrow data:
DuckDB then scans only the columns each node's plan names (projection pushed into the scan).

`--nodes-only SECONDS` builds the ported nodes one at a time on every engine instead (no
scorecard; `nodes_only`), for per-node times free of the scorecard's threads.

Results: `benchmarks/results/engines-<timestamp>.json` and a Markdown table on stdout
(`benchmarks/RESULTS.md`, "Issue 20 — engines at S, M, L").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "benchmarks"
RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = ("polars", "duckdb", "spark", "duckdb-parquet")
RUNS = {"S": 2, "M": 2, "L": 1}
REL = 1e-9  # scorecards agree to this relative tolerance (sums added in another order)
# Spark's driver heap (local mode: the driver is the executor too); the default 1 GB cannot
# hold L's tables copied into the JVM.
SPARK_MEMORY = {"S": "2g", "M": "6g", "L": "6g"}
# Where the whole scorecard does not fit in the run's time (PySpark local[2]: two runs at M
# did not finish in 30 min on a busy 2-core machine): the ported nodes are built one at a time
# instead, each timed, until `budget` seconds have passed (`nodes_only`); no scorecard, so no
# agreement check (the nodes' row counts are compared with polars' instead).
NODES_ONLY = {("spark", "L"): 900.0}


# ---------------------------------------------------------------- data
def prepare(size: str, data: Path = DATA) -> Path:
    """The size's canonical Parquet folder, written once."""
    from benchmarks import scale

    folder = data / size / "parquet"
    if not (data / size / "rows.json").exists() or not (folder / "canonical.toml").exists():
        frames = scale.generate(size)
        scale.write_org(frames, folder, "parquet")
        (data / size / "rows.json").write_text(json.dumps(scale.row_counts(frames)), "utf-8")
    return folder


# ---------------------------------------------------------------- memory
def _tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants, in KiB (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [p for p, parent in parents.items() if parent == pid]
    return total


class TreePeak:
    """The peak resident memory of this process and its children (Spark's JVM), sampled."""

    def __init__(self, every: float = 0.2) -> None:
        self.peak_kb, self._every = 0, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))
            self._stop.wait(self._every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak_kb / 1024, 1)


# ---------------------------------------------------------------- timed engine
class Timed:
    """An engine that times what the graph asks of the engine it wraps (module doc, step 3).

    `collect` first runs the node's plan to a table on the engine (*build*), then brings that
    table back (*collect*): the split a warehouse refresh makes when it materializes a node
    there and reads only the result."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name
        self.calls: list[dict[str, Any]] = []
        self._n = 0
        self._lock = threading.Lock()

    def table(self, tables: Any, name: str) -> Any:
        started = time.perf_counter()
        out = self.inner.table(tables, name)
        self.calls.append({"phase": "register", "table": name,
                           "seconds": time.perf_counter() - started})  # fmt: skip
        return out

    def collect(self, frame: Any) -> Any:
        import narwhals as nw

        with self._lock:
            self._n += 1
            n = self._n
        native = frame.to_native()
        started = time.perf_counter()
        held, release = self._materialize(native, n)
        built = time.perf_counter()
        out = self.inner.collect(nw.from_native(held))
        done = time.perf_counter()
        release()
        self.calls.append({"phase": "node", "columns": out.columns, "rows": out.height,
                           "bytes": out.estimated_size(), "build": built - started,
                           "collect": done - built})  # fmt: skip
        return out

    def _materialize(self, native: Any, n: int) -> tuple[Any, Any]:
        if self.inner.name == "duckdb":
            cursor = self.inner._local.cursor  # the thread's cursor the relation was made on
            native.to_table(f"bench_node_{n}")
            return cursor.table(f"bench_node_{n}"), lambda: cursor.execute(
                f"DROP TABLE bench_node_{n}"
            )
        native = native.persist()
        native.count()  # a cached DataFrame is materialized whole by its first action
        return native, native.unpersist

    def close(self) -> None:
        self.inner.close()

    def phases(self) -> dict[str, float]:
        nodes = [c for c in self.calls if c["phase"] == "node"]
        return {
            "register": sum(c["seconds"] for c in self.calls if c["phase"] == "register"),
            "build": sum(c["build"] for c in nodes),
            "collect": sum(c["collect"] for c in nodes),
        }


def _open(name: str, folder: Path) -> Any:
    from ops.engines import open_engine

    if name != "duckdb-parquet":
        return open_engine(name)
    return _duckdb_parquet(folder)


def _duckdb_parquet(folder: Path) -> Any:
    """DuckDB reading each canonical table from its Parquet file (`read_parquet`): a node's
    plan scans only the columns it names."""
    import narwhals as nw

    from ops.engines import DuckDBEngine

    class DuckDBParquet(DuckDBEngine):
        def table(self, tables: Any, name: str) -> Any:
            local = self._local
            if not hasattr(local, "cursor"):
                local.cursor = self._con.cursor()
                local.cursor.execute("SET TimeZone = 'UTC'")
            return nw.from_native(local.cursor.read_parquet(str(folder / f"{name}.parquet")))

    return DuckDBParquet()


# ---------------------------------------------------------------- child side
def _ported() -> list[Any]:
    from scoring.intermediates import NODES

    return [node for node in NODES if node.body is not None]


def _node_sizes(tables: Any) -> dict[str, dict[str, int]]:
    """Rows and in-memory bytes of each ported node's results the bundle holds."""
    out = {}
    for node in _ported():
        frames = list(tables.derivations(node.name).values())
        if frames:
            out[node.name] = {"results": len(frames), "rows": sum(f.height for f in frames),
                              "bytes": sum(f.estimated_size() for f in frames)}  # fmt: skip
    return out


def run_once(engine_name: str, folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """One measured run (module doc, steps 1–4): its timings and the scorecard's JSON."""
    import polars as pl

    from benchmarks.scale import AS_OF
    from model.calendar import period_of
    from model.graph import BUILT
    from model.schema import TABLES
    from model.tables import Tables
    from ops.cli_scorecard import on_engine
    from scoring.scorecard import compute

    period = period_of(AS_OF)
    started = time.perf_counter()
    bundle = Tables.from_frames({n: pl.read_parquet(folder / f"{n}.parquet") for n in TABLES})
    out: dict[str, Any] = {"read": time.perf_counter() - started}

    started = time.perf_counter()
    engine = None if engine_name == "polars" else Timed(_open(engine_name, folder))
    out["open"] = time.perf_counter() - started
    try:
        on = bundle.fresh() if engine is None else on_engine(bundle.fresh(), engine)
        started = time.perf_counter()
        if engine is not None:  # the tables the ported nodes read, handed over up front
            for name in sorted({r for n in _ported() for r in n.reads if r in TABLES}):
                engine.table(on, name)
        card = compute(on, as_of=AS_OF, period=period)
        out["end_to_end"] = time.perf_counter() - started
        if engine is not None:
            out.update(engine.phases())
            out["calls"] = [c for c in engine.calls if c["phase"] == "node"]
    finally:
        if engine is not None:
            engine.close()
    ported = {n.name for n in _ported()}
    origins = {k[0]: v for k, v in on.origins().items() if isinstance(k, tuple) and k[0] in ported}
    out["built_on_engine"] = sorted(k for k, v in origins.items() if v == BUILT)
    out["nodes_rows"] = _node_sizes(on)

    seeded = bundle.fresh()
    for name in ported:
        for key, frame in on.derivations(name).items():
            seeded.seed(key, frame)
    started = time.perf_counter()
    compute(seeded, as_of=AS_OF, period=period)
    out["polars_part"] = time.perf_counter() - started
    out["ported_rebuilt_in_polars_part"] = sorted(
        {k[0] for k, v in seeded.origins().items() if isinstance(k, tuple) and k[0] in ported
         and v == BUILT}
    )  # fmt: skip
    if engine is None:
        out["nodes"] = out["end_to_end"] - out["polars_part"]
    return out, card.to_dict()


def nodes_only(engine_name: str, folder: Path, budget: float, progress: Path) -> dict[str, Any]:
    """The ported nodes the default scorecard reads, built one at a time on the engine from
    bare tables (the tables registered first), each timed, until `budget` seconds have
    passed; what is done so far is written to `progress` after every node."""
    import polars as pl

    from benchmarks.scale import AS_OF
    from model.calendar import period_of
    from model.graph import get
    from model.params import ScoringParams
    from model.schema import TABLES
    from model.tables import Tables
    from ops.cli_scorecard import on_engine
    from scoring.intermediates import _coords

    began = time.perf_counter()
    bundle = Tables.from_frames({n: pl.read_parquet(folder / f"{n}.parquet") for n in TABLES})
    out: dict[str, Any] = {"read": time.perf_counter() - began, "nodes_built": {},
                           "partial": True}  # fmt: skip
    started = time.perf_counter()
    engine = Timed(_open(engine_name, folder))
    out["open"] = time.perf_counter() - started
    try:
        on = on_engine(bundle.fresh(), engine)
        started = time.perf_counter()
        for name in sorted({r for n in _ported() for r in n.reads if r in TABLES}):
            engine.table(on, name)
        out["register"] = time.perf_counter() - started
        progress.write_text(json.dumps(out), "utf-8")
        for node in _ported():
            if time.perf_counter() - began > budget:
                out["stopped"] = f"budget of {budget:.0f} s spent before {node.name}"
                break
            if node.name == "sla_rows":
                at = (period_of(AS_OF), AS_OF, ScoringParams().funnel, "UTC")
            else:
                at = _coords(node, AS_OF, "UTC")
            before = len(engine.calls)
            started = time.perf_counter()
            rows = get(on, node, *at).collect().height
            calls = [c for c in engine.calls[before:] if c["phase"] == "node"]
            out["nodes_built"][node.name] = {
                "seconds": time.perf_counter() - started, "rows": rows,
                "build": sum(c["build"] for c in calls),
                "collect": sum(c["collect"] for c in calls),
            }  # fmt: skip
            progress.write_text(json.dumps(out), "utf-8")
    finally:
        engine.close()
    built = out["nodes_built"].values()
    out["build"] = sum(n["build"] for n in built)
    out["collect"] = sum(n["collect"] for n in built)
    # No scorecard: kept as NaN so tables and ratios read "nan" rather than a number.
    out["end_to_end"] = out["polars_part"] = float("nan")
    return out


def child(
    engine_name: str, size: str, runs: int, card_path: Path, nodes_budget: float | None = None
) -> dict[str, Any]:
    """`runs` measured runs in this process; the first run's scorecard written to `card_path`
    (or, with `nodes_budget` or for an engine and size in `NODES_ONLY`, one run of
    `nodes_only`)."""
    tree = TreePeak()
    folder = prepare(size)
    if (budget := nodes_budget or NODES_ONLY.get((engine_name, size))) is not None:
        progress = card_path.with_suffix(".progress.json")
        measured = [nodes_only(engine_name, folder, budget, progress)]
        runs = 0
    else:
        measured = []
    for i in range(runs):
        result, card = run_once(engine_name, folder)
        measured.append(result)
        if i == 0:
            card_path.write_text(json.dumps(card, default=str), encoding="utf-8")
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # The tree is sampled (it can miss a short peak the process's own exact figure holds).
    return {"runs": measured, "peak_rss_mb": peak, "peak_tree_mb": max(peak, tree.stop())}


# ---------------------------------------------------------------- agreement
def differences(got: Any, want: Any, path: str = "", rel: float = REL) -> list[str]:
    """Where two scorecard JSONs differ (numbers to a relative `rel`); [] when they agree."""
    if isinstance(want, dict):
        if not isinstance(got, dict) or list(got) != list(want):
            return [path or "."]
        return [d for k in want for d in differences(got[k], want[k], f"{path}.{k}", rel)]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [path]
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True))
                for d in differences(g, w, f"{path}[{i}]", rel)]  # fmt: skip
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        if math.isnan(want) and math.isnan(got):
            return []
        return [] if math.isclose(got, want, rel_tol=rel, abs_tol=0.0) else [path]
    return [] if got == want else [path]


# ---------------------------------------------------------------- parent side
def _spawn(
    engine_name: str, size: str, runs: int, card: Path, timeout: float, nodes: float | None
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.engines", "--child", engine_name, "--sizes", size,
           "--runs", str(runs), "--card", str(card)]  # fmt: skip
    if nodes:
        cmd += ["--nodes-only", str(nodes)]
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": f"--driver-memory {SPARK_MEMORY.get(size, '2g')} "
           "pyspark-shell"}  # fmt: skip
    # A session of its own, so a timeout ends the child's whole group (Spark's JVM too).
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"did not finish within {timeout:.0f} s"}
    if proc.returncode:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "failed"
        return {"error": last[:300]}
    return json.loads(stdout.strip().splitlines()[-1])


PHASES = ("open", "register", "build", "collect", "nodes", "polars_part", "end_to_end")


def summary(entry: dict[str, Any]) -> dict[str, float]:
    """The median of each phase over the entry's runs (S and M: two runs, so their mean)."""
    runs = entry["runs"]
    return {p: statistics.median(r[p] for r in runs) for p in PHASES if p in runs[0]}


def markdown(results: dict[str, Any]) -> str:
    head = ("| size | engine | open engine | register tables | build nodes on engine | "
            "collect back | nodes (polars: e2e − polars part) | scorecard's polars part | "
            "end to end (register + scorecard) | e2e / polars | peak RSS, process | "
            "peak RSS, with JVM | scorecard = polars |")  # fmt: skip
    lines = [head, "|" + "---|" * head.count(" |")]
    for size, by_engine in results["sizes"].items():
        base = by_engine.get("polars", {})
        base_e2e = summary(base)["end_to_end"] if "runs" in base else None
        for name, entry in by_engine.items():
            if name == "rows":
                continue
            if "runs" not in entry:
                lines.append(f"| {size} | {name} | " + entry.get("error", "not run") + " |")
                continue
            s = summary(entry)

            def sec(p: str, s: dict = s) -> str:
                if p not in s:
                    return "–"
                return "not run" if math.isnan(s[p]) else f"{s[p]:.2f} s"

            e2e = s["end_to_end"]
            ratio = f"{e2e / base_e2e:.1f}×" if base_e2e and not math.isnan(e2e) else "–"
            agree = entry.get("agrees", "–")
            if entry["runs"][0].get("partial"):
                built = entry["runs"][0]["nodes_built"]
                agree = f"no scorecard: {len(built)} of {len(_ported())} nodes built one by one"
            lines.append(
                f"| {size} | {name} | {sec('open')} | {sec('register')} | {sec('build')} | "
                f"{sec('collect')} | {sec('nodes')} | {sec('polars_part')} | "
                f"{sec('end_to_end')} | {ratio} | {entry['peak_rss_mb'] / 1024:.2f} GB | "
                f"{entry['peak_tree_mb'] / 1024:.2f} GB | {agree} |"
            )
    return "\n".join(lines) + "\n\n" + rows_markdown(results) + "\n\n" + nodes_markdown(results)


def rows_markdown(results: dict[str, Any]) -> str:
    """Rows and in-memory bytes per row of every ported node result, per size (polars run)."""
    sizes = [s for s, e in results["sizes"].items() if "runs" in e.get("polars", {})]
    if not sizes:
        return ""
    per = {s: results["sizes"][s]["polars"]["runs"][0].get("nodes_rows") for s in sizes}
    sizes = [s for s in sizes if per[s]]
    if not sizes:
        return ""
    nodes = list(dict.fromkeys(n for s in sizes for n in per[s]))
    head = "| node | " + " | ".join(f"rows at {s}" for s in sizes) + " | bytes per row |"
    lines = [head, "|" + "---|" * (len(sizes) + 2)]
    for node in nodes:
        cells = [f"{per[s][node]['rows']:,}" if node in per[s] else "–" for s in sizes]
        last = per[sizes[-1]].get(node)
        bpr = f"{last['bytes'] / last['rows']:.0f}" if last and last["rows"] else "–"
        lines.append(f"| {node} | " + " | ".join(cells) + f" | {bpr} |")
    return "\n".join(lines)


def nodes_markdown(results: dict[str, Any]) -> str:
    """Seconds per node of the runs that built the nodes one at a time (`nodes_only`)."""
    cols = [(size, name) for size, by in results["sizes"].items() for name, e in by.items()
            if name != "rows" and "runs" in e and e["runs"][0].get("partial")]  # fmt: skip
    if not cols:
        return ""
    head = "| node | " + " | ".join(f"{name} at {size}" for size, name in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 1)]
    for node in _ported():
        cells = []
        for size, name in cols:
            built = results["sizes"][size][name]["runs"][0]["nodes_built"].get(node.name)
            cells.append(f"{built['seconds']:.2f} s ({built['rows']:,} rows)" if built else "–")
        lines.append(f"| {node.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.engines", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--sizes", default="S,M,L", help="comma-separated: S, M, L")
    ap.add_argument("--engines", default="polars,duckdb,spark",
                    help="comma-separated subset of: " + ", ".join(ENGINES))  # fmt: skip
    ap.add_argument("--runs", type=int, help="runs per size (default: S and M 2, L 1)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per engine and size")
    ap.add_argument("--nodes-only", type=float, metavar="SECONDS",
                    help="build the ported nodes one at a time on every engine (no scorecard), "
                    "for at most SECONDS per engine and size")  # fmt: skip
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--card", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(ROOT))
        card = Path(args.card)
        print(json.dumps(child(args.child, args.sizes, args.runs or 1, card, args.nodes_only)))
        return
    engines = args.engines.split(",")
    if unknown := set(engines) - set(ENGINES):
        ap.error(f"unknown --engines {sorted(unknown)}; choose from {', '.join(ENGINES)}")
    if "polars" not in engines:
        engines.insert(0, "polars")  # the baseline every ratio and agreement is against
    from benchmarks.__main__ import machine

    results: dict[str, Any] = {"machine": machine(), "started": datetime.now(UTC).isoformat(),
                               "sizes": {}}  # fmt: skip
    results["machine"]["pyspark"] = _version("pyspark")
    results["machine"]["narwhals"] = _version("narwhals")
    cards = DATA / "engine-cards"  # data/ is not committed
    cards.mkdir(parents=True, exist_ok=True)
    for size in args.sizes.split(","):
        print(f"[{size}] preparing the Parquet files ...", file=sys.stderr)
        subprocess.run([sys.executable, "-c", f"from benchmarks.engines import prepare; "
                        f"prepare({size!r})"], cwd=ROOT, check=True)  # fmt: skip
        rows = json.loads((DATA / size / "rows.json").read_text("utf-8"))
        entry: dict[str, Any] = {"rows": rows}
        for name in engines:
            print(f"[{size}] {name} ...", file=sys.stderr)
            card = cards / f"{size}-{name}.json"
            card.unlink(missing_ok=True)
            runs = args.runs or RUNS[size]
            entry[name] = _spawn(name, size, runs, card, args.timeout, args.nodes_only)
            done = summary(entry[name]) if "runs" in entry[name] else entry[name]
            print(f"[{size}] {name}: {json.dumps(done)}", file=sys.stderr)
        want = cards / f"{size}-polars.json"
        for name in engines:
            got = cards / f"{size}-{name}.json"
            if name != "polars" and "runs" in entry[name] and want.exists() and got.exists():
                diff = differences(json.loads(got.read_text("utf-8")),
                                   json.loads(want.read_text("utf-8")))  # fmt: skip
                entry[name]["agrees"] = "yes" if not diff else f"no: {', '.join(diff[:5])}"
        results["sizes"][size] = entry
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"engines-{stamp}.json"
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results["machine"]))
    print(markdown(results))
    print(f"\n(results: {path.relative_to(ROOT)})")


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
