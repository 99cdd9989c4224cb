"""The styles table: named prompt templates (issue 23).

Why: a style is a name for text a user adds to prompts again and again (AUTOMATIC1111's styles.csv:
name, prompt, negative prompt; `{prompt}` marks where the user's text goes). Shared styles (an admin's,
owner "") and a user's own live in one table; a name is unique per owner, so a user's own style may
shadow a shared one of the same name. The owner is "" rather than NULL for shared styles because a
UNIQUE constraint does not compare NULLs on SQLite or PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "styles",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("negative_prompt", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_styles_owner_name"),
    )


def downgrade() -> None:
    op.drop_table("styles")
