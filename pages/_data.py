"""Cached access to the snapshot store for the pages.

Caches are keyed by scalars (data folder, snapshot id, filter values), never by frames:
Streamlit 1.67 hashes a polars frame by its first and last rows only, so a frame argument
could return a stale result. A snapshot id names immutable files, so a cache keyed by it
is exact; a new refresh produces a new id and so a fresh computation.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import streamlit as st

from connectors.config import Settings, load_settings
from connectors.store import Snapshot, Store
from scoring.tables import Tables


def settings() -> Settings:
    """Configuration (a small TOML read; not cached so a changed environment is seen)."""
    return load_settings()


def store() -> Store:
    return Store(settings().data_dir)


def current_snapshot() -> Snapshot | None:
    """The current snapshot (a small file read on every rerun, so a refresh shows at once)."""
    s = store()
    return s.current() if s.current_id() else None


@st.cache_resource(max_entries=2, show_spinner="Loading the snapshot…")
def load_tables(data_dir: str, snapshot_id: str) -> Tables:
    """Every table of one snapshot, read once per server process and shared by all sessions.

    The frames are read-only by convention; scoring never mutates its inputs.
    """
    snap = Store(Path(data_dir)).get(snapshot_id)
    frames = {name: pl.read_parquet(snap.path / f"{name}.parquet") for name in snap.tables}
    return Tables.from_frames(frames)


def auto_demo_enabled() -> bool:
    """Whether to build the demo org on first start (SCORECARD_AUTO_DEMO=0 turns it off)."""
    return os.environ.get("SCORECARD_AUTO_DEMO", "1") not in ("0", "false", "no")


@st.cache_data(max_entries=8, show_spinner=False)
def sales_teams(data_dir: str, snapshot_id: str) -> list[str]:
    """Teams that own opportunities in the snapshot, for the team filter."""
    from scoring.tables import opportunities_with_team

    tables = load_tables(data_dir, snapshot_id)
    teams = opportunities_with_team(tables).select("team").unique().sort("team").collect()
    return teams["team"].to_list()
