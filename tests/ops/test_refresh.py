"""The refresh command: demo snapshots, two runs keep both, failures keep the last good one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from connectors.validate import validate_tables
from model.schema import TABLES
from ops import cli as cli
from ops.config import load_settings
from ops.refresh import RefreshError, refresh
from ops.sources import SOURCES, Pulled
from snapshots.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCORECARD_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_demo_refresh_twice_keeps_both_valid_snapshots(tmp_path: Path):
    data = tmp_path / "data"
    first = _cli(data, "refresh", "--source", "demo", "--as-of", "2026-11-16")
    assert first.returncode == 0, first.stderr
    assert "[100%] Done" in first.stdout
    assert "opportunities" in first.stdout and "rows" in first.stdout
    second = _cli(data, "refresh", "--source", "demo", "--as-of", "2026-11-16")
    assert second.returncode == 0, second.stderr
    store = Store(data)
    snaps = store.list()
    assert len(snaps) == 2
    assert store.current().id == snaps[0].id
    for snap in snaps:
        frames = snap.read_all()
        assert set(frames) == set(TABLES)
        validate_tables(frames)  # stored data is valid canonical data
        assert snap.manifest["tables"]["opportunities"]["rows"] == frames["opportunities"].height
        assert snap.manifest["source"] == "demo"
        assert snap.manifest["data_as_of"] == "2026-11-16"
    listing = _cli(data, "snapshots")
    assert listing.stdout.splitlines()[0].startswith("* " + snaps[0].id)


def test_unknown_source_is_refused(tmp_path: Path):
    result = _cli(tmp_path / "data", "refresh", "--source", "nowhere")
    assert result.returncode == 2
    assert "invalid choice: 'nowhere'" in result.stderr


@pytest.fixture
def broken_source(monkeypatch: pytest.MonkeyPatch, tiny_org):
    """A source whose opportunities have an unparseable close date."""

    def pull(settings, progress, **options):
        frames = dict(tiny_org)
        frames["opportunities"] = frames["opportunities"].with_columns(
            close_date=pl.Series(["2026-02-01", "someday"])
        )
        return Pulled(frames=frames, data_as_of=tiny_org["opportunities"]["close_date"][0])

    monkeypatch.setitem(SOURCES, "broken", pull)
    return "broken"


def test_failed_refresh_keeps_the_previous_snapshot(data_dir: Path, broken_source, capsys):
    settings = load_settings()
    good = refresh(settings, "demo", as_of=None).snapshot
    with pytest.raises(RefreshError, match=r"opportunities\.close_date: 1 value\(s\) not valid"):
        refresh(settings, broken_source)
    store = Store(data_dir)
    assert store.current().id == good.id
    assert len(store.list()) == 1
    assert store.current().read_all()["opportunities"].height > 0


def test_cli_reports_failure_plainly(data_dir: Path, broken_source, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["ops"])
    code = cli.main(["refresh", "--source", broken_source])
    err = capsys.readouterr().err
    assert code == 1
    assert "refresh failed: broken: 1 problem(s)" in err
    assert "row 2: 'someday'" in err
    assert "Traceback" not in err
    assert "previous snapshot, if any, is still current" in err


def _bad(kind: str, org: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    frames = dict(org)
    opps, hist = frames["opportunities"], frames["stage_history"]
    if kind == "missing column":
        frames["opportunities"] = opps.drop("close_date")
    elif kind == "wrong type":
        frames["opportunities"] = opps.with_columns(amount=pl.Series(["1,000", "x"]))
    elif kind == "bad date":
        frames["opportunities"] = opps.with_columns(created_at=pl.Series(["yesterday", None]))
    elif kind == "duplicate id":
        frames["opportunities"] = pl.concat([opps, opps.head(1)])
    elif kind == "unknown opportunity":
        frames["stage_history"] = pl.concat([hist, hist.head(1).with_columns(opp_id=pl.lit("X"))])
    return frames


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing column", "opportunities.close_date: required column is missing"),
        ("wrong type", "opportunities.amount: 2 value(s) not numbers"),
        ("bad date", "opportunities.created_at: 1 value(s) not valid date-times"),
        ("duplicate id", "opportunities.opp_id: 2 rows share a duplicate id"),
        ("unknown opportunity", "stage_history.opp_id: 1 row(s) refer to opportunities"),
    ],
)
def test_each_bad_input_is_named_and_leaves_the_store_untouched(
    data_dir: Path, tiny_org, monkeypatch: pytest.MonkeyPatch, kind: str, message: str
):
    settings = load_settings()
    good = refresh(settings, "demo").snapshot
    files_before = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*"))

    def pull(settings, progress, **options):
        return Pulled(frames=_bad(kind, tiny_org), data_as_of=good.data_as_of)

    monkeypatch.setitem(SOURCES, "bad", pull)
    with pytest.raises(RefreshError) as info:
        refresh(settings, "bad")
    assert message in str(info.value)
    assert sorted(p.relative_to(data_dir) for p in data_dir.rglob("*")) == files_before
    assert Store(data_dir).current().id == good.id


def test_refresh_stores_the_intermediates_later_views_start_from(data_dir: Path):
    from datetime import date

    from polars.testing import assert_frame_equal

    from model.calendar import parse_period
    from model.graph import BUILT
    from model.tables import Tables
    from reports.snapshot_tables import read_bundle
    from scoring import intermediates, stages
    from scoring.scorecard import compute

    as_of = date(2026, 11, 16)
    snap = refresh(load_settings(), "demo", as_of=as_of).snapshot
    entries = snap.manifest["intermediates"]
    assert sorted(e["node"] for e in entries) == sorted(intermediates.PERSISTED)
    days = {v[:10] for e in entries for k, v in e["coords"].items() if k in ("as_of", "at")}
    assert days == {"2026-11-16"}
    stored = {meta["node"]: frame for meta, frame in snap.read_intermediates()}
    plain = Tables.from_frames(snap.read_all())
    assert_frame_equal(stored["stage_spells"], stages.stage_spells(plain, as_of=as_of))
    # Another quarter of the same snapshot: computed from the stored intermediates, with the
    # same result as from the bare tables.
    q3 = parse_period("2026-Q3")
    expected = compute(plain, as_of=as_of, period=q3).to_dict()
    seeded = read_bundle(snap)
    assert seeded.lead_history.collect().height == plain.lead_history.collect().height
    assert compute(seeded, as_of=as_of, period=q3).to_dict() == expected
    built = {key[0] for key, how in seeded.origins().items() if how == BUILT}
    assert not built & {"stage_spells", "funnel_steps", "lead_history_sorted"}, built
