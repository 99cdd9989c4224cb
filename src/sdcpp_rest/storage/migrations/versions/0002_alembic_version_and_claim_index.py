"""Drop schema_version (alembic_version supersedes it); index jobs (status, seq) for the FIFO claim.

Why: the first release kept its schema version in its own one-row table; Alembic's alembic_version
now says which revision a database is at, and a second record of it could only disagree. The index
serves the scheduler's claim (WHERE status = 'queued' ORDER BY seq LIMIT 1) and the queue positions
in index order: on PostgreSQL ix_jobs_status alone leaves a sort of every queued row (or a scan of
the primary key past every finished job). SQLite's ix_jobs_status already ends in the rowid, which
seq is, so there the claim was index-ordered before; the new index changes little on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("schema_version")
    op.create_index("ix_jobs_status_seq", "jobs", ["status", "seq"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_seq", table_name="jobs")
    # Back to what the first release's code expects to find: its table with its one row.
    table = op.create_table("schema_version", sa.Column("version", sa.Integer, primary_key=True))
    op.bulk_insert(table, [{"version": 1}])
