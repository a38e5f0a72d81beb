"""outbox: index only the rows still to send

Every reply is inserted as pending and marked sent moments later; the old index on (status,
next_attempt_at) kept an entry for every row ever sent. Delivery only looks for pending rows,
so the index is now partial: each reply enters it and leaves it, and it stays small.

Revision ID: 8c3d1e7f4a20
Revises: 5e1f0c2a9b7d
Create Date: 2026-11-23 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c3d1e7f4a20"
down_revision: str | None = "5e1f0c2a9b7d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.create_index("ix_outbox_pending", "outbox", ["id"], sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.create_index("ix_outbox_pending", "outbox", ["status", "next_attempt_at"])
