"""Converting a checkpoint to GGUF (POST /api/models/{id}/convert, issue 16): the request is checked
and queued as a `model_convert` job, which an engine worker runs through the binding's convert()
(native code in a child process: a crash fails the job, not the server). When such a job completes,
ConvertedModelsListener rescans the catalog so the new file is listed at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from sdcpp_rest.catalog.intake import NameTaken, intake_target
from sdcpp_rest.catalog.service import CatalogService
from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.events.types import Event
from sdcpp_rest.jobs.changes import JobChanged
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.params import JobMode, ModelConvertParams
from sdcpp_rest.jobs.records import JobRecord, JobStatus, NewJob
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.schemas.model_files import CONVERT_WTYPES, ModelConvertRequest


class ModelConverts:
    def __init__(
        self,
        store: JobStore,
        catalog: CatalogService,
        wake_workers: Callable[[], None],
        notifier: JobNotifier,
        checkpoints_folder: Callable[[], Path],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._wake_workers = wake_workers
        self._notifier = notifier
        self._checkpoints_folder = checkpoints_folder

    def submit(self, model_id: str, request: ModelConvertRequest, owner: str | None) -> JobRecord:
        view = self._catalog.get(model_id, kind="checkpoint")
        wtype = request.wtype.lower()
        if wtype not in CONVERT_WTYPES:
            raise InvalidParameters(f"wtype must be one of {', '.join(CONVERT_WTYPES)}", field="wtype")
        filename = request.filename or f"{Path(view.model.name).with_suffix('').as_posix()}-{wtype}.gguf"
        if not filename.lower().endswith(".gguf"):
            raise InvalidParameters("filename must end in .gguf: convert writes GGUF", field="filename")
        intake_target(self._checkpoints_folder(), "checkpoint", filename, "check")
        for job in self._store.list_jobs([JobStatus.QUEUED, JobStatus.PROCESSING]):
            if isinstance(job.params, ModelConvertParams) and job.params.filename == filename:
                raise NameTaken(f"convert job {job.id} already writes '{filename}'")
        params = ModelConvertParams(source=view.model.name, wtype=wtype, filename=filename)
        new = NewJob(
            id=str(uuid.uuid4()), mode=JobMode.MODEL_CONVERT, owner=owner, model_name=None, prompt="",
            seed=0, total_steps=0, params=params,
        )  # fmt: skip
        job = self._store.add(new)
        self._notifier.job_added(job)  # before the wake-up (see job_added)
        self._wake_workers()
        return job


class ConvertedModelsListener:
    """Rescans the catalog when a convert job this process ran completes (from the job-change event
    on the bus; the row is not read again)."""

    def __init__(self, bus: EventBus, refresh: Callable[[], object]) -> None:
        self._bus = bus
        self._refresh = refresh
        bus.add_listener(self.on_event)

    def close(self) -> None:
        """Stop listening (the bus outlives these services across a restart)."""
        self._bus.remove_listener(self.on_event)

    def on_event(self, event: Event) -> None:
        if not isinstance(event, JobChanged):
            return
        job = event.job
        if job.mode is JobMode.MODEL_CONVERT and job.status is JobStatus.COMPLETED:
            self._refresh()
