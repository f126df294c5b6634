"""Validate frames against the canonical model at the boundary, with messages people can act on.

Every problem names the table, the column and a sample of the bad rows and their values: by
file and line ("Opportunity.csv line 5", header = line 1) when the frame carries them (the
files connector's `__file` / `__line` columns), else as "row 3", the third data row. Values
are coerced to the canonical dtype where that is unambiguous (ISO date strings, numbers as
text, "true"/"false"); anything that does not parse is reported, never silently nulled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from model.schema import TABLE_ORDER, TABLES, TableSchema, conform

SAMPLE = 5
# A source that reads files keeps, per row, the file and its line there (header = line 1) in
# these columns; messages then point at "Opportunity.csv line 5" instead of a row number.
FILE_COLUMN, LINE_COLUMN = "__file", "__line"
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input."""

    table: str
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.message}"


class ValidationError(ValueError):
    """The input does not fit the canonical model; `problems` lists every finding."""

    def __init__(self, problems: list[Problem], *, source: str = "") -> None:
        self.problems = problems
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{head}{len(problems)} problem(s) in the input:\n{lines}")


@dataclass
class Validated:
    """Validated canonical frames plus warnings that did not block the load."""

    frames: dict[str, pl.DataFrame]
    warnings: list[Problem] = field(default_factory=list)


def place(file: str | None, line: int) -> str:
    """Where a row is: "deals.csv line 4" in a text file (header = line 1), "deals.xlsx row 4"
    in a spreadsheet; "row 3" (the third data row) when no file is known."""
    if not file:
        return f"row {line}"
    return f"{file} {'line' if file.lower().endswith(TEXT_SUFFIXES) else 'row'} {line}"


def _places(frame: pl.DataFrame, mask: pl.Series) -> tuple[pl.DataFrame, list[str]]:
    """The first few rows where `mask` holds, and where each is (file and line, or row)."""
    if {FILE_COLUMN, LINE_COLUMN} <= set(frame.columns):
        rows = frame.filter(mask).head(SAMPLE)
        return rows, [place(f, n) for f, n in zip(rows[FILE_COLUMN], rows[LINE_COLUMN],
                                                    strict=True)]  # fmt: skip
    rows = frame.with_row_index("_row", offset=1).filter(mask).head(SAMPLE)
    return rows, [place(None, n) for n in rows["_row"]]


def _sample(frame: pl.DataFrame, mask: pl.Series, column: str) -> str:
    """Where the first few rows with `mask` are, and their values."""
    rows, where = _places(frame, mask)
    parts = [f"{w}: {v!r}" for w, v in zip(where, rows[column], strict=True)]
    more = int(mask.sum()) - rows.height
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _parse_datetime(col: pl.Series) -> pl.Series:
    text = col.str.strip_chars().str.replace(r"Z$", "+00:00")
    parsed = [
        text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
        if "%z" in fmt
        else text.str.to_datetime(fmt, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for fmt in _DATETIME_FORMATS
    ]
    return pl.select(pl.coalesce(parsed)).to_series().alias(col.name)


def _coerce(col: pl.Series, dtype: pl.DataType) -> pl.Series:
    """`col` as `dtype`; values that cannot be converted become null (caller reports them)."""
    if col.dtype == dtype and dtype != pl.Float64:  # a Float64 may still hold NaN
        return col
    if col.dtype == pl.Null:
        return col.cast(dtype)
    if isinstance(dtype, pl.Datetime):
        if col.dtype == pl.String:
            return _parse_datetime(col)
        if col.dtype == pl.Date:
            return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        if isinstance(col.dtype, pl.Datetime):
            naive = col.dtype.time_zone is None
            col = col.dt.replace_time_zone("UTC") if naive else col.dt.convert_time_zone("UTC")
            return col.dt.cast_time_unit("us")
    if dtype == pl.Date:
        if col.dtype == pl.String:
            return _parse_datetime(col).dt.date()
        if isinstance(col.dtype, pl.Datetime):
            return col.dt.date()
    if dtype == pl.Boolean and col.dtype == pl.String:
        low = col.str.strip_chars().str.to_lowercase()
        return (
            pl.select(pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False))
            .to_series()
            .alias(col.name)
        )
    if isinstance(dtype, pl.Enum):
        known = pl.col("v").is_in(list(dtype.categories))
        frame = pl.DataFrame({"v": col.cast(pl.String)})
        return (
            frame.select(pl.when(known).then(pl.col("v")).cast(dtype)).to_series().alias(col.name)
        )
    if dtype == pl.String:
        return col.cast(pl.String)
    if col.dtype.is_nested():  # a struct or list where a value is expected: never 1.0
        return pl.Series(col.name, [None] * len(col), dtype)
    out = col.cast(dtype, strict=False)
    if dtype == pl.Float64:  # NaN, infinity and overflow (1e309) are not amounts
        return pl.select(pl.when(out.is_finite()).then(out)).to_series().alias(col.name)
    return out


def _trimmed_id(col: pl.Series) -> pl.Series:
    """An id without the spaces around it (" O1" is "O1"); a blank id is empty (null)."""
    text = col.str.strip_chars()
    return pl.select(pl.when(text != "").then(text)).to_series().alias(col.name)


def _type_message(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Enum):
        return f"not one of {', '.join(dtype.categories)}"
    names = {pl.Date: "valid dates", pl.Float64: "numbers", pl.Int32: "whole numbers"}
    if isinstance(dtype, pl.Datetime):
        return "not valid date-times"
    if dtype == pl.Boolean:
        return "not true/false"
    return f"not {names.get(type(dtype), str(dtype))}"


def validate_table(name: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[Problem]]:
    """Coerce `frame` to table `name`'s schema; return it with every problem found."""
    schema: TableSchema = TABLES[name]
    problems: list[Problem] = []
    missing = [c for c, col in schema.columns.items() if col.required and c not in frame.columns]
    if missing:
        shown = [c for c in frame.columns if c not in (FILE_COLUMN, LINE_COLUMN)]
        present = ", ".join(shown) or "none"
        label = "column is" if len(missing) == 1 else "columns are"
        problems.append(
            Problem(
                name,
                ", ".join(missing),
                f"required {label} missing (columns present: {present})",
            )
        )
        return frame, problems
    coerced = {}
    for column, spec in schema.columns.items():
        if column not in frame.columns:
            continue
        raw = frame[column]
        if column.endswith("_id") and raw.dtype == pl.String:
            raw = _trimmed_id(raw)
        value = _coerce(raw, spec.dtype)
        bad = value.is_null() & raw.is_not_null()
        if raw.dtype == pl.String:
            bad = bad & (raw.str.strip_chars() != "")
        if bad.any():
            problems.append(
                Problem(
                    name,
                    column,
                    f"{int(bad.sum())} value(s) {_type_message(spec.dtype)} "
                    f"({_sample(frame, bad, column)})",
                )
            )
        if not spec.nullable and value.is_null().any():
            empty = value.is_null() & ~bad
            if empty.any():
                problems.append(
                    Problem(
                        name,
                        column,
                        f"{int(empty.sum())} empty value(s) in a required field "
                        f"({_sample(frame, empty, column)})",
                    )
                )
        coerced[column] = value
    out = conform(name, pl.DataFrame(coerced))
    located = [c for c in (FILE_COLUMN, LINE_COLUMN) if c in frame.columns]
    problems.extend(_duplicate_keys(name, schema, out.with_columns(frame.select(located))))
    return out, problems


def _duplicate_keys(name: str, schema: TableSchema, frame: pl.DataFrame) -> list[Problem]:
    """Rows sharing a primary key (ids already trimmed), each duplicate named with every
    place it occurs: "'O1' at deals.csv line 2 and deals.csv line 5"."""
    if not schema.primary_key or frame.is_empty():
        return []
    key = list(schema.primary_key)
    dup = frame.select(key).is_duplicated()
    if not dup.any():
        return []
    label = "+".join(key)
    located = frame
    if not {FILE_COLUMN, LINE_COLUMN} <= set(frame.columns):  # "row 3", the third data row
        located = (
            frame.drop(FILE_COLUMN, LINE_COLUMN, strict=False)
            .with_row_index(LINE_COLUMN, offset=1)
            .with_columns(pl.lit(None, pl.String).alias(FILE_COLUMN))
        )
    groups = (
        located.filter(dup)
        .group_by(key, maintain_order=True)
        .agg(pl.col(FILE_COLUMN), pl.col(LINE_COLUMN))
        .head(SAMPLE)
    )
    parts = []
    for row in groups.iter_rows(named=True):
        value = ", ".join(repr(row[k]) for k in key)
        where = [place(f, n) for f, n in zip(row[FILE_COLUMN], row[LINE_COLUMN], strict=True)]
        parts.append(f"{value} at {' and '.join(where)}")
    more = groups.height < frame.filter(dup).select(key).n_unique()
    return [
        Problem(
            name,
            label,
            f"{int(dup.sum())} rows share a duplicate id ({'; '.join(parts)}"
            f"{'; and more' if more else ''})",
        )
    ]


def _dangling(
    name: str, frame: pl.DataFrame, column: str, ref: pl.DataFrame, ref_column: str
) -> tuple[pl.Series, str]:
    known = ref[ref_column].unique().implode()
    mask = frame[column].is_not_null() & ~frame.select(pl.col(column).is_in(known)).to_series()
    return mask, _sample(frame, mask, column) if mask.any() else ""


def validate_tables(frames: Mapping[str, pl.DataFrame], *, source: str = "") -> Validated:
    """Validate every table and the references between them.

    Raises:
        ValidationError: listing every problem (missing required table or column, values of
            the wrong type, unparseable dates, empty ids, duplicate ids, history rows for
            unknown records). Lenient references that dangle become `warnings`.
    """
    problems: list[Problem] = []
    unknown = sorted(set(frames) - set(TABLES))
    problems += [Problem(t, None, "is not a canonical table") for t in unknown]
    out: dict[str, pl.DataFrame] = {}
    for name in TABLE_ORDER:
        if name not in frames:
            if TABLES[name].required_table:
                problems.append(Problem(name, None, "required table is missing from the source"))
            continue
        out[name], found = validate_table(name, frames[name])
        problems += found
    warnings: list[Problem] = []
    if not problems:
        for name, frame in out.items():
            located = [c for c in (FILE_COLUMN, LINE_COLUMN) if c in frames[name].columns]
            frame = frame.with_columns(frames[name].select(located))
            for fk in TABLES[name].foreign_keys:
                if fk.table not in out:
                    continue
                mask, sample = _dangling(name, frame, fk.column, out[fk.table], fk.ref_column)
                if mask.any():
                    finding = Problem(
                        name,
                        fk.column,
                        f"{int(mask.sum())} row(s) refer to {fk.table} that do not exist "
                        f"({sample})",
                    )
                    (problems if fk.strict else warnings).append(finding)
    if problems:
        raise ValidationError(problems, source=source)
    return Validated(frames=out, warnings=warnings)
