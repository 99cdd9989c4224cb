"""The durable job store: SQLAlchemy Core, so one code path serves SQLite (embedded) and PostgreSQL.

A job is a committed row before the client hears "queued". Every state change is a conditional UPDATE
(`WHERE status = <expected>`), which makes claim, cancel and finish atomic without holding locks across
engine work, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.params import SERVER_RUN_MODES, JobMode, load_params
from sdcpp_rest.jobs.queue_order import FifoOrder, QueuedJob, QueueOrder
from sdcpp_rest.jobs.records import (
    FINAL_STATUSES,
    JobPhase,
    JobRecord,
    JobStatus,
    JobTimings,
    NewJob,
    RecoveryReport,
    check_transition,
)
from sdcpp_rest.storage.tables import jobs_table


class JobStore(Protocol):
    """The queue's persistence; implementations must make each method atomic."""

    def add(self, job: NewJob) -> JobRecord: ...
    def get(self, job_id: str) -> JobRecord | None: ...
    def list_jobs(
        self, statuses: Iterable[JobStatus] | None = None, owner: str | None = None, limit: int = 0
    ) -> list[JobRecord]: ...
    def peek_next(self) -> JobRecord | None: ...
    def claim(self, job_id: str, worker_id: str) -> JobRecord | None: ...
    def claim_next(self, worker_id: str) -> JobRecord | None: ...
    def update_progress(
        self, job_id: str, *, phase: JobPhase, current_step: int, total_steps: int, step_seconds: float | None
    ) -> None: ...
    def complete(self, job_id: str, outputs: Sequence[str], timings: JobTimings | None = None) -> bool: ...
    def fail(self, job_id: str, code: ErrorCode, message: str) -> bool: ...
    def cancel_queued(self, job_id: str) -> bool: ...
    def mark_cancelled(self, job_id: str) -> bool: ...
    def requeue(self, job_id: str, *, count_attempt: bool) -> bool: ...
    def clear_queued(self, owner: str | None = None) -> list[str]: ...
    def queue_positions(self) -> dict[str, int]: ...
    def count_queued(self, owner: str | None) -> int: ...
    def recent_completed(self, model_name: str, limit: int) -> list[JobRecord]: ...
    def count_by_status(self) -> dict[JobStatus, int]: ...
    def recover_interrupted(self, max_attempts: int) -> RecoveryReport: ...
    def finished_oldest_first(self, finished_before: float | None = None) -> list[JobRecord]: ...
    def delete_finished(self, job_id: str) -> bool: ...
    def next_queued_of_mode(self, mode: JobMode) -> JobRecord | None: ...


def _record(row: sa.Row[Any]) -> JobRecord:
    m = row._mapping
    return JobRecord(
        id=m["id"],
        seq=m["seq"],
        mode=JobMode(m["mode"]),
        owner=m["owner"],
        status=JobStatus(m["status"]),
        model_name=m["model_name"],
        prompt=m["prompt"],
        seed=m["seed"],
        params=load_params(m["mode"], json.loads(m["params"])),
        queued_at=m["queued_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        attempts=m["attempts"],
        phase=m["phase"],
        current_step=m["current_step"],
        total_steps=m["total_steps"],
        step_seconds=m["step_seconds"],
        worker_id=m["worker_id"],
        outputs=json.loads(m["outputs"]),
        error=m["error"],
        error_code=m["error_code"],
        timings=_timings(m),
    )


def _timings(m: Any) -> JobTimings | None:
    if m["sampling_seconds"] is None:
        return None
    return JobTimings(
        load_seconds=m["load_seconds"] or 0.0,
        encode_seconds=m["encode_seconds"] or 0.0,
        sampling_seconds=m["sampling_seconds"],
        decode_seconds=m["decode_seconds"] or 0.0,
        peak_memory_bytes=m["peak_memory_bytes"],
    )


class SqlJobStore:
    """JobStore on SQLAlchemy Core (SQLite by default, PostgreSQL for a shared deployment)."""

    def __init__(
        self, engine: Engine, order: QueueOrder | None = None, fair_share_window_s: float = 3600.0
    ) -> None:
        self._engine = engine
        self._order = order or FifoOrder()
        self._window_s = fair_share_window_s

    # --- the queue's order (jobs/queue_order.py) ---
    def _queued_in_order(self, conn: Connection) -> list[str]:
        rows = conn.execute(
            sa.select(jobs_table.c.id, jobs_table.c.seq, jobs_table.c.owner)
            .where(jobs_table.c.status == JobStatus.QUEUED.value)
            .order_by(jobs_table.c.seq)
        ).all()
        queued = [QueuedJob(row.id, row.seq, row.owner) for row in rows]
        if not self._order.needs_usage or len({job.owner for job in queued}) < 2:
            return [job.id for job in queued]  # one owner (or fifo): arrival order either way
        usage, job_seconds = self._recent_engine_time(conn)
        return self._order.order(queued, usage, job_seconds)

    def _recent_engine_time(self, conn: Connection) -> tuple[dict[str | None, float], float]:
        """Engine seconds per owner of the jobs started within the window (a running job as far as
        it got), and the average seconds of the finished ones among them (1 s before any)."""
        now = time.time()
        spent = sa.func.coalesce(jobs_table.c.finished_at, now) - jobs_table.c.started_at
        rows = conn.execute(
            sa.select(
                jobs_table.c.owner,
                sa.func.sum(spent),
                sa.func.sum(sa.case((jobs_table.c.finished_at.is_not(None), spent), else_=0.0)),
                sa.func.count(jobs_table.c.finished_at),
            )
            .where(jobs_table.c.started_at >= now - self._window_s)
            .group_by(jobs_table.c.owner)
        ).all()
        usage = {row[0]: float(row[1] or 0.0) for row in rows}
        finished_seconds, finished = sum(float(row[2] or 0.0) for row in rows), sum(row[3] for row in rows)
        return usage, (finished_seconds / finished if finished else 1.0)

    # --- helpers ---
    def _transition(self, conn: Connection, job_id: str, expected: JobStatus, values: dict[str, Any]) -> bool:
        """Apply `values` if the job is in `expected`; a status change must be an edge of the state
        machine (ALLOWED_TRANSITIONS), else TransitionNotAllowed: the write never reaches the row."""
        if "status" in values:
            check_transition(expected, JobStatus(values["status"]))
        result = conn.execute(
            jobs_table.update()
            .where(jobs_table.c.id == job_id, jobs_table.c.status == expected.value)
            .values(**values)
        )
        return result.rowcount == 1

    # --- JobStore ---
    def add(self, job: NewJob) -> JobRecord:
        with self._engine.begin() as conn:
            conn.execute(
                jobs_table.insert().values(
                    id=job.id,
                    mode=job.mode.value,
                    owner=job.owner,
                    status=JobStatus.QUEUED.value,
                    model_name=job.model_name,
                    prompt=job.prompt,
                    seed=job.seed,
                    params=job.params.model_dump_json(),
                    queued_at=time.time(),
                    attempts=0,
                    current_step=0,
                    total_steps=job.total_steps,
                    outputs="[]",
                )
            )
        record = self.get(job.id)
        assert record is not None
        return record

    def get(self, job_id: str) -> JobRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).first()
        return _record(row) if row else None

    def list_jobs(
        self, statuses: Iterable[JobStatus] | None = None, owner: str | None = None, limit: int = 0
    ) -> list[JobRecord]:
        query = sa.select(jobs_table).order_by(jobs_table.c.seq.desc())
        if statuses is not None:
            query = query.where(jobs_table.c.status.in_([s.value for s in statuses]))
        if owner is not None:
            query = query.where(jobs_table.c.owner == owner)
        if limit > 0:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def peek_next(self) -> JobRecord | None:
        """The job the scheduling policy would run next, unclaimed."""
        with self._engine.connect() as conn:
            order = self._queued_in_order(conn)
            order = self._engine_jobs_only(conn, order)
        return self.get(order[0]) if order else None

    # --- issue 16: jobs the server runs itself (model downloads), never claimed by engine slots ---
    @staticmethod
    def _engine_jobs_only(conn: Connection, order: list[str]) -> list[str]:
        if not order:
            return order
        skipped = set(
            conn.execute(
                sa.select(jobs_table.c.id).where(
                    jobs_table.c.status == JobStatus.QUEUED.value,
                    jobs_table.c.mode.in_(sorted(SERVER_RUN_MODES)),
                )
            ).scalars()
        )
        return [job_id for job_id in order if job_id not in skipped] if skipped else order

    def next_queued_of_mode(self, mode: JobMode) -> JobRecord | None:
        """The oldest queued job of `mode` (a server-run mode's runner takes them in arrival order)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs_table)
                .where(jobs_table.c.status == JobStatus.QUEUED.value, jobs_table.c.mode == mode.value)
                .order_by(jobs_table.c.seq)
                .limit(1)
            ).first()
        return _record(row) if row else None

    def claim(self, job_id: str, worker_id: str) -> JobRecord | None:
        """Claim this queued job for `worker_id`; None when it is no longer queued (another worker,
        perhaps of another process, took it, or it was cancelled)."""
        with self._engine.begin() as conn:
            won = self._transition(
                conn,
                job_id,
                JobStatus.QUEUED,
                {
                    "status": JobStatus.PROCESSING.value,
                    "started_at": time.time(),
                    "attempts": jobs_table.c.attempts + 1,
                    "worker_id": worker_id,
                    "phase": JobPhase.WAITING.value,
                    "current_step": 0,
                    "step_seconds": None,
                },
            )
        return self.get(job_id) if won else None

    def claim_next(self, worker_id: str) -> JobRecord | None:
        # Several workers may race for the head of the queue; the conditional UPDATE lets exactly one
        # win, and the losers simply try the next one.
        for _ in range(8):
            head = self.peek_next()
            if head is None:
                return None
            claimed = self.claim(head.id, worker_id)
            if claimed is not None:
                return claimed
        return None

    def update_progress(
        self, job_id: str, *, phase: JobPhase, current_step: int, total_steps: int, step_seconds: float | None
    ) -> None:
        with self._engine.begin() as conn:
            self._transition(
                conn,
                job_id,
                JobStatus.PROCESSING,
                {
                    "phase": phase.value,
                    "current_step": current_step,
                    "total_steps": total_steps,
                    "step_seconds": step_seconds,
                },
            )

    def complete(self, job_id: str, outputs: Sequence[str], timings: JobTimings | None = None) -> bool:
        measured = dataclasses.asdict(timings) if timings else {}
        with self._engine.begin() as conn:
            return self._transition(
                conn,
                job_id,
                JobStatus.PROCESSING,
                {
                    "status": JobStatus.COMPLETED.value,
                    "finished_at": time.time(),
                    "outputs": json.dumps(list(outputs)),
                    "phase": None,
                    "current_step": jobs_table.c.total_steps,
                    **measured,
                },
            )

    def fail(self, job_id: str, code: ErrorCode, message: str) -> bool:
        values = {
            "status": JobStatus.FAILED.value,
            "finished_at": time.time(),
            "error": message,
            "error_code": code.value,
            "phase": None,
        }
        with self._engine.begin() as conn:
            # A job may fail before it ever started (e.g. its model vanished while it waited).
            return self._transition(conn, job_id, JobStatus.PROCESSING, values) or self._transition(
                conn, job_id, JobStatus.QUEUED, values
            )

    def cancel_queued(self, job_id: str) -> bool:
        with self._engine.begin() as conn:
            return self._transition(
                conn,
                job_id,
                JobStatus.QUEUED,
                {"status": JobStatus.CANCELLED.value, "finished_at": time.time()},
            )

    def mark_cancelled(self, job_id: str) -> bool:
        with self._engine.begin() as conn:
            return self._transition(
                conn,
                job_id,
                JobStatus.PROCESSING,
                {"status": JobStatus.CANCELLED.value, "finished_at": time.time(), "phase": None},
            )

    def requeue(self, job_id: str, *, count_attempt: bool) -> bool:
        values: dict[str, Any] = {
            "status": JobStatus.QUEUED.value,
            "started_at": None,
            "worker_id": None,
            "phase": None,
            "current_step": 0,
            "step_seconds": None,
        }
        if not count_attempt:
            values["attempts"] = jobs_table.c.attempts - 1
        with self._engine.begin() as conn:
            return self._transition(conn, job_id, JobStatus.PROCESSING, values)

    def clear_queued(self, owner: str | None = None) -> list[str]:
        cleared: list[str] = []
        with self._engine.begin() as conn:
            query = sa.select(jobs_table.c.id).where(jobs_table.c.status == JobStatus.QUEUED.value)
            if owner is not None:
                query = query.where(jobs_table.c.owner == owner)
            for row in conn.execute(query).all():
                if self._transition(
                    conn,
                    row.id,
                    JobStatus.QUEUED,
                    {"status": JobStatus.CANCELLED.value, "finished_at": time.time()},
                ):
                    cleared.append(row.id)
        return cleared

    def queue_positions(self) -> dict[str, int]:
        """Each queued job's place (1 = next) in the order the scheduling policy runs them."""
        with self._engine.connect() as conn:
            order = self._queued_in_order(conn)
        return {job_id: index + 1 for index, job_id in enumerate(order)}

    def count_queued(self, owner: str | None) -> int:
        """Jobs of `owner` waiting in the queue (the local admin's when None)."""
        query = sa.select(sa.func.count()).where(
            jobs_table.c.status == JobStatus.QUEUED.value,
            jobs_table.c.owner.is_(None) if owner is None else jobs_table.c.owner == owner,
        )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def recent_completed(self, model_name: str, limit: int) -> list[JobRecord]:
        """The newest completed jobs of a model that measured their step time (for estimates)."""
        query = (
            sa.select(jobs_table)
            .where(
                jobs_table.c.model_name == model_name,
                jobs_table.c.status == JobStatus.COMPLETED.value,
                jobs_table.c.step_seconds.is_not(None),
            )
            .order_by(jobs_table.c.seq.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def count_by_status(self) -> dict[JobStatus, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs_table.c.status, sa.func.count()).group_by(jobs_table.c.status)
            ).all()
        counts = {status: 0 for status in JobStatus}
        for status, count in rows:
            counts[JobStatus(status)] = count
        return counts

    def finished_oldest_first(self, finished_before: float | None = None) -> list[JobRecord]:
        """Finished jobs, the earliest finished first (the order output retention deletes in)."""
        query = (
            sa.select(jobs_table)
            .where(jobs_table.c.status.in_([s.value for s in FINAL_STATUSES]))
            .order_by(jobs_table.c.finished_at, jobs_table.c.seq)
        )
        if finished_before is not None:
            query = query.where(jobs_table.c.finished_at < finished_before)
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def delete_finished(self, job_id: str) -> bool:
        """Remove a finished job's row; the status condition makes it impossible to delete a queued or
        running job, whatever the caller saw earlier. False when nothing was deleted."""
        with self._engine.begin() as conn:
            result = conn.execute(
                jobs_table.delete().where(
                    jobs_table.c.id == job_id,
                    jobs_table.c.status.in_([s.value for s in FINAL_STATUSES]),
                )
            )
        return result.rowcount == 1

    def recover_interrupted(self, max_attempts: int) -> RecoveryReport:
        """Jobs left `processing` by a crash go back to the queue (in their original place, since
        order is by seq) unless they have already been started `max_attempts` times."""
        requeued: list[str] = []
        failed: list[str] = []
        for job in self.list_jobs([JobStatus.PROCESSING]):
            if job.attempts >= max_attempts:
                message = (
                    f"the server stopped while this job was processing, {job.attempts} times; "
                    "it is not retried again"
                )
                if self.fail(job.id, ErrorCode.JOB_INTERRUPTED, message):
                    failed.append(job.id)
            elif self.requeue(job.id, count_attempt=True):
                requeued.append(job.id)
        return RecoveryReport(requeued=requeued, failed=failed)
