"""The workers table (storage/tables.py:workers_table): what every engine worker of the cluster last
reported. Each process writes the rows of its own workers; any node reads them all."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sdcpp_rest.storage.tables import workers_table

# Rows whose heartbeat stopped this long ago (a process killed without a goodbye) are dropped.
FORGET_AFTER_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class ClusterWorker:
    id: str
    node: str  # the process that runs it: "<node name>.<pid>"
    host: str
    pid: int | None
    device: str  # GPU or CPU
    status: str  # starting, idle, busy, stopped (offline is decided by the reader: see online())
    started_at: float
    heartbeat_at: float
    models: list[str] = field(default_factory=list)
    loaded_model: str | None = None
    job_id: str | None = None

    def online(self, now: float, stale_after: float) -> bool:
        return self.status != "stopped" and now - self.heartbeat_at <= stale_after


class WorkerRegistry:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def publish(self, workers: Sequence[ClusterWorker]) -> None:
        """Write these rows as they are now (replacing earlier rows of the same ids), in one
        transaction."""
        if not workers:
            return
        with self._engine.begin() as conn:
            conn.execute(workers_table.delete().where(workers_table.c.id.in_([w.id for w in workers])))
            conn.execute(
                workers_table.insert(),
                [
                    {
                        "id": w.id,
                        "node": w.node,
                        "host": w.host,
                        "pid": w.pid,
                        "device": w.device,
                        "models": json.dumps(w.models),
                        "loaded_model": w.loaded_model,
                        "status": w.status,
                        "job_id": w.job_id,
                        "started_at": w.started_at,
                        "heartbeat_at": w.heartbeat_at,
                    }
                    for w in workers
                ],
            )

    def mark_stopped(self, node: str) -> None:
        """A process that ends says so: its workers stay listed as stopped (until forgotten)."""
        with self._engine.begin() as conn:
            conn.execute(
                workers_table.update()
                .where(workers_table.c.node == node)
                .values(status="stopped", job_id=None, loaded_model=None, heartbeat_at=time.time())
            )

    def list_workers(self) -> list[ClusterWorker]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(workers_table).order_by(workers_table.c.id)).all()
        return [
            ClusterWorker(
                id=row.id,
                node=row.node,
                host=row.host,
                pid=row.pid,
                device=row.device,
                status=row.status,
                started_at=row.started_at,
                heartbeat_at=row.heartbeat_at,
                models=json.loads(row.models),
                loaded_model=row.loaded_model,
                job_id=row.job_id,
            )
            for row in rows
        ]

    def forget_stale(self, now: float | None = None) -> int:
        cutoff = (now or time.time()) - FORGET_AFTER_SECONDS
        with self._engine.begin() as conn:
            result = conn.execute(workers_table.delete().where(workers_table.c.heartbeat_at < cutoff))
        return int(result.rowcount)
