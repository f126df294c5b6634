"""Shared widget helpers that need no Streamlit session."""

from __future__ import annotations

import polars as pl

from pages import _widgets
from pages._widgets import csv_text, help_for, team_scale


def test_csv_flattens_list_columns():
    frame = pl.DataFrame({"team": ["APAC"], "bias": [[-0.25, -0.2]], "period": [["Q1", "Q2"]]})
    assert csv_text(frame).splitlines() == ["team,bias,period", "APAC,-0.25; -0.2,Q1; Q2"]


def test_csv_neutralises_text_cells_a_spreadsheet_would_run_as_formulas():
    # OWASP: a cell starting with = + - @ tab or CR gets a leading ' and is quoted.
    hostile = ['=HYPERLINK("http://x","c")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    frame = pl.DataFrame(
        {
            "team": [*hostile, "APAC", "a,b", "", None],
            "amount": [-5.5, 1.0, -2.0, 3.0, 4.0, 5.0, -6.0, 7.0, 8.0, None],
            "stage": pl.Series(["-Discovery"] * 10, dtype=pl.Enum(["-Discovery"])),
        }
    )
    text = csv_text(frame)
    lines = text.split("\n")
    assert lines[1] == '"\'=HYPERLINK(""http://x"",""c"")",-5.5,"\'-Discovery"'
    assert lines[2] == '"\'+1+1",1.0,"\'-Discovery"'
    assert lines[3] == '"\'-2+3",-2.0,"\'-Discovery"'  # the number stays a number
    assert lines[4] == '"\'@SUM(A1)",3.0,"\'-Discovery"'
    assert lines[5] == '"\'\tx",4.0,"\'-Discovery"'
    assert lines[6] == '"\'\rx",5.0,"\'-Discovery"'
    assert lines[7:11] == [
        'APAC,-6.0,"\'-Discovery"',
        '"a,b",7.0,"\'-Discovery"',
        '"",8.0,"\'-Discovery"',
        ',,"\'-Discovery"',
    ]
    # read back by a CSV reader: the text a spreadsheet shows, numbers still numbers
    back = pl.read_csv(text.encode(), schema_overrides={"team": pl.String})
    assert back["team"].to_list() == [*("'" + h for h in hostile), "APAC", "a,b", "", None]
    assert back["amount"].dtype == pl.Float64 and back["amount"][0] == -5.5


def test_csv_leaves_number_lists_alone():
    # a list of numbers joined is not text from data: "-0.25; -0.2" stays as written
    frame = pl.DataFrame({"bias": [[-0.25, -0.2]], "period": [["=Q1", "Q2"]]})
    assert csv_text(frame).splitlines() == ["bias,period", '-0.25; -0.2,"\'=Q1; Q2"']


def test_team_colors_are_stable_and_all_teams_is_grey():
    scale = team_scale(["EMEA", "APAC", "All teams"]).to_dict()
    assert scale["domain"] == ["APAC", "EMEA", "All teams"]
    assert scale["range"][0] == "#4e79a7" and scale["range"][-1] == "#555555"


def test_help_comes_from_the_registry():
    text = help_for("follow_up_sla")
    assert text.startswith("**") and "follow_up_sla" in text and "Good:" in text
    assert help_for("no.such.metric") == ""


def test_column_defaults_label_and_format_the_columns_a_page_left_out():
    frame = pl.DataFrame(
        {"team": ["EMEA"], "sourced_by": ["sales"], "win_share": [0.25], "stalled_amount": [1e6],
         "median_days": [3.25], "ratio": [1.5], "deals": [4], "fire_at": [None]}
    )  # fmt: skip
    config = _widgets.column_defaults(frame, {"team": "Team", "deals": None})
    assert config["team"] == "Team" and config["deals"] is None  # the page's own stay
    assert config["sourced_by"]["label"] == "Sourced by"
    assert config["fire_at"]["label"] == "Fire at"
    formats = {c: config[c]["type_config"]["format"] for c in ("win_share", "stalled_amount")}
    assert formats == {"win_share": "percent", "stalled_amount": "compact"}
    assert config["median_days"]["type_config"]["format"] == "%.1f d"
    assert config["ratio"]["type_config"]["format"] == "%.2f"  # no hint in the name
    assert config["ratio"]["label"] == "Ratio"
