"""The worker_commands table: model loads, unloads and restarts asked of another process.

Why: an API node (`serve --no-workers`) has no engine, so POST /api/models/{id}/load|unload and
POST /api/system/restart must reach the `sdcpp-rest worker` processes on other machines. The node
writes a row naming the target process; that process reads its pending rows about once a second,
runs the command on its engine workers and writes the outcome into the row, which the node waits for.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_commands",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("node", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(1024), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("results", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
    )
    op.create_index("ix_worker_commands_node_state", "worker_commands", ["node", "state"])


def downgrade() -> None:
    op.drop_index("ix_worker_commands_node_state", table_name="worker_commands")
    op.drop_table("worker_commands")
