"""Delete a model file (DELETE /api/models/{id}): refuse while a queued or running job needs it
(unless forced), unload it from the workers that hold it, move it into the trash, rescan; and restore
it from there.

A job names its files by name, and resolves them again when it runs: deleting a file a queued job
needs would fail that job later, so it is refused with MODEL_IN_USE unless the admin forces it. A
running job that uses it is refused the same way, and cancelled when forced: the delete never waits
for a generation to end (it would hold the request for as long as the job runs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from sdcpp_rest.catalog.service import CatalogService, ModelView
from sdcpp_rest.catalog.trash import ModelTrash, TrashEntry
from sdcpp_rest.errors import ApiError, ErrorCode, ServiceUnavailable
from sdcpp_rest.jobs.model_refs import LORA_TAG
from sdcpp_rest.jobs.records import JobRecord, JobStatus
from sdcpp_rest.jobs.scheduler.shared import ControlResult
from sdcpp_rest.jobs.store import JobStore

log = logging.getLogger(__name__)

UNLOAD_TIMEOUT_SECONDS = 300.0
# Jobs that will resolve their files again when they run, and the ones that have them open.
NEEDING_STATUSES = (JobStatus.QUEUED, JobStatus.PROCESSING)


class ModelInUse(ApiError):
    code, status_code = ErrorCode.MODEL_IN_USE, 409


class ModelRemoval:
    """Moves model files into the trash and back, keeping workers and the catalog in step."""

    def __init__(
        self,
        store: JobStore,
        catalog: CatalogService,
        trash: ModelTrash,
        unload: Callable[[str, float], list[ControlResult] | None],
        model_path_of: Callable[[JobRecord], str],
        cancel_running: Callable[[str], object],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._trash = trash
        self._unload = unload
        self._model_path_of = model_path_of
        self._cancel_running = cancel_running

    def delete(self, model_id: str, *, force: bool) -> TrashEntry:
        view = self._catalog.get(model_id)
        needing = self._jobs_needing(view)
        if needing and not force:
            first = needing[0]
            raise ModelInUse(
                f"{len(needing)} queued or running job(s) need '{view.model.name}' (first: {first.id}, "
                f"{first.status.value}); cancel them or delete with force=true (queued ones will then "
                "fail with MODEL_NOT_FOUND, running ones are cancelled)"
            )
        for job in needing:
            if job.status == JobStatus.PROCESSING:
                self._cancel_running(job.id)
        if view.loaded:
            results = self._unload(str(view.model.real_path), UNLOAD_TIMEOUT_SECONDS)
            if results is None:
                raise ServiceUnavailable(f"unloading '{view.model.name}' did not finish in time; try again")
            failed = [r for r in results if not r.ok]
            if failed:
                raise ApiError(f"unloading '{view.model.name}' failed: {failed[0].message}")
        sha = view.hash.sha256 if view.hash else None
        entry = self._trash.put(view.model.type, view.model.name, view.model.path, view.relative_path, sha)
        self._catalog.refresh()
        return entry

    def restore(self, entry_id: str) -> TrashEntry:
        entry = self._trash.restore(entry_id)
        self._catalog.refresh()
        return entry

    def _jobs_needing(self, view: ModelView) -> list[JobRecord]:
        """The queued and running jobs that name this model (checkpoint, component, LoRA, ...)."""
        real = view.model.real_path
        names = _names_of(view)
        needing = []
        for job in self._store.list_jobs(NEEDING_STATUSES):
            path = self._model_path_of(job)
            if (path and Path(path).resolve() == real) or names & set(_strings(job)):
                needing.append(job)
        return needing


def _names_of(view: ModelView) -> set[str]:
    name = view.model.name
    return {name, str(Path(name).with_suffix("")), Path(name).name, Path(name).stem, view.relative_path}


def _strings(job: JobRecord) -> Iterator[str]:
    """Every string of a job's parameters, and the LoRA names its prompt's tags give."""
    stack: list[object] = [job.params.model_dump()]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
            yield from (match.group(1) for match in LORA_TAG.finditer(value))
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
