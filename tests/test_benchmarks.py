"""The pandas and DuckDB references and the project agree on the benchmarked signals (so the timing
comparison is honest), and the chunked scale generator yields a valid canonical org.

Data: the benchmark generator at a small scale (same shape as M; M is the demo's ratios
with 100k opportunities), generated in two chunks so the id-prefix/concatenation path that
builds L is the one checked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from benchmarks import reference_duckdb as duck
from benchmarks import reference_pandas as ref
from benchmarks import scale
from connectors.validate import validate_tables
from model.calendar import period_of
from model.tables import Tables

AS_OF = scale.AS_OF
PERIOD = period_of(AS_OF)


@pytest.fixture(scope="module")
def org(request: pytest.FixtureRequest) -> dict[str, pl.DataFrame]:
    mp = pytest.MonkeyPatch()
    mp.setattr(scale, "CHUNK_SCALE", 0.2)
    request.addfinalizer(mp.undo)
    return scale.generate(0.4, as_of=AS_OF)  # two chunks of scale 0.2


@pytest.fixture(scope="module")
def both(org: dict[str, pl.DataFrame]) -> tuple[dict, dict]:
    pandas_side = ref.compute_all(ref.to_pandas(org), as_of=AS_OF, period=PERIOD)
    project_side = ref.project_all(Tables.from_frames(org), as_of=AS_OF, period=PERIOD)
    return pandas_side, project_side


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    """Equal within `rel`, where null (polars) and NaN (pandas) both mean "no value"."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def test_chunked_org_is_valid_and_prefixed(org: dict[str, pl.DataFrame]) -> None:
    validate_tables(org, source="bench")  # raises on dangling references or duplicate ids
    prefixes = org["opportunities"]["opp_id"].str.slice(0, 3).unique().sort().to_list()
    assert prefixes == ["K0-", "K1-"]
    # forecasts are summed per key across chunks: still one row per primary key
    keys = list(org["forecasts"].columns[:5])
    assert org["forecasts"].select(keys).is_duplicated().sum() == 0


def test_spells_agree(both: tuple[dict, dict]) -> None:
    pd_side, pl_side = both
    got = pl_side["spells"].select("stage", "n", "median_days").sort("stage")
    want = pd_side["spells"].reset_index().sort_values("stage")
    assert got["stage"].to_list() == want["stage"].tolist()
    assert got["n"].to_list() == want["n"].tolist()
    for a, b in zip(got["median_days"], want["median_days"], strict=True):
        assert math.isclose(a, b, rel_tol=1e-9)


def test_stalled_deals_agree(both: tuple[dict, dict]) -> None:
    pd_side, pl_side = both
    assert pl_side["stalled"].height > 0
    assert sorted(pl_side["stalled"]["opp_id"]) == sorted(pd_side["stalled"]["opp_id"])


def test_follow_up_sla_agrees(both: tuple[dict, dict]) -> None:
    pd_side, pl_side = both
    row = pl_side["sla"].row(0, named=True)
    assert (row["mqls"], row["met"], row["due"]) == (
        pd_side["sla"]["mqls"], pd_side["sla"]["met"], pd_side["sla"]["due"]
    )  # fmt: skip
    assert close(row["sla_compliance"], float(pd_side["sla"]["sla_compliance"]))


def test_cohort_conversion_agrees(both: tuple[dict, dict]) -> None:
    pd_side, pl_side = both
    got = {r["from_step"]: (r["cohort"], r["converted"]) for r in pl_side["conversion"].to_dicts()}
    want = {s: (int(r.cohort), int(r.converted)) for s, r in pd_side["conversion"].iterrows()}
    assert got == want
    assert sum(c for c, _ in got.values()) > 0


def test_forecast_accuracy_and_bias_agree(both: tuple[dict, dict]) -> None:
    pd_side, pl_side = both
    want = pd_side["forecast"]
    assert sorted(pl_side["forecast"]["team"]) == sorted(want.index)
    for r in pl_side["forecast"].to_dicts():
        assert close(r["forecast"], float(want.loc[r["team"], "forecast"]))
        assert close(r["actual"], float(want.loc[r["team"], "actual"]))
        assert close(r["accuracy"], float(want.loc[r["team"], "accuracy"]))
        assert close(r["bias"], float(want.loc[r["team"], "bias"]))


def test_win_rate_agrees(both: tuple[dict, dict]) -> None:
    pd_side, pl_side = both
    for r in pl_side["win_rate"].to_dicts():
        assert close(r["win_rate_count"], float(pd_side["win_rate"][r["team"]]))


def test_coverage_agrees(both: tuple[dict, dict]) -> None:
    pd_side, pl_side = both
    want = pd_side["coverage"]
    for r in pl_side["coverage"].to_dicts():
        assert close(r["open_pipeline"], float(want.loc[r["team"], "open"]))
        assert close(r["coverage"], float(want.loc[r["team"], "coverage"]))


def test_marketing_sourced_reconciliation_agrees(both: tuple[dict, dict]) -> None:
    pd_side, pl_side = both
    s = {r["unit"]: r for r in pl_side["reconcile"].to_dicts()}
    want = pd_side["reconcile"]
    assert (s["count"]["side_a_value"], s["count"]["side_b_value"]) == (
        want["marketing_count"], want["sales_count"]
    )  # fmt: skip
    assert close(s["currency"]["side_a_value"], want["marketing_amount"])
    assert close(s["currency"]["side_b_value"], want["sales_amount"])
    assert s["count"]["records"] == want["disagreeing"]


@pytest.fixture(scope="module")
def duck_side(org: dict[str, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The DuckDB reference over the org written as Parquet (as the benchmark runs it)."""
    folder = tmp_path_factory.mktemp("parquet")
    scale.write_org(org, folder, "parquet")
    return duck.compute_all(folder, as_of=AS_OF, period=PERIOD)


def test_duckdb_reads_only_the_columns_it_needs(tmp_path) -> None:
    """Every scan names its columns: the Parquet helper projects, never `SELECT *`."""
    scan = duck.Parquet(tmp_path)("opportunities", "opp_id", "amount")
    assert scan.startswith("(SELECT opp_id, amount FROM read_parquet(")
    assert "*" not in scan


def test_duckdb_spells_agree(duck_side: dict, both: tuple[dict, dict]) -> None:
    got = duck_side["spells"].sort("stage")
    want = both[1]["spells"].sort("stage")
    assert got["stage"].to_list() == want["stage"].to_list()
    assert got["n"].to_list() == want["n"].to_list()
    for a, b in zip(got["median_days"], want["median_days"], strict=True):
        assert math.isclose(a, b, rel_tol=1e-9)


def test_duckdb_stalled_deals_agree(duck_side: dict, both: tuple[dict, dict]) -> None:
    want = both[1]["stalled"]
    assert want.height > 0
    assert sorted(duck_side["stalled"]["opp_id"]) == sorted(want["opp_id"])


def test_duckdb_follow_up_sla_agrees(duck_side: dict, both: tuple[dict, dict]) -> None:
    got, want = duck_side["sla"].row(0, named=True), both[1]["sla"].row(0, named=True)
    assert want["mqls"] > 0
    assert (got["mqls"], got["met"], got["due"]) == (want["mqls"], want["met"], want["due"])
    assert close(got["sla_compliance"], want["sla_compliance"])


def test_duckdb_cohort_conversion_agrees(duck_side: dict, both: tuple[dict, dict]) -> None:
    def table(frame: pl.DataFrame) -> dict:
        return {str(r["from_step"]): (r["cohort"], r["converted"]) for r in frame.to_dicts()}

    got, want = table(duck_side["conversion"]), table(both[1]["conversion"])
    assert got == want
    assert sum(c for c, _ in got.values()) > 0


def test_duckdb_forecast_accuracy_and_bias_agree(duck_side: dict, both: tuple[dict, dict]) -> None:
    got = {r["team"]: r for r in duck_side["forecast"].to_dicts()}
    want = both[1]["forecast"].to_dicts()
    assert sorted(got) == sorted(r["team"] for r in want) and want
    for r in want:
        for col in ("forecast", "actual", "accuracy", "bias"):
            assert close(got[r["team"]][col], r[col]), (r["team"], col)


def test_duckdb_win_rate_agrees(duck_side: dict, both: tuple[dict, dict]) -> None:
    got = dict(duck_side["win_rate"].select("team", "win_rate_count").iter_rows())
    want = dict(both[1]["win_rate"].select("team", "win_rate_count").iter_rows())
    assert sorted(got) == sorted(want) and "All teams" in want
    for team, rate in want.items():
        assert close(got[team], rate), team


def test_duckdb_coverage_agrees(duck_side: dict, both: tuple[dict, dict]) -> None:
    got = {r["team"]: r for r in duck_side["coverage"].to_dicts()}
    want = both[1]["coverage"].to_dicts()
    assert sorted(got) == sorted(r["team"] for r in want)
    for r in want:
        assert close(got[r["team"]]["open_pipeline"], r["open_pipeline"])
        assert close(got[r["team"]]["coverage"], r["coverage"])


def test_duckdb_marketing_sourced_reconciliation_agrees(
    duck_side: dict, both: tuple[dict, dict]
) -> None:
    got = duck_side["reconcile"].row(0, named=True)
    s = {r["unit"]: r for r in both[1]["reconcile"].to_dicts()}
    assert (got["marketing_count"], got["sales_count"]) == (
        s["count"]["side_a_value"], s["count"]["side_b_value"]
    )  # fmt: skip
    assert close(got["marketing_amount"], s["currency"]["side_a_value"])
    assert close(got["sales_amount"], s["currency"]["side_b_value"])
    assert got["disagreeing"] == s["count"]["records"]


def test_duckdb_row_order_never_changes_a_result(
    org: dict[str, pl.DataFrame], duck_side: dict, tmp_path: Path
) -> None:
    """The same org with every table's rows shuffled gives the same eight results."""
    shuffled = {n: f.sample(fraction=1.0, shuffle=True, seed=3) for n, f in org.items()}
    assert not shuffled["stage_history"].equals(org["stage_history"])
    scale.write_org(shuffled, tmp_path, "parquet")
    again = duck.compute_all(tmp_path, as_of=AS_OF, period=PERIOD)
    for name, frame in duck_side.items():
        keys = [c for c in frame.columns if frame.schema[c] == pl.String][:1] or frame.columns
        got, want = again[name].sort(keys), frame.sort(keys)
        assert got.columns == want.columns, name
        for col in want.columns:
            for a, b in zip(got[col], want[col], strict=True):
                if isinstance(b, float) or b is None:
                    assert close(a, b), (name, col)
                else:
                    assert a == b, (name, col)


def test_the_readme_benchmark_command_runs_and_prints_the_table() -> None:
    """`python -m benchmarks` (here `--quick`: size S, one run) measures every task and
    prints the results table; no measurement fails."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=root, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("| size |"))
    row = next(ln for ln in lines if ln.startswith("| S |"))
    assert "scorecard, from snapshot" in header and "pandas / polars" in header
    assert "Parquet → signals, DuckDB" in header and "DuckDB / polars, Parquet" in header
    assert "error" not in row and "–" not in row
    assert len(row.split("|")) == len(header.split("|"))


def test_the_engines_benchmark_runs_and_its_scorecards_agree() -> None:
    """`python -m benchmarks.engines` at S, one run, polars and DuckDB (PySpark's parity is
    tested in tests/ops/test_funnel_on_engines.py): every phase is timed, every ported node
    the scorecard asked for was built on DuckDB, and the scorecards agree."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.engines", "--sizes", "S", "--engines", "duckdb",
         "--runs", "1"],
        cwd=root, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("| size | engine |"))
    assert "build nodes on engine" in header and "scorecard = polars" in header
    duck_row = next(ln for ln in lines if ln.startswith("| S | duckdb |"))
    cells = [c.strip() for c in duck_row.strip("|").split("|")]
    assert cells[-1] == "yes", duck_row
    assert all(c.endswith((" s", "×", " GB")) for c in cells[2:5]), duck_row
    assert next(ln for ln in lines if ln.startswith("| stage_spells |"))
    results = root / next(ln for ln in lines if ln.startswith("(results:"))[10:-1]
    run = json.loads(results.read_text("utf-8"))["sizes"]["S"]["duckdb"]["runs"][0]
    assert {"opp_state_at", "stage_spells", "funnel_steps", "sla_rows"} <= set(
        run["built_on_engine"]
    )
    assert run["ported_rebuilt_in_polars_part"] == []


def test_the_engines_benchmark_sees_a_scorecard_that_differs() -> None:
    """The agreement check is relative 1e-9 on numbers and exact on the rest."""
    from benchmarks.engines import differences

    want = {"overall": 71.25, "pillars": [{"id": "handoff", "score": 1 / 3, "n": 4}]}
    same = {"overall": 71.25 * (1 + 1e-12), "pillars": [{"id": "handoff", "score": 1 / 3, "n": 4}]}
    assert differences(same, want) == []
    off = {"overall": 71.25 * (1 + 1e-6), "pillars": [{"id": "handoff", "score": 1 / 3, "n": 5}]}
    assert differences(off, want) == [".overall", ".pillars[0].n"]
    assert differences({"overall": 71.25}, want) == ["."]


def test_the_engines_benchmark_builds_the_nodes_one_by_one_with_polars_rows(
    org: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    """`--nodes-only` (how PySpark is measured at L): every ported node built one at a time on
    DuckDB, each with polars' row count, and the progress file holds what was done."""
    from benchmarks.engines import _ported, nodes_only

    scale.write_org(org, tmp_path, "parquet")
    want = nodes_only("polars", tmp_path, 1e9, tmp_path / "polars.json")["nodes_built"]
    got = nodes_only("duckdb", tmp_path, 1e9, tmp_path / "duckdb.json")["nodes_built"]
    assert list(got) == [node.name for node in _ported()]
    assert {n: v["rows"] for n, v in got.items()} == {n: v["rows"] for n, v in want.items()}
    assert got["stage_spells"]["rows"] > 0 and got["stage_spells"]["build"] > 0
    assert json.loads((tmp_path / "duckdb.json").read_text("utf-8"))["nodes_built"] == got
    # A budget already spent builds nothing and says so.
    spent = nodes_only("duckdb", tmp_path, 0.0, tmp_path / "none.json")
    assert spent["nodes_built"] == {} and spent["stopped"].startswith("budget of 0 s")
