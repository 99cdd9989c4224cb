"""Output downloads: public, as the spec says; names are checked before anything touches the disk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from sdcpp_rest.api.deps import OutputsDep
from sdcpp_rest.api.query_types import QueryBool, QueryInt
from sdcpp_rest.errors import FileNotFound, InvalidParameters
from sdcpp_rest.outputs.files import (
    OUTPUT_FILENAME,
    THUMBNAIL_DEFAULT,
    THUMBNAIL_MAX,
    THUMBNAIL_MIN,
    is_job_id,
)

router = APIRouter(tags=["files"])


def _output_file(outputs: OutputsDep, job_id: str, filename: str) -> FileResponse:
    if not is_job_id(job_id):
        raise InvalidParameters("jobId must be a job id (UUID)")
    if not OUTPUT_FILENAME.match(filename):
        raise InvalidParameters("filename must be a plain file name such as image_0.png")
    path = outputs.find_output(job_id, filename)
    if path is None:
        raise FileNotFound(f"no file {filename} for job {job_id}")
    return FileResponse(path, media_type="image/png" if path.suffix == ".png" else None)


@router.get("/api/queue/job/{job_id}/output/{filename}", summary="Download an output file")
def download_output(job_id: str, filename: str, outputs: OutputsDep) -> FileResponse:
    return _output_file(outputs, job_id, filename)


@router.get("/api/v1/jobs/{job_id}/output/{filename}", summary="Download an output file or its thumbnail")
def download_output_v1(
    job_id: str,
    filename: str,
    outputs: OutputsDep,
    thumb: Annotated[QueryBool, Query(description="Return a JPEG thumbnail instead of the file.")] = False,
    size: Annotated[
        QueryInt, Query(ge=THUMBNAIL_MIN, le=THUMBNAIL_MAX, description="Thumbnail edge, px.")
    ] = THUMBNAIL_DEFAULT,
) -> Response:
    response = _output_file(outputs, job_id, filename)
    if not thumb:
        return response
    return Response(outputs.thumbnail(response.path, size), media_type="image/jpeg")  # type: ignore[arg-type]
