"""The files connector: CSV, Parquet and Excel exports mapped onto the canonical model.

``python -m connectors refresh --source files [--path DIR] [--preset NAME] [--check]``
reads the files named by the mapping (see `connectors.mapping`; presets for Salesforce
data exports, Fivetran-synced Salesforce and Fivetran-synced HubSpot live in
`connectors/presets/`), parses source-specific formats (Excel-style dates, `$22,700.00`,
`1.234,50`, "Best Case"), derives the tables an export lacks (`connectors.derive`) and
hands the frames to the refresh, which validates and stores them. Any problem raises
`FilesError` naming the file, the column and sample rows; nothing is stored then.

Row numbers in messages count the header as row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from connectors import derive
from connectors.config import Settings
from connectors.mapping import (
    ColumnSpec,
    FilesError,
    FilesMapping,
    LookupStep,
    TableSpec,
    build_mapping,
    closest,
)
from connectors.schema import TABLE_ORDER, TABLES
from connectors.sources import Progress, Pulled, no_progress
from connectors.validate import ValidationError, validate_tables
from connectors.values import (
    Parsed,
    normalize_category,
    parse_amount,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_int,
)

__all__ = ["CheckResult", "FilesError", "Loaded", "check", "load", "mapping_for", "pull"]

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
DELIMITERS = (",", ";", "\t", "|")
SAMPLE = 5
_FILE, _ROW = "__file", "__row"


@dataclass
class Loaded:
    """Canonical-shaped frames read from files, where each came from, and notes for the user."""

    frames: dict[str, pl.DataFrame]
    origin: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data_as_of: date = field(default_factory=date.today)


# -- reading files ------------------------------------------------------------------------
def _decode(raw: bytes, encoding: str, name: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif encoding.replace("_", "-").lower() in {"utf-8", "utf8"}:
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except LookupError as exc:
        raise FilesError(f"{name}: unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start : exc.start + 1].hex()
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


def _read_csv(path: Path, delimiter: str, encoding: str) -> pl.DataFrame:
    text = _decode(path.read_bytes(), encoding, path.name)
    if not text.strip():
        raise FilesError(f"{path.name}: the file is empty")
    sep = _delimiter(text, delimiter)
    try:
        return pl.read_csv(io.BytesIO(text.encode()), separator=sep, infer_schema=False)
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
    """One file as a frame with its name and spreadsheet row number (`__file`, `__row`)."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        frame = _read_csv(path, delimiter, encoding)
    elif suffix in EXCEL_SUFFIXES:
        frame = _read_excel(path, sheet)
    elif suffix == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception as exc:
            raise FilesError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    else:
        raise FilesError(
            f"{path.name}: unsupported file type {suffix!r}; use .csv, .parquet or .xlsx"
        )
    return frame.with_row_index(_ROW, offset=2).with_columns(pl.lit(path.name).alias(_FILE))


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _resolve(folder: Path, pattern: str) -> list[Path]:
    if not folder.is_dir():
        raise FilesError(f"folder {folder} does not exist (set path in [sources.files] or --path)")
    if _is_glob(pattern):
        return sorted(folder.glob(pattern))
    return [folder / pattern] if (folder / pattern).is_file() else []


def _unknown_file(folder: Path, pattern: str, table: str) -> FilesError:
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    return FilesError(
        f"{table}: file {pattern!r} not found in {folder}{closest(pattern, names)}; "
        f"files there: {shown or 'none'}"
    )


# -- mapping one table --------------------------------------------------------------------
class _Context:
    """Reads each file once and knows the mapping's defaults."""

    def __init__(self, mapping: FilesMapping) -> None:
        self.mapping = mapping
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

    def lookup(self, step: LookupStep, table: str) -> pl.DataFrame:
        paths = [p for pattern in step.files for p in _resolve(self.mapping.folder, pattern)]
        if not paths:
            raise _unknown_file(self.mapping.folder, step.files[0], f"{table} (lookup)")
        raw = _filter(pl.concat([self.read(p, None) for p in paths], how="diagonal_relaxed"),
                      step.keep_when, {})  # fmt: skip
        _require(raw, [step.key, step.value], f"{table} (lookup)", paths[0].name)
        return raw.select(
            __k=pl.col(step.key).cast(pl.String), __v=pl.col(step.value).cast(pl.String)
        ).unique("__k", keep="first")


def _condition(raw: pl.DataFrame, conditions: dict[str, tuple[str, ...]]) -> pl.Expr:
    text = [pl.col(c).cast(pl.String).str.strip_chars().str.to_lowercase().fill_null("")
            for c in conditions]  # fmt: skip
    return pl.any_horizontal([t.is_in(v) for t, v in zip(text, conditions.values(), strict=True)])


def _filter(raw: pl.DataFrame, keep: dict, skip: dict) -> pl.DataFrame:
    _require(raw, [*keep, *skip], "filter", raw[_FILE][0] if raw.height else "")
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


def _source(raw: pl.DataFrame, spec: ColumnSpec, ctx: _Context, table: str) -> pl.Series:
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
    for step in spec.lookup:
        table_ = ctx.lookup(step, table)
        keys = pl.DataFrame({"__k": series.cast(pl.String)})
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


def _parse(series: pl.Series, dtype: pl.DataType, spec: ColumnSpec, ctx: _Context) -> Parsed:
    tz = ctx.mapping.defaults.timezone
    if isinstance(dtype, pl.Datetime):
        return parse_datetime(series, spec.formats, tz)
    if dtype == pl.Date:
        return parse_date(series, spec.formats)
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
    rows = pl.DataFrame({"f": raw[_FILE], "r": raw[_ROW], "v": values.cast(pl.String)})
    shown = rows.filter(bad).head(SAMPLE)
    text = "; ".join(f"{f} row {r}: {v!r}" for f, r, v in shown.iter_rows())
    more = int(bad.sum()) - shown.height
    return text + (f"; and {more} more" if more > 0 else "")


def _dtype(table: str, column: str) -> pl.DataType:
    if column in TABLES[table].columns:
        return TABLES[table].columns[column].dtype
    return pl.Datetime("us", "UTC")  # stage_changed_at


def map_table(raw: pl.DataFrame, spec: TableSpec, ctx: _Context) -> tuple[pl.DataFrame, list[str]]:
    """The canonical columns of one table from its raw rows, and every value that failed."""
    out, problems = {}, []
    for column, cspec in spec.columns.items():
        dtype = _dtype(spec.name, column)
        source = _source(raw, cspec, ctx, spec.name)
        parsed = _parse(_translate(source, cspec, isinstance(dtype, pl.Enum)), dtype, cspec, ctx)
        if parsed.bad is not None and parsed.bad.any():
            problems.append(
                f"{spec.name}.{column} (column {cspec.label}): {int(parsed.bad.sum())} value(s) "
                f"are not {parsed.expected} ({_samples(raw, source, parsed.bad)})"
            )
        out[column] = parsed.values.alias(column)
    return pl.DataFrame(out, height=raw.height), problems


def _read_table(spec: TableSpec, ctx: _Context) -> pl.DataFrame | None:
    """All rows of the table's files, filtered; None when an optional table's file is absent."""
    folder = ctx.mapping.folder
    paths = [p for pattern in spec.files for p in _resolve(folder, pattern)]
    if not paths and spec.optional:
        return None
    # a glob may match nothing (presets list several names); an exact name must exist
    absent = [pat for pat in spec.files if not _is_glob(pat) and not _resolve(folder, pat)]
    if absent or not paths:
        raise _unknown_file(folder, (absent or list(spec.files))[0], spec.name)
    needed = list(
        dict.fromkeys(c for s in spec.columns.values() if not s.optional for c in s.columns)
    )
    frames = []
    for path in paths:
        frame = ctx.read(path, spec)
        _require(frame, needed, spec.name, path.name)
        frames.append(frame)
    raw = pl.concat(frames, how="diagonal_relaxed")
    return _filter(raw, spec.keep_when, spec.skip_when)


# -- the whole load -----------------------------------------------------------------------
def _read_all(mapping: FilesMapping, ctx: _Context, loaded: Loaded, progress: Progress) -> None:
    problems: list[str] = []
    file_backed = [n for n in TABLE_ORDER if n in mapping.tables and mapping.tables[n].files]
    for index, name in enumerate(file_backed):
        spec = mapping.tables[name]
        progress(
            f"Reading {name} from {', '.join(spec.files)}", 0.05 + 0.4 * index / len(file_backed)
        )
        raw = _read_table(spec, ctx)
        if raw is None:
            loaded.notes.append(f"{name}: no {' / '.join(spec.files)} in the folder, so absent")
            continue
        frame, found = map_table(raw, spec, ctx)
        problems += found
        loaded.frames[name] = frame
        loaded.origin[name] = ", ".join(sorted(set(raw[_FILE].to_list()))) or ", ".join(spec.files)
        loaded.columns[name] = {c: s.label for c, s in spec.columns.items()}
        empty = [c for c, s in spec.columns.items() if s.columns and not any(
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
         as_of: date | str | None = None) -> Loaded:  # fmt: skip
    """Read and map every table of `mapping`, then derive what the files lack.

    Raises:
        FilesError: unknown file or sheet, missing mapped column, unreadable text, or
            values that do not parse (all such columns at once, with rows and samples).
    """
    ctx = _Context(mapping)
    loaded = Loaded(frames={})
    _read_all(mapping, ctx, loaded, progress)
    _drop_orphans(mapping, loaded)
    _derive_stages(mapping, loaded)
    _derive_history(mapping, loaded)
    _derive_users(mapping, loaded)
    if "opportunities" in loaded.frames:
        loaded.frames["opportunities"] = loaded.frames["opportunities"].drop(
            "stage_changed_at", strict=False
        )
    if as_of is not None:
        loaded.data_as_of = as_of if isinstance(as_of, date) else date.fromisoformat(as_of)
    elif ctx.files:
        newest = max(p.stat().st_mtime for p in ctx.files)
        loaded.data_as_of = datetime.fromtimestamp(newest).date()
    return loaded


def mapping_for(settings: Settings, *, path: str | Path | None = None,
                preset: str | None = None) -> FilesMapping:  # fmt: skip
    """The mapping of ``[sources.files]``, with `path`/`preset` from the command line."""
    base_dir = settings.config_path.parent if settings.config_path else Path.cwd()
    raw = dict(settings.sources.get("files", {}))
    return build_mapping(raw, base_dir=base_dir, path=path, preset=preset)


def pull(settings: Settings, progress: Progress = no_progress, **options: Any) -> Pulled:
    """The files source for `connectors.refresh`: read, map and derive; no validation here."""
    mapping = mapping_for(settings, path=options.get("path"), preset=options.get("preset"))
    raw_as_of = options.get("as_of") or settings.sources.get("files", {}).get("as_of")
    loaded = load(mapping, progress, raw_as_of)
    detail = {
        "folder": str(mapping.folder),
        "preset": mapping.preset,
        "origin": loaded.origin,
        "notes": loaded.notes,
    }
    return Pulled(frames=loaded.frames, data_as_of=loaded.data_as_of, detail=detail)


@dataclass
class CheckResult:
    """What a refresh from files would load, validated but not stored."""

    mapping: FilesMapping
    loaded: Loaded
    warnings: list[str]

    def summary(self) -> str:
        frames = self.loaded.frames
        lines = [
            f"Mapping OK (preset {self.mapping.preset or 'none'}, folder {self.mapping.folder}); "
            "nothing was stored. A refresh would load:"
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


def check(settings: Settings, **options: Any) -> CheckResult:
    """Validate the mapping and the data it reads without storing anything (``--check``).

    Raises:
        FilesError: as `load`, or when the mapped data does not fit the canonical model.
    """
    mapping = mapping_for(settings, path=options.get("path"), preset=options.get("preset"))
    loaded = load(mapping, as_of=options.get("as_of"))
    try:
        validated = validate_tables(loaded.frames, source="files")
    except ValidationError as exc:
        raise FilesError(str(exc)) from exc
    return CheckResult(mapping, loaded, [str(w) for w in validated.warnings])
