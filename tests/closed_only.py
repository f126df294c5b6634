"""An export of closed deals only (no leads, forecasts, quotas; a stage history the files
connector derived, one row per deal), stored as a snapshot: the shape of issue #14's
"scores 100 from nothing" report, for the page and browser tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from connectors.validate import validate_tables
from model.schema import TABLES
from snapshots.store import Store

AS_OF = date(2026, 11, 16)
ORIGIN = {"stage_history": "derived: one row per opportunity (no history file)"}


def _frame(table: str, rows: list[dict]) -> pl.DataFrame:
    schema = TABLES[table].polars_schema
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def frames() -> dict[str, pl.DataFrame]:
    """Six deals closed in 2026-Q3 and Q4: four won, two lost."""
    users = [{"user_id": "ae1", "name": "Ann", "team": "EMEA", "function": "sales"}]
    stages = [
        {"stage": "Discovery", "position": 1, "owner_function": "sales", "is_closed": False,
         "is_won": False},
        {"stage": "Closed Won", "position": 2, "owner_function": "sales", "is_closed": True,
         "is_won": True},
        {"stage": "Closed Lost", "position": 3, "owner_function": "sales", "is_closed": True,
         "is_won": False},
    ]  # fmt: skip
    closes = [date(2026, 7, 20), date(2026, 8, 10), date(2026, 9, 1), date(2026, 9, 20),
              date(2026, 10, 5), date(2026, 11, 2)]  # fmt: skip
    opps = [
        {"opp_id": f"O{i}", "owner_id": "ae1", "amount": 1000.0 * i,
         "stage": "Closed Lost" if i in (3, 6) else "Closed Won",
         "created_at": datetime(2026, 6, 1, 9, tzinfo=UTC), "close_date": close,
         "is_closed": True, "is_won": i not in (3, 6)}
        for i, close in enumerate(closes, 1)
    ]  # fmt: skip
    history = [
        {"opp_id": o["opp_id"], "stage": o["stage"], "entered_at": o["created_at"],
         "amount": o["amount"], "close_date": o["close_date"]}
        for o in opps
    ]  # fmt: skip
    return {
        "users": _frame("users", users),
        "stages": _frame("stages", stages),
        "opportunities": _frame("opportunities", opps),
        "stage_history": _frame("stage_history", history),
    }


def write_store(folder: Path) -> Path:
    """The closed-deals export as the current snapshot of a store in `folder`."""
    Store(folder).write(
        validate_tables(frames()).frames,
        source="files",
        data_as_of=AS_OF,
        extra={"detail": {"origin": ORIGIN}},
    )
    return folder
