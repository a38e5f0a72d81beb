"""lean hot-path indexes

Every turn inserts two or three transcript rows, so the messages table keeps only the index
entries something reads: unanswered inbound rows (recovery on start) and rows with a channel
message id (de-duplication); the unread created_at index goes. Unscheduled follow-ups are read by
due time now (the scheduler's horizon).

Revision ID: 5e1f0c2a9b7d
Revises: 107bf062a800
Create Date: 2026-11-23 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1f0c2a9b7d"
down_revision: str | None = "107bf062a800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNANSWERED = sa.text("direction = 'in' AND processed_at IS NULL")
HAS_CHANNEL_ID = sa.text("channel_message_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_message_dedupe", type_="unique")
        batch_op.drop_index("ix_messages_unprocessed")
        batch_op.drop_index("ix_messages_created_at")
    op.create_index(
        "uq_message_dedupe",
        "messages",
        ["channel", "direction", "channel_message_id"],
        unique=True,
        sqlite_where=HAS_CHANNEL_ID,
        postgresql_where=HAS_CHANNEL_ID,
    )
    op.create_index(
        "ix_messages_unanswered", "messages", ["id"], sqlite_where=UNANSWERED, postgresql_where=UNANSWERED
    )
    op.drop_index("ix_follow_ups_unscheduled", table_name="follow_ups")
    op.create_index("ix_follow_ups_unscheduled", "follow_ups", ["status", "scheduled", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_follow_ups_unscheduled", table_name="follow_ups")
    op.create_index("ix_follow_ups_unscheduled", "follow_ups", ["status", "scheduled"])
    op.drop_index("ix_messages_unanswered", table_name="messages")
    op.drop_index("uq_message_dedupe", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_messages_unprocessed", ["direction", "processed_at"], unique=False)
        batch_op.create_unique_constraint("uq_message_dedupe", ["channel", "direction", "channel_message_id"])
