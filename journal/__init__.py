"""The journal: what the review decided and what the function leaders answered.

A database of its own (SQLite in the data folder, or PostgreSQL when ``DATABASE_URL`` is set so
several app servers share it), kept with SQLAlchemy 2 and migrated with Alembic at open. Nothing
is updated or deleted: a change, a close or a reversal is a new entry with who made it. Readers
get polars frames; scoring computes "decisions kept" from them without opening the database.
"""

from journal.store import (
    ABOUT_KINDS,
    DECISION_COLUMNS,
    EVENT_KINDS,
    QUESTIONS,
    Journal,
    JournalError,
    current_decisions,
    database_url,
    migrate,
    open_journal,
    schema_revision,
)

__all__ = [
    "ABOUT_KINDS",
    "DECISION_COLUMNS",
    "EVENT_KINDS",
    "QUESTIONS",
    "Journal",
    "JournalError",
    "current_decisions",
    "database_url",
    "migrate",
    "open_journal",
    "schema_revision",
]
