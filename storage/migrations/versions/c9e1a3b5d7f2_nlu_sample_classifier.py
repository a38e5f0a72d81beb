"""nlu_samples.classifier: whose guess a low-confidence sample was (Rasa's or the built-in one's)

Revision ID: c9e1a3b5d7f2
Revises: a7c3e9f1d205
Create Date: 2026-12-04 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c9e1a3b5d7f2"
down_revision: str | None = "a7c3e9f1d205"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nlu_samples") as batch:
        batch.add_column(sa.Column("classifier", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nlu_samples") as batch:
        batch.drop_column("classifier")
