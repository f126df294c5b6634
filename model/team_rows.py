"""How every table lays out a per-team result: the teams' rows, then the total ("All teams").

A per-team result (`scoring`) holds one row per team (or per team and something else) plus
rows under team "All teams" that add the teams of the view up. Sorted by their grain those
land between the teams ("APAC" < "All teams" < "EMEA"); a table shows them last. In a view of
one team the total repeats the team's row and is left out; in a view of several teams it is
their sum, so a table labels it "Selected teams" (the company's own figures are the company
view's, `teams=()`, never this sum).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from model.tables import ALL_TEAMS

SELECTED_TEAMS = "Selected teams"  # the total of a view of several teams, as tables label it
COMPANY = "Company (all teams)"  # the company view's total beside a team view's rows


def _has_teams(frame: pl.DataFrame) -> bool:
    return isinstance(frame.schema.get("team"), pl.String | pl.Categorical | pl.Enum)


def team_rows(frame: pl.DataFrame, teams: Sequence[str] = ()) -> pl.DataFrame:
    """`frame` as a table shows it: its rows in their order with the "All teams" rows moved
    last; in a view of one team (`teams`) without them, unless they are all it has. Any other
    frame as it is."""
    if not _has_teams(frame):
        return frame
    total = (pl.col("team").cast(pl.String) == ALL_TEAMS).fill_null(False)
    if len(teams) == 1 and frame.select((~total).any()).item():  # a total alone stays
        return frame.filter(~total)
    return frame.sort(total, maintain_order=True)


def total_label(teams: Sequence[str]) -> str:
    """What the total row of a view of `teams` is called: "All teams", or "Selected teams"."""
    return SELECTED_TEAMS if len(teams) > 1 else ALL_TEAMS


def labelled_total(frame: pl.DataFrame, teams: Sequence[str] = ()) -> pl.DataFrame:
    """`frame` with its "All teams" rows named for what they add up (`total_label`)."""
    if not _has_teams(frame) or total_label(teams) == ALL_TEAMS:
        return frame
    name = pl.col("team").cast(pl.String)
    return frame.with_columns(
        team=pl.when(name == ALL_TEAMS).then(pl.lit(SELECTED_TEAMS)).otherwise(name)
    )
