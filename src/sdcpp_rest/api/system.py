"""Health, status and version: the public endpoints monitoring uses."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from sdcpp_rest.api.deps import ServicesDep
from sdcpp_rest.cluster.view import cluster_workers
from sdcpp_rest.jobs.records import JobStatus

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health", summary="Is the server running and healthy?")
async def health(services: ServicesDep) -> dict[str, Any]:
    return {"status": "healthy", "timestamp": int(time.time()), "version": services.version.version}


@router.get("/status", summary="Server, queue and model status")
def status(services: ServicesDep) -> dict[str, Any]:
    counts = services.jobs.count_by_status()
    settings = services.settings
    workers = cluster_workers(services.registry, settings.claim_lease_seconds)
    online = [worker for worker in workers if worker.status not in ("stopped", "offline")]
    return {
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
        "workers": [worker.model_dump() for worker in workers],
        "models": {
            "loaded_count": len(services.scheduler.loaded_models()),
            "available_count": len(services.model_files.list_checkpoints()),
        },
    }


@router.get("/version", summary="Version, commit and build time")
async def version(services: ServicesDep) -> dict[str, object]:
    return services.version.as_public()
