"""App test fixtures: a store holding one snapshot of the tiny org, and AppTest runners."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from connectors.store import Store
from connectors.validate import validate_tables

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


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


@pytest.fixture
def app() -> Callable[..., AppTest]:
    def make(**query: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        for key, value in query.items():
            at.query_params[key] = value
        return at

    return make
