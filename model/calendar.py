"""The one calendar: the as-of instant, "date in period", and reporting periods.

As of a day means *the end of that day in the reporting time zone*: `Calendar.end_of` is
that instant in UTC, an exclusive bound (events strictly before it are known). A timestamp
is in a period when its *local* date is in ``[start, end)``. Every module asks the calendar
(or the thin delegates `stages.as_of_cutoff`, `funnel.as_of_end`, `history.end_of_day`
that call it), so the stall, funnel and forecast metrics read the data at the same instant.

Periods are ``[start, end)`` dates of one of five kinds, each with a name that parses back:

==============  ==========================  ==================================================
kind            name                        meaning
==============  ==========================  ==================================================
quarter         ``2026-Q3``                 a (fiscal) quarter
fiscal_year     ``FY2026`` (or ``2026``)    the fiscal year starting in 2026
custom          ``2026-03-01..2026-06-30``  both days inclusive in the name
ttm             ``ttm``                     the twelve months ending on the as-of day
all             ``all``                     the data's first day to the as-of day
==============  ==========================  ==================================================

A fiscal year that starts in February (``fiscal_start_month=2``) names the quarter
Feb–Apr 2026 ``2026-Q1`` and the year Feb 2026–Jan 2027 ``FY2026``: both are named after the
calendar year in which the fiscal year starts.

Quarter-based metrics (forecast accuracy, slippage, late risk) judge whole quarters: for a
longer period `Calendar.judged` is the latest quarter complete by as-of that ends inside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

DAY = timedelta(days=1)

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(?:FY)?(\d{4})$", re.IGNORECASE)
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")

KIND_LABELS = {
    "quarter": "quarter",
    "fiscal_year": "fiscal year",
    "custom": "custom range",
    "ttm": "trailing twelve months",
    "all": "all data",
}
FORMS = "2026-Q3, 2026 or FY2026, 2026-03-01..2026-06-30, ttm or all"


class PeriodError(ValueError):
    """A period name that is none of the accepted forms, or lacks the date it needs."""


@dataclass(frozen=True, order=True)
class Period:
    """One reporting period, ``[start, end)``; `name` parses back to it (see `parse_period`)."""

    start: date
    end: date
    name: str
    kind: str = "quarter"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        """The period's last day (inclusive)."""
        return self.end - DAY

    @property
    def is_quarter(self) -> bool:
        return self.kind == "quarter"

    @property
    def label(self) -> str:
        """How a page names the period, e.g. "trailing twelve months (2017-01-01 – 2017-12-31)"."""
        if self.kind in ("quarter", "fiscal_year"):
            return self.name
        return f"{KIND_LABELS[self.kind]} ({self.start} – {self.last_day})"

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> Period:
        """The period `to_dict` described."""
        start, end = date.fromisoformat(d["start"]), date.fromisoformat(d["end"])
        return cls(start, end, d["name"], d["kind"])

    def to_dict(self) -> dict[str, str]:
        """JSON form: name, kind, first day, exclusive end and last day (ISO dates)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "last_day": self.last_day.isoformat(),
        }


def _add_months(d: date, months: int) -> date:
    """The first of the month `months` after `d`'s month."""
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _shift_months(d: date, months: int) -> date:
    """`d` moved by whole months, the day clamped to the month's length (Feb 29 → Feb 28)."""
    first = _add_months(d, months)
    days_in_month = (_add_months(first, 1) - first).days
    return first.replace(day=min(d.day, days_in_month))


def _quarter(year: int, quarter: int, fiscal_start_month: int) -> Period:
    # The fiscal year is named after the calendar year in which it starts.
    start = _add_months(date(year, fiscal_start_month, 1), 3 * (quarter - 1))
    return Period(start=start, end=_add_months(start, 3), name=f"{year}-Q{quarter}")


def _fiscal_year(year: int, fiscal_start_month: int) -> Period:
    start = date(year, fiscal_start_month, 1)
    return Period(start, _add_months(start, 12), f"FY{year}", "fiscal_year")


def custom_period(first: date, last: date) -> Period:
    """The days `first` to `last`, both inclusive (named ``first..last``)."""
    if last < first:
        raise PeriodError(f"period {first}..{last} ends before it starts")
    return Period(first, last + DAY, f"{first.isoformat()}..{last.isoformat()}", "custom")


def parse_period(
    name: str,
    *,
    fiscal_start_month: int = 1,
    as_of: date | None = None,
    data_start: date | None = None,
) -> Period:
    """The period called `name`: ``2026-Q3``, ``2026``/``FY2026``, ``2026-03-01..2026-06-30``,
    ``ttm`` (needs `as_of`) or ``all`` (needs `as_of` and the data's first day `data_start`)."""
    text = name.strip()
    if match := _QUARTER.match(text):
        return _quarter(int(match.group(1)), int(match.group(2)), fiscal_start_month)
    if match := _YEAR.match(text):
        return _fiscal_year(int(match.group(1)), fiscal_start_month)
    if match := _RANGE.match(text):
        try:
            first, last = (date.fromisoformat(match.group(i)) for i in (1, 2))
        except ValueError as exc:
            raise PeriodError(f"period {name!r}: {exc}") from None
        return custom_period(first, last)
    kind = text.lower()
    if kind in ("ttm", "all") and as_of is None:
        raise PeriodError(f"period {kind!r} needs an as-of date")
    if kind == "ttm":
        end = as_of + DAY
        return Period(_shift_months(end, -12), end, "ttm", "ttm")
    if kind == "all":
        if data_start is None:
            raise PeriodError("period 'all' needs the data's first day (the data has no dates)")
        if data_start > as_of:
            raise PeriodError(f"period 'all': the data starts on {data_start}, after {as_of}")
        return Period(data_start, as_of + DAY, "all", "all")
    raise PeriodError(f"period {name!r} is not one of the forms {FORMS}")


def period_of(day: date, *, fiscal_start_month: int = 1) -> Period:
    """The quarter that contains `day`."""
    months_into_year = (day.month - fiscal_start_month) % 12
    fy = day.year if day.month >= fiscal_start_month else day.year - 1
    return _quarter(fy, months_into_year // 3 + 1, fiscal_start_month)


def fiscal_year_of(day: date, *, fiscal_start_month: int = 1) -> Period:
    """The fiscal year that contains `day`."""
    return _fiscal_year(day.year if day.month >= fiscal_start_month else day.year - 1,
                        fiscal_start_month)  # fmt: skip


def previous(period: Period, n: int = 1, *, fiscal_start_month: int = 1) -> Period:
    """The period `n` periods before `period`: the quarter (fiscal year) `n` quarters (years)
    earlier; for a custom, ttm or all period, the custom range of equal length just before."""
    if period.kind == "quarter":
        return period_of(_add_months(period.start, -3 * n), fiscal_start_month=fiscal_start_month)
    if period.kind == "fiscal_year":
        return fiscal_year_of(_add_months(period.start, -12 * n),
                              fiscal_start_month=fiscal_start_month)  # fmt: skip
    end = period.start - (n - 1) * timedelta(days=period.days)
    if period.kind == "ttm":  # twelve calendar months, not 365 days
        end = _shift_months(period.start, -12 * (n - 1))
        return custom_period(_shift_months(end, -12), end - DAY)
    return custom_period(end - timedelta(days=period.days), end - DAY)


def trailing(period: Period, n: int, *, fiscal_start_month: int = 1) -> list[Period]:
    """`n` periods ending with `period`, oldest first."""
    return [
        previous(period, k, fiscal_start_month=fiscal_start_month) if k else period
        for k in range(n - 1, -1, -1)
    ]


def period_expr(day: pl.Expr, *, fiscal_start_month: int = 1) -> pl.Expr:
    """Polars expression naming the quarter (``YYYY-Qn``) that contains the date `day`."""
    shifted = day.dt.offset_by(f"-{fiscal_start_month - 1}mo") if fiscal_start_month > 1 else day
    return pl.format("{}-Q{}", shifted.dt.year(), shifted.dt.quarter())


def week_of_period(day: date, period: Period) -> int:
    """1-based week number of `day` within `period` (days 0–6 are week 1)."""
    return (day - period.start).days // 7 + 1


def last_day(period: Period) -> date:
    return period.end - DAY


def is_complete(period: Period, as_of: date) -> bool:
    """Whether `period` is over with the data as of the end of `as_of`: it ends on or
    before that day (a quarter ending on the as-of day is complete)."""
    return period.end <= as_of + DAY


def local_date(ts: pl.Expr, timezone: str = "UTC") -> pl.Expr:
    """The calendar date of a UTC timestamp in the reporting time zone."""
    return ts.dt.convert_time_zone(timezone).dt.date()


@dataclass(frozen=True)
class Calendar:
    """The reporting calendar: time zone of "a day" and the fiscal year's first month."""

    timezone: str = "UTC"
    fiscal_start_month: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.fiscal_start_month <= 12:
            raise ValueError(f"fiscal_start_month must be 1–12, not {self.fiscal_start_month}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None

    # ------------------------------------------------------------ instants and dates
    def start_of(self, day: date) -> datetime:
        """The UTC instant at which `day` starts in the reporting time zone."""
        return datetime.combine(day, time(), tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)

    def end_of(self, as_of: date) -> datetime:
        """The as-of instant: the end of the `as_of` day in the reporting time zone, in UTC,
        an exclusive bound (what happened strictly before it is known)."""
        return self.start_of(as_of + DAY)

    def local_date(self, ts: pl.Expr) -> pl.Expr:
        """The local calendar date of a UTC timestamp expression."""
        return local_date(ts, self.timezone)

    def in_period(self, ts: pl.Expr, period: Period) -> pl.Expr:
        """True where the timestamp's local date is in ``[period.start, period.end)``."""
        return self.local_date(ts).is_between(period.start, period.end, closed="left")

    # ------------------------------------------------------------ periods
    def parse(
        self, name: str, *, as_of: date | None = None, data_start: date | None = None
    ) -> Period:
        """The period called `name` (see `parse_period`)."""
        return parse_period(name, fiscal_start_month=self.fiscal_start_month, as_of=as_of,
                            data_start=data_start)  # fmt: skip

    def quarter_of(self, day: date) -> Period:
        return period_of(day, fiscal_start_month=self.fiscal_start_month)

    def fiscal_year_of(self, day: date) -> Period:
        return fiscal_year_of(day, fiscal_start_month=self.fiscal_start_month)

    def previous(self, period: Period, n: int = 1) -> Period:
        return previous(period, n, fiscal_start_month=self.fiscal_start_month)

    def trailing(self, period: Period, n: int) -> list[Period]:
        return trailing(period, n, fiscal_start_month=self.fiscal_start_month)

    def is_complete(self, period: Period, as_of: date) -> bool:
        return is_complete(period, as_of)

    def judged(self, period: Period, as_of: date) -> Period:
        """The quarter the forecast metrics judge (they need a finished quarter's actuals).

        For a quarter: itself when it ends by the end of `as_of`, else the quarter before it.
        For a longer period: the latest quarter complete by `as_of` that ends inside it (or,
        when none does, the latest complete one before its end).
        """
        if period.kind == "quarter":
            return period if is_complete(period, as_of) else self.previous(period)
        limit = min(period.end, as_of + DAY)
        quarter = self.quarter_of(limit - DAY)
        return quarter if quarter.end <= limit else self.previous(quarter)
