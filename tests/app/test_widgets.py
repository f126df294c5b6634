"""Shared widget helpers that need no Streamlit session."""

from __future__ import annotations

import json

import polars as pl

from pages import _widgets
from pages._widgets import csv_text, help_for, team_scale


def test_csv_flattens_list_columns():
    frame = pl.DataFrame({"team": ["APAC"], "bias": [[-0.25, -0.2]], "period": [["Q1", "Q2"]]})
    assert csv_text(frame).splitlines() == ["Team,Bias,Period", "APAC,-0.25; -0.2,Q1; Q2"]


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
    back = pl.read_csv(text.encode(), schema_overrides={"Team": pl.String})
    assert back["Team"].to_list() == [*("'" + h for h in hostile), "APAC", "a,b", "", None]
    assert back["Amount"].dtype == pl.Float64 and back["Amount"][0] == -5.5


def test_csv_leaves_number_lists_alone():
    # a list of numbers joined is not text from data: "-0.25; -0.2" stays as written
    frame = pl.DataFrame({"bias": [[-0.25, -0.2]], "period": [["=Q1", "Q2"]]})
    assert csv_text(frame).splitlines() == ["Bias,Period", '-0.25; -0.2,"\'=Q1; Q2"']


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
    assert formats == {"win_share": "percent", "stalled_amount": "dollar"}  # model.formats
    assert config["win_share"]["type_config"]["step"] == 0.001  # "42.3%", one decimal
    assert config["stalled_amount"]["type_config"]["step"] == 1  # "$13,983", no cents
    assert config["median_days"]["type_config"]["format"] == "%.1f days"
    assert config["ratio"]["type_config"]["format"] == "%.2f"  # no hint in the name
    assert config["ratio"]["label"] == "Ratio"


def test_a_page_s_money_percent_and_days_columns_get_the_house_style():
    import streamlit as st

    frame = pl.DataFrame({"open_pipeline": [1e6], "velocity": [13983.29], "rate": [0.2137],
                          "age_days": [3.0], "side_a_value": [12.0],
                          "coverage": [1.4]})  # fmt: skip
    config = _widgets.column_defaults(
        frame,
        {
            "open_pipeline": st.column_config.NumberColumn("Open pipeline", format="compact"),
            "velocity": st.column_config.NumberColumn("Velocity $/day", format="$%.0f"),
            "rate": st.column_config.NumberColumn("Rate", format="percent"),
            "age_days": st.column_config.NumberColumn("Age", format="%.1f d"),
            "side_a_value": st.column_config.NumberColumn("A", format="compact"),
            "coverage": st.column_config.NumberColumn("Coverage", format="%.1f×"),
        },
    )
    grid = {c: (config[c]["type_config"]["format"], config[c]["type_config"]["step"])
            for c in frame.columns}  # fmt: skip
    assert grid == {
        "open_pipeline": ("dollar", 1),  # was "1M" without a "$"
        "velocity": ("dollar", 1),  # was "$13983" without a comma
        "rate": ("percent", 0.001),  # was "21.37%"
        "age_days": ("%.1f days", None),
        "side_a_value": ("compact", None),  # a count or an amount: left as the page set it
        "coverage": ("%.1f×", None),
    }
    assert config["rate"]["label"] == "Rate"  # the page's label kept


def test_csv_headers_are_the_table_s_labels_and_numbers_are_rounded_by_kind():
    import streamlit as st

    frame = pl.DataFrame(
        {
            "opp_id": ["006A"],
            "team": ["EMEA"],
            "amount": [304.5598074635995],
            "win_rate": [0.213749],
            "age_days": [12.46],
            "coverage": [1.4449],
            "stalled_deals": [3],
            "won": [2],
        }
    )
    config = {
        "opp_id": None,  # hidden in the grid, kept in the CSV
        "team": "Team",
        "amount": _widgets.money_column("Stalled $"),
        "win_rate": st.column_config.NumberColumn("Win rate", format="percent"),
        "coverage": st.column_config.NumberColumn("Coverage", format="%.1f×"),
        "won": "Team",  # a label used twice: the second names its column
    }
    lines = csv_text(frame, config).splitlines()
    assert lines[0] == "Opp ID,Team,Stalled $,Win rate,Age days,Coverage,Stalled deals,Team (won)"
    # money 2 decimals, rates 4, days 1, ratios 2; integers as they are
    assert lines[1] == "006A,EMEA,304.56,0.2137,12.5,1.44,3,2"


def test_the_page_is_the_script_that_asks_for_the_csv():
    code = compile("name = _widgets._page_name()", "/app/pages/pipeline.py", "exec")
    scope = {"_widgets": _widgets}
    exec(code, scope)
    assert scope["name"] == "pipeline"


def test_csv_file_names_name_the_view():
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from pages import _data, _widgets

        st.session_state["view"] = _data.View(
            data_dir="d", snapshot_id="s", period="2026-Q4", as_of="2026-11-16",
            teams=st.session_state.get("teams", ()), params_key="k",
        )  # fmt: skip
        st.text(_widgets.csv_file_name("stalled_deals_2026-11-16", "pipeline"))
        st.text(_widgets.csv_file_name("headline_2026-Q4", "scorecard"))
        st.text(_widgets.csv_file_name("forecast_miss_2026-Q3", "forecast"))

    at = AppTest.from_function(script).run()
    assert [t.value for t in at.text] == [
        "pipeline-stalled-deals-all-teams-2026-Q4-asof-2026-11-16.csv",
        "scorecard-headline-all-teams-2026-Q4-asof-2026-11-16.csv",
        "forecast-miss-2026-Q3-all-teams-2026-Q4-asof-2026-11-16.csv",  # the judged quarter kept
    ]
    at = AppTest.from_function(script)
    at.session_state["teams"] = ("NA Mid-Market",)
    at.run()
    assert at.text[0].value == "pipeline-stalled-deals-NA-Mid-Market-2026-Q4-asof-2026-11-16.csv"


def test_instants_show_in_the_reporting_time_zone(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    config = tmp_path / "scorecard.toml"
    config.write_text('[calendar]\ntimezone = "Europe/Berlin"\n')
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))

    def script():
        from datetime import UTC, datetime

        import polars as pl
        import streamlit as st

        from pages import _widgets

        frame = pl.DataFrame({"refreshed_at": [datetime(2026, 11, 16, 23, 30, tzinfo=UTC)]})
        st.dataframe(frame, column_config={"refreshed_at": _widgets.datetime_column("Refreshed")})

    at = AppTest.from_function(script).run()
    assert not at.exception, at.exception
    setting = json.loads(at.dataframe[0].proto.columns)["refreshed_at"]
    options = setting["type_config"]
    assert (options["format"], options["timezone"]) == ("YYYY-MM-DD HH:mm", "Europe/Berlin")
    assert "Europe/Berlin" in setting["help"]
