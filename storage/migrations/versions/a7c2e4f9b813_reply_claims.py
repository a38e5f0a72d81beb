"""messages: a pending reply names the process that sends it and until when (delivery claims)

With several processes on one database, each pending reply is claimed by one process, which
renews the claim while it lives; when it dies the claim runs out and another process takes the
reply over. Rows written before this revision start unclaimed and are taken at the next claim.

Revision ID: a7c2e4f9b813
Revises: 9f4e2a7c1d30
Create Date: 2026-12-04 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "a7c2e4f9b813"
down_revision: str | None = "9f4e2a7c1d30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
    )
    op.add_column(
        "messages", sa.Column("claimed_until", storage.types.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
