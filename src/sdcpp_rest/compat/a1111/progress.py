"""AUTOMATIC1111's progress, interrupt and skip, over the caller's jobs in the native queue (an
admin's cover every job, as on the native API)."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from sdcpp_rest.api.deps import JobsDep
from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.compat.a1111.deps import CHALLENGE, QueueUser
from sdcpp_rest.compat.credentials import basic_or_bearer_principal, requiring
from sdcpp_rest.errors import JobNotFound
from sdcpp_rest.schemas.jobs import JobStatus

router = APIRouter(tags=["progress"])
QueueReader = Annotated[
    Principal, Depends(requiring(basic_or_bearer_principal, Permission.QUEUE_READ, CHALLENGE))
]


def _timestamp(seconds: float | None) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.localtime(seconds)) if seconds else "0"


@router.get("/progress", summary="Progress of the caller's running job; job_count 0 when idle")
def progress(
    principal: QueueReader,
    jobs: JobsDep,
    skip_current_image: bool = Query(False, description="Leave out the live preview."),
) -> dict[str, Any]:
    active = jobs.list(principal, finished_limit=0).jobs
    running = [job for job in active if job.status is JobStatus.PROCESSING]
    current = running[0] if running else None
    state = {
        "skipped": False,
        "interrupted": False,
        "stopping_generation": False,
        "job": current.mode if current else "",
        "job_count": len(active),
        "job_timestamp": _timestamp(current.start_time if current else None),
        "job_no": active.index(current) if current else 0,
        "sampling_step": current.current_step if current else 0,
        "sampling_steps": current.total_steps if current else 0,
    }
    preview = None
    if current is not None and not skip_current_image:
        with contextlib.suppress(JobNotFound):  # deleted since the listing
            preview = jobs.latest_preview(current.id, principal)
    return {
        "progress": current.progress if current else 0.0,
        "eta_relative": (current.time_remaining or 0) / 1000 if current else 0.0,
        "state": state,
        "current_image": preview,
        "textinfo": current.phase if current else None,
        "current_task": current.id if current else None,
    }


@router.post("/interrupt", summary="Cancel the caller's running job")
def interrupt(principal: QueueUser, jobs: JobsDep) -> dict[str, Any]:
    jobs.cancel_running(principal)
    return {}


@router.post("/skip", summary="Cancel the caller's running job (there is no per-image skip)")
def skip(principal: QueueUser, jobs: JobsDep) -> dict[str, Any]:
    jobs.cancel_running(principal)
    return {}
