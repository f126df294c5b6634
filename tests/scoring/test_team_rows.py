"""model.team_rows: every table shows the teams' rows first and the total ("All teams") last;
a view of one team leaves its total (a copy of the team's row) out; several teams' total is
labelled "Selected teams"."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from model.tables import ALL_TEAMS
from model.team_rows import SELECTED_TEAMS, labelled_total, team_rows

# A per-team result as scoring sorts it by its grain (team, stage): "All teams" sorts between
# "APAC" and "EMEA" ("APAC" < "All teams": upper-case P before lower-case l).
BY_STAGE = pl.DataFrame(
    {
        "team": ["APAC", "APAC", ALL_TEAMS, ALL_TEAMS, "EMEA", "EMEA"],
        "stage": ["Discovery", "Proposal"] * 3,
        "deals": [1, 2, 4, 6, 3, 4],
    }
)


def test_all_teams_rows_go_last_and_the_rest_keep_their_order():
    out = team_rows(BY_STAGE)
    assert out["team"].to_list() == ["APAC", "APAC", "EMEA", "EMEA", ALL_TEAMS, ALL_TEAMS]
    # within each part the rows keep their order: Discovery before Proposal
    assert out["stage"].to_list() == ["Discovery", "Proposal"] * 3
    assert out["deals"].to_list() == [1, 2, 3, 4, 4, 6]


def test_a_view_of_one_team_leaves_its_total_out():
    apac = BY_STAGE.filter(pl.col("team").is_in(["APAC", ALL_TEAMS]))
    # APAC's view: the All teams rows (1 + 2 deals) repeat APAC's own
    assert team_rows(apac, ("APAC",))["team"].to_list() == ["APAC", "APAC"]


def test_a_total_alone_stays_in_a_one_team_view():
    only_total = pl.DataFrame({"team": [ALL_TEAMS], "win_rate": [0.25]})
    assert team_rows(only_total, ("APAC",)).equals(only_total)


def test_several_teams_total_is_labelled_selected_teams():
    out = labelled_total(team_rows(BY_STAGE), ("APAC", "EMEA"))
    assert out["team"].to_list() == ["APAC", "APAC", "EMEA", "EMEA", *[SELECTED_TEAMS] * 2]
    assert labelled_total(BY_STAGE).equals(BY_STAGE)  # the company view: "All teams"


def test_frames_without_teams_and_enum_teams():
    no_team = pl.DataFrame({"stage": ["Proposal", "Discovery"]})
    assert team_rows(no_team).equals(no_team)
    enum = BY_STAGE.with_columns(pl.col("team").cast(pl.Enum(["APAC", ALL_TEAMS, "EMEA"])))
    assert team_rows(enum)["team"].cast(pl.String).to_list()[-2:] == [ALL_TEAMS, ALL_TEAMS]


teams = st.sampled_from(["APAC", "EMEA", "NA Enterprise", ALL_TEAMS, "(no team)"])


@given(st.lists(st.tuples(teams, st.integers(0, 9)), min_size=1, max_size=12), st.randoms())
def test_row_order_never_changes_what_is_shown(rows, rnd):
    frame = pl.DataFrame(rows, schema=["team", "deals"], orient="row")
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 2**31))
    for f in (frame, shuffled):
        out = team_rows(f)
        total = out["team"] == ALL_TEAMS
        # every total row after every team row, and no row lost or added
        assert total.arg_true().min() is None or total.arg_true().min() >= (~total).sum()
        assert sorted(out.rows()) == sorted(f.rows())
