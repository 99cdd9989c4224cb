"""One worker slot: the thread that owns one engine worker process and runs jobs on it.

It claims the next queued job (atomic in the store), sends it, and turns the worker's messages into
store updates and listener events. Cancel of a running job kills the process (there is no abort call
in the engine); the slot notices the exit, records the right final state, and starts a replacement.
Load/unload requests from the API run on the same thread, between jobs, so one thread alone talks to
the worker.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Iterator

from sdcpp_rest.engine.protocol import (
    CommandFailed,
    ConvertCommand,
    EngineContext,
    GenerateCommand,
    JobFinished,
    LoadCommand,
    ModelLoaded,
    ModelUnloaded,
    PhaseChanged,
    PreviewImage,
    StepProgress,
    UnloadCommand,
    hide_server_folders,
)
from sdcpp_rest.engine.supervisor import EngineWorkerProcess, WorkerExited, WorkerStartFailed
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.events import types as events
from sdcpp_rest.jobs.commands import describe_job_files
from sdcpp_rest.jobs.records import JobPhase, JobPreparationError, JobRecord
from sdcpp_rest.jobs.scheduler.shared import ControlRequest, ControlResult, SlotEnvironment, WorkerState
from sdcpp_rest.monitoring.log_context import job_log_context
from sdcpp_rest.storage.outage import database_unavailable, keep_running

log = logging.getLogger(__name__)

# How often a slot with nothing to do looks at the queue even without a wake-up (covers jobs added
# by another process sharing the database).
IDLE_POLL_SECONDS = 1.0
# How long a slot waits for a message before checking for cancel/stop requests.
RECEIVE_SLICE_SECONDS = 0.25
# Progress rows written at most this often while sampling: each write is a transaction with an fsync
# (synchronous=FULL) that competes with the engine for the same cores, and at small sizes steps come
# many times a second. Pollers of GET /api/queue/job see a step count at most this old.
PROGRESS_WRITE_SECONDS = 0.5


class _StepClock:
    """Average seconds per sampling step of the running job, from the engine's own step times, and
    the job's step total as the worker last reported it (the engine decides img2img and hires counts)."""

    def __init__(self, planned_total_steps: int) -> None:
        self.total_seconds = 0.0
        self.count = 0
        self.total_steps = planned_total_steps
        self._last_write = float("-inf")

    def should_write(self, step: int, total: int) -> bool:
        """Whether this step's progress goes to the store: the last step of a pass always, others at
        most every PROGRESS_WRITE_SECONDS (clients get every step over the WebSocket anyway)."""
        now = time.monotonic()
        if step >= total or now - self._last_write >= PROGRESS_WRITE_SECONDS:
            self._last_write = now
            return True
        return False

    def add(self, seconds: float) -> float | None:
        if seconds > 0:
            self.total_seconds += seconds
            self.count += 1
        return self.total_seconds / self.count if self.count else None


class ClaimLost(Exception):
    """The job's lease ran out and its claim was voided (another worker may run it now): whatever
    this slot's engine worker produces for it is void."""


# The renewal also reads the job's cancel flag (set by a cancel on any node): at least this often, so
# a cancel through another machine's API ends the job within about a second.
CANCEL_CHECK_SECONDS = 1.0


class _LeaseClock:
    """When the running job's lease is due for renewal: three times per lease, so one missed renewal
    (a slow database) does not lose it, and at least every CANCEL_CHECK_SECONDS."""

    def __init__(self, lease_seconds: float) -> None:
        self._every = min(lease_seconds / 3, CANCEL_CHECK_SECONDS)
        self._due = time.monotonic() + self._every

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._due:
            return False
        self._due = now + self._every
        return True


class WorkerSlot(threading.Thread):
    def __init__(self, env: SlotEnvironment, worker: EngineWorkerProcess) -> None:
        super().__init__(name=f"slot-{worker.worker_id}", daemon=True)
        self._env = env
        self.worker = worker
        self.job_id: str | None = None
        self._cancel_job_id: str | None = None
        # The running job's claim: its token (every store write names it) and its lease's clock.
        self._token: str | None = None
        self._lease: _LeaseClock | None = None
        self._job_context: EngineContext | None = None  # the model the running generation loads
        self._lock = threading.Lock()
        # Loads/unloads asked for through the API; the slot's own thread runs them between jobs, so
        # the worker's pipe is only ever used by one thread.
        self._controls: queue.SimpleQueue[ControlRequest] = queue.SimpleQueue()
        self._busy_at = time.monotonic()  # the end of the last job or load (idle unload counts from it)

    # --- called from other threads ---
    def cancel(self, job_id: str) -> bool:
        with self._lock:
            if self.job_id != job_id:
                return False
            self._cancel_job_id = job_id
        self.worker.kill()
        return True

    def holds(self, model_path: str) -> bool:
        """Whether the worker has `model_path` loaded, counting a running generation's model as the
        loaded one: the worker replaces what it held with it (the report of that comes later)."""
        with self._lock:
            context = self._job_context or self.worker.loaded_context
        return context is not None and model_path in (context.model_path, context.diffusion_model_path)

    def submit_control(self, request: ControlRequest) -> None:
        self._controls.put(request)

    def state(self) -> WorkerState:
        context = self.worker.loaded_context
        return WorkerState(
            worker_id=self.worker.worker_id,
            pid=self.worker.pid,
            alive=self.worker.alive,
            job_id=self.job_id,
            # A split model's context has no checkpoint: its diffusion model stands for it.
            loaded_model=(context.model_path or context.diffusion_model_path) if context else None,
            system_info=self.worker.system_info,
        )

    # --- the slot's own thread ---
    def run(self) -> None:
        keep_running(self._serve_once, self._env.stopping, "worker slot", log)
        self._env.dispatcher.leave(self.worker.worker_id)
        self._fail_pending_controls("the server is shutting down")
        self.worker.stop()

    def _serve_once(self) -> None:
        """One turn of the slot: controls, then claim and run one job, or wait for one."""
        env = self._env
        worker_id = self.worker.worker_id
        if not self._ensure_worker():
            env.dispatcher.leave(worker_id)
            env.stopping.wait(IDLE_POLL_SECONDS)
            return
        self._run_controls()
        context = self.worker.loaded_context
        loaded = (context.model_path or context.diffusion_model_path) if context else None
        job = None if env.draining.is_set() else env.dispatcher.claim_for(worker_id, loaded)
        if job is None:
            if loaded and self._idle_too_long():
                self._unload_idle(loaded)
                return
            env.dispatcher.wait(worker_id, loaded, self._idle_wait(loaded))
            return
        with self._lock:
            self.job_id, self._cancel_job_id = job.id, None
            self._token, self._lease = job.claim_token, _LeaseClock(env.lease_seconds)
        env.listener.job_changed(job.id)
        env.listener.queue_changed()
        try:
            with job_log_context(job.id, job.owner):
                if env.cancels.take(job.id):  # cancelled between the claim and now
                    env.store.mark_cancelled(job.id, token=job.claim_token)
                else:
                    self._execute(job)
        except ClaimLost:
            self._on_claim_lost(job)
        except Exception as exc:  # a bug or a database outage must not kill the slot
            self._abandon(job, exc)
        finally:
            self._busy_at = time.monotonic()
            with self._lock:
                self.job_id, self._token, self._lease, self._job_context = None, None, None, None
            env.cancels.take(job.id)  # a cancel that came too late to matter
        # After the job's own end: with the database away these raise, and run() backs off.
        env.listener.job_changed(job.id)
        env.listener.queue_changed()

    def _abandon(self, job: JobRecord, exc: Exception) -> None:
        """A job that ended in an unexpected error: the engine may still be working on it, so its
        worker is replaced; the job is failed, or, when the database is away, left to the lease rules
        (its lease runs out and the reaper requeues it, so it is neither lost nor run twice)."""
        self._replace_worker()
        if database_unavailable(exc):
            log.warning("job %s: database unavailable while it ran (%s)", job.id, exc)
            return
        log.exception("unexpected error while running job %s", job.id)
        self._env.store.fail(
            job.id, ErrorCode.INTERNAL_ERROR, "internal error while running the job", token=job.claim_token
        )

    def _idle_too_long(self) -> bool:
        limit = self._env.idle_unload_s
        return limit > 0 and time.monotonic() - self._busy_at >= limit

    def _idle_wait(self, loaded: str | None) -> float:
        """How long to wait for work: the poll interval, or less when the idle unload is due sooner."""
        limit = self._env.idle_unload_s
        if not loaded or limit <= 0:
            return IDLE_POLL_SECONDS
        return max(0.0, min(IDLE_POLL_SECONDS, self._busy_at + limit - time.monotonic()))

    def _unload_idle(self, loaded: str) -> None:
        """Free the model of a worker that had no job for idle_unload_s; the next job loads it again."""
        self._env.dispatcher.leave(self.worker.worker_id)  # the others take jobs meanwhile
        result = self._run_control(UnloadCommand())
        if result.ok:
            log.info(
                "worker %s freed %s after %.0f s without a job",
                self.worker.worker_id,
                hide_server_folders(loaded),
                self._env.idle_unload_s,
            )
        else:
            log.warning("worker %s could not free its idle model: %s", self.worker.worker_id, result.message)
        self._busy_at = time.monotonic()

    def _run_controls(self) -> None:
        while not self._env.stopping.is_set():
            try:
                request = self._controls.get_nowait()
            except queue.Empty:
                return
            try:
                request.finish(self._run_control(request.command))
            except Exception:  # a bug here must not kill the slot; the caller gets an error
                log.exception("unexpected error while running %s", type(request.command).__name__)
                request.finish(
                    ControlResult(self.worker.worker_id, False, ErrorCode.INTERNAL_ERROR, "internal error")
                )
            self._busy_at = time.monotonic()  # an explicit load or unload counts as use

    def _fail_pending_controls(self, message: str) -> None:
        while True:
            try:
                request = self._controls.get_nowait()
            except queue.Empty:
                return
            request.finish(
                ControlResult(self.worker.worker_id, False, ErrorCode.SERVICE_UNAVAILABLE, message)
            )

    def _messages(self) -> Iterator[object]:
        """The worker's messages as they come. When the server is stopping the worker is killed, and
        receive() then raises WorkerExited, which ends the iteration for the caller. While a job
        runs, its lease is renewed here (ClaimLost when it was lost)."""
        while True:
            message = self.worker.receive(RECEIVE_SLICE_SECONDS)
            self._renew_lease()
            if message is None:
                if self._env.stopping.is_set():
                    self.worker.kill()
                continue
            yield message

    def _renew_lease(self) -> None:
        with self._lock:
            job_id, token, lease = self.job_id, self._token, self._lease
        if job_id is None or token is None or lease is None or not lease.due():
            return
        renewal = self._env.store.renew_lease(job_id, token)
        if not renewal.held:
            raise ClaimLost(job_id)
        if renewal.cancel_requested and self._cancel_job_id != job_id:
            # Asked through the API of any node: end the job the way a local cancel does.
            log.info("job %s: cancel requested through the database", job_id)
            self.cancel(job_id)

    def _on_claim_lost(self, job: JobRecord) -> None:
        """Our lease ran out (this process was stopped, or could not reach the database) and the job
        went back to the queue: stop the engine work, whose results would be void, and write nothing."""
        log.warning(
            "job %s: its claim ran out and was taken over; this worker's work on it is dropped", job.id
        )
        self.worker.kill()
        self.worker.stop()
        if not self._env.stopping.is_set():
            self._ensure_worker()

    def _run_control(self, command: LoadCommand | UnloadCommand) -> ControlResult:
        worker_id, listener = self.worker.worker_id, self._env.listener
        if isinstance(command, LoadCommand) and self.worker.loaded_context == command.context:
            return ControlResult(worker_id, True, seconds=0.0)  # the worker would answer nothing
        model = command.context.model_path if isinstance(command, LoadCommand) else None
        try:
            self.worker.send(command)
            for message in self._messages():
                if isinstance(message, PhaseChanged) and message.phase == JobPhase.LOADING:
                    listener.system(events.ModelLoading(worker_id=worker_id, model=model))
                elif isinstance(message, ModelLoaded):
                    listener.system(
                        events.ModelLoaded(worker_id=worker_id, model=model, seconds=message.seconds)
                    )
                    log.info("worker %s loaded %s in %.1f s", worker_id, model, message.seconds)
                    return ControlResult(worker_id, True, seconds=message.seconds)
                elif isinstance(message, ModelUnloaded):
                    listener.system(events.ModelUnloaded(worker_id=worker_id))
                    return ControlResult(worker_id, True)
                elif isinstance(message, CommandFailed):
                    if message.code == ErrorCode.MODEL_LOAD_FAILED:
                        self._replace_worker()
                    return ControlResult(worker_id, False, message.code, hide_server_folders(message.message))
            raise AssertionError("unreachable: _messages() ends only by raising WorkerExited")
        except WorkerExited as exc:
            detail = f"; last engine messages: {' | '.join(exc.last_log[-3:])}" if exc.last_log else ""
            log.error("engine worker %s %s during %s", worker_id, exc.description, type(command).__name__)
            listener.system(events.WorkerCrashed(worker_id=worker_id, job_id=None, reason=exc.description))
            if not self._env.stopping.is_set():
                self._ensure_worker()
            what = f"loading '{model}'" if model else "unloading"
            return ControlResult(
                worker_id,
                False,
                ErrorCode.WORKER_CRASHED,
                f"the engine worker process {exc.description} while {what}{detail}",
            )

    def _ensure_worker(self) -> bool:
        if self.worker.alive:
            return True
        try:
            self.worker.start()
        except WorkerStartFailed as exc:
            log.error("engine worker %s could not start: %s", self.worker.worker_id, exc)
            self._env.listener.system(
                events.WorkerStartFailed(worker_id=self.worker.worker_id, message=str(exc))
            )
            return False
        self._env.listener.system(events.WorkerStarted(worker_id=self.worker.worker_id, pid=self.worker.pid))
        return True

    def _execute(self, job: JobRecord) -> None:
        store = self._env.store
        try:
            command = self._env.build_command(job)
        except JobPreparationError as exc:
            store.fail(job.id, exc.code, exc.message, token=job.claim_token)
            return
        clock = _StepClock(job.total_steps)
        if isinstance(command, GenerateCommand):
            with self._lock:
                self._job_context = command.context
        try:
            self.worker.send(command)
            for message in self._messages():
                if self._handle(job, command, message, clock):
                    return
        except WorkerExited as exc:
            self._on_worker_exit(job, exc)

    def _handle(
        self, job: JobRecord, command: GenerateCommand | ConvertCommand, message: object, clock: _StepClock
    ) -> bool:
        """Apply one worker message; True when the job has reached its end."""
        if isinstance(message, StepProgress):
            # Clients hear of a step before it is written down: the write (an fsync) is not on the
            # path from the engine's callback to the WebSocket.
            average = clock.add(message.step_seconds)
            clock.total_steps = message.total_steps
            # Issue 16: a convert reports the engine's tensor progress as its steps.
            phase = JobPhase.CONVERTING if isinstance(command, ConvertCommand) else JobPhase.SAMPLING
            snapshot = dataclasses.replace(
                job,
                phase=phase,
                current_step=message.step,
                total_steps=message.total_steps,
                step_seconds=average,
            )
            self._env.listener.job_changed(job.id, engine_time=message.wall_time, snapshot=snapshot)
            if clock.should_write(message.step, message.total_steps):
                self._env.store.update_progress(
                    job.id,
                    phase=phase,
                    current_step=message.step,
                    total_steps=message.total_steps,
                    step_seconds=average,
                    token=job.claim_token,
                )
            return False
        finished = self._apply(job, command, message, clock)
        listener, worker_id = self._env.listener, self.worker.worker_id
        if isinstance(message, PhaseChanged):
            listener.job_changed(job.id)
        elif isinstance(message, PreviewImage):
            listener.job_preview(job.id, message.step, message.jpeg)
        elif isinstance(message, ModelLoaded):
            listener.system(
                events.ModelLoaded(
                    worker_id=worker_id, model=job.model_name, seconds=round(message.seconds, 3)
                )
            )
        elif isinstance(message, ModelUnloaded):
            listener.system(events.ModelUnloaded(worker_id=worker_id))
        if isinstance(message, PhaseChanged) and message.phase == JobPhase.LOADING:
            listener.system(events.ModelLoading(worker_id=worker_id, model=job.model_name))
        return finished

    def _apply(
        self, job: JobRecord, command: GenerateCommand | ConvertCommand, message: object, clock: _StepClock
    ) -> bool:
        store = self._env.store
        total = clock.total_steps
        if isinstance(message, PhaseChanged):
            current = total if message.phase in (JobPhase.DECODING, JobPhase.SAVING) else 0
            store.update_progress(
                job.id,
                phase=JobPhase(message.phase),
                current_step=current,
                total_steps=total,
                step_seconds=clock.add(0),
                token=job.claim_token,
            )
        elif isinstance(message, ModelLoaded):
            log.info(
                "worker %s loaded %s in %.1f s",
                self.worker.worker_id,
                message.context.model_path or message.context.diffusion_model_path,
                message.seconds,
            )
        elif isinstance(message, JobFinished):
            if store.complete(job.id, message.files, message.timings, token=job.claim_token):
                log.info("job %s completed in %.1f s", job.id, message.generate_seconds)
            else:
                log.warning("job %s: completion refused, the claim was no longer this worker's", job.id)
            return True
        elif isinstance(message, CommandFailed):
            store.fail(job.id, message.code, hide_server_folders(message.message), token=job.claim_token)
            if message.code == ErrorCode.MODEL_LOAD_FAILED:
                self._replace_worker()
            log.warning("job %s failed: %s", job.id, message.message)
            return True
        return False

    def _replace_worker(self) -> None:
        """After a failed load the engine's state is not to be trusted (seen here: the next load in
        the same process segfaulted), so the worker is ended at once, before any destructor runs,
        and a fresh one started."""
        self.worker.kill()
        self.worker.stop()
        if not self._env.stopping.is_set():
            self._ensure_worker()

    def _on_worker_exit(self, job: JobRecord, exc: WorkerExited) -> None:
        store = self._env.store
        with self._lock:
            cancelled = self._cancel_job_id == job.id
        if cancelled or self._env.cancels.take(job.id):
            store.mark_cancelled(job.id, token=job.claim_token)
            log.info("job %s cancelled; its worker was stopped", job.id)
        elif self._env.stopping.is_set():
            # A graceful stop: this start does not count as an attempt, the job keeps its place.
            store.requeue(job.id, count_attempt=False, token=job.claim_token)
        else:
            detail = f"; last engine messages: {' | '.join(exc.last_log[-3:])}" if exc.last_log else ""
            latest = store.get(job.id)
            phase = latest.phase if latest and latest.phase else "starting"
            store.fail(
                job.id,
                ErrorCode.WORKER_CRASHED,
                f"the engine worker process {exc.description} while {phase} "
                f"({describe_job_files(job)}){detail}",
                token=job.claim_token,
            )
            log.error("engine worker %s %s during job %s", self.worker.worker_id, exc.description, job.id)
            self._env.listener.system(
                events.WorkerCrashed(worker_id=self.worker.worker_id, job_id=job.id, reason=exc.description)
            )
        # Replace the worker now, so the next job does not wait for the start.
        if not self._env.stopping.is_set():
            self._ensure_worker()
