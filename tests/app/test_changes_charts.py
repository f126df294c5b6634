"""The "changes since last review" display tables and the forecast-category flow chart
(pages/_changes_charts.py), on a small hand-made transitions frame and summary.

Transitions of team East (amount at the start → amount at as-of):
  new → pipeline        2 deals,      0 →   300
  pipeline → pipeline   1 deal,     100 →   100
  pipeline → commit     1 deal,     200 →   250
  commit → won          1 deal,   1 500 → 1 500
  commit → lost         1 deal,     400 →   400
Row totals at the start: New 0, Pipeline 300, Commit 1 900 (the pipeline then: 2 200).
Column totals at as-of: Pipeline 400, Commit 250, Won 1 500, Lost 400.
"""

from __future__ import annotations

import polars as pl
import pytest

from model.tables import ALL_TEAMS
from pages import _changes_charts as charts
from scoring.changes import KINDS, TRENDS, Flow, Kind, Trend
from scoring.model import money

TRANSITIONS = pl.DataFrame(
    {
        "team": ["East"] * 5 + ["West"],
        "from": ["new", "pipeline", "pipeline", "commit", "commit", "best_case"],
        "to": ["pipeline", "pipeline", "commit", "won", "lost", "best_case"],
        "deals": [2, 1, 1, 1, 1, 1],
        "amount_since": [0.0, 100.0, 200.0, 1500.0, 400.0, 50.0],
        "amount": [300.0, 100.0, 250.0, 1500.0, 400.0, 50.0],
    },
    schema_overrides={"from": Flow, "to": Flow},
)


def _cells() -> dict[tuple[str, str], float]:
    cells = charts.transition_cells(TRANSITIONS, "East")
    return {(f, t): a for f, t, a in cells.select("from", "to", "amount").iter_rows()}


def test_the_margins_are_the_totals_at_each_date():
    cells = _cells()
    start = {f: a for (f, t), a in cells.items() if t == charts.TOTAL_SINCE}
    now = {t: a for (f, t), a in cells.items() if f == charts.TOTAL_UNTIL}
    assert start == {"New": 0.0, "Pipeline": 300.0, "Commit": 1900.0}
    assert now == {"Pipeline": 400.0, "Commit": 250.0, "Won": 1500.0, "Lost": 400.0}
    # the body cells are the amounts at as-of; each column of them sums to its margin
    body = {k: v for k, v in cells.items() if charts.TOTAL_SINCE not in k}
    body = {k: v for k, v in body.items() if charts.TOTAL_UNTIL not in k}
    for column, total in now.items():
        assert sum(v for (_, t), v in body.items() if t == column) == total
    assert len(body) == 5  # West's cell is not East's


def test_the_chart_spec_orders_rows_and_columns_and_labels_money():
    spec = charts.transition_chart(TRANSITIONS, team="East").to_dict()
    layers = spec["layer"]
    assert [layer["mark"]["type"] for layer in layers] == ["rect", "rect", "text"]
    for layer in layers:  # one grid: every layer on the same ordered axes
        x, y = layer["encoding"]["x"], layer["encoding"]["y"]
        assert (x["field"], x["title"]) == ("to", "Category at as-of")
        assert x["sort"] == ["Pipeline", "Commit", "Won", "Lost", charts.TOTAL_SINCE]
        assert (y["field"], y["title"]) == ("from", "Category at the start")
        assert y["sort"] == ["New", "Pipeline", "Commit", charts.TOTAL_UNTIL]
        tooltips = {t["title"] for t in layer["encoding"]["tooltip"]}
        assert {"Amount at start", "Amount at as-of", "Deals"} <= tooltips
    assert layers[0]["transform"] == [{"filter": "!datum.is_total"}]  # colored body
    assert layers[0]["encoding"]["color"]["field"] == "amount"
    assert layers[1]["transform"] == [{"filter": "datum.is_total"}]  # grey margins
    assert layers[1]["mark"]["color"] == "#e6e6e6"
    assert layers[2]["encoding"]["text"]["field"] == "label"
    (data,) = spec["datasets"].values()
    labels = {(r["from"], r["to"]): r["label"] for r in data}
    assert labels[("Commit", charts.TOTAL_SINCE)] == "$2k"  # 1 900
    assert labels[("Commit", "Won")] == "$2k"  # 1 500, as money() writes it
    assert labels[("Pipeline", "Commit")] == "$250"
    assert labels[(charts.TOTAL_UNTIL, "Pipeline")] == "$400"  # 300 new + 100 stayed


@pytest.mark.parametrize("value", [0.0, 950.0, 1_234.0, 45_600.0, -45_600.0, 999_400.0,
                                   1_234_567.0, -2_500_000.0])  # fmt: skip
def test_money_text_writes_amounts_as_money_does(value):
    got = pl.DataFrame({"v": [value]}).select(charts.money_text("v")).item()
    assert got == money(value)


def _summary() -> tuple[pl.DataFrame, pl.DataFrame]:
    teams = ["East", ALL_TEAMS]
    summary = pl.DataFrame(
        {"team": [t for t in teams for _ in KINDS], "kind": list(KINDS) * 2},
        schema_overrides={"kind": Kind},
    ).with_columns(
        deals=pl.when(pl.col("kind") == "close_pushed").then(3).otherwise(0),
        amount=pl.when(pl.col("kind") == "close_pushed").then(120_000.0).otherwise(0.0),
        amount_delta=pl.lit(0.0),
    )
    trends = pl.DataFrame(
        {"team": [t for t in teams for _ in TRENDS], "trend": list(TRENDS) * 2,
         "deals": [1, 0, 3, 0] * 2, "amount": [5_000.0, 0.0, 120_000.0, 0.0] * 2},
        schema_overrides={"trend": Trend},
    )  # fmt: skip
    return summary, trends


def test_overview_is_one_row_per_team_with_deals_and_amounts():
    summary, trends = _summary()
    got = charts.overview(summary.reverse(), trends.reverse())  # row order does not matter
    assert got["team"].to_list() == ["East", ALL_TEAMS]
    assert got.columns[1:5] == ["Trend up", "Trend down", "Slipped", "Idle"]
    assert got.columns[5] == "New" and got.columns[-1] == "Category down"
    east = got.row(0, named=True)
    assert (east["Pushed out"], east["Slipped"], east["Trend up"]) == ("3 · $120k", "3 · $120k",
                                                                      "1 · $5k")  # fmt: skip
    assert east["Won"] == "—"  # nothing, not "0 · $0"


def test_kinds_and_deals_of_a_kind():
    summary, _ = _summary()
    kinds = charts.kinds_of(summary, "East")
    assert kinds["change"].to_list()[:3] == ["New", "Won", "Lost"]
    assert kinds.filter(kind="close_pushed")["deals"].item() == 3
    rows = pl.DataFrame(
        {"opp_id": ["o1", "o2", "o3"], "name": ["Small", "Big", "West deal"],
         "owner": ["Ada", "Ada", "Alan"], "team": ["East", "East", "West"],
         "kind": ["close_pushed"] * 3, "amount_after": [10.0, 90.0, 50.0]},
        schema_overrides={"kind": Kind},
    ).with_columns(
        pl.lit(None).alias(c) for c in charts.DEAL_COLUMNS
        if c not in ("opp_id", "name", "owner", "team", "amount_after")
    )  # fmt: skip
    east = charts.deals_of(rows, team="East", kind="close_pushed")
    assert east["name"].to_list() == ["Big", "Small"]  # largest first
    everyone = charts.deals_of(rows, team=ALL_TEAMS, kind="close_pushed")
    assert everyone["name"].to_list() == ["Big", "West deal", "Small"]
    assert charts.deals_of(rows, team="East", kind="won").is_empty()
