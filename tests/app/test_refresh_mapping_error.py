"""Data & refresh: a refresh from files whose mapping has a mistake says so in one message
(the mapping file, the key, what it expects and found), no traceback; nothing is stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pages._text import as_text
from snapshots.store import Store


@pytest.fixture
def bad_mapping(tiny_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """scorecard.toml whose default source is files, read through a mapping with
    ``encoding = 8``; returns that mapping file."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "deals.csv").write_text("Id,Stage\nD1,Won\n", encoding="utf-8")
    mapping = export / "bad.toml"
    mapping.write_text(
        '[tables.opportunities]\nfile = "deals.csv"\nencoding = 8\n\n'
        '[tables.opportunities.columns]\nopp_id = "Id"\nstage = "Stage"\n',
        encoding="utf-8",
    )
    config = tmp_path / "scorecard.toml"
    config.write_text(
        f'[sources]\ndefault = "files"\n\n[sources.files]\npath = "{export}"\n'
        f'mapping = "{mapping}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(tiny_store))
    return mapping


def test_a_mapping_mistake_is_one_message_on_the_page(bad_mapping: Path, tiny_store: Path, app):
    store = Store(tiny_store)
    before, count = store.current_id(), len(store.list())
    at = app().run()
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    assert at.selectbox(key="refresh_source").value == "files"
    at.button(key="refresh_now").click().run()
    deadline = time.monotonic() + 120
    while not at.error and time.monotonic() < deadline:
        assert not at.success, at.success[0].value
        time.sleep(0.5)
        at.run()
    assert not at.exception
    shown = as_text(at.error[0].value)
    assert shown.startswith(
        f"Refresh failed: mapping file {bad_mapping}: tables.opportunities.encoding: expected "
        'a text encoding such as "utf-8"'
    )
    assert "found the number 8" in shown
    assert "The previous snapshot is still current." in shown
    assert "Traceback" not in shown and "unexpected error" not in shown
    assert (store.current_id(), len(store.list())) == (before, count)
