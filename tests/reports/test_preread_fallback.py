"""The pre-read reads the store as the app and the CLI do (`Store.readable`): a damaged current
snapshot is not read; the newest valid one is, and the document says so."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

from pypdf import PdfReader

from connectors.validate import validate_tables
from ops.config import Settings
from reports import build as preread_build
from reports.render import plain
from snapshots.store import Store


def _truncate(path: Path) -> None:
    """Half a Parquet file, as a disk filling up mid-write leaves it: no footer."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_damaged_current_snapshot_gives_the_previous_valid_one_and_says_so(
    tmp_path: Path, tiny_org
) -> None:
    data = tmp_path / "data"
    frames = validate_tables(tiny_org).frames
    store = Store(data)
    first = store.write(frames, source="demo", data_as_of=date(2026, 3, 1),
                        now=datetime(2026, 3, 1, 6, tzinfo=UTC))  # fmt: skip
    second = store.write(frames, source="demo", data_as_of=date(2026, 3, 2),
                         now=datetime(2026, 3, 2, 6, tzinfo=UTC))  # fmt: skip
    assert store.current_id() == second.id
    _truncate(second.path / "opportunities.parquet")

    pre = preread_build.build(Settings(data_dir=data))

    # the numbers are the first snapshot's: its id and data date, nothing older to compare with
    assert pre.snapshot_id == first.id
    assert pre.card is not None and pre.card.as_of.isoformat() == "2026-03-01"
    label, notice = pre.freshness[0]
    assert label == "Not the current snapshot"
    assert notice.startswith(f"snapshot {second.id} is damaged (opportunities.parquet")
    assert f"showing {first.id} from 2026-03-01 06:00 UTC" in notice
    # and the document says so, in both formats
    html = plain(preread_build.render(pre, "html").decode("utf-8"))
    assert f"snapshot {second.id} is damaged" in html
    pdf = preread_build.render(pre, "pdf")
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(BytesIO(pdf)).pages)
    assert f"snapshot {second.id} is damaged" in plain(text)


def test_a_valid_current_snapshot_has_no_notice(tmp_path: Path, tiny_org) -> None:
    data = tmp_path / "data"
    snap = Store(data).write(validate_tables(tiny_org).frames, source="demo",
                             data_as_of=date(2026, 3, 1))  # fmt: skip
    pre = preread_build.build(Settings(data_dir=data))
    assert pre.snapshot_id == snap.id
    assert all(label != "Not the current snapshot" for label, _ in pre.freshness)
