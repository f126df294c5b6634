"""Chart colors and selection helpers shared by the pages and the pre-read (no Streamlit)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import altair as alt

from model import formats

# One palette for teams across every page and the pre-read (Tableau 10, color-blind aware).
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
ALL_TEAMS_COLOR = "#555555"


def team_scale(teams: Sequence[str], present: Iterable[str] | None = None) -> alt.Scale:
    """Team → color, stable for a snapshot's team list (sorted), "All teams" in grey.

    With `present` (the teams a chart's data holds), the domain keeps only those, in the
    same colors: a legend never lists a team the chart draws no mark for. A present team
    missing from `teams` (e.g. a view made before a team was added) gets the next colors.
    """
    ordered = sorted(t for t in teams if t != "All teams")
    if present is not None:
        shown = set(present)
        ordered += sorted(shown - set(ordered) - {"All teams"})
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(ordered))]
    pairs = [*zip(ordered, colors, strict=True), ("All teams", ALL_TEAMS_COLOR)]
    if present is not None:
        pairs = [(team, color) for team, color in pairs if team in shown]
    return alt.Scale(domain=[t for t, _ in pairs], range=[c for _, c in pairs])


def selected_value(state: object, field: str) -> str | None:
    """The `field` value picked in an Altair point selection named "pick", if any."""
    picks = getattr(state, "selection", {}).get("pick") if state else None
    if isinstance(picks, list) and picks:
        value = picks[0].get(field)
        return None if value is None else str(value)
    return None


PCT_AXIS_FORMAT = formats.D3_PERCENT_AXIS  # "~%": see model/formats.py

# Every quantitative axis, legend and text label carries a d3 format: without one, Vega pads
# ticks of a flat domain to "0.000000" and legends print raw ratios ("1.000000"). "~" trims
# trailing zeros, so 2.50 reads "2.5" and 0 reads "0".
NUMBER_FORMAT = ",~f"
MONEY_FORMAT = formats.D3_MONEY_COMPACT
