"""Shared widget helpers that need no Streamlit session."""

from __future__ import annotations

import polars as pl

from pages._widgets import csv_text, help_for, team_scale


def test_csv_flattens_list_columns():
    frame = pl.DataFrame({"team": ["APAC"], "bias": [[-0.25, -0.2]], "period": [["Q1", "Q2"]]})
    assert csv_text(frame).splitlines() == ["team,bias,period", "APAC,-0.25; -0.2,Q1; Q2"]


def test_team_colors_are_stable_and_all_teams_is_grey():
    scale = team_scale(["EMEA", "APAC", "All teams"]).to_dict()
    assert scale["domain"] == ["APAC", "EMEA", "All teams"]
    assert scale["range"][0] == "#4e79a7" and scale["range"][-1] == "#555555"


def test_help_comes_from_the_registry():
    text = help_for("follow_up_sla")
    assert text.startswith("**") and "follow_up_sla" in text and "Good:" in text
    assert help_for("no.such.metric") == ""
