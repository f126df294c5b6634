"""Reporting periods: quarters named like ``2026-Q3``, optionally on a fiscal calendar.

A fiscal year that starts in February (``fiscal_start_month=2``) names the quarter
Feb–Apr 2026 ``2026-Q1``. All boundaries are dates; a period is ``[start, end)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

_PERIOD = re.compile(r"^(\d{4})-Q([1-4])$")


class PeriodError(ValueError):
    """A period name that is not of the form YYYY-Qn."""


@dataclass(frozen=True, order=True)
class Period:
    """One reporting quarter, ``[start, end)``."""

    start: date
    end: date
    name: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def parse_period(name: str, *, fiscal_start_month: int = 1) -> Period:
    """The quarter called `name` (``YYYY-Qn``)."""
    match = _PERIOD.match(name.strip())
    if not match:
        raise PeriodError(f"period {name!r} is not of the form YYYY-Qn, e.g. 2026-Q3")
    year, quarter = int(match.group(1)), int(match.group(2))
    # The fiscal year is named after the calendar year in which it starts.
    start = _add_months(date(year, fiscal_start_month, 1), 3 * (quarter - 1))
    return Period(start=start, end=_add_months(start, 3), name=f"{year}-Q{quarter}")


def period_of(day: date, *, fiscal_start_month: int = 1) -> Period:
    """The quarter that contains `day`."""
    months_into_year = (day.month - fiscal_start_month) % 12
    fy = day.year if day.month >= fiscal_start_month else day.year - 1
    quarter = months_into_year // 3 + 1
    return parse_period(f"{fy}-Q{quarter}", fiscal_start_month=fiscal_start_month)


def previous(period: Period, n: int = 1, *, fiscal_start_month: int = 1) -> Period:
    """The quarter `n` quarters before `period`."""
    return period_of(_add_months(period.start, -3 * n), fiscal_start_month=fiscal_start_month)


def trailing(period: Period, n: int, *, fiscal_start_month: int = 1) -> list[Period]:
    """`n` quarters ending with `period`, oldest first."""
    return [
        previous(period, k, fiscal_start_month=fiscal_start_month) for k in range(n - 1, -1, -1)
    ]


def period_expr(day: pl.Expr, *, fiscal_start_month: int = 1) -> pl.Expr:
    """Polars expression naming the quarter (``YYYY-Qn``) that contains the date `day`."""
    shifted = day.dt.offset_by(f"-{fiscal_start_month - 1}mo") if fiscal_start_month > 1 else day
    return pl.format("{}-Q{}", shifted.dt.year(), shifted.dt.quarter())


def week_of_period(day: date, period: Period) -> int:
    """1-based week number of `day` within `period` (days 0–6 are week 1)."""
    return (day - period.start).days // 7 + 1


def last_day(period: Period) -> date:
    return period.end - timedelta(days=1)


def local_date(ts: pl.Expr, timezone: str = "UTC") -> pl.Expr:
    """The calendar date of a UTC timestamp in the reporting time zone."""
    return ts.dt.convert_time_zone(timezone).dt.date()
