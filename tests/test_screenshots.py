"""Tests never write into the repository: a browser test's screenshot stays under artifacts/
unless the docs' images are refreshed on purpose (`python -m tests.screenshots`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import screenshots
from tests.e2e import conftest as e2e


@pytest.fixture
def shot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(e2e, "DOCS_IMAGES", tmp_path / "docs" / "images")
    path = tmp_path / "artifacts" / "scorecard.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89PNG test")
    return path


def test_a_test_run_leaves_docs_images_alone(shot, monkeypatch):
    monkeypatch.delenv(e2e.DOCS_IMAGES_ENV, raising=False)
    assert e2e.copy_to_docs(shot, "scorecard.png") is None
    assert not e2e.DOCS_IMAGES.exists()


def test_the_screenshots_script_refreshes_them(shot, monkeypatch):
    monkeypatch.setenv(e2e.DOCS_IMAGES_ENV, "1")
    copy = e2e.copy_to_docs(shot, "scorecard.png")
    assert copy == e2e.DOCS_IMAGES / "scorecard.png"
    assert copy.read_bytes() == b"\x89PNG test"


def test_the_script_covers_every_image_the_readme_and_docs_show():
    shown = set()
    for doc in (e2e.ROOT / "README.md", *(e2e.ROOT / "docs").glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        shown |= set(re.findall(r"docs/images/([\w.-]+\.png)", text))
    assert shown - {"preread.png"} <= set(screenshots.TESTS.values())
    for test in screenshots.TESTS:
        assert (e2e.ROOT / test.split("::")[0]).is_file()
