"""The deal page's stage timeline chart (`pages/_deal_charts.py`) on the hand fixture of
tests/scoring/test_deal.py: deal x as of 2026-08-14 — Qualification 10 d (median 6),
Discovery 24 d (median 10), Proposal 10.5 d and running (median 6) — and won deal y."""

from __future__ import annotations

from datetime import UTC, datetime

from pages import _deal_charts as charts
from scoring.deal import deal_timeline
from tests.scoring.test_deal import AS_OF, make_tables


def test_rows_label_each_spell_and_place_the_median_tick():
    rows = charts.timeline_rows(deal_timeline(make_tables(), "x", as_of=AS_OF))
    assert rows["spell"].to_list() == ["1. Qualification", "2. Discovery", "3. Proposal"]
    # the tick sits at entry + median: Qualification entered 07-01 noon + 6 d = 07-07 noon
    assert rows["median_end_at"][0] == datetime(2026, 7, 7, 12, tzinfo=UTC)
    assert rows["versus"].to_list() == [charts.OVER] * 3  # 1.67×, 2.4×, 1.75×
    # whole days spent (as the risk reasons count them), the ratio to one decimal
    assert rows["label"].to_list() == [
        "10 d · 1.7× median", "24 d · 2.4× median", "10 d · 1.8× median"
    ]  # fmt: skip
    # the label starts after whichever ends later, the bar or the tick
    assert (rows["label_at"] >= rows["end_at"]).all()


def test_spec_bars_ticks_labels_and_the_close():
    won = deal_timeline(make_tables(), "y", as_of=AS_OF)  # 4 d (median 6), 10 d (10), won
    spec = charts.stage_timeline_chart(won).to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["bar", "tick", "text", "point"]
    data = {name: rows for name, rows in spec["datasets"].items()}
    by_mark = {layer["mark"]["type"]: data[layer["data"]["name"]] for layer in spec["layer"]}
    assert [r["spell"] for r in by_mark["bar"]] == ["1. Qualification", "2. Discovery"]
    assert [r["versus"] for r in by_mark["bar"]] == [charts.WITHIN, charts.WITHIN]  # 0.67×, 1×
    assert [r["spell"] for r in by_mark["point"]] == ["3. Closed Won"]  # the close, a diamond
    assert spec["layer"][3]["mark"]["shape"] == "diamond"
    legend = spec["layer"][0]["encoding"]["color"]["scale"]
    assert legend["domain"] == [charts.WITHIN]  # only what the chart shows
    assert spec["layer"][0]["encoding"]["y"]["sort"] == [
        "1. Qualification", "2. Discovery", "3. Closed Won"
    ]  # fmt: skip
