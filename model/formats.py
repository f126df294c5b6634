"""How every number reads, once: money, rates, points, days, counts, ratios, dates.

One house style, used by scoring's driver texts, the pre-read, the charts, the pages' tables
and the CSV downloads, so a figure of one kind looks the same wherever a leader meets it:

==============  =====================  ============================  ==========================
kind            text (``fmt_*``)       table (`Kind.grid`, step)     chart axis (`Kind.d3`)
==============  =====================  ============================  ==========================
money           ``$13,983``            ``dollar``, step 1            ``$,.0f``
money, compact  ``$1.2M``, ``$46k``    (headlines and prose only)    ``$.3~s``
percent         ``42.3%``              ``percent``, step 0.001       ``.1%``
points          ``−19.3 pts``          (changes in prose only)       —
days            ``12.5 days``          ``%.1f days``                 ``.1f``
hours           ``3.5 h``              ``%.1f h``                    ``.1f``
count           ``1,234``              ``localized``                 ``,d``
ratio           ``1.4×``               ``%.1f×``                     ``.1f``
score           ``72``                 ``%.0f``                      ``.0f``
==============  =====================  ============================  ==========================

The rule for money: **exact** ("$13,983", whole dollars) in tables, where a column is read
and compared row by row; **compact** ("$1.2M") in headlines, chart labels and sentences,
where one figure is read at a glance. A rate is one decimal of a percent everywhere (the
grid's ``percent`` with step 0.001 shows the same "42.3%" in an English browser).

Unknown is "—", never "None", "NaN" or "$0". Rounding is half away from zero, done by the
same float operations in the scalar (`fmt_*`) and the polars (`*_text`) versions, so a table
cell built in polars and a sentence built in Python never disagree on the last digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

UNKNOWN = "—"  # an unknown value: never "None", "NaN" or "$0"
MINUS = "−"  # U+2212, the sign of a change ("−19.3 pts"); values keep "-" as the grid does


@dataclass(frozen=True)
class Kind:
    """One kind of figure: how a table (`st.column_config.NumberColumn(format=grid,
    step=step)`), a chart axis (d3 format `d3`) and a CSV (`csv_decimals`) show it."""

    name: str
    grid: str
    step: float | None
    d3: str
    csv_decimals: int


MONEY = Kind("money", grid="dollar", step=1, d3="$,.0f", csv_decimals=2)
PERCENT = Kind("percent", grid="percent", step=0.001, d3=".1%", csv_decimals=4)
DAYS = Kind("days", grid="%.1f days", step=None, d3=".1f", csv_decimals=1)
HOURS = Kind("hours", grid="%.1f h", step=None, d3=".1f", csv_decimals=1)
COUNT = Kind("count", grid="localized", step=1, d3=",d", csv_decimals=0)
RATIO = Kind("ratio", grid="%.1f×", step=None, d3=".1f", csv_decimals=2)
SCORE = Kind("score", grid="%.0f", step=None, d3=".0f", csv_decimals=1)
NUMBER = Kind("number", grid="%.2f", step=None, d3=",.2f", csv_decimals=4)  # no kind known
KINDS = {k.name: k for k in (MONEY, PERCENT, DAYS, HOURS, COUNT, RATIO, SCORE, NUMBER)}
GRID_DATETIME = "YYYY-MM-DD HH:mm"  # a table's instants, shown in the reporting time zone
D3_MONEY_COMPACT = "$.3~s"  # chart axes and labels in compact money: $0, $500k, $1.5M
# Percent axes: "~%" trims the zeros d3 pads a tick to when it cannot derive a precision (an
# all-zero domain drew "0.000000%"); round ticks read "10%", tooltips and labels ".1%".
D3_PERCENT_AXIS = "~%"

# A column nobody configured is of the kind its name says (first match wins); any other
# float is a plain number with two decimals.
_NAME_HINTS = (
    (("share", "rate", "pct", "compliance", "accuracy", "bias"), PERCENT),
    (("amount", "revenue", "pipeline", "cost", "spend", "velocity", "quota"), MONEY),
    (("days",), DAYS),
    (("hours",), HOURS),
    (("coverage", "ratio_x"), RATIO),
)


def kind_of_column(column: str) -> Kind:
    """The kind a column's name says it holds: `win_rate` → percent, `stalled_amount` →
    money, `median_days` → days; anything else → a plain number."""
    name = column.lower()
    return next((k for keys, k in _NAME_HINTS if any(key in name for key in keys)), NUMBER)


# Grid formats the pages already use, and the kind each one is (for the CSV's precision).
_GRID_KINDS = {
    "dollar": MONEY,
    "compact": MONEY,
    "$%.0f": MONEY,
    "percent": PERCENT,
    "%.1f d": DAYS,
    "%.0f d": DAYS,
    "%.1f days": DAYS,
    "%.1f h": HOURS,
    "%.1f×": RATIO,
    "%.2f×": RATIO,
    "localized": COUNT,
    "%d": COUNT,
    "%.0f": SCORE,
}


def kind_of_grid(fmt: str | None) -> Kind | None:
    """The kind a grid format string shows ("percent" → percent), or None when unknown."""
    return _GRID_KINDS.get(fmt or "")


def house_kind(column: str, fmt: str | None) -> Kind | None:
    """The kind whose house style a table column set to grid format `fmt` should get:
    "dollar" (cents), "$%.0f" or "compact" on an amount column ("1.2M", no "$") → money,
    "percent" (up to two decimals) → percent, "%.1f d" → days; None: leave it as the page
    set it (a count, a ratio, a format of its own)."""
    kind = kind_of_grid(fmt)
    if kind is MONEY and fmt == "compact" and kind_of_column(column) is not MONEY:
        return None  # compact counts or mixed values: not money
    return kind if kind in (MONEY, PERCENT, DAYS) else None


# --- scalars -------------------------------------------------------------------------------


def _unknown(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _half_up(magnitude: float, scale: float) -> int:
    """`magnitude` (≥ 0) × `scale`, rounded half away from zero, as the polars side does."""
    return math.floor(magnitude * scale + 0.5)


def _grouped(whole: int) -> str:
    return f"{whole:,}"


def _tenths(tenths: int, *, trim: bool = False) -> str:
    """431 → "43.1"; with `trim`, 430 → "43"."""
    whole, rest = divmod(tenths, 10)
    return _grouped(whole) if trim and rest == 0 else f"{_grouped(whole)}.{rest}"


def _sign(negative: bool, nonzero: bool) -> str:
    return "-" if negative and nonzero else ""


def fmt_money(value: float | None) -> str:
    """An amount exactly, to the dollar, as tables show it: 13983.29 → "$13,983";
    -1234.5 → "-$1,235"; unknown → "—"."""
    if _unknown(value):
        return UNKNOWN
    dollars = _half_up(abs(value), 1)
    return f"{_sign(value < 0, dollars > 0)}${_grouped(dollars)}"


def fmt_money_compact(value: float | None) -> str:
    """An amount at a glance, for headlines, charts and sentences: 1234567 → "$1.2M",
    2000000 → "$2M", 45600 → "$46k", 950 → "$950", 2.5e9 → "$2.5B"; 999,600 reads "$1M"
    (never "$1000k"); unknown → "—"."""
    if _unknown(value):
        return UNKNOWN
    size = abs(value)
    dollars, thousands = _half_up(size, 1), _half_up(size / 1e3, 1)
    millions, billions = _half_up(size / 1e6, 10), _half_up(size / 1e9, 10)
    if dollars < 1000:
        text, nonzero = f"${dollars}", dollars > 0
    elif thousands < 1000:
        text, nonzero = f"${thousands}k", True
    elif millions < 10000:
        text, nonzero = f"${_tenths(millions, trim=True)}M", True
    else:
        text, nonzero = f"${_tenths(billions, trim=True)}B", True
    return _sign(value < 0, nonzero) + text


def fmt_percent(value: float | None) -> str:
    """A rate (0..1) as a percent with one decimal: 0.4178 → "41.8%", 1 → "100.0%",
    -0.25 → "-25.0%"; unknown → "—"."""
    if _unknown(value):
        return UNKNOWN
    tenths = _half_up(abs(value), 1000)
    return f"{_sign(value < 0, tenths > 0)}{_tenths(tenths)}%"


def fmt_points(change: float | None) -> str:
    """The change of a rate in percentage points, signed: 0.2249 − 0.4178 → "−19.3 pts",
    +0.05 → "+5.0 pts", a change that rounds to nothing → "0.0 pts"; unknown → "—"."""
    if _unknown(change):
        return UNKNOWN
    tenths = _half_up(abs(change), 1000)
    sign = "" if tenths == 0 else MINUS if change < 0 else "+"
    return f"{sign}{_tenths(tenths)} pts"


def fmt_change(change: float | None, *, decimals: int = 1) -> str:
    """A signed change of a score or count: +2.5, −2.5 (typographic minus), 0.0; "—"."""
    if _unknown(change):
        return UNKNOWN
    scaled = _half_up(abs(change), 10**decimals)
    whole, rest = divmod(scaled, 10**decimals)
    digits = f"{_grouped(whole)}.{rest:0{decimals}d}" if decimals else _grouped(whole)
    sign = "" if scaled == 0 else MINUS if change < 0 else "+"
    return sign + digits


def fmt_days(value: float | None) -> str:
    """A duration in days with one decimal: 12.46 → "12.5 days"; unknown → "—"."""
    if _unknown(value):
        return UNKNOWN
    tenths = _half_up(abs(value), 10)
    return f"{_sign(value < 0, tenths > 0)}{_tenths(tenths)} days"


def fmt_hours(value: float | None) -> str:
    """A duration in hours with one decimal: 3.46 → "3.5 h"; unknown → "—"."""
    if _unknown(value):
        return UNKNOWN
    tenths = _half_up(abs(value), 10)
    return f"{_sign(value < 0, tenths > 0)}{_tenths(tenths)} h"


def fmt_count(value: float | None) -> str:
    """A number of records: 1234 → "1,234"; unknown → "—"."""
    if _unknown(value):
        return UNKNOWN
    whole = _half_up(abs(value), 1)
    return f"{_sign(value < 0, whole > 0)}{_grouped(whole)}"


def fmt_ratio(value: float | None) -> str:
    """A multiple with one decimal: pipeline coverage 1.44 → "1.4×"; unknown → "—"."""
    if _unknown(value):
        return UNKNOWN
    tenths = _half_up(abs(value), 10)
    return f"{_sign(value < 0, tenths > 0)}{_tenths(tenths)}×"


def fmt_score(value: float | None) -> str:
    """A 0–100 score, whole: 71.5 → "72"; unknown → "—"."""
    if _unknown(value):
        return UNKNOWN
    return fmt_count(value)


def fmt_date(value: date | datetime | None, timezone: str = "UTC") -> str:
    """A day as ISO ("2026-11-16"); a timestamp first converted to the reporting time zone
    (naive ones are taken as UTC); unknown → "—"."""
    if value is None:
        return UNKNOWN
    if isinstance(value, datetime):
        return _local(value, timezone).date().isoformat()
    return value.isoformat()


def fmt_datetime(value: datetime | None, timezone: str = "UTC") -> str:
    """An instant in the reporting time zone, to the minute, with the zone's abbreviation:
    2026-11-16 14:05 UTC → "2026-11-16 15:05 CET" for Europe/Berlin; unknown → "—"."""
    if value is None:
        return UNKNOWN
    local = _local(value, timezone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _local(value: datetime, timezone: str) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(ZoneInfo(timezone))


FORMATTERS = {
    "money": fmt_money,
    "percent": fmt_percent,
    "days": fmt_days,
    "hours": fmt_hours,
    "count": fmt_count,
    "ratio": fmt_ratio,
    "score": fmt_score,
}


def fmt(value: float | None, kind: Kind | str) -> str:
    """`value` as its kind reads (see the table in this module's docstring)."""
    name = kind if isinstance(kind, str) else kind.name
    return FORMATTERS.get(name, _plain)(value)


def _plain(value: float | None) -> str:
    return UNKNOWN if _unknown(value) else f"{value:,.2f}"


RISE, FALL, FLAT = "▲", "▼", "•"


def arrow(before: float | None, after: float | None) -> str:
    """▲ when the value rose, ▼ when it fell, • when it held or either end is unknown: the
    arrow says which way the number went, never whether that is good."""
    if _unknown(before) or _unknown(after) or after == before:
        return FLAT
    return RISE if after > before else FALL


def _move_delta(before: float, after: float, kind: Kind) -> str:
    change = after - before
    if kind is PERCENT:
        return fmt_points(change)
    if kind is MONEY:
        compact = fmt_money_compact(abs(change))
        return compact if compact == "$0" else ("+" if change > 0 else MINUS) + compact
    text = fmt(abs(change), kind)
    zero = fmt(0, kind)
    return text if text == zero else ("+" if change > 0 else MINUS) + text


def fmt_move(before: float | None, after: float | None, kind: Kind | str) -> str:
    """A value then and now with the change in its kind: a rate "41.8% → 22.5% (−19.3 pts)",
    money "$1.2M → $1.5M (+$300k)", days "12.0 days → 9.5 days (−2.5 days)"; an unknown end
    reads "—" and the change is left out."""
    kind = KINDS.get(kind, NUMBER) if isinstance(kind, str) else kind
    show = fmt_money_compact if kind is MONEY else (lambda v: fmt(v, kind))
    text = f"{show(before)} → {show(after)}"
    if _unknown(before) or _unknown(after):
        return text
    return f"{text} ({_move_delta(before, after, kind)})"


# --- polars: text columns ------------------------------------------------------------------


def _col(column: str | pl.Expr) -> pl.Expr:
    return pl.col(column) if isinstance(column, str) else column


def _half_up_expr(magnitude: pl.Expr, scale: float) -> pl.Expr:
    return (magnitude * scale + 0.5).floor().cast(pl.Int64)


def _grouped_expr(whole: pl.Expr) -> pl.Expr:
    """1234567 → "1,234,567" (commas every three digits from the right)."""
    return (
        whole.cast(pl.String)
        .str.reverse()
        .str.replace_all(r"(\d{3})", "${1},")
        .str.strip_suffix(",")
        .str.reverse()
    )


def _tenths_expr(tenths: pl.Expr, *, trim: bool = False) -> pl.Expr:
    whole, rest = _grouped_expr(tenths // 10), (tenths % 10).cast(pl.String)
    full = pl.format("{}.{}", whole, rest)
    return pl.when(tenths % 10 == 0).then(whole).otherwise(full) if trim else full


def _signed(value: pl.Expr, nonzero: pl.Expr, text: pl.Expr) -> pl.Expr:
    return pl.when((value < 0) & nonzero).then(pl.lit("-") + text).otherwise(text)


def _known(value: pl.Expr, text: pl.Expr) -> pl.Expr:
    return pl.when(value.is_null() | value.is_nan()).then(pl.lit(UNKNOWN)).otherwise(text)


def money_text(column: str | pl.Expr, *, compact: bool = False) -> pl.Expr:
    """`column`'s amounts as text, as `fmt_money` (or with `compact`, `fmt_money_compact`)
    writes them; unknown → "—". Keeps the column's name when given one."""
    value = _col(column).cast(pl.Float64)
    size = value.abs()
    dollars = _half_up_expr(size, 1)
    if not compact:
        text = _signed(value, dollars > 0, pl.lit("$") + _grouped_expr(dollars))
    else:
        thousands = _half_up_expr(size / 1e3, 1)
        millions, billions = _half_up_expr(size / 1e6, 10), _half_up_expr(size / 1e9, 10)
        text = _signed(
            value,
            dollars > 0,
            pl.when(dollars < 1000)
            .then(pl.format("${}", dollars))
            .when(thousands < 1000)
            .then(pl.format("${}k", thousands))
            .when(millions < 10000)
            .then(pl.format("${}M", _tenths_expr(millions, trim=True)))
            .otherwise(pl.format("${}B", _tenths_expr(billions, trim=True))),
        )
    out = _known(value, text)
    return out.alias(column) if isinstance(column, str) else out


def percent_text(column: str | pl.Expr) -> pl.Expr:
    """`column`'s rates as text, as `fmt_percent` writes them ("41.8%"); unknown → "—"."""
    value = _col(column).cast(pl.Float64)
    tenths = _half_up_expr(value.abs(), 1000)
    out = _known(value, _signed(value, tenths > 0, _tenths_expr(tenths) + pl.lit("%")))
    return out.alias(column) if isinstance(column, str) else out


def days_text(column: str | pl.Expr) -> pl.Expr:
    """`column`'s durations as text, as `fmt_days` writes them ("12.5 days"); "—"."""
    value = _col(column).cast(pl.Float64)
    tenths = _half_up_expr(value.abs(), 10)
    out = _known(value, _signed(value, tenths > 0, _tenths_expr(tenths) + pl.lit(" days")))
    return out.alias(column) if isinstance(column, str) else out


def count_text(column: str | pl.Expr) -> pl.Expr:
    """`column`'s counts as text, as `fmt_count` writes them ("1,234"); unknown → "—"."""
    value = _col(column).cast(pl.Float64)
    whole = _half_up_expr(value.abs(), 1)
    out = _known(value, _signed(value, whole > 0, _grouped_expr(whole)))
    return out.alias(column) if isinstance(column, str) else out


# --- CSV -----------------------------------------------------------------------------------


def csv_rounded(column: str, kind: Kind) -> pl.Expr:
    """A float column rounded for a CSV by its kind: money 2 decimals, rates 4, days 1."""
    return pl.col(column).round(kind.csv_decimals).alias(column)


def slug(text: str) -> str:
    """Text as a part of a file name, its case kept: "NA Mid-Market" → "NA-Mid-Market",
    "stalled_deals" → "stalled-deals"."""
    out = "".join(c if c.isalnum() else "-" for c in text)
    return "-".join(part for part in out.split("-") if part)


def csv_file_name(
    page: str, what: str, *, teams: tuple[str, ...] | list[str], period: str, as_of: str
) -> str:
    """`<page>-<what>-<team or all-teams>-<period>-asof-<YYYY-MM-DD>.csv`, e.g.
    "pipeline-stalled-deals-EMEA-2026-Q4-asof-2026-11-16.csv"; several teams are joined
    with "+"."""
    who = "+".join(slug(t) for t in sorted(teams)) or "all-teams"
    what = slug(what).removeprefix(f"{slug(page)}-")  # "forecast-forecast-miss" reads twice
    parts = [slug(page), what, who, slug(period), f"asof-{as_of}"]
    return "-".join(p for p in parts if p) + ".csv"
