"""Wire schemas of the model file endpoints (delete, trash, restore; issue 16)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrashEntryPublic(BaseModel):
    id: str = Field(description="The trash entry's id: restore it with POST /api/models/trash/{id}/restore.")
    type: str = Field(description="checkpoint, vae, lora, controlnet, embedding, esrgan or taesd.")
    name: str = Field(description="The name the model had in its type's folder.")
    path: str = Field(description="Where it was, relative to the models folder (it goes back there).")
    size_bytes: int
    hash: str | None = Field(description="Its SHA-256 when the catalog knew it.")
    deleted_at: float = Field(description="Unix time of the delete.")
    purge_at: float | None = Field(description="Unix time it will be purged (null: kept until restored).")


class TrashReply(BaseModel):
    entries: list[TrashEntryPublic] = Field(description="Newest first.")


class DeleteModelReply(BaseModel):
    message: str
    entry: TrashEntryPublic


class RestoreModelReply(BaseModel):
    message: str
    entry: TrashEntryPublic


class ModelDownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        ...,
        min_length=1,
        max_length=4096,
        description="http(s) URL, hf://ORG/REPO/FILE (hf://ORG/REPO@REVISION/FILE), a Hugging Face "
        "resolve/blob URL or a CivitAI model-version URL.",
    )
    type: str = Field("checkpoint", description="The model type; the file goes into its first folder.")
    filename: str | None = Field(
        None, max_length=1024, description="Name in that folder (default: the URL's last path segment)."
    )
    sha256: str | None = Field(
        None,
        min_length=64,
        max_length=64,
        description="The SHA-256 the file must have; else Hugging Face's published hash when there is one.",
    )


class ModelDownloadReply(BaseModel):
    job_id: str = Field(description="Follow it with GET /api/queue/job/{job_id} or the WebSocket.")
    status: str
    type: str
    filename: str
    url: str = Field(description="The URL fetched (hf:// resolved), without its query.")


# The weight types the binding's convert() takes (its GGML_TYPE_MAP, "default" aside).
CONVERT_WTYPES = (
    "f32", "f16", "bf16", "q8_0", "q5_0", "q5_1", "q4_0", "q4_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
)  # fmt: skip


class ModelConvertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wtype: str = Field(..., max_length=16, description=f"One of {', '.join(CONVERT_WTYPES)}.")
    filename: str | None = Field(
        None,
        max_length=1024,
        description="The GGUF's name in the checkpoints folder (default NAME-WTYPE.gguf).",
    )


class ModelJobReply(BaseModel):
    job_id: str = Field(description="Follow it with GET /api/queue/job/{job_id} or the WebSocket.")
    status: str
    filename: str = Field(description="The new file's name in its folder once the job completes.")
