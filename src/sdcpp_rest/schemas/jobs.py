"""Job, queue and validation replies (pydantic), shared by the routers and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class QueuedReply(BaseModel):
    request_id: str = Field(description="The job id (use it with /api/queue/job/{jobId}).")
    job_id: str
    status: str
    message: str
    position: int
    seed: int


class JobOutput(BaseModel):
    filename: str
    url: str
    thumbnail_url: str


class DownloadProgressPublic(BaseModel):
    """A model download's progress (issue 16); bytes at KiB precision while it runs."""

    bytes_done: int
    bytes_total: int | None = Field(description="Null while the size is unknown.")
    speed_bytes_per_s: float | None
    type: str = Field(description="The model type whose folder receives the file.")
    filename: str = Field(description="The file's name in that folder once it is in place.")


class JobPublic(BaseModel):
    id: str
    status: str
    mode: str
    prompt: str
    model_name: str | None
    seed: int
    queued_time: int = Field(description="Unix seconds.")
    start_time: int | None
    end_time: int | None
    position: int = Field(description="Place in the line (1 = next); 0 once started.")
    progress: float = Field(description="0..1")
    phase: str | None = Field(description="loading, encoding, sampling, decoding, saving while processing.")
    current_step: int
    total_steps: int
    time_elapsed: int = Field(description="Milliseconds since the job started.")
    time_remaining: int | None = Field(description="Milliseconds, estimated from this job's step times.")
    speed: float | None = Field(description="Sampling steps per second.")
    attempts: int
    parameters: dict[str, Any]
    outputs: list[JobOutput]
    error: str | None
    error_code: str | None
    download: DownloadProgressPublic | None = Field(None, description="Model downloads only (issue 16).")


class QueueBody(BaseModel):
    size: int = Field(description="Jobs waiting.")
    active_generations: int
    running: bool
    jobs: list[JobPublic]


class QueueStatusReply(BaseModel):
    queue: QueueBody


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(..., max_length=64)


class StatusReply(BaseModel):
    status: str
    message: str
    job_id: str | None = None
    cleared: int | None = None


class ValidationIssue(BaseModel):
    field: str
    message: str
    code: str


class ValidateReply(BaseModel):
    valid: bool
    errors: list[ValidationIssue]
    warnings: list[str]
    normalized: dict[str, Any] | None = Field(description="The request with every default filled in.")
