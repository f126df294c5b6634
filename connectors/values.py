"""Parse the value formats exports use: dates, amounts, flags and category names.

Each parser takes a column as the file holds it and returns it in the canonical dtype,
plus a mask of the values that did not parse and what was expected, so the caller can
report row numbers and samples. Formats are detected automatically when only one
reading fits every value; when several fit and disagree, the column is ambiguous and
the user is asked to set ``format`` (dates) or ``decimal`` (amounts).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from connectors.schema import UTC_DATETIME

# Families of date(-time) formats; within a family the first format that fits a value wins.
# Two-digit years come before four-digit ones, so "02/23/26" is 2026, not the year 26.
DATE_FAMILIES: dict[str, tuple[str, ...]] = {
    "ISO (2019-10-17 21:10:19)": (
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
    ),
    "month/day/year (02/23/26 08:55 PM)": (
        "%m/%d/%y %I:%M %p",
        "%m/%d/%Y %I:%M %p",
        "%m/%d/%y %I:%M:%S %p",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%y %H:%M",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%y",
        "%m/%d/%Y",
    ),
    "day/month/year (23/02/2026 20:55)": (
        "%d/%m/%y %H:%M",
        "%d/%m/%Y %H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%y",
        "%d/%m/%Y",
        "%d.%m.%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%y",
        "%d.%m.%Y",
    ),
    "day month year (15 Apr, 2021)": (
        "%d %b, %Y",
        "%d %b %Y",
        "%b %d, %Y",
        "%d %B, %Y",
        "%d %B %Y",
        "%B %d, %Y",
    ),
}
TRUE = ("true", "t", "yes", "y", "1", "x")
FALSE = ("false", "f", "no", "n", "0", "")
# Category names as CRMs write them, after lower-casing and dropping spaces, "_" and "-".
CATEGORY_SYNONYMS = {
    "forecast": "commit",  # Salesforce's API value for the "Commit" category
    "bestcase": "best_case",
    "mostlikely": "most_likely",
    "customersuccess": "customer_success",
    "cs": "customer_success",
    "bdr": "sdr",
    "salesdevelopment": "sdr",
}


@dataclass(frozen=True)
class Parsed:
    """A parsed column; `bad` marks values that did not parse, `expected` says what was wanted."""

    values: pl.Series
    bad: pl.Series | None = None
    expected: str = ""


def _text(col: pl.Series) -> pl.Series:
    return col.cast(pl.String).str.strip_chars()


def _present(col: pl.Series) -> pl.Series:
    """Values that hold something (not null, not blank)."""
    if col.dtype != pl.String:
        return col.is_not_null()
    return col.is_not_null() & (col.str.strip_chars() != "")


def _with_format(text: pl.Series, fmt: str, timezone: str) -> pl.Series:
    if "%z" in fmt:
        return text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
    naive = text.str.to_datetime(fmt, strict=False, time_unit="us")
    local = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _coalesce(text: pl.Series, formats: tuple[str, ...], timezone: str) -> pl.Series:
    """Each value read with the first format that reads it; each further format is tried
    only on the values still unread (a column in one format costs one pass)."""
    out = _with_format(text, formats[0], timezone)
    for fmt in formats[1:]:
        unread = (out.is_null() & text.is_not_null()).arg_true()
        if unread.is_empty():
            break
        out = out.scatter(unread, _with_format(text.gather(unread), fmt, timezone))
    return out.alias(text.name)


def _datetime_typed(col: pl.Series, timezone: str) -> pl.Series:
    if col.dtype == pl.Date:
        col = col.cast(pl.Datetime("us"))
    if col.dtype.time_zone is None:  # type: ignore[union-attr]
        col = col.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def parse_datetime(col: pl.Series, formats: tuple[str, ...] = (), timezone: str = "UTC") -> Parsed:
    """Date-times as UTC; text without a zone is read in `timezone`."""
    if col.dtype == pl.Null:
        return Parsed(col.cast(UTC_DATETIME))
    if isinstance(col.dtype, pl.Datetime) or col.dtype == pl.Date:
        return Parsed(_datetime_typed(col, timezone))
    text = _text(col).str.replace(r"(?i)\s*(Z|UTC)$", "+00:00")
    present = _present(col)
    if formats:
        out = _coalesce(text, formats, timezone)
        return Parsed(out, present & out.is_null(), f"dates in the format {' or '.join(formats)}")
    return _auto(text, present, timezone)


_SAMPLE = 2_000


def _candidate_families(text: pl.Series, present: pl.Series, timezone: str) -> list[str]:
    """Families that read every value of a sample of distinct values (all when none does).

    A family that reads the whole column reads the sample too, so judging only these on the
    full column gives the same answer at a fraction of the cost."""
    sample = text.filter(present).head(50 * _SAMPLE).unique().head(_SAMPLE)
    fits = [
        name
        for name, fmts in DATE_FAMILIES.items()
        if _coalesce(sample, fmts, timezone).null_count() == 0
    ]
    return fits or list(DATE_FAMILIES)


def _auto(text: pl.Series, present: pl.Series, timezone: str) -> Parsed:
    """Try the date families; use the one that reads every value, if the fitting ones agree."""
    families = _candidate_families(text, present, timezone)
    tries = {name: _coalesce(text, DATE_FAMILIES[name], timezone) for name in families}
    misses = {name: int((present & out.is_null()).sum()) for name, out in tries.items()}
    fits = [name for name, n in misses.items() if n == 0]
    if not fits:
        best = min(misses, key=misses.__getitem__)
        out = tries[best]
        return Parsed(out, present & out.is_null(), f"dates (closest format: {best})")
    if any(not tries[name].equals(tries[fits[0]]) for name in fits[1:]):
        return Parsed(
            tries[fits[0]],
            present,
            f"unambiguous dates: they read as {' and as '.join(fits)}; set format = "
            '"%m/%d/%Y" (or the format the file uses) for this column',
        )
    return Parsed(tries[fits[0]])


def parse_date(col: pl.Series, formats: tuple[str, ...] = (), timezone: str = "UTC") -> Parsed:
    """Calendar dates; a date-time keeps its date as written (no zone conversion)."""
    if col.dtype == pl.Date or col.dtype == pl.Null:
        return Parsed(col.cast(pl.Date))
    if isinstance(col.dtype, pl.Datetime):
        return Parsed(col.dt.date())
    parsed = parse_datetime(col, formats, "UTC")
    return Parsed(parsed.values.dt.date(), parsed.bad, parsed.expected)


def _decimal_mark(text: pl.Series) -> tuple[str | None, pl.Series | None]:
    """Which mark separates decimals: "," when a value shows it (1.234,50 or 22,5)."""
    comma = text.str.contains(r",\d{1,2}$|,\d{4,}$|\.\d{3}.*,|\.\d{3}\.")
    dot = text.str.contains(r"\.\d{1,2}$|\.\d{4,}$|,\d{3}.*\.|,\d{3},")
    if comma.any() and dot.any():
        return None, comma | dot
    return ("," if comma.any() else "."), None


def parse_amount(col: pl.Series, decimal: str = "auto") -> Parsed:
    """Amounts as numbers: currency signs, spaces and thousands separators are dropped;
    (1,234.00) is negative; the decimal mark is detected unless `decimal` is given."""
    if col.dtype.is_numeric():
        return Parsed(col.cast(pl.Float64))
    if col.dtype == pl.Null:
        return Parsed(col.cast(pl.Float64))
    text = _text(col)
    negative = text.str.contains(r"^\(.*\)$|^-|-$")
    digits = text.str.replace_all(r"[^0-9.,]", "")
    mark = decimal
    if decimal == "auto":
        found, clash = _decimal_mark(digits)
        if found is None:
            expected = 'amounts with one decimal mark; set decimal = "." or ","'
            return Parsed(pl.Series(text.name, [None] * len(text), pl.Float64), clash, expected)
        mark = found
    thousands = "." if mark == "," else ","
    number = digits.str.replace_all(thousands, "", literal=True).str.replace(
        mark, ".", literal=True
    )
    out = number.cast(pl.Float64, strict=False)
    out = pl.select(pl.when(negative).then(-out).otherwise(out)).to_series().alias(col.name)
    bad = _present(col) & (out.is_null() | ~text.str.contains(r"\d"))
    return Parsed(out, bad, "amounts such as 22700, $22,700.00 or 1.234,50")


def parse_bool(col: pl.Series) -> Parsed:
    """Flags: true/false, yes/no, 1/0 (any case); blank is false."""
    if col.dtype == pl.Boolean or col.dtype == pl.Null:
        return Parsed(col.cast(pl.Boolean))
    low = _text(col).str.to_lowercase()
    out = pl.select(pl.when(low.is_in(TRUE)).then(True).when(low.is_in(FALSE)).then(False))
    out = out.to_series().alias(col.name)
    return Parsed(out, col.is_not_null() & out.is_null(), "true/false (or yes/no, 1/0)")


def parse_int(col: pl.Series) -> Parsed:
    """Whole numbers, such as a stage's display order."""
    number = parse_amount(col, ".")
    out = number.values.round(0).cast(pl.Int32, strict=False)
    return Parsed(out, number.bad, "whole numbers")


def normalize_category(col: pl.Series, categories: tuple[str, ...]) -> Parsed:
    """Category names as a CRM writes them ("Best Case", "BestCase", "Forecast") mapped to
    the canonical values (best_case, commit); anything else is reported."""
    key = _text(col).str.to_lowercase().str.replace_all(r"[\s_\-]", "")
    lookup = {c.replace("_", ""): c for c in categories}
    lookup |= {k: v for k, v in CATEGORY_SYNONYMS.items() if v in categories}
    out = key.replace_strict(lookup, default=None, return_dtype=pl.String).alias(col.name)
    return Parsed(out, _present(col) & out.is_null(), f"one of {', '.join(categories)}")
