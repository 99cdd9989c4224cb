"""The scheduler: owns the worker slots and is the API's entry point to running work.

The work itself happens in slot.py (one thread per engine worker process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sdcpp_rest.engine.protocol import EngineContext, LoadCommand, UnloadCommand
from sdcpp_rest.engine.supervisor import EngineWorkerProcess
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.events.types import ShuttingDown
from sdcpp_rest.jobs.claims import Runnable
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.params import ENGINE_MODES
from sdcpp_rest.jobs.scheduler.dispatch import Dispatcher, ModelPathOf
from sdcpp_rest.jobs.scheduler.shared import (
    CommandBuilder,
    ControlRequest,
    ControlResult,
    SlotEnvironment,
    WorkerState,
)
from sdcpp_rest.jobs.scheduler.slot import WorkerSlot
from sdcpp_rest.jobs.store import JobStore

log = logging.getLogger(__name__)

NO_WORKERS_MESSAGE = "this node runs no engine workers (serve --no-workers): models load on the worker nodes"


# What engine workers claim: every job but those a runner in the server process takes (downloads).
ENGINE_JOBS = Runnable.of(modes=ENGINE_MODES)


class Scheduler:
    """Owns the worker slots; the entry points to running work (claiming is the slots' own)."""

    def __init__(
        self,
        store: JobStore,
        build_command: CommandBuilder,
        listener: JobNotifier,
        model_path_of: ModelPathOf,
        *,
        worker_count: int,
        verbose: bool,
        worker_start_timeout_s: float,
        lease_seconds: float = 30.0,
        worker_prefix: str = "",
        runnable: Callable[[], Runnable] = lambda: ENGINE_JOBS,
        idle_unload_s: float = 0.0,
    ) -> None:
        # worker_prefix makes worker ids unique in a cluster (the node, see cluster/heartbeat.py).
        dispatcher = Dispatcher(store, model_path_of, runnable)
        self._env = SlotEnvironment(
            store,
            build_command,
            listener,
            verbose,
            worker_start_timeout_s,
            dispatcher,
            lease_seconds=lease_seconds,
            idle_unload_s=idle_unload_s,
        )
        self._slots = [
            WorkerSlot(
                self._env, EngineWorkerProcess(f"{worker_prefix}w{i}", verbose, worker_start_timeout_s)
            )
            for i in range(worker_count)
        ]

    @property
    def is_running(self) -> bool:
        return not self._env.stopping.is_set()

    def start(self) -> None:
        for slot in self._slots:
            slot.start()

    def stop(self) -> None:
        """Stop taking jobs; a running job is requeued (not counted as an attempt) and workers end."""
        self._env.stopping.set()
        self._env.listener.system(ShuttingDown())
        self.notify_work()
        for slot in self._slots:
            slot.worker.kill()
        for slot in self._slots:
            slot.join(timeout=15)

    def drain(self) -> None:
        """Claim no new job (a graceful stop waits for the running ones)."""
        self._env.draining.set()

    def notify_work(self) -> None:
        """A job was queued: wake the idle slots."""
        self._env.dispatcher.notify()

    def cancel_running(self, job_id: str) -> bool:
        """Ask for a processing job to end; True when a slot of this scheduler was running it (its
        worker is being stopped). A job claimed a moment ago is cancelled by its slot before it
        starts, whatever this returns."""
        self._env.cancels.add(job_id)
        return any(slot.cancel(job_id) for slot in self._slots)

    def workers(self) -> list[WorkerState]:
        return [slot.state() for slot in self._slots]

    def active_generations(self) -> int:
        return sum(1 for slot in self._slots if slot.job_id is not None)

    def loaded_models(self) -> list[str]:
        return sorted({state.loaded_model for state in self.workers() if state.loaded_model})

    def load_model(self, context: EngineContext, timeout: float) -> ControlResult | None:
        """Load `context` in one worker: one that has it already, else an idle one, else the first
        (after its running job). None when it did not finish within `timeout` (it goes on)."""
        slots = self._slots
        if not slots:  # an API node (serve --no-workers): no engine here to load into
            return ControlResult("", False, ErrorCode.SERVICE_UNAVAILABLE, NO_WORKERS_MESSAGE)
        chosen = next((s for s in slots if s.worker.loaded_context == context), None)
        chosen = chosen or next((s for s in slots if s.job_id is None), slots[0])
        request = ControlRequest(LoadCommand(context))
        chosen.submit_control(request)
        self.notify_work()
        return request.result if request.done.wait(timeout) else None

    def unload_model(self, model_path: str, timeout: float) -> list[ControlResult] | None:
        """Unload `model_path` from every worker holding it; [] when none does, None on timeout."""
        requests = []
        for slot in self._slots:
            if slot.holds(model_path):
                request = ControlRequest(UnloadCommand())
                slot.submit_control(request)
                requests.append(request)
        self.notify_work()
        deadline = time.monotonic() + timeout
        results = []
        for request in requests:
            if not request.done.wait(max(deadline - time.monotonic(), 0)) or request.result is None:
                return None
            results.append(request.result)
        return results
