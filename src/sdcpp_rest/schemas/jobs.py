"""Job, queue and validation replies (pydantic), shared by the routers and the OpenAPI document."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sdcpp_rest.errors import ErrorCode


class JobStatus(StrEnum):
    """Where a job is in its life (jobs/records.py holds the allowed transitions)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobPhase(StrEnum):
    """What a processing job is doing right now."""

    WAITING = "waiting"
    LOADING = "loading"
    ENCODING = "encoding"
    SAMPLING = "sampling"
    DECODING = "decoding"
    SAVING = "saving"
    DOWNLOADING = "downloading"  # issue 16: a model download streaming in
    VERIFYING = "verifying"  # issue 16: its header and hash checked before it is moved into place
    CONVERTING = "converting"  # issue 16: the engine writes a GGUF


class JobMode(StrEnum):
    """The endpoint a job came in through; it decides which parameters it has."""

    TEXT2IMG = "text2img"
    IMG2IMG = "img2img"
    INPAINTING = "inpainting"
    CONTROLNET = "controlnet"
    UPSCALE = "upscale"
    MODEL_DOWNLOAD = "model_download"  # issue 16: runs on the server's download runner, no engine
    MODEL_CONVERT = "model_convert"  # issue 16: a GGUF written by the binding's convert() in a worker
    TXT2VID = "txt2vid"
    IMG2VID = "img2vid"


class QueuedReply(BaseModel):
    request_id: str = Field(description="The job id (use it with /api/queue/job/{jobId}).")
    job_id: str
    status: JobStatus
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
    status: JobStatus
    mode: JobMode
    prompt: str
    model_name: str | None
    seed: int
    queued_time: int = Field(description="Unix seconds.")
    start_time: int | None
    end_time: int | None
    position: int = Field(description="Place in the line (1 = next); 0 once started.")
    progress: float = Field(description="0..1")
    phase: JobPhase | None = Field(
        description="What the job is doing while it is processing; null otherwise."
    )
    current_step: int
    total_steps: int
    time_elapsed: int = Field(description="Milliseconds since the job started.")
    time_remaining: int | None = Field(description="Milliseconds, estimated from this job's step times.")
    speed: float | None = Field(description="Sampling steps per second.")
    attempts: int
    parameters: dict[str, Any]
    outputs: list[JobOutput]
    error: str | None
    error_code: ErrorCode | None
    download: DownloadProgressPublic | None = Field(None, description="Model downloads only (issue 16).")


class JobPreview(BaseModel):
    """A live preview of a running job (the JPEG in base64)."""

    step: int
    mime_type: str = "image/jpeg"
    data: str


class JobUpdate(BaseModel):
    """A job's new state as a WebSocket job_update carries it (the spec's fields, times in ms).

    `download`, `outputs`, `preview` and `engine_timestamp` are left out of the wire form when they do
    not apply (not sent as null), as clients have always seen it."""

    job_id: str
    status: JobStatus
    model_name: str | None
    seed: int
    position: int
    progress: float
    phase: JobPhase | None
    current_step: int
    total_steps: int
    time_elapsed: int
    time_remaining: int | None
    speed: float | None
    error: str | None
    error_code: ErrorCode | None
    timestamp: int = Field(description="When the update was made (Unix milliseconds).")
    download: DownloadProgressPublic | None = None
    outputs: list[JobOutput] | None = None
    engine_timestamp: float | None = Field(
        None, description="When the engine reported this step (Unix ms): lets a client measure delay."
    )
    preview: JobPreview | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def wire(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for optional in ("download", "outputs", "engine_timestamp", "preview"):
            if data[optional] is None:
                del data[optional]
        return data


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
