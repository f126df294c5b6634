"""Time arithmetic for node bodies that every engine runs the same (narwhals expressions).

SQL engines keep the time zone in the session, not in the column, so narwhals cannot convert
a column between zones there, and PySpark/SQLFrame have no `dt.total_*` (see
docs/ARCHITECTURE.md, "one scoring, several engines"). What the funnel needs of time is
therefore written from what every engine has:

- "the local date is in a period" is "the instant is between the UTC instants its first day
  starts and the day after its last day starts" (the instants computed once in Python);
- durations are differences of epoch microseconds (`epoch_us`; from calendar fields on
  Spark-like engines, `from_fields`);
- "the start of a local day" is the UTC midnight of that date shifted by the zone's offset
  on that day (`start_of_local_day`), the offsets read in Python from the zone's rules.

SQL engines must run their session in UTC (timestamps are UTC instants in the canonical model).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import narwhals as nw

from model.calendar import Calendar, Period

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_HOUR = 3_600_000_000
# The zone's rules are read from here on; earlier dates take the offset of this day.
_RULES_FROM = date(1970, 1, 1)


def known(ts: nw.Expr, cutoff: datetime) -> nw.Expr:
    """The timestamp if it happened before `cutoff`, else null (not yet reached)."""
    return nw.when(ts < nw.lit(cutoff)).then(ts)


def in_period(ts: nw.Expr, period: Period, timezone: str) -> nw.Expr:
    """True where the timestamp's local date falls in `period` (`Calendar.in_period`)."""
    calendar = Calendar(timezone)
    start, end = calendar.start_of(period.start), calendar.start_of(period.end)
    return (ts >= nw.lit(start)) & (ts < nw.lit(end))


def from_fields(column: str) -> nw.Expr:
    """A UTC timestamp as microseconds since 1970, from its calendar fields (days before its
    year, Gregorian leap years, plus its day of the year): integer arithmetic every engine
    runs the same (narwhals has no epoch or duration totals on DuckDB, Spark and SQLFrame)."""
    dt = nw.col(column).dt
    year, day = dt.year().cast(nw.Int64), dt.ordinal_day().cast(nw.Int64)
    before = year - 1  # leap days before 1 January of `year`, less those before 1970 (477)
    leap_days = before // 4 - before // 100 + before // 400 - 477
    days = (year - 1970) * 365 + leap_days + day - 1
    hour, minute, micro = (f().cast(nw.Int64) for f in (dt.hour, dt.minute, dt.microsecond))
    # whole seconds: PostgreSQL's seconds field carries the fraction (and a cast rounds it)
    second = dt.second().cast(nw.Float64).floor().cast(nw.Int64)
    return (((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000 + micro


def epoch_us(column: str, implementation: nw.Implementation) -> nw.Expr:
    """Microseconds since 1970-01-01 UTC of a UTC timestamp column, as an integer.

    Polars and DuckDB subtract the epoch and read the duration's microseconds; Spark-like
    engines have no `dt.total_microseconds`, so there the value is assembled from calendar
    fields (`from_fields`, the one route every engine runs)."""
    if implementation.is_spark_like():
        return from_fields(column)
    return (nw.col(column) - nw.lit(EPOCH)).dt.total_microseconds()


def hours_between(end: str, start: str, implementation: nw.Implementation) -> nw.Expr:
    """Hours from column `start` to column `end` (fractional), from epoch microseconds."""
    return (epoch_us(end, implementation) - epoch_us(start, implementation)) / US_PER_HOUR


def start_of_local_day(
    day: nw.Expr, timezone: str, implementation: nw.Implementation, until: date
) -> nw.Expr:
    """The UTC instant the local date `day` starts in `timezone` (`Calendar.start_of`).

    Polars converts between zones itself (exactly as before the engines). Elsewhere: the
    date's UTC midnight shifted by the zone's offset that day, one branch per change of
    offset between 1970 and a year after `until`, found by halving (a CASE some seven deep
    for a zone with daylight saving time)."""
    if implementation.is_polars():
        midnight = day.cast(nw.Datetime("us")).dt.replace_time_zone(timezone)
        return midnight.dt.convert_time_zone("UTC")
    utc_midnight = day.cast(nw.Datetime("us", "UTC"))
    changes = _offset_changes(timezone, until)
    if len(changes) == 1 and changes[0][1] == 0:
        return utc_midnight

    def shifted(offset_us: int) -> nw.Expr:
        return utc_midnight.dt.offset_by(f"{-offset_us}us") if offset_us else utc_midnight

    def search(lo: int, hi: int) -> nw.Expr:
        """The shift for `day` among changes[lo:hi], halving the range at each test."""
        if hi - lo == 1:
            return shifted(changes[lo][1])
        mid = (lo + hi) // 2
        return (
            nw.when(day < nw.lit(changes[mid][0])).then(search(lo, mid)).otherwise(search(mid, hi))
        )

    return search(0, len(changes))


@lru_cache(maxsize=32)
def _offset_changes(timezone: str, until: date) -> tuple[tuple[date, int], ...]:
    """(first day, UTC offset at its start in microseconds) for each run of days with the
    same offset, from 1970 to a year after `until`."""
    calendar = Calendar(timezone)
    out: list[tuple[date, int]] = []
    day, last = _RULES_FROM, until + timedelta(days=366)
    while day <= last:
        start = calendar.start_of(day)
        local = datetime.combine(day, datetime.min.time())
        offset = (local - start.replace(tzinfo=None)) // timedelta(microseconds=1)
        if not out or out[-1][1] != offset:
            out.append((day, offset))
        day += timedelta(days=1)
    return tuple(out)
