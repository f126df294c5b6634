"""Uploaded exports: unpacked safely, kept atomically, checked with a preset (ops/uploads.py)."""

from __future__ import annotations

import io
import stat
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.files import FilesError
from ops.config import Settings
from ops.uploads import (
    MAX_FILES,
    SUFFIXES,
    ExportFile,
    UploadError,
    check_folder,
    keep,
    preview,
    unpack,
)

# Three deals of a Salesforce Data Export (API field names): one won, one open, one lost.
OPPORTUNITY_CSV = b"""Id,Name,OwnerId,StageName,Amount,CreatedDate,CloseDate,IsClosed,IsWon
006A,Acme renewal,005A,Closed Won,22700.00,2026-02-23T20:55:00.000Z,2026-04-15,true,true
006B,Globex new,005B,Prospecting,1000.00,2026-02-24T09:00:00.000Z,2026-06-30,false,false
006C,Initech,005A,Closed Lost,500.00,2026-01-05T10:00:00.000Z,2026-02-01,true,false
"""


def zipped(*entries: tuple[str, bytes], link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_plain_files_and_a_zip_unpack_to_flat_names():
    files = unpack([("Opportunity.csv", OPPORTUNITY_CSV), ("User.xlsx", b"x")])
    assert [f.name for f in files] == ["Opportunity.csv", "User.xlsx"]
    # a zip's folders are flattened; macOS metadata and hidden files are skipped
    archive = zipped(
        ("export/Opportunity.csv", OPPORTUNITY_CSV),
        ("__MACOSX/export/._Opportunity.csv", b"junk"),
        ("export/.DS_Store", b"junk"),
    )
    assert unpack([("export.zip", archive)]) == [ExportFile("Opportunity.csv", OPPORTUNITY_CSV)]


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../../etc/cron.d/x.csv", "'..' leads outside the folder"),
        ("export/../../x.csv", "'..' leads outside the folder"),
        ("/etc/x.csv", "an absolute path"),
        ("C:/Windows/x.csv", "an absolute path"),
        ("export/run.sh", ".sh is not an export file"),
    ],
)
def test_a_bad_zip_entry_refuses_the_whole_zip(entry: str, why: str):
    archive = zipped(("Opportunity.csv", OPPORTUNITY_CSV), (entry, b"a,b\n1,2\n"))
    with pytest.raises(UploadError) as err:
        unpack([("export.zip", archive)])
    assert str(err.value) == f"export.zip: entry {entry!r} refused: {why}" + (
        " (.csv, .ods, .parquet, .tsv, .txt, .xls, .xlsm, .xlsx)" if ".sh" in why else ""
    )


def test_a_symbolic_link_in_a_zip_is_refused():
    archive = zipped(("Opportunity.csv", OPPORTUNITY_CSV), link="User.csv")
    with pytest.raises(UploadError, match=r"entry .User\.csv. refused: a symbolic link"):
        unpack([("export.zip", archive)])


def test_sizes_names_and_mixtures_are_refused():
    # the budget counts bytes read: 3 files of 40 bytes fit 120, not 119
    entries = [(f"T{i}.csv", b"x" * 40) for i in range(3)]
    assert len(unpack(entries, max_bytes=120)) == 3
    with pytest.raises(UploadError, match=r"T2\.csv: the upload is larger than"):
        unpack(entries, max_bytes=119)
    # a zip that expands past the budget (compression makes 10 kB of zeros tiny)
    bomb = zipped(("Opportunity.csv", b"0" * 10_000))
    assert len(bomb) < 1_000
    with pytest.raises(UploadError, match=r"export\.zip: expands past"):
        unpack([("export.zip", bomb)], max_bytes=5_000)
    with pytest.raises(UploadError, match="upload one zip alone"):
        unpack([("export.zip", bomb), ("Lead.csv", b"")])
    with pytest.raises(UploadError, match=r"opportunity.csv: given twice \(also as Opportunity"):
        unpack([("Opportunity.csv", b""), ("opportunity.csv", b"")])
    with pytest.raises(UploadError, match="not a plain file name"):
        unpack([("../Opportunity.csv", b"")])
    with pytest.raises(UploadError, match="not a readable zip file"):
        unpack([("export.zip", b"PK not really")])
    many = zipped(*((f"T{i}.csv", b"") for i in range(MAX_FILES + 1)))
    with pytest.raises(UploadError, match=f"more than {MAX_FILES} export files"):
        unpack([("export.zip", many)])
    with pytest.raises(UploadError, match="holds no export files"):
        unpack([("export.zip", zipped(("__MACOSX/x", b"")))])


def test_keep_writes_a_complete_folder_under_uploads(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    at = datetime(2026, 11, 24, 18, 5, 9, tzinfo=UTC)
    folder = keep(settings, [ExportFile("Opportunity.csv", OPPORTUNITY_CSV)], now=at)
    assert folder.parent == tmp_path / "data" / "uploads"
    assert folder.name.startswith("20261124T180509Z-")
    assert (folder / "Opportunity.csv").read_bytes() == OPPORTUNITY_CSV
    # no temporary folder is left behind
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    # 31 days on (KEEP_DAYS = 30), the next upload deletes it and a crashed partial one;
    # a folder of another name is not ours to delete
    (folder.parent / ".partial-20261124T180510Z-abcdef").mkdir()
    (folder.parent / "mine").mkdir()
    later = keep(settings, [ExportFile("Lead.csv", b"")], now=at + timedelta(days=31))
    assert sorted(p.name for p in folder.parent.iterdir()) == [later.name, "mine"]
    # 29 days on, it stays
    again = keep(settings, [ExportFile("Lead.csv", b"")], now=at + timedelta(days=31 + 29))
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted(
        [later.name, again.name, "mine"]
    )


def test_check_previews_the_tables_a_load_would_store(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    folder = keep(settings, unpack([("Opportunity.csv", OPPORTUNITY_CSV)]))
    table = preview(check_folder(settings, folder, "salesforce_export"))
    rows = dict(zip(table["table"], table["rows"], strict=True))
    # 3 deals; 2 owners (005A, 005B); 3 stage values seen; history derived: each deal open
    # from creation, and the 2 closed ones closed from their close date: 3 + 2 = 5
    assert rows == {"users": 2, "stages": 3, "opportunities": 3, "stage_history": 5}
    opps = table.filter(table["table"] == "opportunities").row(0, named=True)
    assert opps["from"] == "Opportunity.csv"
    assert "opp_id ← Id" in opps["columns mapped"] and "amount ← Amount" in opps["columns mapped"]
    # nothing was stored
    assert not (tmp_path / "data" / "snapshots").exists()


def test_check_names_the_file_column_and_line_of_a_problem(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    bad = OPPORTUNITY_CSV.replace(b"1000.00", b"lots")  # line 3 of the file
    folder = keep(settings, unpack([("Opportunity.csv", bad)]))
    with pytest.raises(FilesError) as err:
        check_folder(settings, folder, "salesforce_export")
    message = str(err.value)
    assert "Opportunity.csv" in message and "Amount" in message and "line 3" in message


# Entry names built from the parts that make paths dangerous, and plain ones.
_PART = st.sampled_from(["..", ".", "", "export", "C:", "a b", "Opportunity.csv", "x.parquet",
                         "run.sh", ".hidden.csv", "\\..\\x.csv", "**b**.csv"])  # fmt: skip


_ENTRY = st.lists(_PART, min_size=1, max_size=4).map("/".join).filter(bool)  # zip needs a name


@given(st.lists(_ENTRY, min_size=1, max_size=4, unique=True))
def test_an_unpacked_zip_only_ever_yields_plain_export_names(entries: list[str]):
    archive = zipped(*((e, b"a\n1\n") for e in entries))
    try:
        files = unpack([("export.zip", archive)])
    except UploadError:
        return  # refused as a whole: nothing written
    for file in files:
        assert "/" not in file.name and "\\" not in file.name and file.name not in {".", ".."}
        assert not file.name.startswith(".") and Path(file.name).suffix.lower() in SUFFIXES
