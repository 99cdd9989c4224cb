"""Model file endpoints for admins: delete into the trash, list the trash, restore (issue 16).

Included before the models router: its `/models/{model_id:path}` would otherwise take
`/models/trash` as a model id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from sdcpp_rest.api.deps import (
    AdminUser,
    ModelConvertsDep,
    ModelDownloadsDep,
    ModelRemovalDep,
    ModelTrashDep,
    ModelUploadsDep,
    SettingsDep,
)
from sdcpp_rest.api.models import to_public
from sdcpp_rest.api.query_types import QueryBool
from sdcpp_rest.api.streamed_upload import StreamedUpload
from sdcpp_rest.api.upload_body import StreamingForm
from sdcpp_rest.catalog.trash import SECONDS_PER_DAY, TrashEntry
from sdcpp_rest.downloads.sources import shown
from sdcpp_rest.jobs.params import ModelConvertParams, ModelDownloadParams
from sdcpp_rest.schemas.catalog import ModelPublic
from sdcpp_rest.schemas.model_files import (
    DeleteModelReply,
    ModelConvertRequest,
    ModelDownloadReply,
    ModelDownloadRequest,
    ModelJobReply,
    RestoreModelReply,
    TrashEntryPublic,
    TrashReply,
)

router = APIRouter(prefix="/api", tags=["models"])
UPLOAD_PATH = "/api/models/upload"
# The form's boundaries, part headers and text fields around the file.
UPLOAD_FORM_OVERHEAD_BYTES = 64 * 1024


def _public(entry: TrashEntry, keep_days: float) -> TrashEntryPublic:
    return TrashEntryPublic(
        id=entry.id,
        type=entry.type,
        name=entry.name,
        path=entry.relative_path,
        size_bytes=entry.size_bytes,
        hash=entry.sha256,
        deleted_at=entry.deleted_at,
        purge_at=entry.deleted_at + keep_days * SECONDS_PER_DAY if keep_days > 0 else None,
    )


@router.post(
    "/models/download",
    response_model=ModelDownloadReply,
    status_code=202,
    summary="Download a model file as a job (admin)",
)
def download_model(
    body: ModelDownloadRequest, downloads: ModelDownloadsDep, principal: AdminUser
) -> ModelDownloadReply:
    job = downloads.submit(body, principal.user_id)
    params = job.params
    assert isinstance(params, ModelDownloadParams)
    return ModelDownloadReply(
        job_id=job.id,
        status=job.status.value,
        type=params.type,
        filename=params.filename,
        url=shown(params.url),
    )


@router.post(
    "/models/upload",
    response_model=ModelPublic,
    status_code=201,
    summary="Upload a model file, streamed to disk (admin)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "type": {"type": "string", "description": "Model type (before the file part)."},
                            "filename": {"type": "string", "description": "Name in the type's folder."},
                            "file": {"type": "string", "format": "binary"},
                        },
                    }
                }
            },
        }
    },
)
async def upload_model(
    request: Request,
    uploads: ModelUploadsDep,
    _admin: AdminUser,
    type: str | None = Query(None, max_length=32, description="Model type (default checkpoint)."),
    filename: str | None = Query(None, max_length=1024, description="Default: the file part's name."),
) -> ModelPublic:
    declared = request.headers.get("content-length")
    upload = StreamedUpload(
        uploads, type, filename, int(declared) if declared and declared.isdigit() else None
    )
    form = StreamingForm(request.headers.get("content-type", ""))
    try:
        async for chunk in request.stream():
            await upload.take(form.feed(chunk))
        await upload.take(form.finish())
        view = await upload.finish()
    except BaseException:
        await upload.abort()  # a refused, broken or abandoned upload leaves no file behind
        raise
    return to_public(view)


@router.post(
    "/models/{model_id:path}/convert",
    response_model=ModelJobReply,
    status_code=202,
    summary="Convert a checkpoint to GGUF in an engine worker, as a job (admin)",
)
def convert_model(
    model_id: str, body: ModelConvertRequest, converts: ModelConvertsDep, principal: AdminUser
) -> ModelJobReply:
    job = converts.submit(model_id, body, principal.user_id)
    assert isinstance(job.params, ModelConvertParams)
    return ModelJobReply(job_id=job.id, status=job.status.value, filename=job.params.filename)


@router.get("/models/trash", response_model=TrashReply, summary="Deleted models that can be restored")
def list_trash(trash: ModelTrashDep, settings: SettingsDep, _admin: AdminUser) -> TrashReply:
    return TrashReply(entries=[_public(e, settings.model_trash_days) for e in trash.entries()])


@router.post(
    "/models/trash/{entry_id}/restore", response_model=RestoreModelReply, summary="Restore a deleted model"
)
def restore_model(
    entry_id: str, removal: ModelRemovalDep, settings: SettingsDep, _admin: AdminUser
) -> RestoreModelReply:
    entry = removal.restore(entry_id)
    return RestoreModelReply(message="Model restored", entry=_public(entry, settings.model_trash_days))


@router.delete(
    "/models/{model_id:path}", response_model=DeleteModelReply, summary="Move a model file into the trash"
)
def delete_model(
    model_id: str,
    removal: ModelRemovalDep,
    settings: SettingsDep,
    _admin: AdminUser,
    force: Annotated[
        QueryBool,
        Query(
            description="Delete even when jobs need the model (queued ones fail, running ones are cancelled)."
        ),
    ] = False,
) -> DeleteModelReply:
    entry = removal.delete(model_id, force=force)
    public = _public(entry, settings.model_trash_days)
    return DeleteModelReply(message="Model moved to the trash", entry=public)
