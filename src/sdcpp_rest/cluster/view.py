"""The cluster's workers as /api/status and /api/system show them."""

from __future__ import annotations

import time

from sdcpp_rest.cluster.registry import ClusterWorker, WorkerRegistry
from sdcpp_rest.schemas.ops import ClusterWorkerInfo

# A worker whose process has not written its heartbeat for this many leases is shown offline.
OFFLINE_AFTER_LEASES = 3


def _status(worker: ClusterWorker, now: float, stale_after: float) -> str:
    return worker.status if worker.status == "stopped" or worker.online(now, stale_after) else "offline"


def cluster_workers(registry: WorkerRegistry, lease_seconds: float) -> list[ClusterWorkerInfo]:
    now = time.time()
    stale_after = OFFLINE_AFTER_LEASES * lease_seconds
    return [
        ClusterWorkerInfo(
            worker_id=worker.id,
            node=worker.node,
            host=worker.host,
            device=worker.device,
            status=worker.status
            if worker.status == "stopped" or worker.online(now, stale_after)
            else "offline",
            models=worker.models,
            loaded_model=worker.loaded_model,
            job_id=worker.job_id,
            heartbeat_age_seconds=round(max(now - worker.heartbeat_at, 0.0), 3),
        )
        for worker in registry.list_workers()
    ]
