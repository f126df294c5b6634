"""The journal's tables (SQLAlchemy Core). The Alembic migrations create them; this metadata is
what the code reads and writes, and what the migration test compares the migrated schema with."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# One row per decision: its id and who opened it. Its content lives in its events.
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.String(32), nullable=False),  # ISO 8601 UTC: sorts as text
    sa.Column("created_by", sa.String(320), nullable=False),
)

# One row per change of a decision (recorded, changed, closed, reversed, reopened), each
# carrying the decision's whole state after the change, so the latest event is the decision.
decision_events = sa.Table(
    "decision_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.Integer, sa.ForeignKey("decisions.decision_id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),  # 1, 2, ... per decision
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("by_email", sa.String(320), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | closed | reversed
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("owner", sa.String(320), nullable=False),
    sa.Column("due_date", sa.Date, nullable=True),
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("about_kind", sa.String(16), nullable=False),  # team | metric | deal | handoff
    sa.Column("about_id", sa.String(200), nullable=True),
    sa.Column("metric_value", sa.Float, nullable=True),  # the linked metric when recorded
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("decision_id", "seq", name="decision_events_one_seq"),
)

# One row per answer of a function's leader to one question for one quarter; a second answer
# to the same question is a new row (the latest counts), never an update.
leader_answers = sa.Table(
    "leader_answers",
    metadata,
    sa.Column("answer_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("by_email", sa.String(320), nullable=False),
    sa.Column("quarter", sa.String(16), nullable=False),  # e.g. 2026-Q3
    sa.Column("function", sa.String(32), nullable=False),  # sales | marketing | ...
    sa.Column("question", sa.String(32), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),  # 1-5
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.CheckConstraint("score BETWEEN 1 AND 5", name="leader_answers_score_1_5"),
)
