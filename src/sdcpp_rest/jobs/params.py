"""What a job stores about itself: one pydantic model per mode, validated on submit, stored as JSON,
validated again on read.

They are the request bodies' fields (schemas/generate.py) without the images (those are files in the
job's inputs folder, named in `inputs`) and with everything the server decided filled in: the
checkpoint's name, the seed, the thread count, the size the input images gave. Building the engine
command reads these typed fields.

`params_version` lets the format change: a row written by an older release (no version: 1) loads
into today's model; a row from a newer release than this one is refused with a clear message rather
than misread. Unknown keys are ignored so that a newer release's additions do not break an older one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdcpp_rest.schemas.generate import (
    ControlNetFields,
    Img2ImgFields,
    InpaintingFields,
    Text2ImgFields,
    UpscaleFields,
)
from sdcpp_rest.schemas.jobs import JobMode as JobMode  # a wire type, re-exported for the queue
from sdcpp_rest.schemas.video import VideoFields

PARAMS_VERSION = 1


class StoredParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    params_version: int = Field(PARAMS_VERSION, description="Format of the stored parameters.")


class Text2ImgParams(StoredParams, Text2ImgFields):
    model_name: str
    seed: int  # the seed used: "random" was resolved on submit
    n_threads: int  # the server's default was filled in
    # The reference images' file names in the job's inputs folder, in the request's order.
    ref_inputs: list[str] = Field(default_factory=list)


class Img2ImgParams(Img2ImgFields, Text2ImgParams):
    # Input field -> file name in the job's inputs folder (init_image, mask_image, control_image).
    inputs: dict[str, str] = Field(default_factory=dict)


class InpaintingParams(InpaintingFields, Img2ImgParams):
    pass


class ControlNetParams(ControlNetFields, Img2ImgParams):
    pass


class UpscaleParams(StoredParams, UpscaleFields):
    inputs: dict[str, str] = Field(default_factory=dict)
    n_threads: int
    width: int  # of the input image
    height: int
    prompt: str = ""  # upscaling has none; kept so every job answers `prompt` alike


class Txt2VidParams(VideoFields, Text2ImgParams):
    pass


class Img2VidParams(Txt2VidParams):
    strength: float = 0.75
    inputs: dict[str, str] = Field(default_factory=dict)


class ModelDownloadParams(StoredParams):
    """A model file fetched from a URL into its type's folder (issue 16)."""

    url: str  # as resolved (hf:// expanded); never carries a token from the settings
    type: str  # the model type, whose first folder receives the file
    filename: str  # relative to that folder
    sha256: str | None = None  # the hash the file must have, when the request gave one
    prompt: str = ""  # no prompt; kept so every job answers `prompt` alike


class ModelConvertParams(StoredParams):
    """A checkpoint converted to GGUF by an engine worker (issue 16)."""

    source: str  # the checkpoint's name in its folder
    wtype: str  # q8_0, q4_k, f16, ...
    filename: str  # the new file's name in the checkpoints folder
    prompt: str = ""


JobParams = (
    Text2ImgParams
    | Img2ImgParams
    | InpaintingParams
    | ControlNetParams
    | UpscaleParams
    | Txt2VidParams
    | Img2VidParams
)
# Issue 16: jobs that need no engine (see SERVER_RUN_MODES); kept apart from JobParams so that code
# reading a generation's parameters stays typed as before.
AnyJobParams = JobParams | ModelDownloadParams | ModelConvertParams
# Issue 16: modes without a generation's size and steps.
FileJobParams = ModelDownloadParams | ModelConvertParams
# Modes a runner in the server process takes; the engine slots never claim them (their claims are
# limited to ENGINE_MODES, see jobs/claims.py:Runnable).
SERVER_RUN_MODES = frozenset({JobMode.MODEL_DOWNLOAD.value})
ENGINE_MODES = frozenset(mode.value for mode in JobMode) - SERVER_RUN_MODES

PARAMS_BY_MODE: dict[JobMode, type[StoredParams]] = {
    JobMode.TEXT2IMG: Text2ImgParams,
    JobMode.IMG2IMG: Img2ImgParams,
    JobMode.INPAINTING: InpaintingParams,
    JobMode.CONTROLNET: ControlNetParams,
    JobMode.UPSCALE: UpscaleParams,
    JobMode.MODEL_DOWNLOAD: ModelDownloadParams,
    JobMode.MODEL_CONVERT: ModelConvertParams,
    JobMode.TXT2VID: Txt2VidParams,
    JobMode.IMG2VID: Img2VidParams,
}


class UnreadableParams(ValueError):
    """A stored row whose parameters this release cannot read."""


def load_params(mode: str, data: dict[str, Any]) -> AnyJobParams:
    """The typed parameters of a stored job of `mode`; UnreadableParams when they cannot be read."""
    try:
        model = PARAMS_BY_MODE[JobMode(mode)]
    except ValueError:
        raise UnreadableParams(f"unknown job mode '{mode}'") from None
    version = data.get("params_version", 1)
    if not isinstance(version, int) or version > PARAMS_VERSION:
        raise UnreadableParams(
            f"parameters of format {version!r} were written by a newer release (this one reads up to "
            f"{PARAMS_VERSION})"
        )
    try:
        params = model.model_validate(data)
    except ValidationError as exc:
        raise UnreadableParams(f"stored parameters do not validate: {exc.errors()[0]['msg']}") from None
    assert isinstance(params, AnyJobParams)
    return params
