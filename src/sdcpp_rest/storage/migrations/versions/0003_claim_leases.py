"""Claims with leases: a claim token, a lease expiry and a cancel flag on every job row.

Why: with workers on several machines a claim is no longer held by a process this one can see die.
A claim now carries a random token and a lease the worker renews while it works; a job whose lease
ran out is requeued (or failed) by any process, and every write a worker makes about the job names
its token, so a worker that comes back after its claim was taken over changes nothing. A cancel of a
job running elsewhere is a flag on the row that the worker's lease renewal reads.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(32), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cancel_requested")
        batch.drop_column("lease_expires_at")
        batch.drop_column("claim_token")
