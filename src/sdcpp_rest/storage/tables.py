"""Every table of the server's database, on one MetaData: jobs, users, API keys, revoked tokens, model
hashes, workers, worker commands and prompt styles. The stores read and write them; the Alembic
migrations (storage/migrations) create and upgrade them, so a change here needs a migration too.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

jobs_table = sa.Table(
    "jobs",
    metadata,
    # seq is the FIFO order: an autoincrementing integer never reused, unlike timestamps that can tie.
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("mode", sa.String(32), nullable=False),
    sa.Column("owner", sa.String(128), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("model_name", sa.String(1024), nullable=True),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("queued_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("phase", sa.String(16), nullable=True),
    sa.Column("current_step", sa.Integer, nullable=False, default=0),
    sa.Column("total_steps", sa.Integer, nullable=False, default=0),
    sa.Column("step_seconds", sa.Float, nullable=True),
    sa.Column("worker_id", sa.String(200), nullable=True),  # 64 before migration 0004
    sa.Column("outputs", sa.Text, nullable=False, default="[]"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    # Where a completed job's time went (JobTimings): the history POST /api/estimate learns from.
    sa.Column("load_seconds", sa.Float, nullable=True),
    sa.Column("encode_seconds", sa.Float, nullable=True),
    sa.Column("sampling_seconds", sa.Float, nullable=True),
    sa.Column("decode_seconds", sa.Float, nullable=True),
    sa.Column("peak_memory_bytes", sa.BigInteger, nullable=True),
    # The claim of a processing job (migration 0003): its holder's random token, which every write
    # of that holder must name; the lease the holder renews (past it, any process may requeue the
    # job); a cancel asked for on another machine, which the holder's renewal reads.
    sa.Column("claim_token", sa.String(32), nullable=True),
    sa.Column("lease_expires_at", sa.Float, nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    # The FIFO claim (WHERE status = 'queued' ORDER BY seq) reads the queue's head in index order.
    sa.Index("ix_jobs_status_seq", "status", "seq"),
)

users_table = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(128), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=True),  # NULL for PAM/Unix users
    sa.Column("source", sa.String(16), nullable=False),  # local, pam, unix
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_login_at", sa.Float, nullable=True),
    # Tokens issued before this instant are dead: bumped on password change, disable, role change.
    sa.Column("tokens_valid_after", sa.Float, nullable=False, default=0.0),
)

api_keys_table = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),  # public part of the key, also its lookup id
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("last_used_at", sa.Float, nullable=True),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

revoked_tokens_table = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),  # rows past this can be purged
)

model_hashes_table = sa.Table(
    "model_hashes",
    metadata,
    sa.Column("path", sa.String(4096), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("hashed_at", sa.Float, nullable=False),
)

# Every engine worker of the cluster (migration 0004): one row per worker slot, written by the process
# that runs it (cluster/heartbeat.py) and read by every node for /api/status and /api/system.
workers_table = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # the slot's worker id, unique in the cluster
    sa.Column("node", sa.String(160), nullable=False, index=True),  # the process: node name and pid
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=True),  # the engine worker process
    sa.Column("device", sa.String(16), nullable=False),  # GPU or CPU
    sa.Column("models", sa.Text, nullable=False),  # JSON list of the checkpoint names it has
    sa.Column("loaded_model", sa.String(1024), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # starting, idle, busy, stopped
    sa.Column("job_id", sa.String(36), nullable=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)

# Issue 15: a model load or unload, or a restart, asked of another process of the cluster (an API node
# has no engine; the worker process named by `node` runs the command and writes its outcome here).
worker_commands_table = sa.Table(
    "worker_commands",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("node", sa.String(160), nullable=False),  # the process that runs it (workers.node)
    sa.Column("kind", sa.String(16), nullable=False),  # load, unload, restart
    sa.Column("model", sa.String(1024), nullable=True),  # the checkpoint's name in the models folder
    sa.Column("state", sa.String(16), nullable=False),  # pending, running, done
    sa.Column("results", sa.Text, nullable=True),  # JSON list, one entry per engine worker that acted
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Index("ix_worker_commands_node_state", "node", "state"),
)

# Issue 23: prompt styles (migration 0006), named prompt templates a generation request applies by name.
# `owner` is the user's id, or "" for a shared style: not NULL, because a UNIQUE constraint treats
# NULLs as distinct on SQLite and PostgreSQL alike, and shared names must be unique too.
SHARED_STYLE_OWNER = ""
styles_table = sa.Table(
    "styles",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("owner", sa.String(36), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("negative_prompt", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("owner", "name", name="uq_styles_owner_name"),
)
