"""The workers table: every engine worker of the cluster, as its process last reported it.

Why: with `sdcpp-rest worker` processes on other machines, an API node cannot ask its own scheduler
which workers exist; each worker process writes a row per engine worker (host, device, the models it
has, the one loaded, status, job) and renews its heartbeat, and every node reads the table for
/api/status and /api/system.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("node", sa.String(160), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("loaded_model", sa.String(1024), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
    )
    op.create_index("ix_workers_node", "workers", ["node"])
    # A job names its worker, which in a cluster carries the node's name: room for it.
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column(
            "worker_id", type_=sa.String(200), existing_type=sa.String(64), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column(
            "worker_id", type_=sa.String(64), existing_type=sa.String(200), existing_nullable=True
        )
    op.drop_index("ix_workers_node", table_name="workers")
    op.drop_table("workers")
