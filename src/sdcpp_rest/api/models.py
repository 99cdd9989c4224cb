"""Model endpoints: list, types, refresh, one model's info, load and unload. Thin: parse, call, shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from sdcpp_rest.api.deps import CatalogDep, ModelLoadsDep, ModelsManageDep, ModelsReadDep
from sdcpp_rest.api.query_types import QueryBool, QueryInt
from sdcpp_rest.catalog.file_errors import FileError
from sdcpp_rest.catalog.model_sets import SET_TYPE
from sdcpp_rest.catalog.previews import PREVIEW_MEDIA_TYPES
from sdcpp_rest.catalog.scan import MODEL_TYPES
from sdcpp_rest.catalog.service import SHORT_HASH_LENGTH, CatalogService, ModelPage, ModelQuery, ModelView
from sdcpp_rest.errors import FileNotFound, InvalidParameters
from sdcpp_rest.schemas.catalog import (
    ModelActionReply,
    ModelFileError,
    ModelPublic,
    ModelsReply,
    ModelTypesReply,
    RefreshReply,
)
from sdcpp_rest.schemas.recommended import RecommendedSettings, recommended_for_model

router = APIRouter(prefix="/api", tags=["models"])

# Previews change rarely and their URL carries the image's mtime (?v=), so a browser may keep one for
# a day; private: with auth on, the image is a signed-in user's.
PREVIEW_CACHE_CONTROL = "private, max-age=86400"


def recommended_of(catalog: CatalogService, view: ModelView) -> RecommendedSettings | None:
    """The settings a request running this model gets for the fields it leaves out (a set's own
    defaults over its family's)."""
    model = view.model
    model_set = catalog.model_set(model.name) if model.type == SET_TYPE else None
    return recommended_for_model(model.type, model.architecture, model_set.defaults if model_set else None)


def to_public(view: ModelView, recommended: RecommendedSettings | None = None) -> ModelPublic:
    model = view.model
    sha = view.hash.sha256 if view.hash else None
    return ModelPublic(
        id=view.id,
        name=model.name,
        type=model.type,
        path=view.relative_path,
        format=model.format,
        size_bytes=model.stat.size,
        modified=model.stat.mtime_ns // 1_000_000_000,
        loaded=view.loaded,
        hash=sha,
        short_hash=sha[:SHORT_HASH_LENGTH] if sha else None,
        hashed_at=view.hash.hashed_at if view.hash else None,
        hash_status="done" if sha else ("error" if view.hash_failed or model.error else "pending"),
        architecture=model.architecture,
        variant=model.variant,
        weight_type=model.weight_type,
        tensor_count=model.tensor_count,
        components=list(model.components),
        role=model.role,
        title=model.metadata_title,
        error=model.error,
        recommended=recommended,
        preview_url=preview_url(view),
    )


def preview_url(view: ModelView) -> str | None:
    """The preview route of this model, versioned by the image's mtime; None without a preview.

    By name and type, not by id: files with the same content share a hash, and a name may exist in
    several type folders, but a name within its type is one file."""
    preview = view.model.preview
    if preview is None:
        return None
    query = urlencode({"type": view.model.type, "v": preview.mtime_ns})
    return f"/api/models/{quote(view.model.name, safe='/')}/preview?{query}"


def _timestamp(value: str | None, name: str) -> float | None:
    """Unix seconds or an ISO 8601 date/time (naive means UTC)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameters(f"{name} must be Unix seconds or an ISO 8601 date, not '{value}'") from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def models_reply(
    catalog: CatalogService, result: ModelPage, errors: list[FileError] | None = None
) -> ModelsReply:
    """One page of the listing with its pagination totals (and, when asked, the files in error)."""
    return ModelsReply(
        models=[to_public(view, recommended_of(catalog, view)) for view in result.items],
        total=result.total,
        page=result.page,
        limit=result.limit,
        pages=result.pages,
        has_next=result.page < result.pages,
        has_previous=result.page > 1,
        errors=None
        if errors is None
        else [
            ModelFileError(path=e.relative_path, type=e.type, reason=e.reason, listed=e.listed)
            for e in errors
        ],
    )


@router.get("/models", response_model=ModelsReply, summary="Model files in the models folder")
def list_models(
    catalog: CatalogDep,
    _principal: ModelsReadDep,
    type: str | None = Query(None, description=f"One of {', '.join(MODEL_TYPES)}."),
    search: str | None = Query(None, max_length=200, description="Case-insensitive part of name or title."),
    sort_by: str = Query("name", description="name, size, date, type or loaded."),
    sort_order: str = Query("asc", description="asc or desc."),
    limit: Annotated[QueryInt, Query(ge=0, le=100000, description="Page size (0 = all).")] = 50,
    page: Annotated[QueryInt, Query(ge=1, description="Page number, from 1.")] = 1,
    modified_after: str | None = Query(None, description="Unix seconds or ISO 8601."),
    modified_before: str | None = Query(None, description="Unix seconds or ISO 8601."),
    min_size: Annotated[QueryInt | None, Query(ge=0, description="Bytes.")] = None,
    max_size: Annotated[QueryInt | None, Query(ge=0, description="Bytes.")] = None,
    size_category: str | None = Query(
        None, description="tiny (<10 MiB), small (<500 MiB), medium (<4 GiB), large (<10 GiB), huge."
    ),
    loaded: Annotated[
        QueryBool | None, Query(description="Only models loaded (true) or not loaded (false).")
    ] = None,
    architecture: str | None = Query(None, max_length=50, description="SD1.x, SD2.x, SDXL, SD3, Flux ..."),
    format: str | None = Query(None, max_length=20, description="safetensors, gguf, ckpt or diffusers."),
    include_errors: Annotated[
        QueryBool,
        Query(
            description="Add `errors`: the files of the last scan that cannot be used (broken or looping "
            "symlinks, unknown file types, damaged headers, files outside any type folder) with the reason."
        ),
    ] = False,
) -> ModelsReply:
    query = ModelQuery(
        type=type,
        search=search or None,
        sort_by=sort_by,
        sort_order=sort_order.lower(),
        limit=limit,
        page=page,
        modified_after=_timestamp(modified_after, "modified_after"),
        modified_before=_timestamp(modified_before, "modified_before"),
        min_size=min_size,
        max_size=max_size,
        size_category=size_category,
        loaded=loaded,
        architecture=architecture,
        format=format,
    )
    return models_reply(
        catalog, catalog.list_models(query), catalog.file_errors() if include_errors else None
    )


@router.get("/models/types", response_model=ModelTypesReply, summary="Model types and their folders")
def model_types(catalog: CatalogDep, _principal: ModelsReadDep) -> ModelTypesReply:
    return ModelTypesReply(types=list(MODEL_TYPES), folders=catalog.type_folders())


@router.post("/models/refresh", response_model=RefreshReply, summary="Rescan the model folders")
def refresh(catalog: CatalogDep, _principal: ModelsManageDep) -> RefreshReply:
    result = catalog.refresh()
    return RefreshReply(
        message="Model refresh completed",
        models_found=result.found,
        models_updated=result.updated,
        added=result.added,
        changed=result.changed,
        removed=result.removed,
        hashes_pending=result.hashes_pending,
    )


# Declared before GET /models/{model_id:path}, whose path parameter would otherwise take ".../preview".
@router.get(
    "/models/{model_id:path}/preview",
    response_class=FileResponse,
    summary="A model's preview image",
    description="The image kept beside the model file (`NAME.png`, `NAME.preview.png`, then the .jpg, "
    ".jpeg and .webp names, in A1111's order), as the last scan found it; the same permission as the "
    "listing. Only that file is ever served: the request names a model, never a path. 404 "
    "`FILE_NOT_FOUND` when the model has no preview.",
    responses={
        200: {"content": {media_type: {} for media_type in sorted(set(PREVIEW_MEDIA_TYPES.values()))}},
    },
)
def model_preview(
    model_id: str,
    catalog: CatalogDep,
    _principal: ModelsReadDep,
    type: str | None = Query(
        None, description=f"The model's type ({', '.join(MODEL_TYPES)}), where a name is in several folders."
    ),
    v: str | None = Query(None, max_length=40, description="Ignored: the image's version in `preview_url`."),
) -> FileResponse:
    if type is not None and type not in MODEL_TYPES:
        raise InvalidParameters(f"unknown model type '{type}'; choose from {', '.join(MODEL_TYPES)}")
    view = catalog.get(model_id, kind=type)
    preview = view.model.preview
    if preview is None or not preview.path.is_file():
        raise FileNotFound(f"model '{view.model.name}' has no preview image beside it")
    return FileResponse(
        preview.path,
        media_type=preview.media_type,
        headers={"Cache-Control": PREVIEW_CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/models/{model_id:path}", response_model=ModelPublic, summary="One model's full information")
def get_model(model_id: str, catalog: CatalogDep, _principal: ModelsReadDep) -> ModelPublic:
    view = catalog.get(model_id)
    return to_public(view, recommended_of(catalog, view))


@router.post(
    "/models/{model_id:path}/load",
    response_model=ModelActionReply,
    summary="Load a checkpoint",
    description="Loads it into one engine worker (one holding it already, else an idle one) with the "
    "options a plain request would use, so the next job needs no reload. On an API node of a cluster "
    "(`serve --no-workers`) a worker process that has the file loads it; 503 when none online has it.",
)
def load_model(
    model_id: str, catalog: CatalogDep, loads: ModelLoadsDep, _principal: ModelsManageDep
) -> ModelActionReply:
    view = catalog.get(model_id, kind="checkpoint")
    outcome = loads.load(view)
    return ModelActionReply(
        message="Model loaded successfully",
        model=view.model.name,
        id=view.id,
        worker_ids=outcome.worker_ids,
        seconds=outcome.seconds,
    )


@router.post(
    "/models/{model_id:path}/unload",
    response_model=ModelActionReply,
    summary="Unload a checkpoint",
    description="Frees it in every engine worker holding it, in a cluster on every node; 409 "
    "`MODEL_NOT_LOADED` when none does.",
)
def unload_model(
    model_id: str, catalog: CatalogDep, loads: ModelLoadsDep, _principal: ModelsManageDep
) -> ModelActionReply:
    view = catalog.get(model_id, kind="checkpoint")
    outcome = loads.unload(view)
    return ModelActionReply(
        message="Model unloaded successfully",
        model=view.model.name,
        id=view.id,
        worker_ids=outcome.worker_ids,
    )
