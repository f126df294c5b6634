"""Mistakes in a mapping, or data no mapping can read, give one clear error: a specific class,
naming the mapping file and the key (what it expects, what it found), or the data file, column
and row. Never a traceback; the previous snapshot stays current. Presets load only by name."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connectors import mapping as mapping_keys
from connectors.files import FilesError, load, validate_loaded
from connectors.mapping import MappingError, build_mapping
from connectors.validate import validate_tables
from ops.cli import main
from ops.config import Settings
from ops.refresh import refresh
from ops.runlog import recent_runs
from snapshots.store import Store

ROOT = Path(__file__).resolve().parents[2]
# Two deals: D1 won, D2 open; every value plain, so only the mapping can go wrong.
DEALS = (
    "Id,Owner,Stage,Amount,Created,Close\n"
    "D1,U1,Won,100,2026-01-05,2026-02-01\n"
    "D2,U1,Open,50,2026-01-10,2026-03-01\n"
)
COLUMNS = """[tables.opportunities.columns]
opp_id = "Id"
owner_id = "Owner"
stage = "Stage"
amount = "Amount"
created_at = "Created"
close_date = "Close"
"""
STAGES = 'won = ["Won"]\n'


def toml(*, opp: str = "", columns: str = COLUMNS, stages: str = STAGES, top: str = "") -> str:
    """The mapping of deals.csv, with `opp` added to [tables.opportunities], `stages` to
    [tables.stages] and `top` before the tables."""
    return (
        f'{top}\n[tables.opportunities]\nfile = "deals.csv"\n{opp}\n{columns}\n'
        f"[tables.stages]\n{stages}"
    )


@pytest.fixture
def export(tmp_path: Path, tiny_org) -> tuple[Settings, Path]:
    """Settings whose data folder holds one snapshot (the tiny org) and whose files source
    reads `export/` through the mapping file `export/mapping.toml`; and that folder."""
    data = tmp_path / "data"
    Store(data).write(validate_tables(tiny_org).frames, source="demo", data_as_of=date(2026, 3, 1))
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "deals.csv").write_text(DEALS, encoding="utf-8")
    (folder / "mapping.toml").write_text(toml(), encoding="utf-8")
    files = {"path": str(folder), "mapping": str(folder / "mapping.toml")}
    return Settings(data_dir=data, sources={"files": files}), folder


def test_the_base_mapping_loads(export) -> None:
    settings, _ = export
    # without a mistake the same mapping stores both deals: D1 won, D2 open
    snapshot = refresh(settings, "files").snapshot
    opps = snapshot.read_all()["opportunities"].sort("opp_id")
    assert opps.select("opp_id", "is_won", "is_closed").rows() == [
        ("D1", True, True),
        ("D2", False, False),
    ]


@dataclass(frozen=True)
class Case:
    """One mistake: what it writes (mapping text or bytes, or a change to the folder) and the
    fragments the one error must hold."""

    write: Callable[[Path], None]
    error: type[FilesError]
    fragments: tuple[str, ...]


def _mapping(content: str | bytes) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / "mapping.toml").write_bytes(data)

    return write


def _mapping_is_a_folder(folder: Path) -> None:
    (folder / "mapping.toml").unlink()
    (folder / "mapping.toml").mkdir()


def _glob_matches_a_folder(folder: Path) -> None:
    (folder / "archive" / "2025.csv").mkdir(parents=True)  # a folder named like a file
    _mapping(toml().replace('file = "deals.csv"', 'file = "archive/*.csv"'))(folder)


def _parquet_with_a_list_column(folder: Path) -> None:
    deals = pl.read_csv(folder / "deals.csv", infer_schema=False)
    deals.with_columns(Owner=pl.Series([["U1", "U2"], None])).write_parquet(
        folder / "deals.parquet"
    )
    _mapping(toml().replace('file = "deals.csv"', 'file = "deals.parquet"'))(folder)


KEY = "mapping.toml: tables."
CASES = {
    "columns is text, not a table": Case(
        _mapping(toml(opp='columns = "Id"', columns="")),
        MappingError,
        (KEY + "opportunities.columns: expected a table of canonical column = source column",
         'found the text "Id"'),
    ),
    "values is a list, not a table": Case(
        _mapping(toml(columns=COLUMNS.replace(
            'stage = "Stage"', 'stage = { column = "Stage", values = [1, 2] }'))),
        MappingError,
        (KEY + "opportunities.columns.stage.values: expected a table of source value",
         "found a list [1, 2]"),
    ),
    "encoding is a number": Case(
        _mapping(toml(opp="encoding = 8")),
        MappingError,
        (KEY + 'opportunities.encoding: expected a text encoding such as "utf-8"',
         "found the number 8"),
    ),
    "delimiter of two characters": Case(
        _mapping(toml(opp='delimiter = ";;"')),
        MappingError,
        (KEY + 'opportunities.delimiter: expected "auto" or one character',
         'found the text ";;"'),
    ),
    "empty delimiter": Case(
        _mapping(toml(opp='delimiter = ""')),
        MappingError,
        (KEY + "opportunities.delimiter: expected", 'found the empty text ""'),
    ),
    "unknown time zone": Case(
        _mapping(toml(top='[defaults]\ntimezone = "Mars/Olympus"')),
        MappingError,
        ("mapping.toml: defaults.timezone: expected a time zone name",
         'found the text "Mars/Olympus"'),
    ),
    "order is a number": Case(
        _mapping(toml(stages=STAGES + "order = 5\n")),
        MappingError,
        (KEY + "stages.order: expected a list of stage names", "found the number 5"),
    ),
    "default_owner is no function": Case(
        _mapping(toml(stages=STAGES + 'default_owner = "wizard"\n')),
        MappingError,
        (KEY + 'stages.default_owner: expected one of "sales", "sdr", "marketing", '
         '"customer_success", "other"', 'found the text "wizard"'),
    ),
    "binary mapping file": Case(
        _mapping(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"),
        MappingError,
        ("mapping.toml is not text (it holds NUL bytes)", "save it as UTF-8"),
    ),
    "UTF-16 mapping file (with a BOM)": Case(
        _mapping(toml().encode("utf-16")),
        MappingError,
        ("mapping.toml is UTF-16 text", "save it as UTF-8"),
    ),
    "UTF-16 mapping file without a BOM": Case(
        _mapping(toml().encode("utf-16-le")),
        MappingError,
        ("mapping.toml is UTF-16 text", "save it as UTF-8"),
    ),
    "mapping path is a folder": Case(
        _mapping_is_a_folder,
        MappingError,
        ("mapping.toml is a folder, not a .toml mapping file",
         "named by sources.files.mapping in scorecard.toml"),
    ),
    "glob matching a folder": Case(
        _glob_matches_a_folder,
        FilesError,
        ("opportunities: file 'archive/*.csv'", "names only folders (archive/2025.csv)"),
    ),
    "a table mapping no column": Case(
        _mapping(toml(columns="")),
        FilesError,
        ("opportunities: the mapping reads deals.csv but maps none of its columns",
         "add [tables.opportunities.columns]"),
    ),
    "Parquet list column": Case(
        _parquet_with_a_list_column,
        FilesError,
        ("opportunities.owner_id (column Owner): 1 value(s) are not single values",
         "holds List(String) values", "deals.parquet row 1: ['U1', 'U2']"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_mistake_gives_one_clear_error(export, case: Case) -> None:
    settings, folder = export
    store = Store(settings.data_dir)
    before, count = store.current_id(), len(store.list())
    case.write(folder)
    with pytest.raises(FilesError) as info:
        refresh(settings, "files")
    assert isinstance(info.value, case.error)
    message = str(info.value)
    for fragment in case.fragments:
        assert fragment in message, message
    if case.error is MappingError:  # the file is named with its folder
        assert str(folder / "mapping.toml") in message
    assert (store.current_id(), len(store.list())) == (before, count)


def test_a_mistake_under_sources_files_names_scorecard_toml(export, tmp_path: Path) -> None:
    settings, _ = export
    config = tmp_path / "scorecard.toml"
    files = {**settings.sources["files"], "tables": {"stages": {"order": "Won"}}}
    named = Settings(data_dir=settings.data_dir, config_path=config, sources={"files": files})
    with pytest.raises(MappingError) as info:
        refresh(named, "files")
    # a text where a list goes: "Won" would otherwise be read letter by letter
    assert str(info.value) == (
        f"{config}: sources.files.tables.stages.order: expected a list of stage names, e.g. "
        '["Closed Won", "Closed Lost"]; found the text "Won"'
    )
    assert (info.value.origin, info.value.key) == (
        str(config), "sources.files.tables.stages.order"
    )  # fmt: skip


def test_owner_function_names_the_stage(tmp_path: Path) -> None:
    raw = {"tables": {"stages": {"owner_function": {"Closed Won": "Sales"}}}}
    with pytest.raises(MappingError) as info:
        build_mapping(raw, base_dir=tmp_path)
    # the stage name is quoted in the key, as TOML writes it; the near function suggested
    assert str(info.value).startswith(
        'scorecard.toml: sources.files.tables.stages.owner_function."Closed Won": expected one of'
    )
    assert "found the text \"Sales\" (did you mean 'sales'?)" in str(info.value)


def _utf16_export(folder: Path, encoding: str) -> None:
    (folder / "deals.csv").write_bytes(DEALS.encode(encoding))


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_read(export, encoding: str) -> None:
    settings, folder = export
    _utf16_export(folder, encoding)  # no BOM: Python's utf-16-le/-be codecs write none
    assert not (folder / "deals.csv").read_bytes().startswith((b"\xff\xfe", b"\xfe\xff"))
    mapping = build_mapping(settings.sources["files"], base_dir=folder)
    opps = load(mapping).frames["opportunities"].sort("opp_id")
    # the same two deals as the UTF-8 file: D1 100, D2 50
    assert opps.select("opp_id", "owner_id", "amount").rows() == [
        ("D1", "U1", 100.0),
        ("D2", "U1", 50.0),
    ]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_that_does_not_decode_names_the_encoding(export, encoding: str) -> None:
    settings, folder = export
    # a lone high surrogate (D800) after the header: not UTF-16 text, though it looks like it
    bad = DEALS.encode(encoding) + ("\ud800".encode(encoding, "surrogatepass"))
    (folder / "deals.csv").write_bytes(bad)
    with pytest.raises(FilesError) as info:
        load(build_mapping(settings.sources["files"], base_dir=folder))
    assert f"deals.csv: looks like {encoding.upper()} text without a byte-order mark" in str(
        info.value
    )
    assert f'encoding = "{encoding}"' in str(info.value)


# -- presets by name only; a mapping file anywhere ----------------------------------------
@pytest.mark.parametrize("name", ["../../x", "../presets/salesforce_export", "/etc/passwd", "a\\b"])
def test_a_preset_is_a_name_not_a_path(tmp_path: Path, name: str) -> None:
    with pytest.raises(MappingError) as info:
        build_mapping({}, base_dir=tmp_path, preset=name)
    message = str(info.value)
    assert message.startswith("command line: --preset: expected the name of a preset")
    assert "a preset is a name, not a path" in message and "--mapping PATH" in message
    # the same in scorecard.toml
    with pytest.raises(MappingError, match=r"^scorecard.toml: sources.files.preset: expected"):
        build_mapping({"preset": name}, base_dir=tmp_path)


def test_a_mapping_file_may_be_anywhere(export, tmp_path: Path) -> None:
    _, folder = export
    elsewhere = tmp_path / "elsewhere" / "ours.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(toml(), encoding="utf-8")
    mapping = build_mapping({}, base_dir=folder, path=folder, mapping=elsewhere)
    assert (mapping.file, mapping.preset) == (elsewhere, None)
    assert set(load(mapping).frames["opportunities"]["opp_id"]) == {"D1", "D2"}


def test_a_mapping_file_may_lay_itself_over_a_preset(tmp_path: Path) -> None:
    ours = tmp_path / "ours.toml"
    ours.write_text(
        'preset = "salesforce_export"\n[tables.opportunities]\nfile = "deals.csv"\n',
        encoding="utf-8",
    )
    mapping = build_mapping({}, base_dir=tmp_path, mapping=ours)
    assert (mapping.preset, mapping.file) == ("salesforce_export", ours)
    assert mapping.tables["opportunities"].files == ("deals.csv",)  # ours over the preset's
    assert "users" in mapping.tables  # the rest from the preset
    # a preset named there is a name too
    ours.write_text('preset = "../presets/salesforce_export"\n', encoding="utf-8")
    with pytest.raises(MappingError, match=rf"^mapping file {ours}: preset: expected the name"):
        build_mapping({}, base_dir=tmp_path, mapping=ours)


def test_cli_preset_with_a_path_is_refused(export, tmp_path: Path, monkeypatch, capsys) -> None:
    settings, folder = export
    config = tmp_path / "scorecard.toml"
    config.write_text(f'[store]\ndata_dir = "{settings.data_dir}"\n', encoding="utf-8")
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    args = ["refresh", "--source", "files", "--path", str(folder), "--check"]
    assert main([*args, "--preset", "../../x"]) == 1
    assert "--preset: expected the name of a preset" in capsys.readouterr().err
    assert main([*args, "--mapping", str(folder / "mapping.toml")]) == 0
    assert f"Mapping OK (mapping file {folder / 'mapping.toml'}" in capsys.readouterr().out


def test_cli_reports_a_mapping_mistake_without_a_traceback(export, tmp_path: Path) -> None:
    settings, folder = export
    store = Store(settings.data_dir)
    before, count = store.current_id(), len(store.list())
    config = tmp_path / "scorecard.toml"
    config.write_text(
        f'[store]\ndata_dir = "{settings.data_dir}"\n\n[sources.files]\npath = "{folder}"\n',
        encoding="utf-8",
    )
    bad = folder / "bad.toml"
    bad.write_text(toml(opp="encoding = 8"), encoding="utf-8")
    env = {**os.environ, "SCORECARD_CONFIG": str(config)}
    env.pop("SCORECARD_DATA_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "ops", "refresh", "--source", "files", "--mapping",
         str(bad)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    expected = f"mapping file {bad}: tables.opportunities.encoding: expected a text encoding"
    assert f"refresh failed: {expected}" in done.stderr
    assert "found the number 8" in done.stderr
    assert (store.current_id(), len(store.list())) == (before, count)
    # the run log (what the Data & refresh page shows) holds the same one message
    run = recent_runs(settings.data_dir).row(0, named=True)
    assert run["outcome"] == "failed" and run["error"].startswith(expected)
    assert "unexpected error" not in run["error"]


# -- any value under any key: a mapping or one FilesError, never another exception --------
TOML_SCALARS = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="/\\"), max_size=6),
    st.sampled_from(["", "auto", "Id", "Stage", "Won", "sales", ",", "utf-8", "UTC", "%Y"]),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["Id", "Won", "x"]), inner)
    ),
    max_leaves=5,
)
PLACES = [
    *(("defaults", key) for key in sorted(mapping_keys.DEFAULT_KEYS)),
    *(("opportunities", key) for key in sorted(mapping_keys.TABLE_KEYS)),
    *(("stages", key) for key in sorted(mapping_keys.TABLE_KEYS)),
    *(("column", key) for key in sorted(mapping_keys.COLUMN_KEYS)),
]


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "deals.csv").write_text(DEALS, encoding="utf-8")
    return folder


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(PLACES), value=TOML_VALUES)
def test_any_value_under_any_key_gives_a_mapping_or_one_files_error(
    fuzz_folder: Path, place: tuple[str, str], value: object
) -> None:
    raw = tomllib.loads(toml())
    where, key = place
    if where == "defaults":
        raw.setdefault("defaults", {})[key] = value
    elif where == "column":  # on the created_at column (a date: formats, values, lookups...)
        raw["tables"]["opportunities"]["columns"]["created_at"] = {"column": "Created", key: value}
    else:
        raw["tables"][where][key] = value
    try:
        loaded = load(build_mapping(raw, base_dir=fuzz_folder, path=fuzz_folder))
        validate_loaded(loaded)
    except MappingError as exc:  # a mapping mistake names the key it is about
        assert key in str(exc) or where in str(exc)
    except FilesError:
        pass
