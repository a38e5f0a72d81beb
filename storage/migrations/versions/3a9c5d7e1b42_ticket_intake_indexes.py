"""tickets: composite indexes for the repeat rule and routing's load

Every new complaint counts other customers on its target and category, and routing counts open
tickets per assignee. With single-column indexes SQLite's planner walked every complaint (the
kind index) for the first and every open ticket's row for the second, so a ticket's intake grew
slower with the table: 780 us and 305 us at 1 200 tickets, 12 us and 11 us with these indexes
(bench/RESULTS.md). They replace the target and status indexes, whose lookups they also serve.

Revision ID: 3a9c5d7e1b42
Revises: 8c3d1e7f4a20
Create Date: 2026-12-02 07:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3a9c5d7e1b42"
down_revision: str | None = "8c3d1e7f4a20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_tickets_target", table_name="tickets")
    op.drop_index("ix_tickets_status", table_name="tickets")
    op.create_index("ix_tickets_repeat", "tickets", ["target", "category", "kind", "created_at"])
    op.create_index("ix_tickets_open_load", "tickets", ["status", "assignee"])


def downgrade() -> None:
    op.drop_index("ix_tickets_open_load", table_name="tickets")
    op.drop_index("ix_tickets_repeat", table_name="tickets")
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.create_index("ix_tickets_target", "tickets", ["target"])
