"""Vocabularies, parameter ranges and request validation without queueing."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Body, Query
from pydantic import ValidationError

from sdcpp_rest.api.deps import AuthenticatedDep, JobsDep, PlannerDep
from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.jobs.planning import JobPlanner
from sdcpp_rest.schemas.generate import (
    MODE_REQUESTS,
    Img2ImgRequest,
    ModeName,
    Text2ImgRequest,
    UpscaleRequest,
    image_fields,
)
from sdcpp_rest.schemas.jobs import ValidateReply, ValidationIssue
from sdcpp_rest.schemas.parameters import (
    DEFAULT_SAMPLER,
    DEFAULT_SCHEDULER,
    HIRES_LATENT_UPSCALERS,
    PARAMETER_RANGES,
    RESIZE_MODES,
    SAMPLERS,
    SCHEDULERS,
)

router = APIRouter(prefix="/api", tags=["utilities"])

# Above this many pixels a CPU generation takes minutes: worth a warning, not an error.
LARGE_IMAGE_PIXELS = 1024 * 1024


@router.get("/samplers", summary="Sampling methods the engine has")
async def samplers(_: AuthenticatedDep) -> dict[str, Any]:
    return {"samplers": list(SAMPLERS), "default": DEFAULT_SAMPLER}


@router.get("/schedulers", summary="Schedulers the engine has")
async def schedulers(_: AuthenticatedDep) -> dict[str, Any]:
    return {"schedulers": list(SCHEDULERS), "default": DEFAULT_SCHEDULER}


@router.get(
    "/parameters",
    summary="Generation parameters with their ranges and defaults, and the caller's limits",
    description="`limits`: the job limits that apply to the caller (0 = unlimited): queued jobs, pixels "
    "(width x height x images) and sampling steps of one job, generation requests a minute.",
)
def parameters(principal: AuthenticatedDep, jobs: JobsDep) -> dict[str, Any]:
    return {
        "parameters": {name: spec.as_public() for name, spec in PARAMETER_RANGES.items()},
        "limits": jobs.limits_for(principal).public(),
        # The choices of the text fields that take a fixed word (the web UI's lists come from here).
        "vocabularies": {
            "resize_mode": list(RESIZE_MODES),
            "hires_upscaler": list(HIRES_LATENT_UPSCALERS),  # or an ESRGAN model's name
            "preview": list(get_args(Text2ImgRequest.model_fields["preview"].annotation)),
        },
    }


@router.post(
    "/validate",
    response_model=ValidateReply,
    summary="Check a generation body (text2img by default, or ?mode=...) without queueing it",
    description="Always 200 for a JSON object: `valid` says whether the mode's endpoint would accept it, "
    "`errors` name each bad field, `normalized` is the body with every default filled in. Input images "
    "are decoded and checked as the endpoint would; `normalized` shows them as `<image WxH>` (the size "
    "the job would use) and carries the width and height they give.",
)
def validate(
    planner: PlannerDep,
    body: dict[str, Any] = Body(...),
    mode: ModeName = Query("text2img", description="The endpoint whose body this is."),
) -> ValidateReply:
    try:
        request = MODE_REQUESTS[mode].model_validate(body)
    except ValidationError as exc:
        issues = [
            ValidationIssue(
                field=".".join(str(p) for p in err["loc"]) or "body",
                message=err["msg"],
                code=ErrorCode.VALIDATION_ERROR.value,
            )
            for err in exc.errors()
        ]
        return ValidateReply(valid=False, errors=issues, warnings=[], normalized=None)
    assert isinstance(request, Text2ImgRequest | UpscaleRequest)
    errors: list[ValidationIssue] = []
    normalized = request.model_dump()
    try:
        if isinstance(request, Text2ImgRequest):
            normalized["model_name"] = planner.resolve_model_name(request.model_name)
        planner.check(request)
        if isinstance(request, Img2ImgRequest | UpscaleRequest):
            _check_images(planner, request, normalized)
    except ApiError as exc:
        errors.append(ValidationIssue(field=exc.field or "body", message=exc.message, code=exc.code.value))
    warnings = []
    width, height = getattr(request, "width", None) or 0, getattr(request, "height", None) or 0
    if width * height > LARGE_IMAGE_PIXELS:
        warnings.append(f"{width}x{height} is large: expect a long generation on a CPU")
    return ValidateReply(valid=not errors, errors=errors, warnings=warnings, normalized=normalized)


def _check_images(
    planner: JobPlanner, request: Img2ImgRequest | UpscaleRequest, normalized: dict[str, Any]
) -> None:
    """Decodes the images as the endpoint would; `normalized` gets the size they give the job
    instead of echoing megabytes of base64 back."""
    images, size = planner.decode_inputs(request)
    if size is not None:
        normalized["width"], normalized["height"] = size
    for field in image_fields(type(request)):
        decoded = images.get("init_image" if field == "image" else field)
        if decoded is not None:
            normalized[field] = f"<image {decoded.width}x{decoded.height}>"
