"""The files connector's mapping model: which file and column feeds each canonical column.

A mapping is TOML (a preset in `connectors/presets/`, plus overrides from
``[sources.files]`` in `scorecard.toml`)::

    [defaults]
    timezone = "UTC"              # zone of date-times written without one
    decimal = "auto"              # "." or "," for amounts like 1.234,50
    delimiter = "auto"            # CSV: "," ";" "\\t" "|" or auto-detect
    encoding = "utf-8"            # CSV: any Python codec name, e.g. "cp1252"

    [tables.opportunities]
    file = "Opportunity.csv"      # or a list; globs may match nothing ("opportunity.*");
                                  # sheet = "Deals" for .xlsx
    optional = true               # a missing file means the table is absent, not an error
    skip_when = { IsDeleted = ["true"] }

    [tables.opportunities.columns]
    opp_id = "Id"                                      # source column name
    stage = { column = "StageName", values = { "Won" = "Closed Won" } }
    created_at = { column = "CreatedDate", format = "%m/%d/%y %I:%M %p" }
    owner_id = ""                                      # the export has no such column: empty

A column spec may also hold: ``columns`` + ``separator`` (joined text), ``value``
(a constant), ``optional`` (absent column → empty), ``otherwise`` (for values not in
``values``), ``default`` (for empty values), ``decimal``, ``lookup`` (steps of
``{ file, key, value, keep_when }`` translating ids through another file) and ``fallback``
(another spec, read when the file lacks this one's columns).

docs/mapping.md documents every key with an example (a test keeps the two in step).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.base import RefreshError
from model.schema import TABLES

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
EXTRA_COLUMNS = {"opportunities": ("stage_changed_at",)}  # feed derivations, not stored
# Every key a mapping may hold, by where it goes; docs/mapping.md documents each one (a test
# checks that it does).
TABLE_KEYS = {
    "file", "files", "sheet", "optional", "columns", "skip_when", "keep_when", "delimiter",
    "encoding", "derive", "drop_unknown_opps", "order", "owner_function", "default_owner",
    "won", "lost", "default_team", "default_function",
}  # fmt: skip
COLUMN_KEYS = {
    "column", "columns", "separator", "value", "optional", "format", "decimal", "values",
    "otherwise", "default", "lookup", "fallback",
}  # fmt: skip
LOOKUP_KEYS = {"file", "key", "value", "keep_when"}
DEFAULT_KEYS = {"timezone", "decimal", "delimiter", "encoding", "date_order"}
SOURCE_KEYS = {"path", "preset", "tables", "defaults", "as_of"}


class FilesError(RefreshError):
    """The files, or their mapping, cannot be loaded; nothing was stored."""


def closest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """' (did you mean ...?)' for the closest names, or ''."""
    lowered = {c.lower(): c for c in choices}
    near = difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(lowered[n]) for n in near)}?)" if near else ""


def _check_keys(where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    for key in raw:
        if key not in allowed:
            raise FilesError(f"mapping: unknown key {key!r} in {where}{closest(key, allowed)}")


@dataclass(frozen=True)
class LookupStep:
    """Translate a value through another file: rows of `file` whose `key` equals it give `value`."""

    files: tuple[str, ...]
    key: str
    value: str
    keep_when: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnSpec:
    """How one canonical column is read from the source columns."""

    columns: tuple[str, ...] = ()
    separator: str = " "
    value: str | None = None
    optional: bool = False
    formats: tuple[str, ...] = ()
    decimal: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    otherwise: str | None = None
    default: str | None = None
    lookup: tuple[LookupStep, ...] = ()
    fallback: ColumnSpec | None = None

    def chosen(self, present: list[str] | set[str]) -> ColumnSpec | None:
        """This spec, or its first `fallback` whose source columns are all `present`; None
        when none fits (a constant or an empty mapping always fits)."""
        spec: ColumnSpec | None = self
        while spec is not None:
            if spec.value is not None or all(c in present for c in spec.columns):
                return spec
            spec = spec.fallback
        return None

    @property
    def alternatives(self) -> list[tuple[str, ...]]:
        """The source columns of this spec and of each fallback, in order."""
        out, spec = [], self
        while spec is not None:
            out.append(spec.columns)
            spec = spec.fallback
        return out

    @property
    def label(self) -> str:
        if self.value is not None:
            return f"the constant {self.value!r}"
        if not self.columns:
            return "(empty)"
        via = "".join(f" via {step.files[0]}" for step in self.lookup)
        return " + ".join(self.columns) + via


@dataclass(frozen=True)
class TableSpec:
    """Where one canonical table comes from: files, column specs, filters, derivation options."""

    name: str
    files: tuple[str, ...] = ()
    sheet: str | None = None
    optional: bool = False
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    skip_when: dict[str, tuple[str, ...]] = field(default_factory=dict)
    keep_when: dict[str, tuple[str, ...]] = field(default_factory=dict)
    delimiter: str | None = None
    encoding: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Defaults:
    timezone: str = "UTC"
    decimal: str = "auto"
    delimiter: str = "auto"
    encoding: str = "utf-8"
    date_order: str = "auto"


@dataclass(frozen=True)
class FilesMapping:
    """A complete mapping: the folder, defaults and one spec per table it provides;
    `as_of` overrides the data's date (else the latest event date in the data)."""

    folder: Path
    tables: dict[str, TableSpec]
    defaults: Defaults = field(default_factory=Defaults)
    preset: str | None = None
    as_of: date | None = None


def _text_list(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    return tuple(str(i) for i in items)


def _conditions(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        raise FilesError(f"mapping: {where} must be a table of column = [values]")
    return {str(k): tuple(v.lower() for v in _text_list(v)) for k, v in raw.items()}


def parse_column(raw: Any, where: str) -> ColumnSpec:
    """A column spec from its TOML form: "Name", "" (empty) or a table of options."""
    if isinstance(raw, str):
        return ColumnSpec(columns=(raw,) if raw else ())
    if not isinstance(raw, Mapping):
        raise FilesError(f"mapping: {where} must be a column name or a table")
    _check_keys(where, raw, COLUMN_KEYS)
    columns = _text_list(raw["columns"]) if "columns" in raw else ()
    if "column" in raw:
        columns = _text_list(raw["column"]) if raw["column"] else ()
    steps = raw.get("lookup", [])
    steps = [steps] if isinstance(steps, Mapping) else steps
    return ColumnSpec(
        columns=columns,
        separator=str(raw.get("separator", " ")),
        value=None if raw.get("value") is None else str(raw["value"]),
        optional=bool(raw.get("optional", False)),
        formats=_text_list(raw["format"]) if raw.get("format", "auto") != "auto" else (),
        decimal=raw.get("decimal"),
        values={str(k): str(v) for k, v in dict(raw.get("values", {})).items()},
        otherwise=None if raw.get("otherwise") is None else str(raw["otherwise"]),
        default=None if raw.get("default") is None else str(raw["default"]),
        lookup=tuple(_lookup_step(s, f"{where}.lookup") for s in steps),
        fallback=None if raw.get("fallback") is None else parse_column(
            raw["fallback"], f"{where}.fallback"),
    )  # fmt: skip


def _lookup_step(raw: Any, where: str) -> LookupStep:
    if not isinstance(raw, Mapping) or not {"file", "key", "value"} <= set(raw):
        raise FilesError(f"mapping: each {where} step needs file, key and value")
    _check_keys(where, raw, LOOKUP_KEYS)
    keep = _conditions(raw.get("keep_when", {}), f"{where}.keep_when")
    return LookupStep(_text_list(raw["file"]), str(raw["key"]), str(raw["value"]), keep)


def parse_table(name: str, raw: Mapping[str, Any]) -> TableSpec:
    """A table spec from ``[tables.<name>]``; unknown tables, keys and columns are errors."""
    where = f"[tables.{name}]"
    if name not in TABLES:
        raise FilesError(f"mapping: {name!r} is not a canonical table{closest(name, TABLES)}")
    _check_keys(where, raw, TABLE_KEYS)
    known = (*TABLES[name].columns, *EXTRA_COLUMNS.get(name, ()))
    columns = {}
    for column, spec in dict(raw.get("columns", {})).items():
        if column not in known:
            raise FilesError(
                f"mapping: {where} maps {column!r}, which is not a column of {name}"
                f"{closest(column, known)}; its columns are {', '.join(known)}"
            )
        columns[column] = parse_column(spec, f"{where}.columns.{column}")
    files = raw.get("files", raw.get("file", ()))
    options = {k: raw[k] for k in raw if k not in {"file", "files", "sheet", "columns"}}
    return TableSpec(
        name=name,
        files=_text_list(files) if files else (),
        sheet=None if raw.get("sheet") is None else str(raw["sheet"]),
        optional=bool(raw.get("optional", False)),
        columns=columns,
        skip_when=_conditions(raw.get("skip_when", {}), f"{where}.skip_when"),
        keep_when=_conditions(raw.get("keep_when", {}), f"{where}.keep_when"),
        delimiter=raw.get("delimiter"),
        encoding=raw.get("encoding"),
        options=options,
    )


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it: tables merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def preset_names() -> list[str]:
    """The presets shipped with the connector."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def read_preset(preset: str, *, base_dir: Path) -> dict[str, Any]:
    """A preset by name (``salesforce_export``) or path to a mapping file."""
    path = Path(preset) if preset.endswith(".toml") else PRESETS_DIR / f"{preset}.toml"
    if not path.is_absolute() and preset.endswith(".toml"):
        path = base_dir / path
    if not path.exists():
        raise FilesError(
            f"mapping: unknown preset {preset!r}{closest(preset, preset_names())}; "
            f"presets: {', '.join(preset_names())}, or a path to a .toml mapping file"
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FilesError(f"mapping file {path}: {exc}") from exc


def build_mapping(
    raw: Mapping[str, Any], *, base_dir: Path, path: str | Path | None = None,
    preset: str | None = None,
) -> FilesMapping:  # fmt: skip
    """The mapping from ``[sources.files]`` (`raw`), its preset, and command-line overrides."""
    _check_keys("[sources.files]", raw, SOURCE_KEYS)
    preset = preset or raw.get("preset")
    merged = read_preset(str(preset), base_dir=base_dir) if preset else {}
    _check_keys(f"preset {preset}", merged, SOURCE_KEYS)
    merged = merge(merged, {k: v for k, v in raw.items() if k not in {"preset", "path"}})
    folder = Path(path or raw.get("path") or ".")
    folder = folder if folder.is_absolute() else base_dir / folder
    defaults = dict(merged.get("defaults", {}))
    _check_keys("[defaults]", defaults, DEFAULT_KEYS)
    order = defaults.get("date_order", "auto")
    if order not in ("auto", "month_first", "day_first"):
        raise FilesError(
            f'mapping: date_order = {order!r} in [defaults]; use "auto", "month_first" '
            '(04/05/2021 is April 5) or "day_first" (4 May)'
        )
    tables = {n: parse_table(n, t) for n, t in dict(merged.get("tables", {})).items()}
    if not tables:
        raise FilesError(
            "mapping: no tables are mapped; set preset = one of "
            f"{', '.join(preset_names())} or add [sources.files.tables.<table>] sections"
        )
    return FilesMapping(folder, tables, Defaults(**defaults), str(preset) if preset else None,
                        parse_as_of(merged.get("as_of"), "as_of in [sources.files]"))  # fmt: skip


def parse_as_of(raw: Any, where: str) -> date | None:
    """An as-of date from TOML (a date, or text such as "2017-12-29"); None when unset."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError as exc:
        raise FilesError(f"mapping: {where} = {raw!r} is not a date like 2017-12-29") from exc
