"""Model listing (checkpoints for now; the full catalog grows here)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Query

from sdcpp_rest.api.deps import ServicesDep
from sdcpp_rest.schemas import CheckpointPublic, ModelsReply

router = APIRouter(prefix="/api", tags=["models"])


@router.get("/models", response_model=ModelsReply, summary="Checkpoint files in the models folder")
def list_models(
    services: ServicesDep,
    search: str | None = Query(None, max_length=200, description="Case-insensitive part of the name."),
    limit: int = Query(50, ge=0, le=10000, description="Page size (0 = all)."),
    page: int = Query(1, ge=1, description="Page number, from 1."),
) -> ModelsReply:
    loaded = set(services.scheduler.loaded_models())
    items = [
        CheckpointPublic(
            id=checkpoint.name,
            name=checkpoint.name,
            type="checkpoint",
            format=checkpoint.format,
            size_bytes=checkpoint.size_bytes,
            modified=int(checkpoint.modified),
            loaded=str(checkpoint.path) in loaded,
        )
        for checkpoint in services.model_files.list_checkpoints()
        if not search or search.lower() in checkpoint.name.lower()
    ]
    total = len(items)
    if limit:
        items = items[(page - 1) * limit : page * limit]
    pages = math.ceil(total / limit) if limit else 1
    return ModelsReply(models=items, total=total, page=page, limit=limit, pages=pages)
