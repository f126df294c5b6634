"""A period name resolved against a data set: ``all`` needs the data's first day.

`parse_period` turns ``2026-Q3``, ``FY2026``, ``2026-03-01..2026-06-30`` and ``ttm`` into
dates on their own; ``all`` runs from the earliest day in the data, which only the tables
know. `resolve_period` is what the CLI, the pages and the pre-read call.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from model.calendar import Calendar, Period
from model.tables import ENGINE, Tables

# Where the data's events are recorded: creation of deals and leads, and their histories.
# Close dates are left out: an open deal's close date is a plan, often years ahead or behind.
_EVENTS = (
    ("opportunities", "created_at"),
    ("stage_history", "entered_at"),
    ("leads", "created_at"),
    ("lead_history", "entered_at"),
)


def data_start(tables: Tables, calendar: Calendar) -> date | None:
    """The earliest local date of any recorded event (deal or lead created, a history row),
    or None when the data holds none."""
    firsts = [
        tables.frames[name].select(calendar.local_date(pl.col(col)).min().alias("day"))
        for name, col in _EVENTS
        if tables.has(name)
    ]
    if not firsts:
        return None
    return pl.concat(firsts).select(pl.col("day").min()).collect(engine=ENGINE).item()


def resolve_period(name: str, tables: Tables, *, as_of: date, calendar: Calendar) -> Period:
    """The period called `name` as of `as_of`; ``all`` starts on the data's first day."""
    start = data_start(tables, calendar) if name.strip().lower() == "all" else None
    return calendar.parse(name, as_of=as_of, data_start=start)
