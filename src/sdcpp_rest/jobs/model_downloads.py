"""Submitting a model download (POST /api/models/download, issue 16): check what can be checked
before anything is queued (the URL's form, the type, the target name inside its folder and free,
the hash's form), then queue a `model_download` job for the download runner (jobs/download_runner.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from sdcpp_rest.catalog.intake import NameTaken, check_pickle_allowed, intake_target
from sdcpp_rest.downloads.images import parse_target
from sdcpp_rest.downloads.models import SHA256_HEX
from sdcpp_rest.downloads.sources import SourceSettings, file_name_of, resolve_source
from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.params import JobMode, ModelDownloadParams
from sdcpp_rest.jobs.records import JobRecord, JobStatus, NewJob
from sdcpp_rest.jobs.store import JobStore
from sdcpp_rest.schemas.model_files import ModelDownloadRequest


class ModelDownloads:
    def __init__(
        self,
        store: JobStore,
        wake_runner: Callable[[], None],
        notifier: JobNotifier,
        sources: SourceSettings,
        type_folder: Callable[[str], Path],
        allow_pickle: bool,
    ) -> None:
        self._store = store
        self._allow_pickle = allow_pickle
        self._wake_runner = wake_runner
        self._notifier = notifier
        self._sources = sources
        self._type_folder = type_folder

    def submit(self, request: ModelDownloadRequest, owner: str | None) -> JobRecord:
        url = resolve_source(request.url, self._sources)
        try:
            parse_target(url)
        except InvalidParameters as exc:
            raise InvalidParameters(exc.message, field="url") from None
        filename = request.filename or file_name_of(url)
        sha256 = request.sha256.lower() if request.sha256 else None
        if sha256 is not None and not SHA256_HEX.match(sha256):
            raise InvalidParameters("sha256 must be 64 hexadecimal digits", field="sha256")
        field = "filename" if request.filename else "url"
        check_pickle_allowed(filename, self._allow_pickle, field=field)
        intake_target(self._type_folder(request.type), request.type, filename, "check", field=field)
        for job in self._store.list_jobs([JobStatus.QUEUED, JobStatus.PROCESSING]):
            other = job.params
            if isinstance(other, ModelDownloadParams) and (other.type, other.filename) == (
                request.type,
                filename,
            ):
                raise NameTaken(f"download {job.id} already writes the {request.type} '{filename}'")
        params = ModelDownloadParams(url=url, type=request.type, filename=filename, sha256=sha256)
        new = NewJob(
            id=str(uuid.uuid4()), mode=JobMode.MODEL_DOWNLOAD, owner=owner, model_name=None, prompt="",
            seed=0, total_steps=0, params=params,
        )  # fmt: skip
        job = self._store.add(new)
        self._notifier.job_added(job)  # before the wake-up (see job_added)
        self._wake_runner()
        return job
