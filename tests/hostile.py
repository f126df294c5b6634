"""The demo org with hostile CRM data (issue #15 items 3 and 4): a team, a stage and a lead
source named with Markdown, LaTeX, Streamlit directives, HTML and a spreadsheet formula, as a
CRM admin or an import could name them. Pages must show these names as text; CSV downloads
must neutralise the formula. For the page and browser tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from snapshots.store import Store

AS_OF = date(2026, 11, 16)
BEACON = "http://127.0.0.1:8699"  # the browser test serves a hit counter here (its own port)

# Renamed from the demo org's names; each is in the scorecard's drivers (Mid-Market forecasts
# high, EMEA's deals stall in Negotiation, Paid Social's MQLs wait for a follow-up).
RENAMED_TEAM, RENAMED_STAGE, RENAMED_SOURCE = "NA Mid-Market", "Negotiation", "Paid Social"


def team(beacon: str = BEACON) -> str:
    """A team named to run a formula in a spreadsheet, draw an image fetched from `beacon`,
    bold text, a formula, a colored directive and an emoji."""
    return (
        f'=HYPERLINK("{beacon}/csv","c") ![b]({beacon}/team.png) **x** $$\\LaTeX$$ '
        ":red[r] :smile: <img src=x>"
    )


STAGE = "Negotiation $x^2$ _i_ :material/home: [s](javascript:alert(1)) #h"
SOURCE = "Paid Social www.example.com a@b.co :streamlit: ~~s~~ | `c` -1"


def frames(beacon: str = BEACON) -> dict[str, pl.DataFrame]:
    """The demo org's tables with the team, stage and lead source renamed."""
    renamed = team(beacon)
    tables = dict(validate_tables(generate_demo_org(as_of=AS_OF)).frames)

    def rename(table: str, column: str, old: str, new: str) -> None:
        frame = tables[table]
        tables[table] = frame.with_columns(
            pl.when(pl.col(column) == old).then(pl.lit(new)).otherwise(pl.col(column)).alias(column)
        )

    for table in ("users", "forecasts", "quotas"):
        rename(table, "team", RENAMED_TEAM, renamed)
    for table in ("stages", "opportunities", "stage_history"):
        rename(table, "stage", RENAMED_STAGE, STAGE)
    rename("leads", "source", RENAMED_SOURCE, SOURCE)
    rename("opportunities", "lead_source", RENAMED_SOURCE, SOURCE)
    return tables


def write_store(folder: Path, beacon: str = BEACON) -> Path:
    """The hostile demo org as the current snapshot of a store in `folder`."""
    frames_ = validate_tables(frames(beacon)).frames
    Store(folder).write(frames_, source="demo", data_as_of=AS_OF)
    return folder
