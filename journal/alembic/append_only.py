"""Database triggers that refuse UPDATE and DELETE on a journal table, on SQLite and PostgreSQL:
even a bug or a hand-typed SQL statement cannot rewrite what the review decided."""

from __future__ import annotations

from alembic import op

MESSAGE = "the journal is append-only: record a new entry instead"


def refuse_changes(table: str) -> None:
    """Add the triggers to `table` (in the dialect of the migration's connection)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION journal_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION journal_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
