"""Job statuses, their allowed transitions, and the typed record the store returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from sdcpp_rest.engine.protocol import JobTimings
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.params import AnyJobParams, JobMode

# The closed sets of statuses and phases are wire types (schemas/jobs.py); re-exported here for the queue.
from sdcpp_rest.schemas.jobs import FINAL_STATUSES as FINAL_STATUSES
from sdcpp_rest.schemas.jobs import JobPhase as JobPhase
from sdcpp_rest.schemas.jobs import JobStatus as JobStatus

# queued -> processing -> completed | failed | cancelled; queued -> cancelled; queued -> failed when
# a job can never start (its parameters cannot be read, its model vanished while it waited);
# processing -> queued only when the server stops or crashes mid-job (requeue, bounded by
# max_job_attempts). The store refuses every other change (check_transition).
ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.PROCESSING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class NewJob:
    id: str
    mode: JobMode
    owner: str | None
    model_name: str | None
    prompt: str
    seed: int
    total_steps: int
    params: AnyJobParams


@dataclass(frozen=True)
class JobRecord:
    id: str
    seq: int
    mode: JobMode
    owner: str | None
    status: JobStatus
    model_name: str | None
    prompt: str
    seed: int
    params: AnyJobParams
    queued_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    phase: JobPhase | None
    current_step: int
    total_steps: int
    step_seconds: float | None
    worker_id: str | None
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    error_code: ErrorCode | None = None
    timings: JobTimings | None = None
    # The current claim (jobs/claims.py): its token, its lease, and whether a cancel was asked for.
    claim_token: str | None = None
    lease_expires_at: float | None = None
    cancel_requested: bool = False

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class JobPreparationError(Exception):
    """A queued job cannot run as stored (e.g. its model file is gone); fail it with this code.

    A plain exception: as a frozen dataclass its own __init__ could not set `code`, and the job failed
    with INTERNAL_ERROR instead of this code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransitionNotAllowed(RuntimeError):
    """A store write that would move a job along an edge the state machine does not have (a bug)."""


def check_transition(current: JobStatus, target: JobStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise TransitionNotAllowed(f"a job cannot go from {current.value} to {target.value}")


@dataclass(frozen=True)
class RecoveryReport:
    """What start-up found of jobs a crash or kill left in `processing`."""

    requeued: list[str]
    failed: list[str]
