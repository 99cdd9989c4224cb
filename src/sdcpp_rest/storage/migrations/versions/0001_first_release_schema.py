"""The first release's schema, as its metadata.create_all made it.

Why: the first release created its tables without Alembic. This revision writes the same tables out
(columns, unique constraints, indexes, and the schema_version table it kept its version in) so that
a fresh database and an upgraded first-release database share one history. migrate() stamps
databases of the first release with this revision instead of running it; it calls
create_first_release_tables() first for any table such a database lacks (the first release's admin
commands never created model_hashes, only its server did).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(1024), nullable=True),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(16), nullable=True),
        sa.Column("current_step", sa.Integer, nullable=False),
        sa.Column("total_steps", sa.Integer, nullable=False),
        sa.Column("step_seconds", sa.Float, nullable=True),
        sa.Column("worker_id", sa.String(64), nullable=True),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("load_seconds", sa.Float, nullable=True),
        sa.Column("encode_seconds", sa.Float, nullable=True),
        sa.Column("sampling_seconds", sa.Float, nullable=True),
        sa.Column("decode_seconds", sa.Float, nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_jobs_owner", "jobs", ["owner"])
    op.create_index("ix_jobs_status", "jobs", ["status"])


def _schema_version() -> None:
    table = op.create_table("schema_version", sa.Column("version", sa.Integer, primary_key=True))
    op.bulk_insert(table, [{"version": 1}])


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_login_at", sa.Float, nullable=True),
        sa.Column("tokens_valid_after", sa.Float, nullable=False),
    )


def _api_keys() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("last_used_at", sa.Float, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])


def _revoked_tokens() -> None:
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def _model_hashes() -> None:
    op.create_table(
        "model_hashes",
        sa.Column("path", sa.String(4096), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("hashed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_model_hashes_sha256", "model_hashes", ["sha256"])


# In creation order: api_keys refers to users.
FIRST_RELEASE_TABLES: dict[str, Callable[[], None]] = {
    "jobs": _jobs,
    "schema_version": _schema_version,
    "users": _users,
    "api_keys": _api_keys,
    "revoked_tokens": _revoked_tokens,
    "model_hashes": _model_hashes,
}


def create_first_release_tables(existing: set[str]) -> None:
    """Create the first release's tables that are not in `existing` (all of them for upgrade())."""
    for name, create in FIRST_RELEASE_TABLES.items():
        if name not in existing:
            create()


def upgrade() -> None:
    create_first_release_tables(set())


def downgrade() -> None:
    for name in reversed(FIRST_RELEASE_TABLES):
        op.drop_table(name)
