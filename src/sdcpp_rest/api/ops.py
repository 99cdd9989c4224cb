"""Operations endpoints: estimate, system report, effective configuration, restart."""

from __future__ import annotations

from fastapi import APIRouter, status

from sdcpp_rest.api.deps import (
    EstimatorDep,
    GenerateDep,
    PlannerDep,
    RestarterDep,
    ServicesDep,
    SettingsDep,
    SystemManageDep,
    SystemReadDep,
)
from sdcpp_rest.cluster.view import cluster_workers
from sdcpp_rest.jobs.estimate import JobShape
from sdcpp_rest.ops.system_report import redacted_config, system_info
from sdcpp_rest.schemas.generate import Text2ImgRequest
from sdcpp_rest.schemas.ops import (
    ConfigReply,
    EstimateBreakdown,
    EstimateReply,
    MemoryEstimate,
    RestartReply,
    SystemReply,
)

router = APIRouter(prefix="/api", tags=["system"])


@router.post(
    "/estimate",
    response_model=EstimateReply,
    summary="Expected time and memory of a text2img job queued now",
    description="Takes the text2img body. Time = queue wait (the jobs ahead) + model load when no worker "
    "holds the model + encode + steps x seconds per step + decode, learned from finished jobs of the model "
    "(`basis` says how); with `hires`, the second pass's steps at the larger size's seconds per step "
    "and the decode at that size. Memory is the worker's expected peak.",
)
def estimate(
    body: Text2ImgRequest, planner: PlannerDep, estimator: EstimatorDep, _: GenerateDep
) -> EstimateReply:
    model_name = planner.check(body)
    assert model_name is not None  # text2img always has a checkpoint
    shape = JobShape.for_request(
        model_name, "text2img", body.width, body.height, body.steps, body.batch_count, body.hires
    )
    result = estimator.estimate(shape)
    run = result.run
    return EstimateReply(
        model_name=model_name,
        basis=run.basis,
        estimated_seconds=round(result.total_seconds, 3),
        run_seconds=round(run.seconds(result.needs_load), 3),
        seconds_per_step=round(run.step_seconds, 4),
        model_loaded=not result.needs_load,
        jobs_ahead=result.jobs_ahead,
        history_jobs=run.history_jobs,
        breakdown=EstimateBreakdown(
            queue_wait_seconds=round(result.queue_wait_seconds, 3),
            load_seconds=round(run.load_seconds if result.needs_load else 0.0, 3),
            encode_seconds=round(run.encode_seconds, 3),
            sampling_seconds=round(run.sampling_seconds, 3),
            decode_seconds=round(run.decode_seconds, 3),
            overhead_seconds=round(run.overhead_seconds, 3),
        ),
        memory=MemoryEstimate(peak_bytes=run.peak_memory_bytes, basis=run.memory_basis),
    )


@router.get("/system", response_model=SystemReply, summary="Machine, engine and worker processes")
def system(services: ServicesDep, _: SystemReadDep) -> SystemReply:
    settings = services.settings
    cluster = cluster_workers(services.registry, settings.claim_lease_seconds)
    return SystemReply(system=system_info(settings, services.scheduler.workers(), cluster))


@router.get("/config", response_model=ConfigReply, summary="Effective configuration, secrets redacted")
def config(settings: SettingsDep, _: SystemReadDep) -> ConfigReply:
    return ConfigReply(config=redacted_config(settings))


@router.post(
    "/system/restart",
    response_model=RestartReply,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Graceful restart of the workers, with the configuration read again",
    description="Answers at once; then no new job starts, a running job may finish within "
    "`restart_grace_seconds` (else it is requeued), the workers restart and the configuration is "
    "reloaded. No queued job is lost. WebSocket `system_update` events: `restarting`, `restarted`. "
    "In a cluster every process with engine workers restarts them (`nodes` lists the others asked).",
)
def restart(restarter: RestarterDep, services: ServicesDep, _: SystemManageDep) -> RestartReply:
    started = restarter.request()
    # In a cluster the other processes restart their engine workers too (each when it reads the command).
    nodes = services.remote.restart() if services.remote is not None else []
    return RestartReply(
        message="Server restart initiated" if started else "Server restart already in progress", nodes=nodes
    )
