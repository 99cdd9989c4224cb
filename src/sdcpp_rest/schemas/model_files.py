"""Wire schemas of the model file endpoints (delete, trash, restore; issue 16)."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
