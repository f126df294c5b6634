"""The files connector: CSV, Parquet and Excel exports mapped onto the canonical model.

``python -m ops refresh --source files [--path DIR] [--preset NAME | --mapping FILE]``
``[--check]`` reads the files named by the mapping (see `connectors.mapping`; presets for Salesforce
data exports, Fivetran-synced Salesforce and Fivetran-synced HubSpot live in
`connectors/presets/`), parses source-specific formats (Excel-style dates, `$22,700.00`,
`1.234,50`, "Best Case"), derives the tables an export lacks (`connectors.derive`) and
validates them and hands them to the refresh, which stores them. Any problem raises
`FilesError` naming the file, the column and sample rows; nothing is stored then.

Rows in messages are named by their place in the file: "Opportunity.csv line 5" is the
fifth line of the file, header = line 1 (a value spanning several lines counts them all);
"deals.xlsx row 5" is the spreadsheet's row 5. A problem is reported once: the tables
derived from a file with problems are not checked again until the file is fixed.

File names match regardless of case (``opportunity.csv`` is ``Opportunity.csv``). Id
columns are read without the spaces around them and read Salesforce's null id
``000000000000000AAA`` as empty. A CSV whose lines end in a lone CR is read as such; blank
lines are skipped; a line with fewer fields than the header is refused, naming it (polars
would fill it with nulls). Amounts are read exactly or reported (`connectors.values`).

The data's as-of date is the latest event date in it (creation, close of closed deals,
stage and status changes, responses; never after today), unless ``--as-of`` or ``as_of``
says otherwise.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from connectors import derive
from connectors.base import Progress, Pulled, SourceSettings, latest_event, no_progress
from connectors.encoding import utf16_without_bom
from connectors.mapping import (
    ColumnSpec,
    FilesError,
    FilesMapping,
    LookupStep,
    TableSpec,
    build_mapping,
    closest,
)
from connectors.validate import (
    FILE_COLUMN,
    LINE_COLUMN,
    Validated,
    ValidationError,
    place,
    validate_tables,
)
from connectors.values import (
    Parsed,
    normalize_category,
    null_ids,
    parse_amount,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_int,
)
from model.schema import TABLE_ORDER, TABLES

__all__ = ["CheckResult", "FilesError", "Loaded", "check", "load", "mapping_for", "pull"]

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
DELIMITERS = (",", ";", "\t", "|")
SAMPLE = 5
_FILE, _ROW = FILE_COLUMN, LINE_COLUMN
FORMAT_CODES = "%d day, %m month, %b Apr, %B April, %y 21, %Y 2021, %H:%M:%S, %I:%M %p 12:02 AM"


@dataclass
class Loaded:
    """Canonical-shaped frames read from files, where each came from, and notes for the user."""

    frames: dict[str, pl.DataFrame]
    origin: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data_as_of: date = field(default_factory=date.today)
    as_of_from: str = "today: the data holds no dates"
    read: set[str] = field(default_factory=set)  # tables read from files (not derived)


# -- reading files ------------------------------------------------------------------------
def _decode(raw: bytes, encoding: str, name: str) -> str:
    """The text of a file: as `encoding` says, but a byte-order mark wins, and UTF-16 written
    without one (NUL bytes beside every ASCII character) is read as what it is unless the
    mapping names a UTF-16 or UTF-32 encoding itself."""
    named = encoding.replace("_", "-").lower()
    sniffed = None if named.startswith(("utf-16", "utf-32")) else utf16_without_bom(raw)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif sniffed:
        encoding = sniffed
    elif named in {"utf-8", "utf8"}:
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except LookupError as exc:
        raise FilesError(f"{name}: unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start : exc.start + 1].hex()
        if sniffed:
            raise FilesError(
                f"{name}: looks like {sniffed.upper()} text without a byte-order mark, but "
                f"does not read as such (byte {exc.start}); set encoding = the file's "
                f'encoding (e.g. encoding = "{sniffed}", or "utf-16" if it has a BOM) in its '
                "[tables.<table>] section or in [defaults]"
            ) from exc
        raise FilesError(
            f"{name}: not valid {encoding.removesuffix('-sig')} text (line {line}, byte 0x{byte}). "
            'Set encoding = "cp1252" (Excel on Windows) or "latin-1" for this file '
            "in its [tables.<table>] section or in [defaults]"
        ) from exc


def _delimiter(text: str, configured: str) -> str:
    if configured != "auto":
        return {"\\t": "\t", "tab": "\t"}.get(configured, configured)
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _ragged_line(text: str, sep: str) -> str:
    """Where the field count first differs from the header's (only on the error path)."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    width = len(next(reader, []))
    for row in reader:
        if len(row) != width:
            return f"line {reader.line_num} has {len(row)} fields, the header {width}"
    return "a line has more fields than the header"


def _with_lines(frame: pl.DataFrame, text: str) -> pl.DataFrame:
    """Each row's line in the file (header = 1), counting the line breaks inside values."""
    lines = text.count("\n") + (not text.endswith("\n"))
    if lines <= frame.height + 1 or not frame.width:  # no value spans lines
        return frame.with_row_index(_ROW, offset=2)
    breaks = pl.sum_horizontal(
        pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in frame.columns
    )
    line = pl.int_range(pl.len(), dtype=pl.UInt32) + 2 + breaks.cum_sum() - breaks
    return frame.select(line.cast(pl.UInt32).alias(_ROW), pl.all())


def _line_endings(text: str) -> str:
    """Text with "\n" line ends: a file whose lines end in a lone CR (Excel's "CSV
    (Macintosh)", old Mac tools) would otherwise read as one header line and no rows."""
    if "\r" in text and "\n" not in text:
        return text.replace("\r", "\n")
    return text


def _records(text: str, sep: str) -> pl.DataFrame:
    """Each record of `text`, header first, as polars reads them: its number of fields and
    whether it is a blank line. Quoted values (which may hold the delimiter and line
    breaks) are first reduced to a placeholder, so each remaining line is one record."""
    quoted = re.compile(rf'(?<![^{re.escape(sep)}\n])"(?:[^"]|"")*"')
    lines = pl.Series(quoted.sub("q", text).removesuffix("\n").split("\n"))
    return pl.DataFrame(
        {
            "found": lines.str.count_matches(sep, literal=True) + 1,
            "blank": lines.str.strip_chars() == "",
        }
    )


def _short_rows(frame: pl.DataFrame, text: str, sep: str, name: str) -> pl.DataFrame:
    """`frame` without its blank lines (polars reads them as rows of nulls); rows with fewer
    fields than the header are refused, naming their lines (polars would fill them with nulls)."""
    records = _records(text, sep)
    if records.height != frame.height + 1:  # the file's quoting defeats the count: trust polars
        return frame
    width = int(records["found"][0])
    rows = pl.concat([frame.select(_ROW), records.slice(1)], how="horizontal")
    short = rows.filter((pl.col("found") < width) & ~pl.col("blank"))
    if not short.is_empty():
        shown = "; ".join(
            f"line {line} has {found}" for line, found, _ in short.head(SAMPLE).iter_rows()
        )
        more = short.height - min(short.height, SAMPLE)
        raise FilesError(
            f"{name}: {short.height} line(s) have fewer fields than the header's {width} "
            f"({shown}{f'; and {more} more' if more else ''}): a line may have been cut short "
            "or a value holding a line break left unquoted; fix or remove these lines"
        )
    return frame.filter(~rows["blank"])


def _read_csv(path: Path, delimiter: str, encoding: str) -> pl.DataFrame:
    try:
        raw = path.read_bytes()
    except OSError as exc:  # no permission, or a file that went away
        raise FilesError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    text = _line_endings(_decode(raw, encoding, path.name))
    if not text.strip():
        raise FilesError(f"{path.name}: the file is empty")
    sep = _delimiter(text, delimiter)
    try:
        frame = pl.read_csv(io.BytesIO(text.encode()), separator=sep, infer_schema=False)
    except pl.exceptions.ComputeError as exc:
        shown = {"\t": "tab"}.get(sep, sep)
        guess = _delimiter(text, "auto")
        width = text.split("\n", 1)[0].count(guess) + 1
        hint = (
            f"the header splits into {width} columns on {guess!r}: set delimiter = {guess!r}"
            if guess != sep
            else "check that text holding the delimiter is quoted"
        )
        raise FilesError(
            f"{path.name}: cannot split into columns with delimiter {shown!r}: "
            f"{_ragged_line(text, sep)}; {hint}"
        ) from exc
    frame = _with_lines(frame, text)
    return _short_rows(frame, text, sep, path.name)


def _read_excel(path: Path, sheet: str | None) -> pl.DataFrame:
    import fastexcel

    try:
        names = fastexcel.read_excel(path).sheet_names
    except Exception as exc:  # calamine raises its own error types
        raise FilesError(f"{path.name}: cannot read it as a spreadsheet ({exc})") from exc
    if sheet is not None and sheet not in names:
        raise FilesError(
            f"{path.name}: no sheet {sheet!r}{closest(sheet, names)}; sheets: {', '.join(names)}"
        )
    try:
        return pl.read_excel(path, sheet_name=sheet or names[0], engine="calamine")
    except Exception as exc:
        raise FilesError(f"{path.name}: sheet {sheet or names[0]!r} is unreadable ({exc})") from exc


def read_file(path: Path, *, sheet: str | None = None, delimiter: str = "auto",
              encoding: str = "utf-8") -> pl.DataFrame:  # fmt: skip
    """One file as a frame with its name and each row's place in it (`__file`, `__line`:
    the line of a text file or the row of a spreadsheet, header = 1; a Parquet row from 1)."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        frame = _read_csv(path, delimiter, encoding)
    elif suffix in EXCEL_SUFFIXES:
        frame = _read_excel(path, sheet).with_row_index(_ROW, offset=2)
    elif suffix == ".parquet":
        try:
            frame = pl.read_parquet(path).with_row_index(_ROW, offset=1)
        except Exception as exc:
            raise FilesError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    else:
        raise FilesError(
            f"{path.name}: unsupported file type {suffix!r}; use .csv, .parquet or .xlsx"
        )
    return frame.with_columns(pl.lit(path.name).alias(_FILE))


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _resolve(folder: Path, pattern: str) -> list[Path]:
    """The files `pattern` names in `folder`, whatever the case of their names."""
    if not folder.is_dir():
        raise FilesError(f"folder {folder} does not exist (set path in [sources.files] or --path)")
    if "/" in pattern or "\\" in pattern:  # in a subfolder: as the file system says
        if _is_glob(pattern):  # folders a glob matches are not files to read
            return sorted(p for p in folder.glob(pattern) if p.is_file())
        return [folder / pattern] if (folder / pattern).is_file() else []
    want = pattern.lower()
    hits = sorted(
        p for p in folder.iterdir()
        if p.is_file() and (fnmatch.fnmatchcase(p.name.lower(), want) if _is_glob(pattern)
                            else p.name.lower() == want)
    )  # fmt: skip
    seen: dict[str, str] = {}
    for hit in hits:
        if hit.name.lower() in seen:
            raise FilesError(
                f"{folder}: {seen[hit.name.lower()]} and {hit.name} differ only in case and "
                f"both match {pattern!r}: file names are matched regardless of case, so "
                "keep one of them"
            )
        seen[hit.name.lower()] = hit.name
    return hits


def _unknown_file(folder: Path, pattern: str, table: str) -> FilesError:
    folders = _folders(folder, pattern)
    if folders:
        shown = ", ".join(folders[:5]) + (", ..." if len(folders) > 5 else "")
        return FilesError(
            f"{table}: file {pattern!r} in {folder} names only folders ({shown}), not files; "
            f'name the files inside, e.g. file = "{folders[0]}/*.csv"'
        )
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    return FilesError(
        f"{table}: file {pattern!r} not found in {folder}{closest(pattern, names)}; "
        f"files there: {shown or 'none'}"
    )


def _folders(folder: Path, pattern: str) -> list[str]:
    """The folders `pattern` names in `folder` (whatever the case of a plain name)."""
    if "/" in pattern or "\\" in pattern or _is_glob(pattern):
        hits = folder.glob(pattern)
    else:
        hits = (p for p in folder.iterdir() if p.name.lower() == pattern.lower())
    return sorted(p.relative_to(folder).as_posix() for p in hits if p.is_dir())


# -- mapping one table --------------------------------------------------------------------
class TableReader:
    """Where a mapping's tables come from: files (`FileReader`) or database tables
    (`connectors.warehouse`). A reader gives the raw rows of a table and of a lookup, each
    with its origin and place (`__file`, `__line`); filtering, checks, lookups and the
    mapping itself are shared."""

    def __init__(self, mapping: FilesMapping) -> None:
        self.mapping = mapping

    def table_rows(self, spec: TableSpec) -> list[pl.DataFrame] | None:
        """The raw rows of `spec`'s table, unfiltered, each frame checked for the columns the
        spec needs; None when an optional table is absent."""
        raise NotImplementedError

    def lookup_rows(self, step: LookupStep, table: str) -> tuple[list[pl.DataFrame], str]:
        """The raw rows of a lookup, and the name of where they came from."""
        raise NotImplementedError

    def read_table(self, spec: TableSpec) -> pl.DataFrame | None:
        """All rows of the table, filtered; None when an optional table is absent."""
        frames = self.table_rows(spec)
        if frames is None:
            return None
        raw = pl.concat(frames, how="diagonal_relaxed")
        return _filter(raw, spec.keep_when, spec.skip_when)

    def lookup(self, step: LookupStep, table: str) -> pl.DataFrame:
        """Key → value pairs of a lookup (the first row of each key)."""
        frames, name = self.lookup_rows(step, table)
        raw = _filter(pl.concat(frames, how="diagonal_relaxed"), step.keep_when, {})
        _require(raw, [step.key, step.value], f"{table} (lookup)", name)
        _single_values(raw, [step.key, step.value], f"{table} (lookup)")
        return raw.select(
            __k=null_ids(raw[step.key]), __v=pl.col(step.value).cast(pl.String)
        ).unique("__k", keep="first", maintain_order=True)


class FileReader(TableReader):
    """Reads each file once and knows the mapping's defaults."""

    def __init__(self, mapping: FilesMapping) -> None:
        super().__init__(mapping)
        self.cache: dict[tuple[Path, str | None], pl.DataFrame] = {}
        self.files: list[Path] = []

    def read(self, path: Path, spec: TableSpec | None) -> pl.DataFrame:
        sheet = spec.sheet if spec else None
        key = (path, sheet)
        if key not in self.cache:
            d = self.mapping.defaults
            self.cache[key] = read_file(
                path,
                sheet=sheet,
                delimiter=(spec.delimiter if spec else None) or d.delimiter,
                encoding=(spec.encoding if spec else None) or d.encoding,
            )
            self.files.append(path)
        return self.cache[key]

    def lookup_rows(self, step: LookupStep, table: str) -> tuple[list[pl.DataFrame], str]:
        paths = [p for pattern in step.files for p in _resolve(self.mapping.folder, pattern)]
        if not paths:
            raise _unknown_file(self.mapping.folder, step.files[0], f"{table} (lookup)")
        return [self.read(p, None) for p in paths], paths[0].name

    def table_rows(self, spec: TableSpec) -> list[pl.DataFrame] | None:
        folder = self.mapping.folder
        paths = [p for pattern in spec.files for p in _resolve(folder, pattern)]
        if not paths and spec.optional:
            return None
        # a glob may match nothing (presets list several names); an exact name must exist
        absent = [pat for pat in spec.files if not _is_glob(pat) and not _resolve(folder, pat)]
        if absent or not paths:
            raise _unknown_file(folder, (absent or list(spec.files))[0], spec.name)
        frames = []
        for path in paths:
            frame = self.read(path, spec)
            require_specs(frame, spec, path.name)
            frames.append(frame)
        return frames


_Context = FileReader  # the name before readers other than files existed


def _condition(raw: pl.DataFrame, conditions: dict[str, tuple[str, ...]]) -> pl.Expr:
    text = [pl.col(c).cast(pl.String).str.strip_chars().str.to_lowercase().fill_null("")
            for c in conditions]  # fmt: skip
    return pl.any_horizontal([t.is_in(v) for t, v in zip(text, conditions.values(), strict=True)])


def _filter(raw: pl.DataFrame, keep: dict, skip: dict) -> pl.DataFrame:
    _require(raw, [*keep, *skip], "filter", raw[_FILE][0] if raw.height else "")
    _single_values(raw, [*keep, *skip], "skip_when/keep_when")
    if keep:
        raw = raw.filter(_condition(raw, keep))
    if skip:
        raw = raw.filter(~_condition(raw, skip))
    return raw


def _require(raw: pl.DataFrame, columns: list[str], table: str, file: str) -> None:
    """Every one of `columns` is in the file; otherwise say what is there and what is close."""
    present = [c for c in raw.columns if c not in (_FILE, _ROW)]
    missing = [c for c in columns if c not in present]
    if not missing:
        return
    hints = "; ".join(f"{c!r}{closest(c, present)}" for c in missing)
    single = len(present) == 1 and any(d in present[0] for d in DELIMITERS)
    tip = " The file reads as one column: is the delimiter right?" if single else ""
    raise FilesError(
        f"{table}: {file} has no column {hints}. Columns there: {', '.join(present)}.{tip}"
    )


def _nested(series: pl.Series) -> bool:
    """Whether a column holds lists or records (a Parquet list or struct column)."""
    return series.dtype.is_nested() or series.dtype == pl.Object


def _nested_rows(raw: pl.DataFrame, series: pl.Series) -> str:
    """Where a nested column holds values: file, row and value of the first few."""
    return _samples(raw, series, series.is_not_null())


def _single_values(raw: pl.DataFrame, columns: list[str], used_by: str) -> None:
    """Refuse list or record columns where single values are compared."""
    for column in columns:
        if _nested(raw[column]):
            raise FilesError(
                f"{used_by}: column {column!r} holds {raw[column].dtype} values (lists or "
                f"records), not single values ({_nested_rows(raw, raw[column])}); use a "
                "column of single values"
            )


def require_specs(raw: pl.DataFrame, spec: TableSpec, file: str) -> None:
    """Every required column spec finds its columns (or a fallback's) in the file."""
    present = [c for c in raw.columns if c not in (_FILE, _ROW)]
    needed: list[str] = []
    for cspec in spec.columns.values():
        if cspec.optional or cspec.chosen(present) is not None:
            continue
        if cspec.fallback is None:
            needed += [c for c in cspec.columns if c not in present]
        else:  # say every alternative the mapping accepts
            alternatives = [" + ".join(map(repr, alt)) for alt in cspec.alternatives]
            needed.append(" or ".join(alternatives))
    needed = list(dict.fromkeys(needed))
    if not needed:
        return
    hints = "; ".join(n if "'" in n else f"{n!r}{closest(n, present)}" for n in needed)
    single = len(present) == 1 and any(d in present[0] for d in DELIMITERS)
    tip = " The file reads as one column: is the delimiter right?" if single else ""
    raise FilesError(
        f"{spec.name}: {file} has no column {hints}. Columns there: {', '.join(present)}.{tip}"
    )


def _source(raw: pl.DataFrame, spec: ColumnSpec, ctx: TableReader, table: str) -> pl.Series:
    """The raw values of one column spec (or of the fallback the file's columns fit)."""
    spec = spec.chosen(raw.columns) or spec
    if spec.value is not None:
        return pl.repeat(spec.value, raw.height, eager=True, dtype=pl.String)
    columns = [c for c in spec.columns if c in raw.columns]
    if not columns:
        return pl.repeat(None, raw.height, eager=True, dtype=pl.String)
    if len(columns) == 1:
        series = raw[columns[0]]
    else:
        joined = pl.concat_str([pl.col(c).cast(pl.String) for c in columns],
                               separator=spec.separator, ignore_nulls=True)  # fmt: skip
        series = raw.select(joined).to_series()
    if _nested(series):  # reported by map_table
        return series
    for step in spec.lookup:
        table_ = ctx.lookup(step, table)
        keys = pl.DataFrame({"__k": null_ids(series)})
        series = keys.join(table_, on="__k", how="left", maintain_order="left")["__v"]
    return series


def _translate(series: pl.Series, spec: ColumnSpec, is_enum: bool) -> pl.Series:
    """Apply the value map (unmapped values stay, or become `otherwise`) and the default."""
    if spec.values:
        text = series.cast(pl.String)
        mapped = text.replace_strict(spec.values, default=None, return_dtype=pl.String)
        fallback = text if spec.otherwise is None or is_enum else pl.lit(spec.otherwise or None)
        series = pl.select(pl.coalesce(mapped, fallback)).to_series().alias(series.name)
    if spec.default is not None:
        blank = series.is_null() | (series.cast(pl.String).str.strip_chars() == "")
        series = pl.select(pl.when(blank).then(pl.lit(spec.default)).otherwise(series.cast(
            pl.String))).to_series()  # fmt: skip
    return series


def _parse(series: pl.Series, dtype: pl.DataType, spec: ColumnSpec, ctx: TableReader) -> Parsed:
    tz, order = ctx.mapping.defaults.timezone, ctx.mapping.defaults.date_order
    if isinstance(dtype, pl.Datetime):
        return parse_datetime(series, spec.formats, tz, order)
    if dtype == pl.Date:
        return parse_date(series, spec.formats, date_order=order)
    if dtype == pl.Float64:
        return parse_amount(series, spec.decimal or ctx.mapping.defaults.decimal)
    if dtype == pl.Int32:
        return parse_int(series)
    if dtype == pl.Boolean:
        return parse_bool(series)
    if isinstance(dtype, pl.Enum):
        parsed = normalize_category(series, tuple(dtype.categories))
        if spec.otherwise is not None and parsed.bad is not None:
            other = pl.lit(spec.otherwise or None, pl.String)
            fixed = pl.select(pl.when(parsed.bad).then(other).otherwise(parsed.values))
            return Parsed(fixed.to_series().alias(series.name))
        return parsed
    return Parsed(series.cast(pl.String))


def _samples(raw: pl.DataFrame, values: pl.Series, bad: pl.Series) -> str:
    rows = raw.select(f=_FILE, r=_ROW).with_columns(v=values).filter(bad).head(SAMPLE)
    text = "; ".join(f"{place(f, r)}: {v!r}" for f, r, v in rows.iter_rows())
    more = int(bad.sum()) - rows.height
    return text + (f"; and {more} more" if more > 0 else "")


def _dtype(table: str, column: str) -> pl.DataType:
    if column in TABLES[table].columns:
        return TABLES[table].columns[column].dtype
    return pl.Datetime("us", "UTC")  # stage_changed_at


def _format_hint(table: str, column: str, spec: ColumnSpec, example: str | None) -> str:
    """Where to set a date column's ``format``, with the one its values seem to use."""
    fmt = example or "%d/%m/%Y %H:%M"
    source = f'column = "{spec.columns[0]}", ' if len(spec.columns) == 1 else ""
    guessed = "" if example else f" (a format is made of {FORMAT_CODES})"
    return (
        f'; set the format they are in: {column} = {{ {source}format = "{fmt}" }} under '
        f"[tables.{table}.columns] (in scorecard.toml: [sources.files.tables.{table}.columns])"
        f"{guessed}"
    )


def map_table(
    raw: pl.DataFrame, spec: TableSpec, ctx: TableReader
) -> tuple[pl.DataFrame, list[str]]:
    """The canonical columns of one table from its raw rows (with each row's file and line),
    and every value that failed."""
    out, problems = {}, []
    for column, cspec in spec.columns.items():
        dtype = _dtype(spec.name, column)
        source = _source(raw, cspec, ctx, spec.name)
        if _nested(source):
            label = (cspec.chosen(raw.columns) or cspec).label
            problems.append(
                f"{spec.name}.{column} (column {label}): {source.is_not_null().sum()} value(s) "
                f"are not single values (the column holds {source.dtype} values: lists or "
                f"records) ({_nested_rows(raw, source)}); map a column of single values"
            )
            out[column] = pl.Series(column, [None] * raw.height, dtype)
            continue
        if column.endswith("_id"):
            source = null_ids(source)
        parsed = _parse(_translate(source, cspec, isinstance(dtype, pl.Enum)), dtype, cspec, ctx)
        if parsed.bad is not None and parsed.bad.any():
            chosen = cspec.chosen(raw.columns) or cspec
            hint = (
                _format_hint(spec.name, column, chosen, parsed.example)
                if isinstance(dtype, pl.Datetime) or dtype == pl.Date
                else ""
            )
            problems.append(
                f"{spec.name}.{column} (column {chosen.label}): {int(parsed.bad.sum())} "
                f"value(s) are not {parsed.expected} ({_samples(raw, source, parsed.bad)}){hint}"
            )
        out[column] = parsed.values.alias(column)
    frame = pl.DataFrame(out, height=raw.height).with_columns(raw.select(_FILE, _ROW))
    return frame, problems


# -- the whole load -----------------------------------------------------------------------
def _read_all(mapping: FilesMapping, ctx: TableReader, loaded: Loaded, progress: Progress) -> None:
    problems: list[str] = []
    file_backed = [n for n in TABLE_ORDER if n in mapping.tables and mapping.tables[n].files]
    for index, name in enumerate(file_backed):
        spec = mapping.tables[name]
        if not spec.columns:
            first = next(iter(TABLES[name].columns))
            raise FilesError(
                f"{name}: the mapping reads {', '.join(spec.files)} but maps none of its "
                f'columns; add [tables.{name}.columns], e.g. {first} = "Id"'
            )
        progress(
            f"Reading {name} from {', '.join(spec.files)}", 0.05 + 0.4 * index / len(file_backed)
        )
        raw = ctx.read_table(spec)
        if raw is None:
            loaded.notes.append(f"{name}: no {' / '.join(spec.files)} in the folder, so absent")
            continue
        frame, found = map_table(raw, spec, ctx)
        problems += found
        loaded.frames[name] = frame
        loaded.read.add(name)
        loaded.origin[name] = ", ".join(sorted(set(raw[_FILE].to_list()))) or ", ".join(spec.files)
        chosen = {c: s.chosen(raw.columns) or s for c, s in spec.columns.items()}
        loaded.columns[name] = {c: s.label for c, s in chosen.items()}
        empty = [c for c, s in chosen.items() if s.columns and not any(
            col in raw.columns for col in s.columns)]  # fmt: skip
        if empty:
            loaded.notes.append(f"{name}: not in the file, left empty: {', '.join(empty)}")
    if problems:
        raise FilesError(
            f"{len(problems)} column(s) hold values that do not parse:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _derive_stages(mapping: FilesMapping, loaded: Loaded) -> None:
    frames = loaded.frames
    if "opportunities" not in frames and "stages" not in frames:
        return
    spec = mapping.tables.get("stages")
    options = spec.options if spec else {}
    base = frames.get("stages")
    read_closed = _flag_read(frames.get("opportunities"), base)
    frames["stages"] = derive.derive_stages(
        frames.get("opportunities"), frames.get("stage_history"), base, options
    )
    if base is None:
        loaded.origin["stages"] = "derived from the stage values of opportunities and history"
    elif frames["stages"].height > base.height:
        loaded.notes.append(
            f"stages: {frames['stages'].height - base.height} stage value(s) not in "
            f"{loaded.origin['stages']} added after its stages"
        )
    if "opportunities" in frames:
        frames["opportunities"] = derive.flags_from_stages(
            frames["opportunities"], frames["stages"]
        )
        _all_open_check(frames["opportunities"], read_closed, options)


def _flag_read(opps: pl.DataFrame | None, stages: pl.DataFrame | None) -> bool:
    """Whether the files say which deals are closed: an is_closed/is_won value of an
    opportunity or of a stage (as opposed to flags derived from nothing)."""
    return any(
        frame is not None and c in frame.columns and frame[c].is_not_null().any()
        for frame in (opps, stages)
        for c in ("is_closed", "is_won")
    )


def _all_open_check(opps: pl.DataFrame, read_closed: bool, options: dict[str, Any]) -> None:
    """Refuse an org where every deal is open only because nothing said which stages close."""
    if read_closed or "won" in options or "lost" in options or opps.is_empty():
        return
    if opps["is_closed"].any():
        return
    stages = opps["stage"].drop_nulls().unique().sort().head(6).to_list()
    raise FilesError(
        f"opportunities: every deal would be open: the files say of no stage or deal whether "
        f"it is closed or won. Set won/lost under [tables.stages] (e.g. won = "
        f'["Closed Won"], lost = ["Closed Lost"]; the stages seen include '
        f"{', '.join(map(repr, stages))}), or map is_won/is_closed (IsWon/IsClosed) under "
        f"[tables.opportunities.columns]; won = [] says that no deal is closed yet"
    )


def _drop_orphans(mapping: FilesMapping, loaded: Loaded) -> None:
    """With ``drop_unknown_opps``, history rows of opportunities not loaded are left out."""
    frames = loaded.frames
    spec = mapping.tables.get("stage_history")
    if not {"opportunities", "stage_history"} <= set(frames) or spec is None:
        return
    if not spec.options.get("drop_unknown_opps"):
        return
    known = frames["opportunities"]["opp_id"].implode()
    kept = frames["stage_history"].filter(pl.col("opp_id").is_in(known))
    dropped = frames["stage_history"].height - kept.height
    if dropped:
        loaded.notes.append(f"stage_history: left out {dropped} row(s) of unknown opportunities")
    frames["stage_history"] = kept


def _derive_history(mapping: FilesMapping, loaded: Loaded) -> None:
    """Without a history file: each deal open from creation, closed from its close date
    (`derive.stage_history_from_opps`); the origin note, starting "derived", says how."""
    frames = loaded.frames
    spec = mapping.tables.get("stage_history")
    if "opportunities" not in frames:
        return
    if "stage_history" in frames:
        return
    if spec is not None and spec.options.get("derive") is False:
        return
    opps = frames["opportunities"]
    frames["stage_history"] = derive.stage_history_from_opps(
        opps, frames.get("stages"), timezone=mapping.defaults.timezone
    )
    changed = "stage_changed_at" in opps.columns and opps["stage_changed_at"].is_not_null().any()
    loaded.origin["stage_history"] = derive.DERIVED_HISTORY_NOTE.format(
        open_stage=repr(derive.last_open_stage(frames["stages"])),
        entered="its stage change time" if changed else "its creation",
    )


def _derive_users(mapping: FilesMapping, loaded: Loaded) -> None:
    spec = mapping.tables.get("users")
    if "users" in loaded.frames or (spec is not None and spec.options.get("derive") is False):
        return
    if not {"opportunities", "leads"} & set(loaded.frames):
        return
    loaded.frames["users"] = derive.users_from_owners(loaded.frames, spec.options if spec else {})
    team = (spec.options if spec else {}).get("default_team", derive.DEFAULT_TEAM)
    loaded.origin["users"] = f"derived from the owner ids seen (team {team!r})"


def load(mapping: FilesMapping, progress: Progress = no_progress,
         as_of: date | str | None = None, *, timezone: str | None = None,
         reader: TableReader | None = None) -> Loaded:  # fmt: skip
    """Read and map every table of `mapping` (from files, or through `reader`), then derive
    what the data lacks.

    The data's date is `as_of`, else the mapping's ``as_of``, else the latest event date in
    the data in `timezone` (the reporting zone; default the mapping's), never after today.

    Raises:
        FilesError: unknown file or sheet, missing mapped column, unreadable text, values
            that do not parse (all such columns at once, with rows and samples), or stages
            of which none is known to be closed.
    """
    loaded = read_mapped(mapping, progress, reader)
    return finish(mapping, loaded, as_of, timezone=timezone)


def read_mapped(mapping: FilesMapping, progress: Progress = no_progress,
                reader: TableReader | None = None) -> Loaded:  # fmt: skip
    """The tables `mapping` reads, mapped onto the canonical columns; nothing derived yet."""
    loaded = Loaded(frames={})
    _read_all(mapping, reader or FileReader(mapping), loaded, progress)
    return loaded


def finish(mapping: FilesMapping, loaded: Loaded, as_of: date | str | None = None, *,
           timezone: str | None = None) -> Loaded:  # fmt: skip
    """Derive what the read tables lack (stages, history, users) and set the data's date."""
    _drop_orphans(mapping, loaded)
    _derive_stages(mapping, loaded)
    _derive_history(mapping, loaded)
    _derive_users(mapping, loaded)
    if "opportunities" in loaded.frames:
        loaded.frames["opportunities"] = loaded.frames["opportunities"].drop(
            "stage_changed_at", strict=False
        )
    _set_as_of(loaded, mapping, as_of, timezone or mapping.defaults.timezone)
    return loaded


def _set_as_of(loaded: Loaded, mapping: FilesMapping, as_of: date | str | None,
               timezone: str) -> None:  # fmt: skip
    """The data's date: as given, else as mapped, else the latest event date in the data."""
    if as_of is not None:
        loaded.data_as_of = as_of if isinstance(as_of, date) else date.fromisoformat(as_of)
        loaded.as_of_from = "set with --as-of"
    elif mapping.as_of is not None:
        loaded.data_as_of, loaded.as_of_from = mapping.as_of, "set with as_of in the mapping"
    else:
        found = latest_event(loaded.frames, timezone)
        if found is not None:
            loaded.data_as_of, loaded.as_of_from = found


def mapping_for(
    settings: SourceSettings,
    *,
    path: str | Path | None = None,
    preset: str | None = None,
    mapping: str | Path | None = None,
) -> FilesMapping:
    """The mapping of ``[sources.files]``, with `path`, `preset` (a shipped preset's name) or
    `mapping` (a mapping file anywhere) from the command line."""
    base_dir = settings.config_path.parent if settings.config_path else Path.cwd()
    raw = settings.sources.get("files", {})
    origin = str(settings.config_path or "scorecard.toml")
    return build_mapping(raw, base_dir=base_dir, path=path, preset=preset, mapping=mapping,
                         origin=origin)  # fmt: skip


def _mapping_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: options.get(k) for k in ("path", "preset", "mapping")}


def pull(settings: SourceSettings, progress: Progress = no_progress, **options: Any) -> Pulled:
    """The files source for `ops.refresh`: read, map and derive; no validation here."""
    mapping = mapping_for(settings, **_mapping_options(options))
    loaded = load(mapping, progress, options.get("as_of"), timezone=settings.scoring.timezone)
    validate_loaded(loaded)
    detail = {
        "folder": str(mapping.folder),
        "preset": mapping.preset,
        "mapping": str(mapping.file) if mapping.file else None,
        "origin": loaded.origin,
        "notes": loaded.notes,
        "as_of_from": loaded.as_of_from,
    }
    return Pulled(frames=loaded.frames, data_as_of=loaded.data_as_of, detail=detail)


def validate_loaded(loaded: Loaded) -> Validated:
    """Validate the loaded frames, reporting each problem once: when the tables read from
    files have problems, those of tables derived from them are left out (they would repeat
    them, and are checked again once the files are fixed).

    Raises:
        FilesError: listing the problems, each naming the file and line of sample rows.
    """
    try:
        return validate_tables(loaded.frames, source="files")
    except ValidationError as exc:
        own = [p for p in exc.problems if p.table in loaded.read]
        shown = own or exc.problems
        left = len(exc.problems) - len(shown)
        tail = (
            f"\n  ({left} problem(s) of tables derived from these files are not repeated)"
            if left
            else ""
        )
        raise FilesError(str(ValidationError(shown, source="files")) + tail) from exc


@dataclass
class CheckResult:
    """What a refresh from files would load, validated but not stored."""

    mapping: FilesMapping
    loaded: Loaded
    warnings: list[str]

    def summary(self) -> str:
        frames = self.loaded.frames
        source = f"mapping file {self.mapping.file}" if self.mapping.file else (
            f"preset {self.mapping.preset or 'none'}")  # fmt: skip
        lines = [
            f"Mapping OK ({source}, folder {self.mapping.folder}); nothing was stored.",
            f"Data as of {self.loaded.data_as_of} ({self.loaded.as_of_from}; "
            "override with --as-of or as_of in [sources.files]).",
            "A refresh would load:",
        ]
        for name in TABLE_ORDER:
            if name not in frames:
                continue
            origin = self.loaded.origin.get(name, "")
            lines.append(f"  {name:<17} {frames[name].height:>8,} rows  from {origin}")
            cols = self.loaded.columns.get(name, {})
            if cols:
                lines.append("      " + ", ".join(f"{c} <- {s}" for c, s in cols.items()))
        absent = [t for t in TABLE_ORDER if t not in frames]
        if absent:
            lines.append(f"  not provided: {', '.join(absent)}")
        lines += [f"  note: {n}" for n in self.loaded.notes]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def check(settings: SourceSettings, **options: Any) -> CheckResult:
    """Validate the mapping and the data it reads without storing anything (``--check``).

    Raises:
        FilesError: as `load`, or when the mapped data does not fit the canonical model.
    """
    mapping = mapping_for(settings, **_mapping_options(options))
    loaded = load(mapping, as_of=options.get("as_of"), timezone=settings.scoring.timezone)
    validated = validate_loaded(loaded)
    return CheckResult(mapping, loaded, [str(w) for w in validated.warnings])
