"""Job statuses, their allowed transitions, and the typed record the store returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sdcpp_rest.engine.protocol import JobTimings


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# queued -> processing -> completed | failed | cancelled; queued -> cancelled; processing -> queued
# only when the server stops or crashes mid-job (requeue, bounded by max_job_attempts).
ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED}),
    JobStatus.PROCESSING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class JobPhase(StrEnum):
    """What a processing job is doing right now."""

    WAITING = "waiting"
    LOADING = "loading"
    ENCODING = "encoding"
    SAMPLING = "sampling"
    DECODING = "decoding"
    SAVING = "saving"


@dataclass(frozen=True)
class NewJob:
    id: str
    mode: str
    owner: str | None
    model_name: str | None
    prompt: str
    seed: int
    total_steps: int
    params: dict[str, Any]


@dataclass(frozen=True)
class JobRecord:
    id: str
    seq: int
    mode: str
    owner: str | None
    status: JobStatus
    model_name: str | None
    prompt: str
    seed: int
    params: dict[str, Any]
    queued_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    phase: str | None
    current_step: int
    total_steps: int
    step_seconds: float | None
    worker_id: str | None
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    timings: JobTimings | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class RecoveryReport:
    """What start-up found of jobs a crash or kill left in `processing`."""

    requeued: list[str]
    failed: list[str]
