"""api_tokens.last_used_at and webhook_endpoints.disabled_at, for the console's lists

Revision ID: b6d8f0a2c4e7
Revises: a4c6e8f0b2d5
Create Date: 2026-12-04 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "b6d8f0a2c4e7"
down_revision: str | None = "a4c6e8f0b2d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", storage.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", storage.types.UTCDateTime(), nullable=True))
    # endpoints turned off before the reason became a code: a 410 was the only reason then
    op.execute(
        "UPDATE webhook_endpoints SET disabled_reason = 'gone' "
        "WHERE active = false AND disabled_reason LIKE 'answered 410%'"
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
