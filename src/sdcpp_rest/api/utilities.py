"""Vocabularies, parameter ranges and request validation without queueing."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ValidationError

from sdcpp_rest.api.deps import (
    AuthenticatedDep,
    CatalogDep,
    JobsDep,
    PlannerDep,
    SettingsDep,
    optional_principal,
)
from sdcpp_rest.api.json_body import SMALL_BODY_BYTES, is_json_content_type, parse_json_off_loop, read_body
from sdcpp_rest.api.models import recommended_of
from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.catalog.model_sets import SET_TYPE
from sdcpp_rest.catalog.service import CatalogService, ModelView
from sdcpp_rest.errors import (
    ApiError,
    ErrorCode,
    InvalidParameters,
    UnsupportedMediaType,
    ValidationFailed,
)
from sdcpp_rest.jobs.image_decoding import ImageLimits
from sdcpp_rest.jobs.planning import JobPlanner
from sdcpp_rest.schemas.family import (
    CACHE_MODE_FAMILIES,
    DIT_FAMILIES,
    FIELD_FAMILIES,
    PREDICTIONS,
    UNET_FAMILIES,
    WEIGHT_TYPES,
)
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
from sdcpp_rest.schemas.recommended import GENERATION_MODEL_TYPES, RECOMMENDED_FIELDS
from sdcpp_rest.schemas.speed import LOAD_TIME_FIELDS, PRESET_FIELDS, SPEEDS, preset_listing
from sdcpp_rest.schemas.video import Img2VidRequest, Txt2VidRequest

router = APIRouter(prefix="/api", tags=["utilities"])

# Above this many pixels a CPU generation takes minutes: worth a warning, not an error.
LARGE_IMAGE_PIXELS = 1024 * 1024
# /api/validate is public. A guest cannot queue anything, so what a guest may make the server do is
# bounded: the body (the default limit, not max_request_bytes), the pixels decoded per image, and no
# look at the models folder (whether a file exists, which checkpoint would be used).
GUEST_MAX_IMAGE_PIXELS = 1024 * 1024
GUEST_NOTE = "model and file names are checked only for authenticated callers"

OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


# Every mode's body, the video modes' included (schemas/video.py builds on schemas/generate.py, whose
# MODE_REQUESTS therefore cannot name them).
ValidateMode = ModeName | Literal["txt2vid", "img2vid"]
VALIDATE_REQUESTS: dict[str, type[BaseModel]] = {
    **MODE_REQUESTS,
    "txt2vid": Txt2VidRequest,
    "img2vid": Img2VidRequest,
}


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
    "(width x height x images) and sampling steps of one job, generation requests a minute. With "
    "`?model=` (a checkpoint, diffusion model or model set: name, hash or short hash) the defaults are "
    "that model's family's, which a request running it gets for the fields it leaves out, and "
    "`recommended` holds them with the sampler and scheduler (null, and the API's defaults, when the "
    "family is unknown); without it, the API's own defaults. `speed`: the speed presets (`default`, the "
    "engine's `device`, the `load_time_fields` whose change reloads the model, and `presets`: per family "
    "what each preset sets, or with `?model=` for that model's family, null when it is unknown).",
)
def parameters(
    principal: AuthenticatedDep,
    jobs: JobsDep,
    catalog: CatalogDep,
    planner: PlannerDep,
    settings: SettingsDep,
    model: str | None = Query(
        None, max_length=1024, description="A checkpoint, diffusion model or model set to give defaults for."
    ),
) -> dict[str, Any]:
    ranges = {name: spec.as_public() for name, spec in PARAMETER_RANGES.items()}
    extra: dict[str, Any] = {}
    device = planner.engine_device()
    presets: dict[str, Any] | None = {
        family: preset_listing(family, device) for family in UNET_FAMILIES + DIT_FAMILIES
    }
    if model:
        view = _generation_model(catalog, model)
        recommended = recommended_of(catalog, view)
        presets = preset_listing(view.model.architecture, device)
        if recommended is not None:
            for name in ("width", "height", "steps", "cfg_scale"):
                ranges[name]["default"] = getattr(recommended, name)
        extra = {"model": model, "recommended": recommended.model_dump() if recommended else None}
    return {
        **extra,
        "parameters": ranges,
        "limits": jobs.limits_for(principal).public(),
        # The choices of the text fields that take a fixed word (the web UI's lists come from here).
        "vocabularies": {
            "resize_mode": list(RESIZE_MODES),
            "hires_upscaler": list(HIRES_LATENT_UPSCALERS),  # or an ESRGAN model's name
            "preview": list(get_args(Text2ImgRequest.model_fields["preview"].annotation)),
            "cache_mode": list(CACHE_MODE_FAMILIES),
            "prediction": list(PREDICTIONS),
            "wtype": list(WEIGHT_TYPES),
            "speed": list(SPEEDS),
        },
        # Speed presets: what each sets per family (with ?model=: for that model's family, null when
        # the family is unknown) on the device the engine workers run on.
        "speed": {
            "default": settings.default_speed,
            "device": device,
            "load_time_fields": list(LOAD_TIME_FIELDS),
            "presets": presets,
        },
        # Parameters that only some model families take (others refuse them: INVALID_PARAMETERS).
        "families": {
            **{name: list(families) for name, families in FIELD_FAMILIES.items()},
            **{f"cache_mode={mode}": list(families) for mode, families in CACHE_MODE_FAMILIES.items()},
        },
    }


def _generation_model(catalog: CatalogService, model: str) -> ModelView:
    """The model `model` names (a set by name first, as generation requests do); a generation's model."""
    view = catalog.get(model, kind=SET_TYPE if catalog.model_set(model) is not None else None)
    if view.model.type not in GENERATION_MODEL_TYPES:
        raise InvalidParameters(
            f"model: '{model}' is a {view.model.type}; name a checkpoint, diffusion model or model set",
            field="model",
        )
    return view


def checks_everything(principal: Principal | None) -> bool:
    """Whether the caller gets the endpoint's whole check: those who could send the body there."""
    return principal is not None and principal.can(Permission.GENERATE)


async def validate_body(
    request: Request, principal: OptionalPrincipal, settings: SettingsDep
) -> dict[str, Any]:
    """The JSON object to check, read within the caller's limit and parsed off the event loop."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not is_json_content_type(content_type):
        raise UnsupportedMediaType(f"content type {content_type} is not accepted: send application/json")
    limit = settings.max_request_bytes if checks_everything(principal) else SMALL_BODY_BYTES
    data = await parse_json_off_loop(await read_body(request, limit))
    if not isinstance(data, dict):
        raise ValidationFailed("body: must be a JSON object holding the fields of the mode's body")
    return data


@router.post(
    "/validate",
    response_model=ValidateReply,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        }
    },
    summary="Check a generation body (text2img by default, or ?mode=...) without queueing it",
    description="Always 200 for a JSON object: `valid` says whether the mode's endpoint would accept it, "
    "`errors` name each bad field, `normalized` is the body with every default filled in. Input images "
    "are decoded and checked as the endpoint would; `normalized` shows them as `<image WxH>` (the size "
    "the job would use) and carries the width and height they give. Guests get the fields checked "
    f"but no model file looked up, a body of at most {SMALL_BODY_BYTES} bytes and images of at most "
    f"{GUEST_MAX_IMAGE_PIXELS} pixels.",
)
def validate(
    planner: PlannerDep,
    principal: OptionalPrincipal,
    body: Annotated[dict[str, Any], Depends(validate_body)],
    mode: ValidateMode = Query("text2img", description="The endpoint whose body this is."),
) -> ValidateReply:
    try:
        request = VALIDATE_REQUESTS[mode].model_validate(body)
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
    everything = checks_everything(principal)
    try:
        if everything:
            if isinstance(request, Text2ImgRequest) and principal is not None:
                # The prompt as the job would get it: with the caller's styles applied.
                styled = planner.with_styles(request, principal.user_id)
                assert isinstance(styled, Text2ImgRequest)  # what it was given, texts changed
                normalized.update(prompt=styled.prompt, negative_prompt=styled.negative_prompt)
                request = styled
            if isinstance(request, Text2ImgRequest):
                normalized["model_name"] = planner.resolve_model_name(request.model_name)
                # The model family's settings for the fields the body leaves out, as the job gets them.
                defaulted = planner.with_defaults(request)
                # ... and its speed preset's settings (img2img's TAESD and tiling: see the job).
                shown = (*RECOMMENDED_FIELDS, "speed", *PRESET_FIELDS)
                normalized.update({name: getattr(defaulted, name) for name in shown})
            planner.check(request)
        if isinstance(request, Img2ImgRequest | UpscaleRequest | Img2VidRequest):
            _check_images(planner, request, normalized, None if everything else _guest_limits(planner))
    except ApiError as exc:
        errors.append(ValidationIssue(field=exc.field or "body", message=exc.message, code=exc.code.value))
    warnings = [] if everything else [GUEST_NOTE]
    width, height = normalized.get("width") or 0, normalized.get("height") or 0
    if width * height > LARGE_IMAGE_PIXELS:
        warnings.append(f"{width}x{height} is large: expect a long generation on a CPU")
    return ValidateReply(valid=not errors, errors=errors, warnings=warnings, normalized=normalized)


def _guest_limits(planner: JobPlanner) -> ImageLimits:
    configured = planner.input_limits
    return replace(
        configured,
        max_pixels=min(configured.max_pixels, GUEST_MAX_IMAGE_PIXELS),
        pixels_note=" (the limit for guests; authenticate to check larger images)",
    )


def _check_images(
    planner: JobPlanner,
    request: Img2ImgRequest | UpscaleRequest | Img2VidRequest,
    normalized: dict[str, Any],
    limits: ImageLimits | None,
) -> None:
    """Decodes the images as the endpoint would; `normalized` gets the size they give the job
    instead of echoing megabytes of base64 back."""
    sizes, size = planner.input_sizes(request, limits)
    if size is not None:
        normalized["width"], normalized["height"] = size
    for field in image_fields(type(request)):
        decoded = sizes.get("init_image" if field == "image" else field)
        if decoded is not None:
            normalized[field] = f"<image {decoded[0]}x{decoded[1]}>"
