"""The durable job store: SQLAlchemy Core, so one code path serves SQLite (embedded) and PostgreSQL.

A job is a committed row before the client hears "queued". Every state change is a conditional UPDATE
(`WHERE status = <expected>`), which makes claim, cancel and finish atomic without holding locks across
engine work, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.claims import ANY_JOB, LOST, Lease, Runnable, claim_fifo_head
from sdcpp_rest.jobs.queue_order import FifoOrder, QueuedJob, QueueOrder, QueueState
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
from sdcpp_rest.jobs.rows import job_record
from sdcpp_rest.jobs.store_protocol import JobStore as JobStore  # the protocol, re-exported
from sdcpp_rest.storage.tables import jobs_table

# How long a claim holds without a renewal (the store's default; the setting is claim_lease_seconds).
DEFAULT_LEASE_SECONDS = 30.0


def _failed_values(code: ErrorCode, message: str) -> dict[str, Any]:
    return {
        "status": JobStatus.FAILED.value,
        "finished_at": time.time(),
        "error": message,
        "error_code": code.value,
        "phase": None,
        "lease_expires_at": None,
    }


class SqlJobStore:
    """JobStore on SQLAlchemy Core (SQLite by default, PostgreSQL for a shared deployment)."""

    def __init__(
        self,
        engine: Engine,
        order: QueueOrder | None = None,
        fair_share_window_s: float = 3600.0,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self._engine = engine
        self._order = order or FifoOrder()
        self._window_s = fair_share_window_s
        self.lease_seconds = lease_seconds
        # FOR UPDATE SKIP LOCKED claims the FIFO head in one statement; SQLite has no row locks (its
        # writers take turns on the file) and a fair order is not a single ORDER BY.
        self._skip_locked = engine.dialect.name == "postgresql" and not self._order.needs_usage

    # --- the queue's order (jobs/queue_order.py) ---
    def _queued_in_order(self, conn: Connection, runnable: Runnable = ANY_JOB) -> list[str]:
        rows = conn.execute(
            sa.select(jobs_table.c.id, jobs_table.c.seq, jobs_table.c.owner)
            .where(jobs_table.c.status == JobStatus.QUEUED.value, *runnable.conditions())
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
    def _transition(
        self,
        conn: Connection,
        job_id: str,
        expected: JobStatus,
        values: dict[str, Any],
        *,
        token: str | None = None,
        also: Sequence[sa.ColumnElement[bool]] = (),
    ) -> bool:
        """Apply `values` if the job is in `expected` (and, given a claim token, still held under
        it); a status change must be an edge of the state machine (ALLOWED_TRANSITIONS), else
        TransitionNotAllowed: the write never reaches the row."""
        if "status" in values:
            check_transition(expected, JobStatus(values["status"]))
        conditions = [jobs_table.c.id == job_id, jobs_table.c.status == expected.value, *also]
        if token is not None:
            conditions.append(jobs_table.c.claim_token == token)
        result = conn.execute(jobs_table.update().where(*conditions).values(**values))
        return result.rowcount == 1

    def _one_statement(self) -> Connection:
        """A connection for a write that is one conditional UPDATE: on PostgreSQL in autocommit (the
        statement is atomic alone; no BEGIN and COMMIT round trips), on SQLite a transaction."""
        if self._engine.dialect.name == "postgresql":
            return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._engine.connect()

    # --- JobStore ---
    def add(self, job: NewJob) -> JobRecord:
        # RETURNING: the stored row comes back with the INSERT (its seq, its defaults), no read after.
        with self._engine.begin() as conn:
            row = conn.execute(
                jobs_table.insert()
                .returning(jobs_table)
                .values(
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
            ).one()
        return job_record(row)

    def get(self, job_id: str) -> JobRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).first()
        return job_record(row) if row else None

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
            return [job_record(row) for row in conn.execute(query)]

    def peek_next(self, runnable: Runnable = ANY_JOB) -> JobRecord | None:
        """The job the scheduling policy would run next among those `runnable` allows, unclaimed."""
        with self._engine.connect() as conn:
            order = self._queued_in_order(conn, runnable)
        return self.get(order[0]) if order else None

    def _claim_values(self, worker_id: str) -> dict[str, Any]:
        now = time.time()
        return {
            "status": JobStatus.PROCESSING.value,
            "started_at": now,
            "attempts": jobs_table.c.attempts + 1,
            "worker_id": worker_id,
            "phase": JobPhase.WAITING.value,
            "current_step": 0,
            "step_seconds": None,
            "claim_token": uuid.uuid4().hex,
            "lease_expires_at": now + self.lease_seconds,
            "cancel_requested": False,
        }

    def claim(self, job_id: str, worker_id: str) -> JobRecord | None:
        """Claim this queued job for `worker_id`; None when it is no longer queued (another worker,
        perhaps of another process, took it, or it was cancelled)."""
        with self._engine.begin() as conn:
            won = self._transition(conn, job_id, JobStatus.QUEUED, self._claim_values(worker_id))
        return self.get(job_id) if won else None

    def claim_next(self, worker_id: str, runnable: Runnable = ANY_JOB) -> JobRecord | None:
        """Claim the next job `runnable` allows for `worker_id`, with a new token and lease; None
        when there is none. Atomic across processes and machines."""
        if self._skip_locked:
            check_transition(JobStatus.QUEUED, JobStatus.PROCESSING)
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                row = claim_fifo_head(conn, runnable, self._claim_values(worker_id))
            return job_record(row) if row is not None else None
        # Several workers may race for the head of the queue; the conditional UPDATE lets exactly one
        # win, and the losers simply try the next one.
        for _ in range(8):
            head = self.peek_next(runnable)
            if head is None:
                return None
            claimed = self.claim(head.id, worker_id)
            if claimed is not None:
                return claimed
        return None

    def update_progress(
        self,
        job_id: str,
        *,
        phase: JobPhase,
        current_step: int,
        total_steps: int,
        step_seconds: float | None,
        token: str | None = None,
    ) -> bool:
        with self._one_statement() as conn, conn.begin():
            return self._transition(
                conn,
                job_id,
                JobStatus.PROCESSING,
                {
                    "phase": phase.value,
                    "current_step": current_step,
                    "total_steps": total_steps,
                    "step_seconds": step_seconds,
                },
                token=token,
            )

    def complete(
        self,
        job_id: str,
        outputs: Sequence[str],
        timings: JobTimings | None = None,
        *,
        token: str | None = None,
    ) -> bool:
        measured = dataclasses.asdict(timings) if timings else {}
        with self._one_statement() as conn, conn.begin():
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
                    "lease_expires_at": None,
                    **measured,
                },
                token=token,
            )

    def fail(self, job_id: str, code: ErrorCode, message: str, *, token: str | None = None) -> bool:
        """Fail a processing job (only under `token` when given: a worker's write) or, without a
        token, a queued one too."""
        values = _failed_values(code, message)
        with self._engine.begin() as conn:
            if self._transition(conn, job_id, JobStatus.PROCESSING, values, token=token):
                return True
            # A job may fail before it ever started (e.g. its model vanished while it waited).
            return token is None and self._transition(conn, job_id, JobStatus.QUEUED, values)

    def cancel_queued(self, job_id: str) -> bool:
        with self._engine.begin() as conn:
            return self._transition(
                conn,
                job_id,
                JobStatus.QUEUED,
                {"status": JobStatus.CANCELLED.value, "finished_at": time.time()},
            )

    def mark_cancelled(self, job_id: str, *, token: str | None = None) -> bool:
        with self._one_statement() as conn, conn.begin():
            return self._transition(
                conn,
                job_id,
                JobStatus.PROCESSING,
                {
                    "status": JobStatus.CANCELLED.value,
                    "finished_at": time.time(),
                    "phase": None,
                    "lease_expires_at": None,
                },
                token=token,
            )

    def _requeue_values(self, count_attempt: bool) -> dict[str, Any]:
        values: dict[str, Any] = {
            "status": JobStatus.QUEUED.value,
            "started_at": None,
            "worker_id": None,
            "phase": None,
            "current_step": 0,
            "step_seconds": None,
            # The old claim is void: its holder's writes no longer match any row.
            "claim_token": None,
            "lease_expires_at": None,
            "cancel_requested": False,
        }
        if not count_attempt:
            values["attempts"] = jobs_table.c.attempts - 1
        return values

    def requeue(self, job_id: str, *, count_attempt: bool, token: str | None = None) -> bool:
        with self._one_statement() as conn, conn.begin():
            return self._transition(
                conn, job_id, JobStatus.PROCESSING, self._requeue_values(count_attempt), token=token
            )

    # --- leases (jobs/claims.py) ---
    def renew_lease(self, job_id: str, token: str) -> Lease:
        """Extend the lease of the claim `token` holds; LOST when the claim is no longer its own
        (the lease ran out and the job was requeued, or it ended)."""
        expires_at = time.time() + self.lease_seconds
        with self._engine.begin() as conn:
            held = self._transition(
                conn, job_id, JobStatus.PROCESSING, {"lease_expires_at": expires_at}, token=token
            )
            if not held:
                return LOST
            cancel = conn.execute(
                sa.select(jobs_table.c.cancel_requested).where(jobs_table.c.id == job_id)
            ).scalar()
        return Lease(held=True, expires_at=expires_at, cancel_requested=bool(cancel))

    def request_cancel(self, job_id: str) -> bool:
        """Flag a processing job for cancelling; its holder, wherever it runs, sees the flag at its
        next lease renewal. False when the job is not processing."""
        with self._engine.begin() as conn:
            return self._transition(conn, job_id, JobStatus.PROCESSING, {"cancel_requested": True})

    def expire_leases(self, max_attempts: int) -> RecoveryReport:
        """Jobs whose lease ran out go back to the queue, or fail once they have been started
        `max_attempts` times, as after a crash on one machine. Each write is conditional on the
        token and the expiry it saw, so a renewal that lands first keeps the job with its holder."""
        now = time.time()
        # No lease at all: claimed before leases existed (migration 0003) or copied from another
        # database (cli/copy_db.py); nobody renews it, so it counts as run out.
        still_expired = [sa.or_(jobs_table.c.lease_expires_at < now, jobs_table.c.lease_expires_at.is_(None))]
        query = sa.select(jobs_table.c.id, jobs_table.c.claim_token, jobs_table.c.attempts).where(
            jobs_table.c.status == JobStatus.PROCESSING.value, *still_expired
        )
        requeued: list[str] = []
        failed: list[str] = []
        with self._engine.connect() as conn:
            expired = conn.execute(query).all()
        for row in expired:
            with self._engine.begin() as conn:
                if row.attempts >= max_attempts:
                    message = (
                        f"the worker running this job stopped renewing its claim (its machine died, hung "
                        f"or lost the network), {row.attempts} times; it is not retried again"
                    )
                    values = _failed_values(ErrorCode.JOB_INTERRUPTED, message)
                    if self._transition(
                        conn, row.id, JobStatus.PROCESSING, values, token=row.claim_token, also=still_expired
                    ):
                        failed.append(row.id)
                elif self._transition(
                    conn,
                    row.id,
                    JobStatus.PROCESSING,
                    self._requeue_values(count_attempt=True),
                    token=row.claim_token,
                    also=still_expired,
                ):
                    requeued.append(row.id)
        return RecoveryReport(requeued=requeued, failed=failed)

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
        return self.queue_state().positions

    def queue_state(self) -> QueueState:
        """Positions, owners and the processing count in one read of the active rows (a fair order
        with several owners also reads their recent engine time)."""
        active = [JobStatus.QUEUED.value, JobStatus.PROCESSING.value]
        query = sa.select(jobs_table.c.id, jobs_table.c.seq, jobs_table.c.owner, jobs_table.c.status)
        with self._engine.connect() as conn:
            rows = conn.execute(query.where(jobs_table.c.status.in_(active)).order_by(jobs_table.c.seq)).all()
            queued = [QueuedJob(row.id, row.seq, row.owner) for row in rows if row.status == active[0]]
            order = [job.id for job in queued]
            if self._order.needs_usage and len({job.owner for job in queued}) > 1:
                order = self._order.order(queued, *self._recent_engine_time(conn))
        return QueueState(
            positions={job_id: index + 1 for index, job_id in enumerate(order)},
            owners={job.id: job.owner for job in queued},
            processing=len(rows) - len(queued),
        )

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
            return [job_record(row) for row in conn.execute(query)]

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
            return [job_record(row) for row in conn.execute(query)]

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
