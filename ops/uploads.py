"""Exports uploaded in the app: unpacked safely, kept in the data folder, checked, loaded.

An ops user uploads CSV / Excel / Parquet export files (or one .zip of them) on Data &
refresh. `unpack` turns the upload into flat file names and contents, refusing anything
that could write outside the folder or is not an export (absolute paths, `..`, links, other
extensions, too many bytes). `keep` writes them to ``<data>/uploads/<UTC time>/`` atomically
(a folder under a temporary name, renamed when complete), so a refresh never reads a half-
written upload. `check` is ``python -m ops refresh --source files --check`` on that folder;
loading runs the ordinary background refresh with ``--path`` and ``--preset``
(`ops.background.start`), through the lock and the run log like "Refresh now".
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import polars as pl

from connectors.files import CSV_SUFFIXES, EXCEL_SUFFIXES, CheckResult, check
from connectors.mapping import preset_names
from model.schema import TABLE_ORDER
from ops.config import Settings

UPLOADS_DIR = "uploads"
SUFFIXES = frozenset(CSV_SUFFIXES | EXCEL_SUFFIXES | {".parquet"})
# Streamlit's own upload limit is 200 MB a file; a zip may expand far beyond what it weighs.
MAX_BYTES = 500 * 1024 * 1024
MAX_FILES = 200
KEEP_DAYS = 30  # uploads kept this long for a look at what was loaded; snapshots hold the data
_STAMP = re.compile(r"\d{8}T\d{6}Z")
_IGNORED = ("__MACOSX/",)  # macOS adds resource forks to every zip it makes


class UploadError(ValueError):
    """An upload refused, with a message naming the file (and zip entry) and why."""


@dataclass(frozen=True)
class ExportFile:
    """One export file of an upload: its flat name and its bytes."""

    name: str
    data: bytes


def _plain_name(name: str, where: str) -> str:
    """`name` when it is a plain export file name; else an `UploadError` saying why."""
    if not name or "\x00" in name or "/" in name or "\\" in name:
        raise UploadError(f"{where}: not a plain file name (no folders allowed)")
    if name.startswith(".") or name in {".", ".."}:
        raise UploadError(f"{where}: hidden files are not exports")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUFFIXES:
        known = ", ".join(sorted(SUFFIXES))
        raise UploadError(f"{where}: {suffix or 'no extension'} is not an export file ({known})")
    return name


def _zip_entries(name: str, data: bytes, budget: int) -> list[ExportFile]:
    """The export files of zip `name`, flattened to their base names; refuses the whole zip
    when one entry is unsafe (absolute, `..`, a link) or not an export, or it expands past
    `budget` bytes (judged by the bytes actually read, not the sizes the zip claims)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UploadError(f"{name}: not a readable zip file ({exc})") from None
    found: list[ExportFile] = []
    with archive:
        for info in archive.infolist():
            entry = info.filename
            where = f"{name}: entry {entry!r}"
            if entry.startswith(_IGNORED) or info.is_dir():
                continue
            path = PurePosixPath(entry.replace("\\", "/"))
            if path.is_absolute() or entry[1:3] == ":/" or entry[1:3] == ":\\":
                raise UploadError(f"{where} refused: an absolute path")
            if ".." in path.parts:
                raise UploadError(f"{where} refused: '..' leads outside the folder")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UploadError(f"{where} refused: a symbolic link")
            if PurePosixPath(path.name).name.startswith("."):
                continue  # .DS_Store and friends
            _plain_name(path.name, where + " refused")
            with archive.open(info) as member:
                content = member.read(budget + 1)
            if len(content) > budget:
                raise UploadError(f"{name}: expands past {MAX_BYTES // 2**20} MB; upload less")
            budget -= len(content)
            found.append(ExportFile(path.name, content))
            if len(found) > MAX_FILES:
                raise UploadError(f"{name}: more than {MAX_FILES} export files in one upload")
    if not found:
        raise UploadError(f"{name}: the zip holds no export files ({', '.join(sorted(SUFFIXES))})")
    return found


def unpack(uploads: Iterable[tuple[str, bytes]], max_bytes: int = MAX_BYTES) -> list[ExportFile]:
    """The export files of an upload: several export files, or one .zip of them.

    Raises:
        UploadError: an unsafe or unknown file or zip entry, a name given twice, too many
        bytes or files; nothing is kept then.
    """
    files: list[ExportFile] = []
    budget = max_bytes
    given = list(uploads)
    if not given:
        raise UploadError("no file uploaded")
    for name, data in given:
        if name.lower().endswith(".zip"):
            if len(given) > 1:
                raise UploadError(f"{name}: upload one zip alone, or export files without a zip")
            files = _zip_entries(name, data, budget)
            break
        _plain_name(name, name)
        if len(data) > budget:
            raise UploadError(f"{name}: the upload is larger than {max_bytes // 2**20} MB")
        budget -= len(data)
        files.append(ExportFile(name, data))
    seen: dict[str, str] = {}
    for file in files:
        key = file.name.lower()  # the files connector matches names regardless of case
        if key in seen:
            raise UploadError(f"{file.name}: given twice (also as {seen[key]})")
        seen[key] = file.name
    if len(files) > MAX_FILES:
        raise UploadError(f"{len(files)} files: at most {MAX_FILES} in one upload")
    return files


def uploads_root(settings: Settings) -> Path:
    return settings.data_dir / UPLOADS_DIR


def keep(settings: Settings, files: list[ExportFile], now: datetime | None = None) -> Path:
    """Write `files` to ``<data>/uploads/<UTC time>/`` atomically: into a hidden temporary
    folder first, renamed when every file is written, so a refresh never sees a part.
    Uploads older than `KEEP_DAYS` go (a snapshot holds what was loaded from them)."""
    now = now or datetime.now(UTC)
    root = uploads_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    prune(root, now)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    final = root / f"{stamp}-{os.urandom(3).hex()}"
    partial = root / f".partial-{final.name}"
    partial.mkdir()
    try:
        for file in files:
            (partial / file.name).write_bytes(file.data)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def prune(root: Path, now: datetime) -> list[str]:
    """Delete upload folders (and temporary ones a crash left) older than `KEEP_DAYS`, judged
    by the UTC time in their name; the names deleted."""
    oldest = (now - timedelta(days=KEEP_DAYS)).strftime("%Y%m%dT%H%M%SZ")
    gone = []
    for folder in sorted(root.iterdir()):
        stamp = folder.name.removeprefix(".partial-")[:16]
        if folder.is_dir() and _STAMP.fullmatch(stamp) and stamp < oldest:
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder.name)
    return gone


def presets() -> list[str]:
    """The mapping presets an upload can be read with (connectors/presets/)."""
    return preset_names()


def check_folder(settings: Settings, folder: Path, preset: str) -> CheckResult:
    """What loading `folder` with `preset` would store (``--check``); stores nothing.

    Raises:
        FilesError: the problem, naming the file, the column and sample rows.
    """
    return check(settings, path=folder, preset=preset)


def preview(result: CheckResult) -> pl.DataFrame:
    """One row per table a load would store: its rows, where it comes from, the columns
    mapped (canonical <- export column)."""
    frames, loaded = result.loaded.frames, result.loaded
    names = [t for t in TABLE_ORDER if t in frames]
    return pl.DataFrame(
        {
            "table": names,
            "rows": [frames[t].height for t in names],
            "from": [loaded.origin.get(t, "") for t in names],
            "columns mapped": [
                ", ".join(f"{c} ← {s}" for c, s in loaded.columns.get(t, {}).items())
                for t in names
            ],
        },
        schema={"table": pl.String, "rows": pl.Int64, "from": pl.String,
                "columns mapped": pl.String},
    )  # fmt: skip
