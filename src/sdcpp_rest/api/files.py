"""Output downloads; names are checked before anything touches the disk.

The spec makes these routes public. With auth on (issue 27) they answer the job's owner or an admin,
with any credential the API takes, or anyone holding a link the server signed (`expires` and
`signature`, see outputs/signing.py): the URLs in job replies and events carry one, so `<img>` tags and
shared links work without headers, while a bare job id is refused before anything is looked up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from sdcpp_rest.api.deps import AuthRequired, JobsDep, MaybePrincipal, OutputsDep, OutputSignerDep
from sdcpp_rest.api.query_types import QueryBool, QueryInt
from sdcpp_rest.auth.permissions import Principal
from sdcpp_rest.errors import ApiError, ErrorCode, FileNotFound, InvalidParameters
from sdcpp_rest.jobs.service import JobService
from sdcpp_rest.outputs.files import (
    OUTPUT_FILENAME,
    THUMBNAIL_DEFAULT,
    THUMBNAIL_MAX,
    THUMBNAIL_MIN,
    OutputStore,
    is_job_id,
)
from sdcpp_rest.outputs.signing import OutputUrlSigner

router = APIRouter(tags=["files"])

_ACCESS = (
    " With auth on, it answers the job's owner or an admin (bearer token, API key, Basic, Unix peer), "
    "or a request carrying the `expires` and `signature` the server put in the job's output URLs "
    "(valid for output_url_ttl_seconds); a bare job id answers 401. With auth off it is public."
)
Expires = Annotated[
    str | None, Query(description="Unix time the signed link expires (from the job's output URL).")
]
Signature = Annotated[str | None, Query(description="The server's signature of the link (HMAC-SHA256, hex).")]


class OutputLinkInvalid(ApiError):
    code, status_code = ErrorCode.INVALID_CREDENTIALS, 401

    def __init__(self) -> None:
        super().__init__(
            "the output link has expired or its signature is wrong: read the job again for a fresh link",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _authorize(
    job_id: str,
    filename: str,
    link: tuple[str | None, str | None],
    principal: Principal | None,
    signer: OutputUrlSigner | None,
    jobs: JobService,
) -> None:
    """Let the request through, or refuse it without saying whether the job exists."""
    if signer is None:  # auth is off: the spec's public route
        return
    expires, signature = link
    if expires is not None or signature is not None:
        if signer.is_valid(job_id, filename, expires or "", signature or ""):
            return
        if principal is None:
            raise OutputLinkInvalid()
    if principal is None:
        raise AuthRequired()
    jobs.check_visible(job_id, principal)  # another user's job: JOB_NOT_FOUND, as for a missing one


def _output_file(outputs: OutputStore, job_id: str, filename: str) -> FileResponse:
    path = outputs.find_output(job_id, filename)
    if path is None:
        raise FileNotFound(f"no file {filename} for job {job_id}")
    return FileResponse(path, media_type="image/png" if path.suffix == ".png" else None)


def _check_names(job_id: str, filename: str) -> None:
    if not is_job_id(job_id):
        raise InvalidParameters("jobId must be a job id (UUID)")
    if not OUTPUT_FILENAME.match(filename):
        raise InvalidParameters("filename must be a plain file name such as image_0.png")


@router.get(
    "/api/queue/job/{job_id}/output/{filename}",
    summary="Download an output file",
    description="The file a job wrote." + _ACCESS,
)
def download_output(
    job_id: str,
    filename: str,
    outputs: OutputsDep,
    jobs: JobsDep,
    principal: MaybePrincipal,
    signer: OutputSignerDep,
    expires: Expires = None,
    signature: Signature = None,
) -> FileResponse:
    _check_names(job_id, filename)
    _authorize(job_id, filename, (expires, signature), principal, signer, jobs)
    return _output_file(outputs, job_id, filename)


@router.get(
    "/api/v1/jobs/{job_id}/output/{filename}",
    summary="Download an output file or its thumbnail",
    description="The file a job wrote, or a JPEG thumbnail of it." + _ACCESS,
)
def download_output_v1(
    job_id: str,
    filename: str,
    outputs: OutputsDep,
    jobs: JobsDep,
    principal: MaybePrincipal,
    signer: OutputSignerDep,
    thumb: Annotated[QueryBool, Query(description="Return a JPEG thumbnail instead of the file.")] = False,
    size: Annotated[
        QueryInt, Query(ge=THUMBNAIL_MIN, le=THUMBNAIL_MAX, description="Thumbnail edge, px.")
    ] = THUMBNAIL_DEFAULT,
    expires: Expires = None,
    signature: Signature = None,
) -> Response:
    _check_names(job_id, filename)
    _authorize(job_id, filename, (expires, signature), principal, signer, jobs)
    response = _output_file(outputs, job_id, filename)
    if not thumb:
        return response
    return Response(outputs.thumbnail(response.path, size), media_type="image/jpeg")  # type: ignore[arg-type]
