"""A worker process's heartbeat: its engine workers' rows in the workers table, rewritten a few times
per claim lease (status, loaded model, job), marked stopped when the process ends."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from sdcpp_rest.cluster.registry import ClusterWorker, WorkerRegistry
from sdcpp_rest.jobs.scheduler.shared import WorkerState
from sdcpp_rest.storage.outage import log_failed_turn

log = logging.getLogger(__name__)

# Backends the engine's system info names when it was built for a GPU (ggml's flags).
_GPU_FLAGS = ("CUDA", "VULKAN", "METAL", "HIPBLAS", "ROCM", "SYCL", "OPENCL")


def node_name(configured: str | None) -> str:
    """This process in the cluster: the configured node name (default: the host name) and the pid,
    so two processes on one machine never share worker ids."""
    return f"{configured or socket.gethostname()}.{os.getpid()}"


def device_of(system_info: str) -> str:
    upper = system_info.upper()
    return "GPU" if any(f"{flag} = 1" in upper for flag in _GPU_FLAGS) else "CPU"


def engine_device(workers: list[WorkerState]) -> str:
    """The device this process's engine workers run on, as the speed presets key it: GPU when one of
    them reports a GPU build, else CPU (also before any worker has started: the default build)."""
    return "GPU" if any(device_of(state.system_info) == "GPU" for state in workers) else "CPU"


def status_of(state: WorkerState) -> str:
    if not state.alive:
        return "starting"
    return "busy" if state.job_id else "idle"


class WorkerHeartbeat:
    def __init__(
        self,
        registry: WorkerRegistry,
        workers: Callable[[], list[WorkerState]],
        models: Callable[[], list[str]],
        *,
        node: str,
        interval_s: float,
    ) -> None:
        self._registry = registry
        self._workers = workers
        self._models = models
        self._node = node
        self._host = socket.gethostname()
        self._interval = interval_s
        self._started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        now = time.time()
        models = self._models()
        self._registry.publish(
            [
                ClusterWorker(
                    id=state.worker_id,
                    node=self._node,
                    host=self._host,
                    pid=state.pid,
                    device=device_of(state.system_info),
                    status=status_of(state),
                    started_at=self._started_at,
                    heartbeat_at=now,
                    models=models,
                    loaded_model=os.path.basename(state.loaded_model) if state.loaded_model else None,
                    job_id=state.job_id,
                )
                for state in self._workers()
            ]
        )

    def start(self) -> None:
        self._registry.forget_stale()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(timeout=10)
        try:
            self._registry.mark_stopped(self._node)
        except Exception:  # the database may be gone at shutdown; the row then goes stale instead
            log.warning("could not mark this process's workers stopped", exc_info=True)

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:  # the database briefly away: the next beat tries again
                log_failed_turn(log, "worker heartbeat", exc, self._interval)
            if self._stop.wait(self._interval):
                return
