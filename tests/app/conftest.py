"""App test fixtures: a store holding one snapshot of the tiny org, and AppTest runners."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from connectors.demo import generate_demo_org
from connectors.validate import validate_tables
from snapshots.store import Store

ROOT = Path(__file__).resolve().parents[2]
DEMO_AS_OF = date(2026, 11, 16)


@pytest.fixture
def fresh_caches():
    """Empty Streamlit's caches (they are keyed by data folder and snapshot id, so tests do
    not see each other's results; clear only to measure what a cold start computes)."""
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def empty_store(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCORECARD_AUTO_DEMO", "0")
    return data_dir


@pytest.fixture
def tiny_store(data_dir: Path, tiny_org) -> Path:
    Store(data_dir).write(
        validate_tables(tiny_org).frames, source="test", data_as_of=date(2026, 3, 1)
    )
    return data_dir


@pytest.fixture(scope="session")
def demo_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo-org snapshot (as of 2026-11-16) shared by the app tests; do not write to it."""
    folder = tmp_path_factory.mktemp("demo") / "data"
    frames = validate_tables(generate_demo_org(as_of=DEMO_AS_OF)).frames
    Store(folder).write(frames, source="demo", data_as_of=DEMO_AS_OF)
    return folder


@pytest.fixture
def demo_store(demo_store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app at the shared demo snapshot."""
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(demo_store_dir))
    return demo_store_dir


@pytest.fixture
def app() -> Callable[..., AppTest]:
    def make(**query: str) -> AppTest:
        """The whole app (sidebar filters + navigation); query params seed the URL."""
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        for key, value in query.items():
            at.query_params[key] = value
        return at

    return make


@pytest.fixture
def two_snapshots(demo_store_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    """The demo store with a second, later snapshot (2026-11-23, another seed): what a
    change since the previous snapshot is computed against."""
    folder = tmp_path / "data"
    shutil.copytree(demo_store_dir, folder)
    later = date(2026, 11, 23)
    frames = validate_tables(generate_demo_org(as_of=later, seed=8)).frames
    Store(folder).write(frames, source="demo", data_as_of=later)
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(folder))
    return folder
