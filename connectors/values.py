"""Parse the value formats exports use: dates, amounts, flags and category names.

Each parser takes a column as the file holds it and returns it in the canonical dtype,
plus a mask of the values that did not parse and what was expected, so the caller can
report row numbers and samples. Formats are detected automatically when only one
reading fits every value; when several fit and disagree, the column is ambiguous and
the user is asked to set ``format`` (dates) or ``decimal`` (amounts). Nothing is guessed:
an amount outside the grammar below (``12 34``, ``10-20k``, ``1e309``) is reported, never
read as the digits it holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from model.schema import UTC_DATETIME

# Families of date(-time) formats; within a family the first format that fits a value wins.
# Two-digit years come before four-digit ones, so "02/23/26" is 2026, not the year 26.
# Families that read the same value differently (04/05/2021: April 5 or 4 May) are told
# apart on the data: a day above 12 settles it, else `date_order` or the column's `format`.
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
        "%d/%m/%y %I:%M %p",
        "%d/%m/%Y %I:%M %p",
        "%d/%m/%y",
        "%d/%m/%Y",
        "%d.%m.%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%y %H:%M",
        "%d.%m.%y",
        "%d.%m.%Y",
        "%d-%m-%Y %H:%M:%S",
        "%d-%m-%Y %H:%M",
        "%d-%m-%Y",
    ),
    "day month year (15 Apr, 2021 00:02:00)": (
        "%d %b, %Y %H:%M:%S",
        "%d %b, %Y %H:%M",
        "%d %b, %Y %I:%M %p",
        "%d %b, %Y",
        "%d %b %Y %H:%M:%S",
        "%d %b %Y %H:%M",
        "%d %b %Y",
        "%d-%b-%Y %H:%M:%S",
        "%d-%b-%Y",
        "%d-%b-%y",
        "%b %d, %Y %I:%M %p",
        "%b %d, %Y %I:%M:%S %p",
        "%b %d, %Y %H:%M:%S",
        "%b %d, %Y %H:%M",
        "%b %d, %Y",
        "%d %B, %Y %H:%M:%S",
        "%d %B, %Y",
        "%d %B %Y %H:%M",
        "%d %B %Y",
        "%B %d, %Y %I:%M %p",
        "%B %d, %Y",
    ),
}
# The family `date_order` picks when day and month cannot be told apart on the data.
DATE_ORDERS = {
    "month_first": "month/day/year (02/23/26 08:55 PM)",
    "day_first": "day/month/year (23/02/2026 20:55)",
}
# Salesforce writes an empty lookup as this "null id" in some exports (18- and 15-character).
NULL_IDS = ("000000000000000AAA", "000000000000000")
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
    """A parsed column; `bad` marks values that did not parse, `expected` says what was wanted
    and, for dates, `example` is a ``format`` that would read them (guessed from a value)."""

    values: pl.Series
    bad: pl.Series | None = None
    expected: str = ""
    example: str | None = None


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


def parse_datetime(col: pl.Series, formats: tuple[str, ...] = (), timezone: str = "UTC",
                   date_order: str = "auto") -> Parsed:  # fmt: skip
    """Date-times as UTC; text without a zone is read in `timezone`. Without `formats` the
    format is detected; `date_order` ("month_first" / "day_first") settles 04/05/2021."""
    if col.dtype == pl.Null:
        return Parsed(col.cast(UTC_DATETIME))
    if isinstance(col.dtype, pl.Datetime) or col.dtype == pl.Date:
        return Parsed(_datetime_typed(col, timezone))
    text = _text(col).str.replace(r"(?i)\s*(Z|UTC)$", "+00:00")
    present = _present(col)
    if formats:
        out = _coalesce(text, formats, timezone)
        bad = present & out.is_null()
        return Parsed(out, bad, f"dates in the format {' or '.join(formats)}", _example(col, bad))
    return _auto(text, present, timezone, date_order)


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


def _auto(text: pl.Series, present: pl.Series, timezone: str, date_order: str) -> Parsed:
    """Try the date families; use the one that reads every value, if the fitting ones agree
    (or `date_order` picks one of them)."""
    families = _candidate_families(text, present, timezone)
    tries = {name: _coalesce(text, DATE_FAMILIES[name], timezone) for name in families}
    misses = {name: int((present & out.is_null()).sum()) for name, out in tries.items()}
    fits = [name for name, n in misses.items() if n == 0]
    if not fits:
        best = min(misses, key=misses.__getitem__)
        bad = present & tries[best].is_null()
        return Parsed(tries[best], bad, "dates in a format we know", _example(text, bad))
    if any(not tries[name].equals(tries[fits[0]]) for name in fits[1:]):
        chosen = DATE_ORDERS.get(date_order)
        if chosen in fits:
            return Parsed(tries[chosen])
        example = _example(text, present, day_first=fits[0] != DATE_ORDERS["month_first"])
        return Parsed(
            tries[fits[0]],
            present,
            f"unambiguous dates: they read as {' and as '.join(fits)} and no day above 12 "
            'settles it; set format for this column, or date_order = "month_first" or '
            '"day_first" in [defaults]',
            example,
        )
    return Parsed(tries[fits[0]])


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_TOKENS = re.compile(r"\d+|[A-Za-z]+|[^\dA-Za-z]+")


def guess_format(value: str, *, day_first: bool = False) -> str | None:
    """A strptime format that reads `value` ("15 Apr, 2021 00:02" -> "%d %b, %Y %H:%M"),
    or None. Two small numbers are month then day unless `day_first` or one is above 12."""
    tokens = _TOKENS.findall(value.strip())
    out: list[str] = []
    numbers: list[int] = []  # positions of date numbers still to name
    clock = 0  # numbers after the first ":" are hours, minutes, seconds
    pm = any(t.lower() in ("am", "pm") for t in tokens)
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok.isdigit():
            if clock >= 3 and tokens[i - 1] == ".":
                out[-1] = "%.f"  # fractions of a second: "%.f" holds the dot
            elif nxt.startswith(":") or clock:
                out.append(("%I" if pm else "%H", "%M", "%S")[min(clock, 2)])
                clock += 1
            elif len(tok) == 4:
                out.append("%Y")
            else:
                numbers.append(len(out))
                out.append(tok)
        elif tok.isalpha():
            low = tok.lower()
            if low in ("am", "pm"):
                out.append("%p")
            elif low[:3] in _MONTHS and len(tok) == 3:
                out.append("%b")
            elif low[:3] in _MONTHS:
                out.append("%B")
            elif low == "t":
                out.append("T")
            else:
                return None
        else:
            out.append(tok.replace("%", "%%"))
    if not 1 <= len(numbers) <= 3:
        return None
    names = _order(numbers, out, day_first)
    for position, name in zip(numbers, names, strict=True):
        out[position] = name
    fmt = "".join(out)
    ok = pl.Series([value.strip()]).str.to_datetime(fmt, strict=False).null_count() == 0
    return fmt if ok else None


def _order(numbers: list[int], out: list[str], day_first: bool) -> list[str]:
    """Names for the date numbers left after years and month names are known."""
    values = [int(out[n]) for n in numbers]
    has_year, has_month = "%Y" in out, any(m in out for m in ("%b", "%B"))
    if has_month:
        return ["%d", "%y"][: len(numbers)] if not has_year else ["%d"] * len(numbers)
    if has_year and out.index("%Y") < numbers[0]:
        return ["%m", "%d"][: len(numbers)]
    first, second = ("%d", "%m") if day_first else ("%m", "%d")
    if len(values) >= 2 and values[0] > 12:
        first, second = "%d", "%m"
    elif len(values) >= 2 and values[1] > 12:
        first, second = "%m", "%d"
    return [first, second, "%y"][: len(numbers)] if not has_year else [first, second]


def _example(col: pl.Series, bad: pl.Series, *, day_first: bool = False) -> str | None:
    """A format guessed from the first value `bad` marks."""
    shown = col.cast(pl.String).filter(bad).drop_nulls().head(1).to_list()
    return guess_format(shown[0], day_first=day_first) if shown else None


def parse_date(col: pl.Series, formats: tuple[str, ...] = (), timezone: str = "UTC",
               date_order: str = "auto") -> Parsed:  # fmt: skip
    """Calendar dates; a date-time keeps its date as written (no zone conversion)."""
    if col.dtype == pl.Date or col.dtype == pl.Null:
        return Parsed(col.cast(pl.Date))
    if isinstance(col.dtype, pl.Datetime):
        return Parsed(col.dt.date())
    parsed = parse_datetime(col, formats, "UTC", date_order)
    return Parsed(parsed.values.dt.date(), parsed.bad, parsed.expected, parsed.example)


# Amounts: an optional sign (leading "+"/"-", a trailing "-" as SAP writes it, or parentheses
# around the whole), an optional currency before or after the number (spaces allowed between
# these parts), and the number: digits
# with one decimal mark and either thousands groups of three (1,234,567.50 / 1 234 567,50) or
# an exponent (1.5e3). Anything else (1e5k, 12 34, 10-20k, 0x1F, inf) is reported, not guessed.
CURRENCY = (
    r"US\$|CA\$|C\$|AU\$|A\$|NZ\$|HK\$|S\$|R\$|[$€£¥₹₩₽₺₪]|"
    r"(?i:USD|EUR|GBP|JPY|CNY|INR|CAD|AUD|NZD|CHF|SEK|NOK|DKK|PLN|CZK|HUF|BRL|MXN|SGD|HKD|ZAR|KRW)"
)
GROUP_SPACES = (" ", "\u00a0", "\u202f")  # a space, a no-break space, a narrow no-break space
AMOUNT_EXAMPLES = "22700, $22,700.00, (1,234.50), -€ 7,5, 1.5e3 or 1.234,50"


def amount_pattern(mark: str) -> str:
    """The regular expression of one amount whose decimal mark is `mark` ("." or ",")."""
    thousands = "." if mark == "," else ","
    m = re.escape(mark)
    groups = "|".join(f"(?:{re.escape(s)}[0-9]{{3}})+" for s in (thousands, *GROUP_SPACES))
    number = (
        rf"[0-9]{{1,3}}(?:{groups})(?:{m}[0-9]+)?"  # 1,234,567.50 (no exponent)
        rf"|(?:[0-9]+(?:{m}[0-9]+)?|{m}[0-9]+)(?:[eE][-+]?[0-9]+)?"  # 1234.5, .5, 1.5e3
    )
    return (
        rf"^(?<open>\()?\s*(?<s1>[-+])?\s*(?:(?<c1>{CURRENCY})\s*)?(?<s2>[-+])?"
        rf"\s*(?<num>{number})(?:\s*(?<c2>{CURRENCY}))?\s*(?<s3>-)?\s*(?<close>\))?$"
    )


def _read_amounts(text: pl.Series, mark: str) -> pl.Series:
    """`text` read with decimal mark `mark`: the number, or null where the value does not
    fit the grammar (or is not finite, such as 1e309). Each distinct value is read once
    (an export repeats its amounts: 22700 on many deals and history rows)."""
    distinct = text.unique()
    if 2 * distinct.len() > text.len():
        return _read_distinct(text, mark)
    read = pl.DataFrame({"t": distinct, "v": _read_distinct(distinct, mark)})
    return (
        pl.DataFrame({"t": text})
        .join(read, on="t", how="left", nulls_equal=True, maintain_order="left")["v"]
        .alias(text.name)
    )


def _read_distinct(text: pl.Series, mark: str) -> pl.Series:
    """As `_read_amounts`; plain numbers (22700, -5.25, 1e5), most of an export, are cast
    directly and only the others go through the grammar."""
    quick = text.cast(pl.Float64, strict=False)
    # what a plain cast reads but the grammar does not: "5.", "1.e5", and for "," a "." mark
    odd = text.str.ends_with(".") | text.str.contains(r"\.[eE]")
    if mark == ",":
        odd = odd | text.str.contains(".", literal=True)
    plain = (quick.is_finite() & ~odd).fill_null(False)
    out = pl.select(pl.when(plain).then(quick)).to_series().alias(text.name)
    rest = (~plain & text.is_not_null()).arg_true()
    if rest.is_empty():
        return out
    return out.scatter(rest, _read_grammar(text.gather(rest), mark))


def _read_grammar(text: pl.Series, mark: str) -> pl.Series:
    """`text` read by the amount grammar with decimal mark `mark`; null where it does not fit."""
    g = pl.col("g").struct
    signs = pl.sum_horizontal(g.field(f).is_not_null() for f in ("s1", "s2", "s3", "open"))
    fits = (
        g.field("num").is_not_null()
        & (g.field("open").is_null() == g.field("close").is_null())
        & (signs <= 1)
        & (g.field("c1").is_null() | g.field("c2").is_null())
    )
    negative = (
        g.field("open").is_not_null()
        | (g.field("s1") == "-").fill_null(False)
        | (g.field("s2") == "-").fill_null(False)
        | g.field("s3").is_not_null()
    )
    number = (
        g.field("num")
        .str.replace_all("[" + "".join({",", "."} - {mark}) + "".join(GROUP_SPACES) + "]", "")
        .str.replace(mark, ".", literal=True)
        .cast(pl.Float64, strict=False)
    )
    value = pl.when(negative).then(-number).otherwise(number)
    out = pl.when(fits & value.is_finite()).then(value)
    frame = pl.DataFrame({"g": text.str.extract_groups(amount_pattern(mark))})
    return frame.select(out).to_series().alias(text.name)


def _numeric(col: pl.Series) -> Parsed:
    """A column the file already holds as numbers: NaN and infinity are not amounts."""
    out = col.cast(pl.Float64)
    bad = out.is_not_null() & ~out.is_finite()
    kept = pl.select(pl.when(~bad).then(out)).to_series().alias(col.name)
    return Parsed(kept, bad, "finite numbers (NaN and infinity are not amounts)")


def parse_amount(col: pl.Series, decimal: str = "auto") -> Parsed:
    """Amounts as numbers, read exactly or reported: a currency sign or code, thousands
    groups, (1,234.00) or a minus for negatives, an exponent (1.5E3); the decimal mark is
    detected unless `decimal` is given ("." or ","). Numbers a file holds as numbers must be
    finite; a column of structs or lists, or of dates, is reported whole."""
    if col.dtype == pl.Null:
        return Parsed(col.cast(pl.Float64))
    if col.dtype.is_numeric():
        return _numeric(col)
    if col.dtype not in (pl.String, pl.Categorical) and not isinstance(col.dtype, pl.Enum):
        empty = pl.Series(col.name, [None] * len(col), pl.Float64)
        return Parsed(empty, col.is_not_null(), f"numbers (the column holds {col.dtype} values)")
    text = _text(col)
    present = _present(col)
    expected = f"amounts such as {AMOUNT_EXAMPLES} (finite: not too large for a number)"
    if decimal in (".", ","):
        out = _read_amounts(text, decimal)
        return Parsed(out, present & out.is_null(), expected)
    dot, comma = _read_amounts(text, "."), _read_amounts(text, ",")
    # a value only one reading accepts (1,234.50 or 22,5) shows the mark; both showing is a clash
    only_dot = dot.is_not_null() & comma.is_null()
    only_comma = comma.is_not_null() & dot.is_null()
    if only_dot.any() and only_comma.any():
        expected = (
            'amounts with one decimal mark: some values read only with "." and others only '
            'with ","; set decimal = "." or ","'
        )
        return Parsed(pl.Series(col.name, [None] * len(col), pl.Float64),
                      only_dot | only_comma, expected)  # fmt: skip
    out = comma if only_comma.any() else dot
    return Parsed(out, present & out.is_null(), expected)


def null_ids(col: pl.Series) -> pl.Series:
    """Ids without the spaces around them, with blanks and Salesforce's null-id placeholders
    (000000000000000AAA) as null."""
    text = col.cast(pl.String).str.strip_chars()
    return (
        pl.select(pl.when(~text.is_in(NULL_IDS) & (text != "")).then(text))
        .to_series()
        .alias(col.name)
    )


def parse_bool(col: pl.Series) -> Parsed:
    """Flags: true/false, yes/no, 1/0 (any case); blank is false."""
    if col.dtype == pl.Boolean or col.dtype == pl.Null:
        return Parsed(col.cast(pl.Boolean))
    low = _text(col).str.to_lowercase()
    out = pl.select(pl.when(low.is_in(TRUE)).then(True).when(low.is_in(FALSE)).then(False))
    out = out.to_series().alias(col.name)
    return Parsed(out, col.is_not_null() & out.is_null(), "true/false (or yes/no, 1/0)")


def parse_int(col: pl.Series) -> Parsed:
    """Whole numbers, such as a stage's display order: 2.5 or 3e12 is reported, not rounded
    or dropped."""
    number = parse_amount(col, ".").values
    whole = number == number.round(0)
    out = pl.select(pl.when(whole).then(number)).to_series().cast(pl.Int32, strict=False)
    return Parsed(out.alias(col.name), _present(col) & out.is_null(), "whole numbers")


def normalize_category(col: pl.Series, categories: tuple[str, ...]) -> Parsed:
    """Category names as a CRM writes them ("Best Case", "BestCase", "Forecast") mapped to
    the canonical values (best_case, commit); anything else is reported."""
    key = _text(col).str.to_lowercase().str.replace_all(r"[\s_\-]", "")
    lookup = {c.replace("_", ""): c for c in categories}
    lookup |= {k: v for k, v in CATEGORY_SYNONYMS.items() if v in categories}
    out = key.replace_strict(lookup, default=None, return_dtype=pl.String).alias(col.name)
    return Parsed(out, _present(col) & out.is_null(), f"one of {', '.join(categories)}")
