"""send_quotas: WeChat's quotas (a customer's customer-service allowance, an API's daily count)
spent by every process from one row

Revision ID: a9d4c6e2f815
Revises: b6d8f0a2c4e7
Create Date: 2026-12-04 04:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "a9d4c6e2f815"
down_revision: str | None = "b6d8f0a2c4e7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_quotas",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("send_quotas")
