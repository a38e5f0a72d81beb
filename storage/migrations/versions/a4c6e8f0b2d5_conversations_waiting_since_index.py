"""conversations.waiting_since index

The webhook feed reads the handoffs since its cursor (``waiting_since >= since``) every round,
and the console queue lists the conversations waiting for a person by it: without an index both
scan every conversation.

Revision ID: a4c6e8f0b2d5
Revises: d3f5a7c9e1b2
Create Date: 2026-12-04 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a4c6e8f0b2d5"
down_revision: str | None = "d3f5a7c9e1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_conversations_waiting_since", "conversations", ["waiting_since"])


def downgrade() -> None:
    op.drop_index("ix_conversations_waiting_since", table_name="conversations")
