"""The leaders' answers: one row per answer to one question for one quarter (append-only).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from journal.alembic.append_only import refuse_changes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_answers",
        sa.Column("answer_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("by_email", sa.String(320), nullable=False),
        sa.Column("quarter", sa.String(16), nullable=False),
        sa.Column("function", sa.String(32), nullable=False),
        sa.Column("question", sa.String(32), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="leader_answers_score_1_5"),
    )
    refuse_changes("leader_answers")
