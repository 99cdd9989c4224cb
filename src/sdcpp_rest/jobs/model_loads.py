"""Load and unload checkpoints in the engine workers on request (POST /api/models/{id}/load|unload).

The work runs on the worker slot's own thread (see Scheduler.load_model); this service only picks
the context, waits with a bound, and turns the outcome into the API's errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sdcpp_rest.catalog.service import ModelView
from sdcpp_rest.engine.protocol import EngineContext
from sdcpp_rest.errors import ApiError, ErrorCode, ServiceUnavailable
from sdcpp_rest.jobs.scheduler.scheduler import Scheduler

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


class ModelLoads:
    """Loads and unloads checkpoints in the workers; knows the API's errors, not HTTP."""

    def __init__(
        self,
        scheduler: Scheduler,
        context_for: Callable[[str], EngineContext],
        timeout_s: float = LOAD_TIMEOUT_SECONDS,
    ) -> None:
        self._scheduler = scheduler
        self._context_for = context_for
        self._timeout_s = timeout_s

    def load(self, view: ModelView) -> LifecycleOutcome:
        """Load the checkpoint with the context a plain generation request would use, so the next job
        on it does not reload; MODEL_LOAD_FAILED carries the engine's reason."""
        if view.model.error:
            raise ModelLoadFailed(f"model '{view.model.name}' cannot be loaded: {view.model.error}")
        context = self._context_for(str(view.model.real_path))
        result = self._scheduler.load_model(context, self._timeout_s)
        if result is None:
            raise ServiceUnavailable(
                f"loading '{view.model.name}' takes longer than {self._timeout_s:.0f} s; it goes on in the "
                "background (see 'loaded' in /api/models)"
            )
        if not result.ok and result.code == ErrorCode.SERVICE_UNAVAILABLE:
            raise ServiceUnavailable(result.message)  # an API node: no engine worker here
        if not result.ok:
            raise ModelLoadFailed(f"could not load '{view.model.name}': {result.message} ({result.code})")
        return LifecycleOutcome([result.worker_id], result.seconds)

    def unload(self, view: ModelView) -> LifecycleOutcome:
        """Free the checkpoint in every worker that holds it; MODEL_NOT_LOADED when none does."""
        results = self._scheduler.unload_model(str(view.model.real_path), self._timeout_s)
        if results is None:
            raise ServiceUnavailable(f"unloading '{view.model.name}' did not finish in time; it goes on")
        if not results:
            raise ModelNotLoaded(f"model '{view.model.name}' is not loaded in any worker")
        failed = [r for r in results if not r.ok]
        if failed:
            raise ApiError(f"unloading '{view.model.name}' failed: {failed[0].message}")
        return LifecycleOutcome([r.worker_id for r in results])
