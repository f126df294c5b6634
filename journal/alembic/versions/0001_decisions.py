"""The decision log: decisions and their events (append-only).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journal.alembic.append_only import refuse_changes

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
    )
    op.create_table(
        "decision_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "decision_id", sa.Integer, sa.ForeignKey("decisions.decision_id"), nullable=False
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("by_email", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("owner", sa.String(320), nullable=False),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("team", sa.String(200), nullable=True),
        sa.Column("about_kind", sa.String(16), nullable=False),
        sa.Column("about_id", sa.String(200), nullable=True),
        sa.Column("metric_value", sa.Float, nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("decision_id", "seq", name="decision_events_one_seq"),
    )
    refuse_changes("decisions")
    refuse_changes("decision_events")
