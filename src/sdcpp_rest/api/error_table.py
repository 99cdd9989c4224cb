"""Which errors each route's own code can answer, for the OpenAPI document (see api/openapi.py).

Keyed by (METHOD, path as the document shows it). Only what the route itself raises belongs here: the
401/403 of its credential and permission checks, the 400/413/422 of its body, the 422 of its query
parameters and the 500 of any route come from the shared rules in api/openapi.py. Every API route needs
an entry, even an empty one (tests/unit/test_openapi_table.py checks it), so that adding a route makes
one think about what it can answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdcpp_rest.errors import ErrorCode


@dataclass(frozen=True)
class Answer:
    """One error answer: the status, the code in the body, and what it means for the route."""

    status: int
    code: ErrorCode
    meaning: str


def _bad(meaning: str) -> Answer:
    return Answer(400, ErrorCode.INVALID_PARAMETERS, meaning)


_JOB_ID = _bad("job_id is not a job id (a UUID such as the one a generation returned)")
_NO_JOB = Answer(404, ErrorCode.JOB_NOT_FOUND, "no such job, or it belongs to another user")
_OUTPUT = (
    _bad("job_id is not a job id, or filename is not a plain output name such as image_0.png"),
    Answer(404, ErrorCode.FILE_NOT_FOUND, "the job has no such file (not finished, failed or deleted)"),
    Answer(
        401,
        ErrorCode.INVALID_CREDENTIALS,
        "auth is on, no credential was sent, and the link's expires/signature is expired or wrong",
    ),
    Answer(404, ErrorCode.JOB_NOT_FOUND, "auth is on and the job is another user's (or does not exist)"),
)
# Name checks shared by every generation (and the estimate), made before anything is queued.
_GENERATION = (
    _bad(
        "model_name, a component path, a LoRA or an upscaler names a file outside its folder; several "
        "checkpoints and no model_name; use_taesd without a TAESD file; a LoRA tag with a bad weight; "
        "styles names a style the caller has none of (shared or own), or with its styles applied the "
        "prompt or negative prompt is longer than the engine's limit"
    ),
    Answer(
        404,
        ErrorCode.MODEL_NOT_FOUND,
        "the checkpoint (or, with no model_name, any checkpoint), a component, LoRA, ControlNet or "
        "upscaler file is not in its folder (the message names the field)",
    ),
)
_IMAGES = (
    _bad(
        "an input image is not valid base64, not PNG/JPEG/WebP, empty, larger than "
        "max_input_image_bytes or max_input_image_pixels, or a mask of another size; a malformed "
        "multipart form (field given twice, a file part that is not an image field, bad JSON text); "
        "JSON with more values than any body needs, or nested too deeply"
    ),
    Answer(
        415,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        "the content type is neither application/json nor multipart/form-data",
    ),
)
_IMAGE_BODY = (*_GENERATION, *_IMAGES)
_UPSCALE = (
    *_IMAGES,
    _bad("upscaler names a file outside models/esrgan"),
    Answer(404, ErrorCode.MODEL_NOT_FOUND, "upscaler is not in models/esrgan"),
)
_MODEL_ID = (
    _bad("model_id climbs out of the models folder"),
    Answer(404, ErrorCode.MODEL_NOT_FOUND, "no model (of this type) has this hash, short hash or name"),
)
_STYLE_SHARED = Answer(
    403, ErrorCode.INSUFFICIENT_PERMISSIONS, "shared styles are an admin's: the caller is no admin"
)
_LIFECYCLE_TIMEOUT = Answer(
    503,
    ErrorCode.SERVICE_UNAVAILABLE,
    "the worker did not finish in time; the work goes on in the background",
)

ROUTE_ERRORS: dict[tuple[str, str], tuple[Answer, ...]] = {
    ("GET", "/api/health"): (),
    ("GET", "/api/status"): (),
    ("GET", "/api/version"): (),
    ("POST", "/api/auth/login"): (
        _bad("login is not available: auth_method enables none of jwt, pam, unix"),
        Answer(401, ErrorCode.INVALID_CREDENTIALS, "wrong username or password, or the user is disabled"),
        Answer(
            429,
            ErrorCode.RATE_LIMITED,
            "this client address failed login_attempts_per_minute times in the last minute, or the "
            "user has had that many failures and this address is among those that failed for it",
        ),
    ),
    ("POST", "/api/auth/logout"): (),
    ("GET", "/api/auth/validate"): (),
    ("POST", "/api/auth/refresh"): (
        _bad("the caller did not log in with a bearer token"),
        Answer(401, ErrorCode.INVALID_CREDENTIALS, "the token has been refreshed already (once only)"),
    ),
    ("GET", "/api/auth/me"): (),
    ("GET", "/api/auth/keys"): (),
    ("POST", "/api/auth/keys"): (
        _bad(
            "user_id names another user and the caller is no admin, or no user would own the key "
            "(unknown user_id; auth_method=none without user_id)"
        ),
    ),
    ("DELETE", "/api/auth/keys"): (
        Answer(
            403, ErrorCode.INSUFFICIENT_PERMISSIONS, "user_id is another user's and the caller is no admin"
        ),
        Answer(404, ErrorCode.NOT_FOUND, "no user has this id"),
    ),
    ("DELETE", "/api/auth/keys/{key_id}"): (
        Answer(404, ErrorCode.NOT_FOUND, "no such API key, or it belongs to another user"),
    ),
    ("GET", "/api/users"): (),
    ("POST", "/api/users"): (
        _bad("password is shorter than 8 characters"),
        Answer(409, ErrorCode.INVALID_PARAMETERS, "username is taken"),
    ),
    ("PATCH", "/api/users/{user_id}"): (
        _bad("password is shorter than 8 characters, or the caller would disable or demote themselves"),
        Answer(404, ErrorCode.NOT_FOUND, "no user has this id"),
    ),
    ("POST", "/api/generate/text2img"): _GENERATION,
    ("POST", "/api/generate/img2img"): _IMAGE_BODY,
    ("POST", "/api/generate/inpainting"): _IMAGE_BODY,
    ("POST", "/api/generate/controlnet"): _IMAGE_BODY,
    ("POST", "/api/generate/upscale"): _UPSCALE,
    ("POST", "/api/generate/txt2vid"): _IMAGE_BODY,
    ("POST", "/api/generate/img2vid"): _IMAGE_BODY,
    ("GET", "/api/queue/status"): (),
    ("GET", "/api/queue/job/{job_id}"): (_JOB_ID, _NO_JOB),
    ("DELETE", "/api/queue/job/{job_id}"): (
        _JOB_ID,
        _NO_JOB,
        Answer(409, ErrorCode.JOB_NOT_FINISHED, "the job is queued or running: cancel it first"),
        Answer(503, ErrorCode.SERVICE_UNAVAILABLE, "the job's files could not be removed; try again later"),
    ),
    ("POST", "/api/queue/cancel"): (
        _JOB_ID,
        _NO_JOB,
        Answer(409, ErrorCode.JOB_NOT_CANCELLABLE, "the job has already finished, failed or been cancelled"),
    ),
    ("POST", "/api/queue/clear"): (),
    ("GET", "/api/queue/job/{job_id}/output/{filename}"): _OUTPUT,
    ("GET", "/api/v1/jobs/{job_id}/output/{filename}"): _OUTPUT,
    ("GET", "/api/samplers"): (),
    ("GET", "/api/schedulers"): (),
    ("GET", "/api/parameters"): (
        _bad("model climbs out of the models folder or names a file no generation runs (a LoRA, a VAE ...)"),
        Answer(404, ErrorCode.MODEL_NOT_FOUND, "no checkpoint, diffusion model or model set of this name"),
    ),
    # Bad fields are not errors here: they are the reply's `errors` (200). The body itself can be.
    ("POST", "/api/validate"): (
        _bad("the body has more JSON values than any request body needs, or is nested too deeply"),
        Answer(
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            "a guest's body is over 1 MiB (a caller who may generate: over max_request_bytes)",
        ),
        Answer(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "the content type is not JSON"),
        Answer(422, ErrorCode.VALIDATION_ERROR, "the body is not a JSON object"),
    ),
    ("POST", "/api/png-info"): (
        _bad(
            "image is not valid base64, not a PNG (a data: prefix of another type), corrupt or cut short, "
            "larger than max_input_image_bytes, claims more than max_input_image_pixels (a guest: "
            "1,048,576), has a text over 4 MiB, or holds no generation parameters this server reads; a "
            "multipart form that cannot be read or has parts besides image; JSON with more values than "
            "any body needs"
        ),
        Answer(
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            "a guest's body is over 1 MiB (a caller who may generate: over max_request_bytes)",
        ),
        Answer(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "neither JSON nor multipart/form-data"),
        Answer(422, ErrorCode.VALIDATION_ERROR, "the JSON body is not an object with one text field image"),
    ),
    ("GET", "/api/models"): (
        _bad(
            "type, sort_by, sort_order or size_category is not one of its values, or modified_after / "
            "modified_before is neither Unix seconds nor an ISO 8601 date"
        ),
    ),
    ("GET", "/api/models/types"): (),
    ("POST", "/api/models/refresh"): (),
    ("GET", "/api/models/{model_id}"): _MODEL_ID,
    ("GET", "/api/models/{model_id}/preview"): (
        _bad("model_id climbs out of the models folder, or type is not a model type"),
        _MODEL_ID[1],
        Answer(404, ErrorCode.FILE_NOT_FOUND, "the model has no preview image beside it"),
    ),
    ("POST", "/api/models/{model_id}/load"): (
        *_MODEL_ID,
        Answer(500, ErrorCode.MODEL_LOAD_FAILED, "the engine could not load the checkpoint (the reason)"),
        _LIFECYCLE_TIMEOUT,
    ),
    ("POST", "/api/models/{model_id}/unload"): (
        *_MODEL_ID,
        Answer(409, ErrorCode.MODEL_NOT_LOADED, "no worker holds this checkpoint"),
        Answer(500, ErrorCode.INTERNAL_ERROR, "a worker failed to free the checkpoint"),
        _LIFECYCLE_TIMEOUT,
    ),
    ("POST", "/api/estimate"): _GENERATION,
    ("GET", "/api/system"): (),
    ("GET", "/api/config"): (),
    ("POST", "/api/system/restart"): (
        Answer(500, ErrorCode.INTERNAL_ERROR, "this server was built without a restarter"),
    ),
    ("GET", "/api/image/download"): (
        _bad(
            "url is missing, too long, not http(s) or carries credentials, or its host resolves to "
            "a refused (private, loopback, metadata) address"
        ),
        Answer(
            413, ErrorCode.PAYLOAD_TOO_LARGE, "larger than image_download_max_bytes or max_input_image_pixels"
        ),
        Answer(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "the downloaded content is not an image"),
        Answer(
            502,
            ErrorCode.UPSTREAM_FAILED,
            "the host cannot be resolved or reached, answered an error or redirected too often",
        ),
        Answer(504, ErrorCode.UPSTREAM_TIMEOUT, "the download took longer than image_download_timeout_s"),
    ),
    ("GET", "/api/models/sets"): (),
    ("POST", "/api/models/sets"): (
        _bad("a bad set name, an unknown part or default, a set without its diffusion model"),
        Answer(404, ErrorCode.MODEL_NOT_FOUND, "a part names no file of its type"),
        Answer(409, ErrorCode.INVALID_PARAMETERS, "a defined set has this name (PUT replaces it)"),
    ),
    ("PUT", "/api/models/sets/{name}"): (
        _bad("a bad set name, an unknown part or default, a set without its diffusion model"),
        Answer(404, ErrorCode.MODEL_NOT_FOUND, "a part names no file of its type"),
    ),
    ("DELETE", "/api/models/sets/{name}"): (
        Answer(404, ErrorCode.MODEL_NOT_FOUND, "no defined set has this name (automatic sets stay)"),
    ),
    # Prompt styles (issue 23).
    ("GET", "/api/styles"): (),
    ("POST", "/api/styles"): (
        _bad("a bad style name"),
        _STYLE_SHARED,
        Answer(409, ErrorCode.INVALID_PARAMETERS, "the owner has a style of this name (PUT replaces it)"),
    ),
    ("POST", "/api/styles/import"): (
        _bad("not a styles.csv: no header naming name and prompt, not UTF-8, not CSV, too large"),
        _STYLE_SHARED,
    ),
    ("PUT", "/api/styles/{name}"): (_bad("a bad style name"), _STYLE_SHARED),
    ("DELETE", "/api/styles/{name}"): (
        _STYLE_SHARED,
        Answer(
            404, ErrorCode.NOT_FOUND, "the owner (the caller, or the shared styles) has no style of this name"
        ),
    ),
    ("GET", "/metrics"): (
        Answer(
            401,
            ErrorCode.AUTH_REQUIRED,
            "metrics_token is set and the request does not carry it, or auth is on and there is no user",
        ),
        Answer(403, ErrorCode.INSUFFICIENT_PERMISSIONS, "the caller lacks system:read"),
        Answer(429, ErrorCode.RATE_LIMITED, "this client address is held back for failed logins"),
    ),
    # Model files (issue 16).
    ("GET", "/api/models/trash"): (),
    ("POST", "/api/models/trash/{entry_id}/restore"): (
        _bad("entry_id is not a trash entry id"),
        Answer(404, ErrorCode.NOT_FOUND, "no trash entry has this id (restored or purged)"),
        Answer(409, ErrorCode.MODEL_IN_USE, "a file of that name is back, or its folder is gone"),
    ),
    ("POST", "/api/models/download"): (
        _bad(
            "url is not http(s), hf:// or a known hub's form, carries credentials or names a private "
            "address; type is no model type; filename leaves its folder or has no model extension; "
            "sha256 is not 64 hex digits"
        ),
        Answer(409, ErrorCode.MODEL_IN_USE, "a file of that name exists, or a download already writes it"),
    ),
    ("POST", "/api/models/upload"): (
        _bad(
            "a malformed form, no 'file' part, a field after the file, type is no model type, the name "
            "leaves its folder or has no model extension, or the file is no model of that type"
        ),
        Answer(409, ErrorCode.MODEL_IN_USE, "a file of that name exists already"),
        Answer(413, ErrorCode.PAYLOAD_TOO_LARGE, "larger than model_download_max_bytes, or the disk is full"),
        Answer(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "the body is not multipart/form-data"),
    ),
    ("POST", "/api/models/{model_id}/convert"): (
        *_MODEL_ID,
        _bad("wtype is not a weight type convert takes, or filename leaves its folder or is no .gguf"),
        Answer(409, ErrorCode.MODEL_IN_USE, "a file of that name exists, or a convert already writes it"),
    ),
    ("DELETE", "/api/models/{model_id}"): (
        *_MODEL_ID,
        Answer(
            409,
            ErrorCode.MODEL_IN_USE,
            "queued or running jobs need the model (force=true deletes it anyway)",
        ),
        Answer(500, ErrorCode.INTERNAL_ERROR, "a worker failed to free the model"),
        _LIFECYCLE_TIMEOUT,
    ),
}
