"""What the scheduler and its worker slots share: the store, the command builder, the listener, the
stop/drain flags, the wake-up signal for new work and the cancel requests. One object built by the
Scheduler and handed to every slot, so a slot never reaches back into the scheduler."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sdcpp_rest.engine.protocol import ConvertCommand, GenerateCommand, LoadCommand, UnloadCommand
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.records import JobRecord
from sdcpp_rest.jobs.scheduler.dispatch import Dispatcher
from sdcpp_rest.jobs.store import JobStore

# Turns a stored job into the command a worker runs (jobs/commands.py).
CommandBuilder = Callable[[JobRecord], GenerateCommand | ConvertCommand]


class CancelRequests:
    """Jobs asked to be cancelled while processing. A job is `processing` from the moment a slot
    claims it, slightly before the slot records it as its own; a cancel in that gap is kept here and
    the slot honours it before it starts the job, so a cancel never has to wait for the hand-off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job_ids: set[str] = set()

    def add(self, job_id: str) -> None:
        with self._lock:
            self._job_ids.add(job_id)

    def take(self, job_id: str) -> bool:
        """True (once) when `job_id` was asked to be cancelled."""
        with self._lock:
            if job_id in self._job_ids:
                self._job_ids.discard(job_id)
                return True
            return False


@dataclass
class SlotEnvironment:
    store: JobStore
    build_command: CommandBuilder
    listener: JobNotifier
    verbose: bool
    worker_start_timeout_s: float
    dispatcher: Dispatcher  # which idle slot takes the next job; idle slots wait on it
    stopping: threading.Event = field(default_factory=threading.Event)
    draining: threading.Event = field(default_factory=threading.Event)  # set: claim no new job
    cancels: CancelRequests = field(default_factory=CancelRequests)
    lease_seconds: float = 30.0  # a claim's lease; the slot renews it three times per lease
    # Free a worker's model after this many seconds without a job (0: keep it; issue 16).
    idle_unload_s: float = 0.0


@dataclass(frozen=True)
class ControlResult:
    """The outcome of a load or unload run by one worker slot."""

    worker_id: str
    ok: bool
    code: ErrorCode | None = None
    message: str = ""
    seconds: float | None = None


class ControlRequest:
    """A load/unload waiting for its slot; the caller waits on `done` (with its own timeout)."""

    def __init__(self, command: LoadCommand | UnloadCommand) -> None:
        self.command = command
        self.done = threading.Event()
        self.result: ControlResult | None = None

    def finish(self, result: ControlResult) -> None:
        self.result = result
        self.done.set()


@dataclass(frozen=True)
class WorkerState:
    worker_id: str
    pid: int | None
    alive: bool
    job_id: str | None
    loaded_model: str | None
    system_info: str = ""
