"""Chart colors and selection helpers shared by the pages and the pre-read (no Streamlit)."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt

from model import formats

# One palette for teams across every page and the pre-read (Tableau 10, color-blind aware).
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
ALL_TEAMS_COLOR = "#555555"


def team_scale(teams: Sequence[str]) -> alt.Scale:
    """Team → color, stable for a snapshot's team list (sorted), "All teams" in grey."""
    ordered = sorted(t for t in teams if t != "All teams")
    domain = [*ordered, "All teams"]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(ordered))] + [ALL_TEAMS_COLOR]
    return alt.Scale(domain=domain, range=colors)


def selected_value(state: object, field: str) -> str | None:
    """The `field` value picked in an Altair point selection named "pick", if any."""
    picks = getattr(state, "selection", {}).get("pick") if state else None
    if isinstance(picks, list) and picks:
        value = picks[0].get(field)
        return None if value is None else str(value)
    return None


PCT_AXIS_FORMAT = formats.D3_PERCENT_AXIS  # "~%": see model/formats.py
