"""Health, status and version: the public endpoints monitoring uses."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from sdcpp_rest.api.deps import MaybePrincipal, ServicesDep
from sdcpp_rest.auth.permissions import Permission
from sdcpp_rest.cluster.view import cluster_workers
from sdcpp_rest.jobs.records import JobStatus

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health", summary="Is the server running and healthy?")
async def health(services: ServicesDep) -> dict[str, Any]:
    return {"status": "healthy", "timestamp": int(time.time()), "version": services.version.version}


@router.get(
    "/status",
    summary="Server, queue and model status",
    description="Public: counts only. `workers` (each worker's running job id and model) is included "
    "for callers holding `system:read` (every signed-in user; everyone when auth is off): job ids and "
    "model names are not for guests.",
)
def status(services: ServicesDep, principal: MaybePrincipal) -> dict[str, Any]:
    counts = services.jobs.count_by_status()
    settings = services.settings
    workers = cluster_workers(services.registry, settings.claim_lease_seconds)
    online = [worker for worker in workers if worker.status not in ("stopped", "offline")]
    reply: dict[str, Any] = {
        "server": {
            "running": True,
            "host": settings.host,
            "port": settings.port,
            "uptime_seconds": int(time.time() - services.started_at),
        },
        "generation_queue": {
            "running": services.scheduler.is_running,
            "queue_size": counts[JobStatus.QUEUED],
            # As the database sees it: jobs running on every worker of the cluster.
            "active_generations": counts[JobStatus.PROCESSING],
            "max_concurrent_generations": len(online) if online else len(services.scheduler.workers()),
        },
        "models": {
            "loaded_count": len(services.scheduler.loaded_models()),
            "available_count": len(services.model_files.list_checkpoints()),
        },
    }
    if principal is not None and principal.can(Permission.SYSTEM_READ):
        reply["workers"] = [worker.model_dump() for worker in workers]
    return reply


@router.get("/version", summary="Version, commit and build time")
async def version(services: ServicesDep) -> dict[str, object]:
    return services.version.as_public()
