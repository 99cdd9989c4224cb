"""From OpenAI's requests to the native request models: models, sizes, quality, the local extras;
and the output images in the format asked for."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import BaseModel, ValidationError

from sdcpp_rest.catalog.service import CatalogService, ModelView
from sdcpp_rest.compat.a1111.vocab import NameNotFound, sampler_by_name, scheduler_by_name
from sdcpp_rest.compat.checkpoints import default_checkpoint, find_checkpoint
from sdcpp_rest.compat.openai.schemas import GenerationBody, ImageOptions, OutputFormat
from sdcpp_rest.errors import InvalidParameters, ModelNotFound
from sdcpp_rest.jobs.planning import GenerationRequest, JobPlanner
from sdcpp_rest.schemas.generate import Text2ImgRequest
from sdcpp_rest.schemas.parameters import PARAMETER_RANGES, SAMPLERS, SCHEDULERS
from sdcpp_rest.schemas.recommended import RecommendedSettings, recommended_for, spec_defaults

# OpenAI's own model names: a client written for OpenAI sends one of these; the default checkpoint.
OPENAI_MODEL_PREFIXES = ("dall-e", "gpt-image", "chatgpt-image")
# Models whose images come back as b64_json unless asked otherwise (OpenAI's rule).
B64_DEFAULT_PREFIX = "gpt-image"
# quality -> sampling steps, around the engine's default (20); no quality (or auto): the family's.
QUALITY_STEPS = {"low": 12, "medium": 20, "standard": 20, "high": 30, "hd": 30}
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")
# Native field -> OpenAI's parameter (for validation messages and `param`).
_OPENAI_FIELDS = {
    "batch_count": "n", "model_name": "model", "sampling_method": "sampler", "init_image": "image",
    "mask_image": "mask", "width": "size", "height": "size",
}  # fmt: skip
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
# sd-server's way to pass its own parameters through OpenAI clients: JSON in the prompt, in this tag.
Options = TypeVar("Options", bound=ImageOptions)
_EXTRA_ARGS = re.compile(r"<sd_cpp_extra_args>(.*?)</sd_cpp_extra_args>", re.DOTALL)


def validated(model: type[BaseModel], data: dict[str, Any]) -> GenerationRequest:
    """The native request, its validation errors reported under OpenAI's parameter names."""
    try:
        request = model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False):
            location = tuple(_OPENAI_FIELDS.get(str(part), part) for part in error.get("loc", ()))
            errors.append({**error, "loc": ("body", *location)})
        raise RequestValidationError(errors) from None
    assert isinstance(request, Text2ImgRequest)
    return request


def checkpoint_for(model: str | None, planner: JobPlanner, catalog: CatalogService) -> ModelView | None:
    """The checkpoint of `model`; OpenAI names and none at all mean the default checkpoint."""
    if not model or model.lower().startswith(OPENAI_MODEL_PREFIXES):
        return default_checkpoint(planner, catalog)
    try:
        return find_checkpoint(catalog, model)
    except ModelNotFound:
        raise ModelNotFound(
            f"The model '{model}' does not exist (see GET /v1/models)", field="model"
        ) from None


def response_format(options: ImageOptions) -> str:
    if options.response_format:
        return options.response_format
    return "b64_json" if (options.model or "").lower().startswith(B64_DEFAULT_PREFIX) else "url"


def parse_size(size: str | None, checkpoint: ModelView | None) -> tuple[int, int] | None:
    """(width, height) of `size`; None for auto (the caller decides: the model's native size, or the
    input image's size for edits). A size outside the server's limits is a bad request."""
    if size is None or size.strip().lower() == "auto":
        return None
    match = _SIZE.match(size)
    if not match:
        raise InvalidParameters(
            f"Invalid size '{size}': use WIDTHxHEIGHT, e.g. 1024x1024, or auto", field="size"
        )
    width, height = int(match[1]), int(match[2])
    spec = PARAMETER_RANGES["width"]
    low, high, step = int(spec.minimum), int(spec.maximum), int(spec.step)
    for edge in (width, height):
        if not low <= edge <= high or edge % step:
            raise InvalidParameters(
                f"Invalid size '{size}': each side must be a multiple of {step} from {low} to {high}",
                field="size",
            )
    return width, height


def family_settings(checkpoint: ModelView | None) -> RecommendedSettings:
    """The checkpoint family's recommended settings (size=auto, no quality), else the API's defaults."""
    family = checkpoint.model.architecture if checkpoint else None
    return recommended_for(family) or spec_defaults()


def native_size(checkpoint: ModelView | None) -> tuple[int, int]:
    settings = family_settings(checkpoint)
    return settings.width, settings.height


def _sampler(name: str | None) -> str | None:
    if not name:
        return None
    if name in SAMPLERS:
        return name
    try:
        return sampler_by_name(name)[0]
    except NameNotFound:
        raise InvalidParameters(
            f"Unknown sampler '{name}' (one of {', '.join(SAMPLERS)})", field="sampler"
        ) from None


def _scheduler(name: str | None) -> str | None:
    if not name:
        return None
    if name in SCHEDULERS:
        return name
    mapped = scheduler_by_name(name)
    if mapped == scheduler_by_name(None) and name.strip().lower() not in ("automatic", "discrete"):
        raise InvalidParameters(
            f"Unknown scheduler '{name}' (one of {', '.join(SCHEDULERS)})", field="scheduler"
        )
    return mapped


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def split_extra_args(prompt: str) -> tuple[str, dict[str, Any]]:
    """The prompt without sd-server's `<sd_cpp_extra_args>{...}</sd_cpp_extra_args>`, and the local
    extras that JSON sets (seed, negative_prompt, sample_params' steps, sampler, scheduler and
    txt_cfg, as sd-server reads them); clients written for sd-server keep working."""
    match = _EXTRA_ARGS.search(prompt)
    if match is None:
        return prompt, {}
    try:
        extra = json.loads(match[1])
    except json.JSONDecodeError:
        raise InvalidParameters("prompt: <sd_cpp_extra_args> does not hold JSON", field="prompt") from None
    if not isinstance(extra, dict):
        raise InvalidParameters("prompt: <sd_cpp_extra_args> must hold a JSON object", field="prompt")
    sample = _object(extra.get("sample_params"))
    guidance = _object(sample.get("guidance"))
    found = {
        "seed": extra.get("seed"),
        "negative_prompt": extra.get("negative_prompt"),
        "steps": sample.get("sample_steps"),
        "sampler": sample.get("sample_method"),
        "scheduler": sample.get("scheduler"),
        "cfg_scale": guidance.get("txt_cfg"),
    }
    return _EXTRA_ARGS.sub("", prompt).strip(), {
        key: value for key, value in found.items() if value is not None
    }


def with_extra_args(options: Options, prompt: str) -> tuple[Options, str]:
    """`options` with what the prompt's sd-server tag sets (fields the body gives win), and the
    prompt without the tag."""
    prompt, extra = split_extra_args(prompt)
    unset = {key: value for key, value in extra.items() if key not in options.model_fields_set}
    data = {**options.model_dump(exclude_unset=True), **unset}
    if "prompt" in type(options).model_fields:
        data["prompt"] = prompt
    try:
        return type(options).model_validate(data), prompt
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@dataclass(frozen=True)
class Previews:
    """How many live previews a streaming request wants, and the step interval that spreads them."""

    count: int

    def fields(self, steps: int) -> dict[str, Any]:
        if self.count <= 0:
            return {"preview": "none"}
        return {"preview": "proj", "preview_interval": max(steps // (self.count + 1), 1)}


def common_fields(
    options: ImageOptions, checkpoint: ModelView | None, quality: str | None, previews: Previews
) -> dict[str, Any]:
    """Native fields every OpenAI request sets: model, batch, the local extras, previews."""
    family_steps = family_settings(checkpoint).steps
    steps = options.steps or QUALITY_STEPS.get((quality or "").lower(), family_steps)
    data: dict[str, Any] = {
        "model_name": checkpoint.model.name if checkpoint else None,
        "batch_count": options.n or 1,
        "steps": steps,
        "seed": "random" if options.seed is None or options.seed < 0 else options.seed,
        **previews.fields(steps),
    }
    optional = {
        "negative_prompt": options.negative_prompt,
        "cfg_scale": options.cfg_scale,
        "sampling_method": _sampler(options.sampler),
        "scheduler": _scheduler(options.scheduler),
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def text2img(body: GenerationBody, checkpoint: ModelView | None, previews: Previews) -> GenerationRequest:
    width, height = parse_size(body.size, checkpoint) or native_size(checkpoint)
    data = {**common_fields(body, checkpoint, body.quality, previews), "prompt": body.prompt}
    return validated(Text2ImgRequest, {**data, "width": width, "height": height})


def encode(png: bytes, output_format: OutputFormat, compression: int | None) -> str:
    """Base64 of the image in `output_format` (PNGs are passed on as written, infotext and all)."""
    if output_format == "png":
        return base64.b64encode(png).decode()
    with Image.open(io.BytesIO(png)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format=_PIL_FORMATS[output_format], quality=compression or 100)
    return base64.b64encode(buffer.getvalue()).decode()


def reencode(jpeg_base64: str, output_format: OutputFormat) -> str:
    """A live preview (base64 JPEG) in `output_format`."""
    if output_format == "jpeg":
        return jpeg_base64
    with Image.open(io.BytesIO(base64.b64decode(jpeg_base64))) as image:
        buffer = io.BytesIO()
        image.save(buffer, format=_PIL_FORMATS[output_format])
    return base64.b64encode(buffer.getvalue()).decode()
