"""The files connector's mapping model: which file and column feeds each canonical column.

A mapping is TOML: a preset of `connectors/presets/` (by name only) or a mapping file of
one's own (``--mapping PATH``, anywhere), plus overrides from ``[sources.files]`` in
`scorecard.toml`. Each layer is checked before use (`check_mapping`): an unknown key or a
value of the wrong kind is one `MappingError` naming the file, the key, what it expects and
what it found::

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

import codecs
import difflib
import functools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from connectors.base import RefreshError
from connectors.encoding import utf16_without_bom
from model.schema import FUNCTIONS, TABLES

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
SOURCE_KEYS = {"path", "preset", "mapping", "tables", "defaults", "as_of"}


class FilesError(RefreshError):
    """The files, or their mapping, cannot be loaded; nothing was stored."""


class MappingError(FilesError):
    """A mapping cannot be used: it names the mapping file (`origin`), the key, what the key
    expects and what was found there."""

    def __init__(self, origin: str, key: str, problem: str) -> None:
        self.origin, self.key, self.problem = origin, key, problem
        super().__init__(f"{origin}: {key}: {problem}" if key else f"{origin} {problem}")


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
    """A complete mapping: the folder, defaults and one spec per table it provides, from a
    shipped `preset` or the user's mapping `file`; `as_of` overrides the data's date (else
    the latest event date in the data)."""

    folder: Path
    tables: dict[str, TableSpec]
    defaults: Defaults = field(default_factory=Defaults)
    preset: str | None = None
    file: Path | None = None  # the user's own mapping file, when one is used
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


# -- checking a mapping before it is used ------------------------------------------------
# A rule: whether a value fits, and what the key expects (said in the error when it does not).
Rule = tuple[Callable[[Any], bool], str]


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float)  # bool is an int


def _is_encoding(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        return codecs.lookup(value)._is_text_encoding  # rot13 and base64 are no text encodings
    except (LookupError, ValueError):  # unknown, or a name holding a NUL
        return False


def _is_delimiter(value: Any) -> bool:
    if value in ("auto", "tab", "\\t"):
        return True
    return isinstance(value, str) and len(value) == 1 and value.isascii() and value not in '"\r\n'


def _is_zone(value: Any) -> bool:
    return isinstance(value, str) and value in _zones()


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def _is_as_of(value: Any) -> bool:
    if isinstance(value, date) or value == "":
        return True
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _choice(*choices: str) -> Rule:
    return (lambda v: v in choices, "one of " + ", ".join(f'"{c}"' for c in choices))


TEXT: Rule = (lambda v: isinstance(v, str), "text")
SCALAR: Rule = (_is_scalar, "text or a number")
FLAG: Rule = (lambda v: isinstance(v, bool), "true or false")
NAMES: Rule = (
    lambda v: (isinstance(v, str) and v != "") or (_is_text_list(v) and v != []),
    'a file name or glob, or a list of them, e.g. "Opportunity.csv" or ["deal.*", "deals.*"]',
)
STAGE_LIST: Rule = (_is_text_list, 'a list of stage names, e.g. ["Closed Won", "Closed Lost"]')
FUNCTION: Rule = _choice(*FUNCTIONS)
DELIMITER: Rule = (_is_delimiter, '"auto" or one character: "," ";" "\\t" (or "tab") "|"')
ENCODING: Rule = (
    _is_encoding,
    'a text encoding such as "utf-8", "cp1252", "latin-1", "utf-16-le" or "utf-16-be"',
)
ZONE: Rule = (_is_zone, 'a time zone name such as "UTC", "Europe/Berlin" or "America/New_York"')
DECIMAL: Rule = _choice(".", ",", "auto")
FORMAT: Rule = (
    lambda v: (isinstance(v, str) and v != "") or (_is_text_list(v) and v != []),
    '"auto", a date format such as "%d/%m/%Y %H:%M" or a list of them',
)
AS_OF: Rule = (_is_as_of, 'a date such as 2017-12-29 (or the text "2017-12-29")')
DEFAULT_RULES: dict[str, Rule] = {
    "timezone": ZONE, "decimal": DECIMAL, "delimiter": DELIMITER, "encoding": ENCODING,
    "date_order": (
        lambda v: v in ("auto", "month_first", "day_first"),
        '"auto", "month_first" (04/05/2021 is April 5) or "day_first" (4 May)',
    ),
}  # fmt: skip
TABLE_RULES: dict[str, Rule] = {
    "file": NAMES, "files": NAMES, "sheet": TEXT, "optional": FLAG, "delimiter": DELIMITER,
    "encoding": ENCODING, "derive": FLAG, "drop_unknown_opps": FLAG, "order": STAGE_LIST,
    "default_owner": FUNCTION, "won": STAGE_LIST, "lost": STAGE_LIST, "default_team": TEXT,
    "default_function": FUNCTION,
}  # fmt: skip
COLUMN_RULES: dict[str, Rule] = {
    "column": (lambda v: isinstance(v, str) or _is_text_list(v), "a source column name"),
    "columns": (lambda v: isinstance(v, str) or _is_text_list(v),
                'a list of source column names, e.g. ["FirstName", "LastName"]'),
    "separator": TEXT, "value": SCALAR, "optional": FLAG, "format": FORMAT, "decimal": DECIMAL,
    "otherwise": SCALAR, "default": SCALAR,
}  # fmt: skip
LOOKUP_RULES: dict[str, Rule] = {"file": NAMES, "key": TEXT, "value": TEXT}


def _shown(value: Any) -> str:
    """A TOML value as its writer would recognise it."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"the text {json_text(text)}" if value else 'the empty text ""'
    if isinstance(value, date):  # datetime too
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        items = ", ".join(_item(v) for v in value[:5]) + (", ..." if len(value) > 5 else "")
        return f"a list [{items}]"
    if isinstance(value, Mapping):
        keys = ", ".join(map(str, list(value)[:5])) + (", ..." if len(value) > 5 else "")
        return f"a table with {keys}" if value else "an empty table"
    return f"{type(value).__name__} {value!r}"


def _item(value: Any) -> str:
    if isinstance(value, str):
        return json_text(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if _is_scalar(value) else "{...}" if isinstance(value, Mapping) else "[...]"


def json_text(text: str) -> str:
    """Text quoted as in TOML ("Id")."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key(parent: str, name: str) -> str:
    """The dotted TOML key of `name` under `parent`, quoted unless bare ("Closed Won")."""
    bare = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json_text(name)
    return f"{parent}.{bare}" if parent else bare


class _Checker:
    """Checks one layer of a mapping (a preset, a mapping file or ``[sources.files]``)."""

    def __init__(self, origin: str, prefix: str) -> None:
        self.origin, self.prefix = origin, prefix

    def fail(self, key: str, problem: str) -> MappingError:
        full = f"{self.prefix}.{key}" if self.prefix and key else self.prefix or key
        return MappingError(self.origin, full, problem)

    def expect(self, key: str, value: Any, rule: Rule) -> None:
        fits, expected = rule
        if fits(value):
            return
        near = ""
        if isinstance(value, str) and rule in (ZONE, FUNCTION):
            near = closest(value, _zones() if rule is ZONE else FUNCTIONS)
        raise self.fail(key, f"expected {expected}; found {_shown(value)}{near}")

    def section(self, key: str, raw: Any, allowed: set[str] | None, expected: str) -> None:
        """`raw` is a table whose keys are all `allowed` (None: any key)."""
        if not isinstance(raw, Mapping):
            raise self.fail(key, f"expected {expected}; found {_shown(raw)}")
        for name in raw if allowed is not None else ():
            if name not in allowed:
                raise self.fail(
                    _key(key, name),
                    f"unknown key {name!r}{closest(name, allowed)}; the keys here are "
                    f"{', '.join(sorted(allowed))} (docs/mapping.md)",
                )

    def rules(self, key: str, raw: Mapping[str, Any], rules: dict[str, Rule]) -> None:
        for name, rule in rules.items():
            if name in raw:
                self.expect(_key(key, name), raw[name], rule)

    def layer(self, raw: Any) -> None:
        self.section("", raw, SOURCE_KEYS, "a table of mapping keys")
        self.rules("", raw, {"path": TEXT, "preset": TEXT, "mapping": TEXT, "as_of": AS_OF})
        if "defaults" in raw:
            self.section("defaults", raw["defaults"], DEFAULT_KEYS, "a table of defaults")
            self.rules("defaults", raw["defaults"], DEFAULT_RULES)
        if "tables" in raw:
            self.section("tables", raw["tables"], None, "a table of [tables.<table>] sections")
            for name, table in raw["tables"].items():
                self.table(name, table)

    def table(self, name: str, raw: Any) -> None:
        key = _key("tables", name)
        if name not in TABLES:
            raise self.fail(key, f"{name!r} is not a canonical table{closest(name, TABLES)}; "
                                 f"tables: {', '.join(TABLES)}")  # fmt: skip
        self.section(key, raw, TABLE_KEYS, "a table of table keys (file, columns, ...)")
        self.rules(key, raw, TABLE_RULES)
        for cond in ("skip_when", "keep_when"):
            if cond in raw:
                self.conditions(_key(key, cond), raw[cond])
        if "owner_function" in raw:
            owners = raw["owner_function"]
            where = _key(key, "owner_function")
            self.section(where, owners, None, 'a table of stage = function, e.g. { "Prospecting" '
                                              '= "sdr" }')  # fmt: skip
            for stage, function in owners.items():
                self.expect(_key(where, stage), function, FUNCTION)
        if "columns" in raw:
            self.columns(name, raw["columns"])

    def columns(self, table: str, raw: Any) -> None:
        key = _key(_key("tables", table), "columns")
        self.section(key, raw, None, 'a table of canonical column = source column, e.g. '
                                     '{ opp_id = "Id" }')  # fmt: skip
        known = (*TABLES[table].columns, *EXTRA_COLUMNS.get(table, ()))
        for column, spec in raw.items():
            if column not in known:
                raise self.fail(
                    _key(key, column),
                    f"maps {column!r}, which is not a column of {table}{closest(column, known)}; "
                    f"its columns are {', '.join(known)}",
                )
            self.column(_key(key, column), spec)

    def column(self, key: str, raw: Any) -> None:
        if isinstance(raw, str):
            return
        self.section(key, raw, COLUMN_KEYS, 'a source column name, "" (none) or a table such '
                                            'as { column = "StageName" }')  # fmt: skip
        self.rules(key, raw, COLUMN_RULES)
        if "values" in raw:
            where = _key(key, "values")
            expected = 'a table of source value = canonical value, e.g. { "Won" = "Closed Won" }'
            self.section(where, raw["values"], None, expected)
            for source, target in raw["values"].items():
                self.expect(_key(where, source), target, SCALAR)
        if "lookup" in raw:
            steps = raw["lookup"]
            expected = "a table { file, key, value } or a list of them"
            if not isinstance(steps, list | Mapping) or steps == []:
                raise self.fail(_key(key, "lookup"), f"expected {expected}; found {_shown(steps)}")
            for index, step in enumerate([steps] if isinstance(steps, Mapping) else steps):
                where = _key(key, "lookup") + (f"[{index}]" if isinstance(steps, list) else "")
                self.section(where, step, LOOKUP_KEYS, expected)
                missing = [k for k in ("file", "key", "value") if k not in step]
                if missing:
                    raise self.fail(where, f"a lookup step needs file, key and value; "
                                           f"{', '.join(missing)} missing")  # fmt: skip
                self.rules(where, step, LOOKUP_RULES)
                if "keep_when" in step:
                    self.conditions(_key(where, "keep_when"), step["keep_when"])
        if "fallback" in raw:
            self.column(_key(key, "fallback"), raw["fallback"])

    def conditions(self, key: str, raw: Any) -> None:
        self.section(key, raw, None, 'a table of column = [values], e.g. { IsDeleted = ["true"] }')
        values: Rule = (
            lambda v: _is_scalar(v) or (isinstance(v, list) and all(map(_is_scalar, v))),
            'a value or a list of values, e.g. ["true"]',
        )
        for column, value in raw.items():
            self.expect(_key(key, column), value, values)


def check_mapping(raw: Any, origin: str, prefix: str = "") -> None:
    """Check one layer of a mapping before it is used: every key known, every value of the
    kind it needs (a list where a list goes, a known encoding, time zone, function...).

    Raises:
        MappingError: naming `origin` (the file), the key (dotted from the top of that file,
            under `prefix`), what the key expects and what was found.
    """
    _Checker(origin, prefix).layer(raw)


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


def read_preset(
    preset: str, *, origin: str = "command line", key: str = "--preset"
) -> dict[str, Any]:
    """A shipped preset by name (``salesforce_export``); only `connectors/presets/` is read:
    a name with a path separator or ``..`` is refused (a mapping file of one's own is
    `read_mapping_file`). `origin` and `key` say where the name was given."""
    names = ", ".join(preset_names())
    if not preset or any(c in preset for c in "/\\:") or ".." in preset:
        raise MappingError(
            origin,
            key,
            f"expected the name of a preset ({names}); found {_shown(preset)}: a preset is "
            "a name, not a path. For a mapping file of your own use --mapping PATH, or "
            'mapping = "PATH" under [sources.files] in scorecard.toml',
        )
    path = PRESETS_DIR / f"{preset.removesuffix('.toml')}.toml"
    if not path.is_file():
        raise MappingError(
            origin,
            key,
            f"unknown preset {preset!r}{closest(preset, preset_names())}; presets: {names} "
            "(for a mapping file of your own use --mapping PATH)",
        )
    return _read_toml(path, _preset_label(preset))


def _preset_label(preset: str) -> str:
    """How errors name a preset: "preset salesforce_export (…/presets/salesforce_export.toml)"."""
    name = preset.removesuffix(".toml")
    return f"preset {name} ({PRESETS_DIR / name}.toml)"


def read_mapping_file(path: Path, *, given_by: str) -> dict[str, Any]:
    """A mapping file the user named (`given_by`: "--mapping", "sources.files.mapping in
    scorecard.toml"); it may be anywhere."""
    label = f"mapping file {path}"
    if path.is_dir():
        raise MappingError(
            label, "", f"is a folder, not a .toml mapping file (named by {given_by})"
        )
    if not path.is_file():
        raise MappingError(label, "", f"does not exist (named by {given_by})")
    return _read_toml(path, label)


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    """A TOML file's content, or one error saying why it is not a mapping."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(label, "", f"cannot be read ({exc.strerror or exc})") from exc
    save = "A mapping is TOML, which is UTF-8 text: save it as UTF-8."
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or utf16_without_bom(data):
        raise MappingError(label, "", f"is UTF-16 text. {save}")
    if b"\x00" in data:
        raise MappingError(
            label, "", f"is not text (it holds NUL bytes): is it the right file? {save}"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise MappingError(
            label, "", f"is not UTF-8 text (line {line}, byte 0x{byte}): is it the right file? "
            f"{save}"
        ) from exc  # fmt: skip
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(label, "", f"is not valid TOML: {exc}") from exc


def build_mapping(
    raw: Mapping[str, Any], *, base_dir: Path, path: str | Path | None = None,
    preset: str | None = None, mapping: str | Path | None = None,
    origin: str = "scorecard.toml", prefix: str = "sources.files",
) -> FilesMapping:  # fmt: skip
    """The mapping from ``[sources.files]`` (`raw`, read from `origin` under `prefix`), its
    preset or mapping file, and command-line overrides: `preset` (a shipped preset's name),
    `mapping` (a mapping file anywhere, relative to the working directory).

    Raises:
        MappingError: a key unknown or of the wrong kind, naming the file and the key.
        FilesError: no table mapped.
    """
    check_mapping(raw, origin, prefix)
    if preset and mapping:
        raise MappingError("command line", "--preset/--mapping", "give one of them, not both")
    if not (preset or mapping) and raw.get("preset") and raw.get("mapping"):
        raise MappingError(origin, _key(prefix, "mapping"), "set preset or mapping, not both")
    if preset:
        base, name, file = read_preset(str(preset)), str(preset), None
    elif mapping:
        file = Path(mapping)
        base, name = read_mapping_file(file, given_by="--mapping"), None
    elif raw.get("preset"):
        name, file = raw["preset"], None
        base = read_preset(name, origin=origin, key=_key(prefix, "preset"))
    elif raw.get("mapping"):
        file = Path(raw["mapping"]) if Path(raw["mapping"]).is_absolute() else (
            base_dir / raw["mapping"])  # fmt: skip
        given = f"{_key(prefix, 'mapping')} in {origin}"
        base, name = read_mapping_file(file, given_by=given), None
    else:
        base, name, file = {}, None, None
    if file is not None:
        check_mapping(base, f"mapping file {file}")
        if base.get("preset"):  # a mapping file laid over a preset
            under = read_preset(base["preset"], origin=f"mapping file {file}", key="preset")
            check_mapping(under, _preset_label(base["preset"]))
            base, name = merge(under, base), base["preset"]
    elif name is not None:
        check_mapping(base, _preset_label(name))
    merged = merge(base, {k: v for k, v in raw.items() if k not in {"preset", "path", "mapping"}})
    folder = Path(path or raw.get("path") or ".")
    folder = folder if folder.is_absolute() else base_dir / folder
    defaults = dict(merged.get("defaults", {}))
    tables = {n: parse_table(n, t) for n, t in dict(merged.get("tables", {})).items()}
    if not tables:
        raise FilesError(
            "mapping: no tables are mapped; set preset = one of "
            f"{', '.join(preset_names())}, mapping = a mapping file, or add "
            "[sources.files.tables.<table>] sections"
        )
    return FilesMapping(folder, tables, Defaults(**defaults), name, file,
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
