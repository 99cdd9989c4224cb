"""Copy an installation's data from one database to another (SQLite to PostgreSQL, typically): jobs,
users, API keys, revoked tokens and model hashes, rows as they are, in one transaction on the target.

Both databases are brought to the newest schema first (the same migrations as start-up). The target
must hold no rows yet. The workers and worker_commands tables are not copied (they describe running
processes). Jobs the source left processing (the server should be stopped first) go back to the queue
on the target, as the next start-up would do on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sdcpp_rest.schemas.jobs import JobStatus
from sdcpp_rest.storage.database import migrate
from sdcpp_rest.storage.tables import jobs_table, metadata, worker_commands_table, workers_table

BATCH_ROWS = 1000


class TargetNotEmpty(Exception):
    """The target database already holds data; copying would mix two installations."""


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]  # per table


def copy_database(source: Engine, target: Engine) -> CopyReport:
    migrate(source)
    migrate(target)
    running = {workers_table.name, worker_commands_table.name}
    tables = [table for table in metadata.sorted_tables if table.name not in running]
    with target.connect() as conn:
        filled = [t.name for t in tables if conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()]
    if filled:
        raise TargetNotEmpty(f"the target database already has rows in {', '.join(filled)}")
    rows: dict[str, int] = {}
    with source.connect() as reader, target.begin() as writer:
        for table in tables:  # parents first (users before api_keys)
            rows[table.name] = _copy_table(reader, writer, table)
        if writer.dialect.name == "postgresql":
            # Rows came with their seq: the sequence must continue after the largest one.
            writer.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('jobs', 'seq'), "
                    "COALESCE((SELECT MAX(seq) FROM jobs), 0) + 1, false)"
                )
            )
    return CopyReport(rows)


def _copy_table(reader: Connection, writer: Connection, table: sa.Table) -> int:
    copied = 0
    result = reader.execute(sa.select(table).order_by(*table.primary_key.columns))
    while batch := result.fetchmany(BATCH_ROWS):
        values = [dict(row._mapping) for row in batch]
        if table is jobs_table:
            values = [_unclaimed(job) for job in values]
        writer.execute(table.insert(), values)
        copied += len(values)
    return copied


def _unclaimed(job: dict[str, object]) -> dict[str, object]:
    """A job the source left processing is queued again (its attempt counted), like a start-up's
    recovery; its claim belonged to a process of the old installation."""
    if job["status"] != JobStatus.PROCESSING:
        return job
    return {
        **job,
        "status": JobStatus.QUEUED.value,
        "started_at": None,
        "worker_id": None,
        "phase": None,
        "current_step": 0,
        "step_seconds": None,
        "claim_token": None,
        "lease_expires_at": None,
        "cancel_requested": False,
    }
