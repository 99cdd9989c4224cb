"""Load and unload checkpoints in the engine workers on request (POST /api/models/{id}/load|unload).

The work runs on the worker slot's own thread (see Scheduler.load_model); this service only picks
the context, waits with a bound, and turns the outcome into the API's errors. In a cluster, a process
without engine workers (an API node) asks the other processes through the database (`remote`), and
an unload reaches every process holding the checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sdcpp_rest.catalog.service import ModelView
from sdcpp_rest.engine.protocol import EngineContext
from sdcpp_rest.errors import ApiError, ErrorCode, ServiceUnavailable
from sdcpp_rest.jobs.scheduler.scheduler import Scheduler
from sdcpp_rest.jobs.scheduler.shared import ControlResult

# A load waits behind a running job and a 7 GB model takes a while to read; past this the request
# answers 503 and the load carries on in the worker.
LOAD_TIMEOUT_SECONDS = 300.0


class ModelLoadFailed(ApiError):
    code, status_code = ErrorCode.MODEL_LOAD_FAILED, 500


class ModelNotLoaded(ApiError):
    code, status_code = ErrorCode.MODEL_NOT_LOADED, 409


@dataclass(frozen=True)
class LifecycleOutcome:
    worker_ids: list[str]
    seconds: float | None = None


class OtherProcesses(Protocol):
    """The engine workers of the cluster's other processes (cluster/remote_workers.py); a process
    that cannot reach them raises ServiceUnavailable with the reason."""

    def load(self, model: str, timeout: float) -> ControlResult | None: ...

    def unload(self, model: str, timeout: float) -> list[ControlResult] | None: ...


class ModelLoads:
    """Loads and unloads checkpoints in the workers; knows the API's errors, not HTTP."""

    def __init__(
        self,
        scheduler: Scheduler,
        context_for: Callable[[str], EngineContext],
        timeout_s: float = LOAD_TIMEOUT_SECONDS,
        remote: OtherProcesses | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._context_for = context_for
        self._timeout_s = timeout_s
        self._remote = remote

    def load(self, view: ModelView) -> LifecycleOutcome:
        """Load the checkpoint with the context a plain generation request would use, so the next job
        on it does not reload; MODEL_LOAD_FAILED carries the engine's reason. A process without engine
        workers of its own has another process of the cluster load it."""
        name = view.model.name
        if view.model.error:
            raise ModelLoadFailed(f"model '{name}' cannot be loaded: {view.model.error}")
        if self._remote is not None and not self._scheduler.workers():
            result = self._remote.load(name, self._timeout_s)
        else:
            result = self.load_here(str(view.model.real_path))
        if result is None:
            raise ServiceUnavailable(
                f"loading '{name}' takes longer than {self._timeout_s:.0f} s; it goes on in the "
                "background (see 'loaded' in /api/models)"
            )
        if not result.ok and result.code == ErrorCode.SERVICE_UNAVAILABLE:
            raise ServiceUnavailable(result.message)  # an API node outside a cluster: no engine anywhere
        if not result.ok:
            raise ModelLoadFailed(f"could not load '{name}': {result.message} ({result.code})")
        return LifecycleOutcome([result.worker_id], result.seconds)

    def unload(self, view: ModelView) -> LifecycleOutcome:
        """Free the checkpoint in every worker that holds it, in this process and (in a cluster) the
        others; MODEL_NOT_LOADED when none does."""
        name = view.model.name
        results = self.unload_here(str(view.model.real_path))
        if results is not None and self._remote is not None:
            elsewhere = self._remote.unload(name, self._timeout_s)
            results = None if elsewhere is None else [*results, *elsewhere]
        if results is None:
            raise ServiceUnavailable(f"unloading '{name}' did not finish in time; it goes on")
        if not results:
            raise ModelNotLoaded(f"model '{name}' is not loaded in any worker")
        failed = [r for r in results if not r.ok]
        if failed:
            raise ApiError(f"unloading '{name}' failed: {failed[0].message}")
        return LifecycleOutcome([r.worker_id for r in results])

    def load_here(self, model_path: str) -> ControlResult | None:
        """Load in one of this process's engine workers (None: not within the timeout)."""
        return self._scheduler.load_model(self._context_for(model_path), self._timeout_s)

    def unload_here(self, model_path: str) -> list[ControlResult] | None:
        """Unload from this process's engine workers holding it ([] when none does)."""
        return self._scheduler.unload_model(model_path, self._timeout_s)
