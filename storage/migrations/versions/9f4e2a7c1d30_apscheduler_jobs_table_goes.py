"""apscheduler_jobs goes: the scheduler's jobs live in memory, rebuilt from follow_ups

APScheduler's SQLAlchemy job store used to keep a copy of every pending follow-up in its own
table. The follow_ups rows were always the truth; since the scheduler rebuilds its jobs from them
when a process takes the scheduler lease, the copy is dead weight and would only mislead someone
reading the database. Downgrading does not bring it back: APScheduler created it itself, and the
old job store recreates it on start.

Revision ID: 9f4e2a7c1d30
Revises: 6d2b8f0e4c17
Create Date: 2026-12-04 01:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9f4e2a7c1d30"
down_revision: str | None = "6d2b8f0e4c17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS apscheduler_jobs")


def downgrade() -> None:
    pass
