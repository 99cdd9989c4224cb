"""Wire schemas of the operations endpoints: estimate, system, config, restart."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

BasisName = Literal["measured", "scaled", "default"]


class EstimateBreakdown(BaseModel):
    queue_wait_seconds: float = Field(description="Until a worker is free: the jobs ahead, replayed.")
    load_seconds: float = Field(description="Loading the model; 0 when the worker will hold it already.")
    encode_seconds: float = Field(description="Prompt encoding, before the first step.")
    sampling_seconds: float = Field(description="steps x batch_count x seconds_per_step.")
    decode_seconds: float = Field(description="VAE decode of every image.")
    overhead_seconds: float = Field(description="The rest: saving PNGs, messages between processes.")


class MemoryEstimate(BaseModel):
    peak_bytes: int = Field(description="Expected peak resident memory of the worker during the job.")
    basis: BasisName


class EstimateReply(BaseModel):
    model_name: str
    mode: str = "text2img"
    basis: BasisName = Field(
        description="measured: finished jobs of this model, mode and size; scaled: of this model and mode "
        "at other sizes, scaled by pixel count; default: no history yet, built-in figures."
    )
    estimated_seconds: float = Field(description="From now until the images are saved.")
    run_seconds: float = Field(description="From the job's start until its images are saved.")
    seconds_per_step: float
    model_loaded: bool = Field(description="A worker that would run the job already holds the model.")
    jobs_ahead: int = Field(description="Queued jobs that would run before this one.")
    history_jobs: int = Field(description="Finished jobs of this model and mode the estimate learned from.")
    breakdown: EstimateBreakdown
    memory: MemoryEstimate


class CpuInfo(BaseModel):
    model: str | None
    cores: int = Field(description="Logical CPUs of the machine.")
    usable_cores: int = Field(description="Logical CPUs this process may run on (affinity, cgroups aside).")


class MemoryInfo(BaseModel):
    total_bytes: int | None
    free_bytes: int | None = Field(description="Available for new work (MemAvailable).")


class DiskInfo(BaseModel):
    path: str
    total_bytes: int | None
    free_bytes: int | None


class GpuInfo(BaseModel):
    index: int
    name: str
    memory_total_bytes: int
    memory_free_bytes: int


class EngineInfo(BaseModel):
    system_info: str = Field(description="stable-diffusion.cpp's own report; empty until a worker started.")
    features: dict[str, bool] = Field(description="Build features from that report (AVX2, FMA, ...).")


class ProcessInfo(BaseModel):
    pid: int
    resident_memory_bytes: int | None


class WorkerInfo(BaseModel):
    worker_id: str
    pid: int | None
    alive: bool
    job_id: str | None
    loaded_model: str | None
    resident_memory_bytes: int | None


class ClusterWorkerInfo(BaseModel):
    """An engine worker of the cluster, as its process last wrote it in the workers table."""

    worker_id: str
    node: str = Field(description="The process running it: node name and pid.")
    host: str
    device: str = Field(description="GPU or CPU.")
    status: str = Field(description="starting, idle, busy, stopped, or offline (no heartbeat for 3 leases).")
    models: list[str] = Field(description="The checkpoints it has (the jobs it can take).")
    loaded_model: str | None
    job_id: str | None
    heartbeat_age_seconds: float


class SystemInfo(BaseModel):
    cpu: CpuInfo
    memory: MemoryInfo
    disk: dict[str, DiskInfo] = Field(description="`models` and `outputs` folders.")
    gpus: list[GpuInfo] = Field(description="Through NVML when installed; empty when none is found.")
    engine: EngineInfo
    server: ProcessInfo
    workers: list[WorkerInfo]
    cluster_workers: list[ClusterWorkerInfo] = Field(
        default_factory=list, description="Every engine worker of the cluster (this node's included)."
    )


class SystemReply(BaseModel):
    system: SystemInfo


class ConfigReply(BaseModel):
    config: dict[str, Any] = Field(description='Effective settings; secrets are "[REDACTED]".')


class RestartReply(BaseModel):
    message: str
    nodes: list[str] = Field(
        default_factory=list,
        description="In a cluster (PostgreSQL): the other processes with engine workers that were asked "
        "to restart theirs too (`node` in /api/system's cluster_workers).",
    )
