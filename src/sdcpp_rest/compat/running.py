"""Blocking calls on top of the durable queue: submit an ordinary job, wait for its end without
holding a thread (JobService's events wake the wait), and cancel the job if the client goes away
first. A server shutdown cancels the waiting request, not the job: it stays queued and runs after
the restart, like any other job."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from fastapi import Request
from PIL import Image
from starlette.concurrency import run_in_threadpool

from sdcpp_rest.auth.permissions import Principal
from sdcpp_rest.errors import ApiError, ErrorCode, JobNotCancellable, JobNotFound
from sdcpp_rest.events.types import JobUpdated
from sdcpp_rest.jobs.planning import GenerationRequest
from sdcpp_rest.jobs.service import JobService, QueuedJob
from sdcpp_rest.outputs.files import OutputStore
from sdcpp_rest.schemas.jobs import FINAL_STATUSES, JobPublic, JobStatus

# How long a blocking call waits for its job (a long queue on a CPU can take hours); past this the
# call answers an error and the job goes on, to be fetched through the native API.
WAIT_SECONDS = 6 * 3600.0
# The HTTP status a failed job's error code answers with (the rest: 500).
_FAILURE_STATUS = {ErrorCode.MODEL_NOT_FOUND.value: 404, ErrorCode.JOB_INTERRUPTED.value: 503}


class ClientGone(Exception):
    """The client disconnected before its job ended; the job was cancelled."""


# Tells the OpenAI SDK not to retry (it retries 409 and 5xx by default): a retry would be a new job.
NO_RETRY = {"x-should-retry": "false"}


class JobFailed(ApiError):
    """A job that ended failed: its stored error, with a status by its error code."""

    def __init__(self, job: JobPublic) -> None:
        code = job.error_code or ErrorCode.GENERATION_FAILED.value
        super().__init__(
            job.error or "the generation failed",
            code=ErrorCode(code) if code in ErrorCode.__members__ else ErrorCode.GENERATION_FAILED,
            status_code=_FAILURE_STATUS.get(code, 500),
            headers=NO_RETRY,
        )


class JobCancelled(ApiError):
    """The job was cancelled (by its owner elsewhere, or an admin) before it finished."""

    code, status_code = ErrorCode.JOB_INTERRUPTED, 409

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} was cancelled before it finished", headers=NO_RETRY)


class WaitTimedOut(ApiError):
    code, status_code = ErrorCode.SERVICE_UNAVAILABLE, 504


@dataclass(frozen=True)
class OutputImage:
    png: bytes
    infotext: str
    size: tuple[int, int]

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode()


async def submit(jobs: JobService, request: GenerationRequest, principal: Principal) -> QueuedJob:
    """JobService.submit on a worker thread (it decodes and writes the input images)."""
    return await run_in_threadpool(jobs.submit, request, principal)


async def _disconnected(request: Request) -> None:
    """Returns when the client closes the connection. The body has been read by then, so the next
    message the server gives is the disconnect itself: no polling."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def cancel_quietly(jobs: JobService, job_id: str, principal: Principal) -> None:
    """Cancel a job that may have ended meanwhile (an interrupt may have been faster)."""
    with contextlib.suppress(JobNotCancellable, JobNotFound):
        jobs.cancel(job_id, principal)


async def wait_for_job(request: Request, jobs: JobService, job_id: str, principal: Principal) -> JobPublic:
    """The job once final; ClientGone (the job cancelled) if the client disconnects first."""
    waiter = asyncio.ensure_future(jobs.wait_async(job_id, principal, WAIT_SECONDS))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done():
            job = waiter.result()
        else:
            await run_in_threadpool(cancel_quietly, jobs, job_id, principal)
            raise ClientGone()
    finally:
        for task in (waiter, gone):
            task.cancel()
    if job.status not in FINAL_STATUSES:
        raise WaitTimedOut(f"job {job_id} is still {job.status}; follow it at /api/queue/job/{job_id}")
    if job.status is JobStatus.FAILED:
        raise JobFailed(job)
    return job


async def run_job(
    request: Request, jobs: JobService, native: GenerationRequest, principal: Principal
) -> JobPublic:
    """Submit `native` as an ordinary job and wait for its end (see wait_for_job)."""
    queued = await submit(jobs, native, principal)
    return await wait_for_job(request, jobs, queued.job_id, principal)


async def follow(jobs: JobService, job_id: str, principal: Principal) -> AsyncGenerator[JobUpdated, None]:
    """The job's updates until its final one (for streaming replies)."""
    async with contextlib.aclosing(jobs.updates(job_id, principal, WAIT_SECONDS)) as updates:
        async for update in updates:
            yield update


def read_outputs(outputs: OutputStore, job: JobPublic) -> list[OutputImage]:
    """The job's output PNGs as written (their `parameters` infotext included). Blocking: file reads."""
    images = []
    for output in job.outputs:
        path = outputs.find_output(job.id, output.filename)
        if path is None:
            continue  # removed meanwhile by the retention cleanup
        png = path.read_bytes()
        with Image.open(io.BytesIO(png)) as image:
            infotext = str(getattr(image, "text", {}).get("parameters", ""))
            size = image.size
        images.append(OutputImage(png, infotext, size))
    return images
