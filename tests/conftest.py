"""Shared fixtures: a tiny valid org and an isolated data folder."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from model.schema import TABLES
from tests.pgserver import pg as pg  # one throwaway PostgreSQL server for the whole session


def ts(text: str) -> datetime:
    """A UTC datetime from ISO text, for readable fixtures."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """A frame of canonical `table` from row dicts; absent columns are null."""
    schema = TABLES[table].polars_schema
    return pl.DataFrame(rows, schema=schema)


@pytest.fixture
def tiny_org() -> dict[str, pl.DataFrame]:
    """Three users, two deals with history, one lead: small enough to check by hand."""
    return {
        "users": frame(
            "users",
            [
                {"user_id": "U1", "name": "Ana", "team": "EMEA", "function": "sales"},
                {"user_id": "U2", "name": "Bo", "team": "SDR", "function": "sdr"},
                {"user_id": "U3", "name": "Cy", "team": "Marketing", "function": "marketing"},
            ],
        ),
        "stages": frame(
            "stages",
            [
                {
                    "stage": "Qualification",
                    "position": 1,
                    "owner_function": "sdr",
                    "is_closed": False,
                    "is_won": False,
                },
                {
                    "stage": "Discovery",
                    "position": 2,
                    "owner_function": "sales",
                    "is_closed": False,
                    "is_won": False,
                },
                {
                    "stage": "Closed Won",
                    "position": 3,
                    "owner_function": "sales",
                    "is_closed": True,
                    "is_won": True,
                },
                {
                    "stage": "Closed Lost",
                    "position": 4,
                    "owner_function": "sales",
                    "is_closed": True,
                    "is_won": False,
                },
            ],
        ),
        "opportunities": frame(
            "opportunities",
            [
                {
                    "opp_id": "O1",
                    "name": "Acme",
                    "owner_id": "U1",
                    "stage": "Closed Won",
                    "amount": 1000.0,
                    "created_at": ts("2026-01-05T10:00:00"),
                    "close_date": date(2026, 2, 1),
                    "is_closed": True,
                    "is_won": True,
                    "sourced_by": "marketing",
                },
                {
                    "opp_id": "O2",
                    "name": "Beta",
                    "owner_id": "U1",
                    "stage": "Discovery",
                    "amount": 500.0,
                    "created_at": ts("2026-02-01T09:00:00"),
                    "close_date": date(2026, 4, 30),
                    "is_closed": False,
                    "is_won": False,
                    "sourced_by": "sales",
                },
            ],
        ),
        "stage_history": frame(
            "stage_history",
            [
                {
                    "opp_id": "O1",
                    "stage": "Qualification",
                    "entered_at": ts("2026-01-05T10:00:00"),
                    "amount": 800.0,
                },
                {
                    "opp_id": "O1",
                    "stage": "Closed Won",
                    "entered_at": ts("2026-02-01T12:00:00"),
                    "amount": 1000.0,
                },
                {
                    "opp_id": "O2",
                    "stage": "Discovery",
                    "entered_at": ts("2026-02-01T09:00:00"),
                    "amount": 500.0,
                },
            ],
        ),
        "leads": frame(
            "leads",
            [
                {
                    "lead_id": "L1",
                    "created_at": ts("2026-01-01T08:00:00"),
                    "owner_id": "U2",
                    "source": "Webinar",
                    "converted_at": ts("2026-01-05T10:00:00"),
                    "converted_opp_id": "O1",
                },
            ],
        ),
    }


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder, set as SCORECARD_DATA_DIR for the test."""
    folder = tmp_path / "data"
    monkeypatch.setenv("SCORECARD_DATA_DIR", str(folder))
    return folder
