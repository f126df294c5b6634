"""The Pipeline flow / Forecast chart builders and their display helpers, on hand-made frames."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from reports import pipeline_charts as charts

TEAMS = ["APAC", "EMEA"]


def _data(chart) -> list[list[dict]]:
    """The inline datasets of a chart spec (Altair puts frames under `datasets`)."""
    return list(chart.to_dict()["datasets"].values())


def _params(spec: dict) -> list[dict]:
    found = list(spec.get("params", []))
    for layer in spec.get("layer", []):
        found += layer.get("params", [])
    return found


def _bridge() -> pl.DataFrame:
    # start 100 + created 20 + pulled_in 10 + increased 5 − decreased 15 − pushed_out 10
    # − won 30 − lost 20 = 60 = end
    return pl.DataFrame(
        {
            "team": ["APAC"] * 9,
            "bucket": list(charts.BUCKET_LABELS),
            "amount": [100.0, 20.0, 10.0, 5.0, -15.0, -10.0, -30.0, -20.0, 60.0],
            "deals": [5, 2, 1, 1, 2, 1, 2, 3, 4],
        }
    )


def test_waterfall_bars_float_from_the_running_total():
    bars = charts.waterfall_bars(_bridge())
    # running total after each flow: 100, 120, 130, 135, 120, 110, 80, 60; start/end from 0
    assert bars["bar_start"].to_list() == [0, 100, 120, 130, 135, 120, 110, 80, 0]
    assert bars["bar_end"].to_list() == [100, 120, 130, 135, 120, 110, 80, 60, 60]
    # decreased and pushed out take away, won is an outcome of its own, lost takes away
    total, adds, won, away = charts.TOTAL, charts.ADDS, charts.WON, charts.TAKES_AWAY
    assert bars["flow"].to_list() == [total, adds, adds, adds, away, away, won, away, total]
    assert bars["label"][5] == "Pushed out"


def test_waterfall_chart_picks_a_bucket():
    spec = charts.waterfall_chart(_bridge()).to_dict()
    picks = [p for p in _params(spec) if p["name"] == "pick"]
    assert picks and picks[0]["select"]["fields"] == ["bucket"]
    assert spec["layer"][0]["encoding"]["x"]["sort"] == list(charts.BUCKET_LABELS.values())


def test_drill_filters_by_picked_values_and_ignores_all_teams():
    rows = pl.DataFrame({"team": ["APAC", "EMEA", "EMEA"], "stage": ["A", "A", "B"]})
    assert charts.drill(rows, team="EMEA", stage="A").to_dicts() == [{"team": "EMEA", "stage": "A"}]
    assert charts.drill(rows, team="All teams", stage="A")["team"].to_list() == ["APAC", "EMEA"]
    assert_frame_equal(charts.drill(rows, team=None, stage=None), rows)
    assert charts.drill(rows, team="NA").is_empty()


def _miss() -> pl.DataFrame:
    # APAC: miss = 50 − 20 − 10 − 5 + (−3) + 8 = 20 (actual 120 − call 100)
    row = {"unforecast_wins": 50.0, "slipped": 20.0, "lost": 10.0, "still_open": 5.0,
           "amount_changes": -3.0, "residual": 8.0}  # fmt: skip
    return pl.DataFrame(
        [
            {"team": "APAC", "sourced_by": "(all)", "miss": 20.0, **row},
            {"team": "APAC", "sourced_by": "sales", "miss": None, **row, "residual": None},
        ]
    )


def test_miss_components_are_signed_and_add_up_to_the_miss():
    parts = charts.miss_components(_miss())
    assert parts["component"].to_list() == list(charts.MISS_SIGNS)  # team rows only
    assert parts["amount"].to_list() == [50.0, -20.0, -10.0, -5.0, -3.0, 8.0]
    assert parts["amount"].sum() == 20.0
    spec = charts.miss_chart(_miss()).to_dict()
    assert spec["params"][0]["select"]["fields"] == ["team"]


def test_days_in_stage_chart_one_mark_per_team_in_stage_order():
    frame = pl.DataFrame(
        {
            "stage": ["Disc", "Disc", "Neg"],
            "team": ["APAC", "All teams", "EMEA"],
            "n": [3, 5, 2],
            "median_days": [10.0, 12.0, 40.0],
            "p75_days": [15.0, 16.0, 60.0],
            "p90_days": [20.0, 22.0, 90.0],
            "mean_days": [11.0, 13.0, 45.0],
        }
    )
    spec = charts.days_in_stage_chart(frame, stage_order=["Neg", "Disc"], teams=TEAMS).to_dict()
    enc = spec["layer"][2]["encoding"]
    assert enc["y"]["sort"] == ["Neg", "Disc"]
    assert enc["color"]["scale"]["domain"] == ["APAC", "EMEA", "All teams"]
    assert _params(spec)[0]["select"]["fields"] == ["team", "stage"]
    assert spec["layer"][1]["encoding"]["x2"]["field"] == "p75_days"


def test_stall_heatmap_labels_share_and_count_without_all_teams():
    frame = pl.DataFrame(
        {
            "team": ["All teams", "EMEA"],
            "stage": ["Neg", "Neg"],
            "age_vs_company": [1.0, 1.5862],
            "open_deals": [115, 54],
            "stalled_count": [36, 24],
            "stalled_share": [36 / 115, 24 / 54],
        }
    )
    (rows,) = _data(charts.stall_heatmap(frame, stage_order=["Neg"]))
    assert [r["team"] for r in rows] == ["EMEA"]
    assert rows[0]["cell_label"] == "44% · 24 of 54 stalled"  # 24 / 54 = 0.444


def test_team_summary_joins_the_four_metrics_with_all_teams_last():
    teams = {"team": ["All teams", "APAC"]}
    summary = charts.team_summary(
        pl.DataFrame({**teams, "won": [3, 1], "lost": [1, 1], "win_rate_count": [0.75, 0.5],
                      "win_rate_amount": [0.7, 0.4]}),
        pl.DataFrame({**teams, "open_pipeline": [9.0, 3.0], "coverage": [2.0, 1.0],
                      "required_coverage": [3.0, 3.0], "notes": [None, None]}),
        pl.DataFrame({**teams, "velocity": [100.0, 40.0]}),
        pl.DataFrame({"team": ["APAC"], "cycle_days_median": [80.0], "cycle_days_excluded": [1]}),
    )  # fmt: skip
    assert summary["team"].to_list() == ["APAC", "All teams"]
    assert summary.row(0, named=True) == {
        "team": "APAC", "won": 1, "lost": 1, "win_rate_count": 0.5, "win_rate_amount": 0.4,
        "open_pipeline": 3.0, "coverage": 1.0, "required_coverage": 3.0, "notes": None,
        "velocity": 40.0, "cycle_days_median": 80.0, "cycle_days_excluded": 1,
    }  # fmt: skip
    assert summary["cycle_days_median"][1] is None


def _accuracy() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "team": ["APAC", "APAC", "APAC"],
            "period": ["2026-Q2", "2026-Q3", "2026-Q4"],
            "forecast": [75.0, 80.0, 90.0],
            "actual": [100.0, 100.0, 10.0],
            "accuracy": [0.75, 0.8, None],
            "bias": [-0.25, -0.2, None],
            "is_complete": [True, True, False],
        }
    )


def test_trend_chart_judged_periods_and_a_zero_line_for_bias():
    bias = charts.trend_chart(_accuracy(), field="bias", title="Bias", teams=TEAMS)
    zero, lines = _data(bias)
    assert zero == [{"y": 0.0}]
    assert [r["period"] for r in lines] == ["2026-Q2", "2026-Q3"]  # in-progress Q4 left out
    accuracy = charts.trend_chart(_accuracy(), field="accuracy", title="Accuracy", teams=TEAMS)
    assert len(_data(accuracy)) == 1 and "layer" in accuracy.to_dict()


def test_forecast_vs_actual_has_a_call_and_an_actual_per_team_period():
    (rows,) = _data(charts.forecast_vs_actual_chart(_accuracy(), teams=TEAMS))
    assert len(rows) == 6
    q2 = {r["measure"]: r["amount"] for r in rows if r["period"] == "2026-Q2"}
    assert q2 == {"Locked call": 75.0, "Actual": 100.0}


def test_week_accuracy_chart_keeps_the_judged_period_and_category():
    variance = pl.DataFrame(
        {
            "team": ["APAC"] * 3,
            "period": ["2026-Q3", "2026-Q3", "2026-Q2"],
            "category": ["commit", "best_case", "commit"],
            "week": [1, 1, 1],
            "forecast": [1.0, 2.0, 3.0],
            "actual": [1.0, 1.0, 1.0],
            "accuracy": [1.0, 0.0, -1.0],
        }
    )
    chart = charts.week_accuracy_chart(
        variance, period="2026-Q3", category="commit", lock_week=3, teams=TEAMS
    )
    lines, lock = _data(chart)
    assert [r["accuracy"] for r in lines] == [1.0]
    assert lock[0]["week"] == 3


def test_wape_chart_shows_complete_periods_only():
    wape = pl.DataFrame({"period": ["2026-Q3", "2026-Q4"], "wape": [0.09, None],
                         "bias": [-0.02, None], "teams": [4, 4]})  # fmt: skip
    (rows,) = _data(charts.wape_chart(wape))
    assert [r["period"] for r in rows] == ["2026-Q3"]


def test_csv_safe_flattens_lists():
    frame = pl.DataFrame({"team": ["APAC"], "bias": [[-0.25, -0.2]]})
    flat = charts.csv_safe(frame)
    assert flat["bias"].to_list() == ["-0.25; -0.2"]
    assert flat.write_csv() == "team,bias\nAPAC,-0.25; -0.2\n"


def test_with_owner_names_falls_back_to_the_id():
    deals = pl.DataFrame({"opp_id": ["O2", "O1"], "owner_id": ["U1", "U9"], "amount": [5.0, 6.0]})
    users = pl.DataFrame({"user_id": ["U1"], "name": ["Ana"]})
    named = charts.with_owner_names(deals, users)
    assert named.columns == ["opp_id", "owner", "amount", "owner_id"]
    assert named["owner"].to_list() == ["Ana", "U9"]  # order kept, unknown owner → id


# --- This quarter's call ------------------------------------------------------------------


def test_money_text_reads_like_people_write_amounts():
    # a table's amounts are exact, to the dollar (model.formats: compact only in headlines)
    values = pl.DataFrame({"v": [1_234_567.0, 45_600.0, 999.4, None, -200_000.0]})
    got = values.select(charts.money_text("v"))["v"].to_list()
    assert got == ["$1,234,567", "$45,600", "$999", "—", "-$200,000"]


def _call_row(team, **values) -> dict:
    row = {
        "team": team, "won": 300.0, "won_unknown": 0, "commit": 200.0, "commit_unknown": 1,
        "best_case": 100.0, "best_case_unknown": 0, "pipeline": 80.0, "pipeline_unknown": 0,
        "quota": 1000.0, "gap": 700.0, "open_pipeline": 380.0, "coverage": 0.54,
        "call_commit": 700.0, "call_best_case": 900.0, "age_days": 2, "stale": False,
        "notes": None,
    }  # fmt: skip
    return {**row, **values}


def test_call_table_says_above_quota_stale_and_not_measured():
    call = pl.DataFrame(
        [
            _call_row("East"),
            _call_row(
                "West",
                gap=-200.0,
                coverage=None,
                age_days=14,
                stale=True,
                notes="above quota: no gap to cover",
            ),
            _call_row(
                "North",
                quota=None,
                gap=None,
                coverage=None,
                call_commit=None,
                call_best_case=None,
                age_days=None,
                stale=None,
                notes="not measured: no quota for 2026-Q4",
            ),
        ]
    )
    shown = charts.call_table(call)
    east, west, north = shown.iter_rows(named=True)
    assert east["commit"] == "$200 (+1 without amount)"  # unknown amounts named, not $0
    assert (east["gap"], east["submission"]) == ("$700", "2 days ago")
    assert (west["gap"], west["submission"]) == ("above quota by $200", "⚠ stale: 14 days old")
    assert (north["gap"], north["quota"], north["submission"]) == (
        "not measured", "—", "no submission",
    )  # fmt: skip
    assert north["notes"] == "not measured: no quota for 2026-Q4"


def test_call_trend_chart_draws_four_lines_and_the_quota():
    trend = pl.DataFrame(
        {
            "team": ["East"] * 2 + ["All teams"] * 2,
            "week": [1, 2, 1, 2],
            "week_end": [None] * 4,
            "won": [0.0, 300.0, 0.0, 300.0],
            "commit": [300.0, 200.0, 300.0, 200.0],
            "best_case": [0.0, 0.0, 0.0, 0.0],
            "call_commit": [None, 650.0, None, 650.0],
        },
        schema_overrides={"week_end": pl.Date},
    )
    spec = charts.call_trend_chart(trend, team="East", quota=1000.0).to_dict()
    rows = [r for d in spec["datasets"].values() for r in d if "line" in r]
    lines = {(r["line"], r["week"]): r["amount"] for r in rows}
    assert lines[("Won + commit", 1)] == 300.0 and lines[("Won + commit", 2)] == 500.0
    assert ("Submitted commit", 1) not in lines  # nothing submitted yet: no point, not $0
    assert lines[("Submitted commit", 2)] == 650.0
    quota = [r for d in spec["datasets"].values() for r in d if "quota" in r]
    assert quota == [{"quota": 1000.0, "label": "Quota"}]
    no_quota = charts.call_trend_chart(trend, team="East", quota=None).to_dict()
    assert len(no_quota["layer"]) == 1
