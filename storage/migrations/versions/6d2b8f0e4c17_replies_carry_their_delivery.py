"""messages: replies carry their own delivery state; the outbox table goes

Every reply was written twice, as a transcript row and as an outbox row with the same text,
buttons and moment. Now the transcript row is the outbox: ``delivery`` (pending, sent, dead),
attempts, next attempt, last error, sent time and the platform's id, with a partial index on the
replies still to send. Existing outbox rows move onto the reply they were written with (same
chat, moment and text); a pending one without such a reply becomes one, so nothing waiting to be
sent is lost.

Revision ID: 6d2b8f0e4c17
Revises: 3a9c5d7e1b42
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "6d2b8f0e4c17"
down_revision: str | None = "3a9c5d7e1b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDELIVERED = sa.text("delivery = 'pending'")
PENDING = sa.text("status = 'pending'")
UNANSWERED = sa.text("direction = 'in' AND processed_at IS NULL")
HAS_CHANNEL_ID = sa.text("channel_message_id IS NOT NULL")
SAME_REPLY = (
    "m.direction = 'out' AND m.channel = o.channel AND m.user_id = o.user_id "
    "AND m.created_at = o.created_at AND m.text = o.text"
)


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("delivery", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
    )
    op.add_column("messages", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column(
        "messages", sa.Column("next_attempt_at", storage.types.UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column("messages", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("sent_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column(
        "messages", sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
    )
    op.execute(
        "UPDATE messages AS m SET delivery = o.status, attempts = o.attempts, "
        "next_attempt_at = o.next_attempt_at, last_error = o.last_error, sent_at = o.sent_at, "
        f"external_id = o.external_id FROM outbox AS o WHERE {SAME_REPLY}"
    )
    op.execute(
        "INSERT INTO messages (conversation_id, customer_id, channel, user_id, direction, author, "
        "kind, text, buttons, attachments, created_at, processed_at, delivery, attempts, "
        "next_attempt_at, last_error) "
        "SELECT o.conversation_id, c.id, o.channel, o.user_id, 'out', 'bot', 'text', o.text, "
        "o.buttons, o.attachments, o.created_at, o.created_at, o.status, o.attempts, "
        "o.next_attempt_at, o.last_error "
        "FROM outbox AS o JOIN customers AS c ON c.channel = o.channel AND c.external_id = o.user_id "
        f"WHERE o.status = 'pending' AND NOT EXISTS (SELECT 1 FROM messages AS m WHERE {SAME_REPLY}) "
        "ORDER BY o.id"
    )
    op.create_index(
        "ix_messages_undelivered", "messages", ["id"], sqlite_where=UNDELIVERED, postgresql_where=UNDELIVERED
    )
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")


def downgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("reply_to", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_pending", "outbox", ["id"], sqlite_where=PENDING, postgresql_where=PENDING)
    # message_id stays empty, as the outbox always wrote it (and SQLite's rebuild of messages
    # below could not drop a table rows point at)
    op.execute(
        "INSERT INTO outbox (channel, user_id, conversation_id, message_id, text, buttons, "
        "attachments, status, attempts, next_attempt_at, last_error, created_at, sent_at, "
        "external_id) "
        "SELECT channel, user_id, conversation_id, NULL, text, buttons, attachments, delivery, "
        "attempts, COALESCE(next_attempt_at, created_at), last_error, created_at, sent_at, "
        "external_id FROM messages WHERE delivery IS NOT NULL ORDER BY id"
    )
    op.drop_index("ix_messages_undelivered", table_name="messages")
    # SQLite rebuilds the table to drop columns; its partial indexes are made again after it
    op.drop_index("ix_messages_unanswered", table_name="messages")
    op.drop_index("uq_message_dedupe", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        for column in ("external_id", "sent_at", "last_error", "next_attempt_at", "attempts", "delivery"):
            batch_op.drop_column(column)
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
