"""From a request body to the job to store: every name checked, every image decoded and written to
the job's inputs folder, every default decided (checkpoint, seed, threads, size), before the job is a
row. A bad request is an error reply that names its field, never a failed job.
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PIL import Image

from sdcpp_rest.catalog.files import COMPONENT_FOLDERS, CatalogError, ModelFiles
from sdcpp_rest.catalog.service import CatalogService
from sdcpp_rest.errors import InvalidParameters, ModelNotFound
from sdcpp_rest.jobs.family_check import (
    check_family_fields,
    model_family,
    model_weight_type,
    resolved_cache_mode,
)
from sdcpp_rest.jobs.image_decoding import ImageDecoder, ImageLimits
from sdcpp_rest.jobs.inputs import default_size, fit_image, prepare_mask, save_input
from sdcpp_rest.jobs.model_refs import (
    check_options,
    component_path,
    controlnet_file,
    esrgan_file,
    taesd_file,
)
from sdcpp_rest.jobs.params import (
    ControlNetParams,
    Img2ImgParams,
    Img2VidParams,
    InpaintingParams,
    JobMode,
    JobParams,
    Text2ImgParams,
    Txt2VidParams,
    UpscaleParams,
)
from sdcpp_rest.jobs.records import NewJob
from sdcpp_rest.jobs.request_defaults import with_recommended
from sdcpp_rest.jobs.set_apply import apply_set
from sdcpp_rest.jobs.speed_presets import with_speed
from sdcpp_rest.schemas.generate import (
    ControlNetRequest,
    Img2ImgRequest,
    InpaintingRequest,
    Text2ImgRequest,
    UpscaleRequest,
)
from sdcpp_rest.schemas.parameters import MAX_SEED, prompt_size_error
from sdcpp_rest.schemas.speed import DEFAULT_SPEED
from sdcpp_rest.schemas.video import VIDEO_FAMILIES, Img2VidRequest, Txt2VidRequest
from sdcpp_rest.styles.service import StyleService

GenerationRequest = Text2ImgRequest | UpscaleRequest  # every mode's body is one of these
PresetRequest = TypeVar("PresetRequest", bound=Text2ImgRequest)
IMAGE_INPUT_FIELDS = ("init_image", "mask_image", "control_image")
_REQUEST_MODES: tuple[tuple[type[GenerationRequest], JobMode], ...] = (
    # Most derived first: an InpaintingRequest is an Img2ImgRequest too.
    (InpaintingRequest, JobMode.INPAINTING),
    (ControlNetRequest, JobMode.CONTROLNET),
    (Img2ImgRequest, JobMode.IMG2IMG),
    (UpscaleRequest, JobMode.UPSCALE),
    (Img2VidRequest, JobMode.IMG2VID),
    (Txt2VidRequest, JobMode.TXT2VID),
    (Text2ImgRequest, JobMode.TEXT2IMG),
)
_PARAMS_OF_MODE: dict[JobMode, type[Text2ImgParams]] = {
    JobMode.TEXT2IMG: Text2ImgParams,
    JobMode.IMG2IMG: Img2ImgParams,
    JobMode.INPAINTING: InpaintingParams,
    JobMode.CONTROLNET: ControlNetParams,
    JobMode.TXT2VID: Txt2VidParams,
    JobMode.IMG2VID: Img2VidParams,
}


def mode_of(request: GenerationRequest) -> JobMode:
    return next(mode for kind, mode in _REQUEST_MODES if isinstance(request, kind))


class JobPlanner:
    """Checks a generation request against the models folder and turns it into a NewJob."""

    def __init__(
        self,
        files: ModelFiles,
        catalog: CatalogService,
        styles: StyleService,
        job_dir: Callable[[str], Path],
        loaded_models: Callable[[], list[str]],
        *,
        default_model: str | None,
        threads_per_worker: int,
        decoder: ImageDecoder,
        default_cache_mode: str = "none",
        default_lora_apply_mode: str = "auto",
        default_speed: str = DEFAULT_SPEED,
        engine_device: Callable[[], str] = lambda: "CPU",
    ) -> None:
        self._files = files
        self._catalog = catalog
        self._styles = styles
        self._job_dir = job_dir
        self._loaded_models = loaded_models
        self._default_model = default_model
        self._threads = threads_per_worker
        # Every decode of request images, for validation or for a job, passes its gate.
        self.decoder = decoder
        self.input_limits = decoder.limits
        self._default_cache_mode = default_cache_mode
        self._default_lora_apply_mode = default_lora_apply_mode
        self._default_speed = default_speed
        # CPU or GPU, read when a job is planned: the workers report their build once started.
        self._engine_device = engine_device

    def resolve_model_name(self, requested: str | None, diffusion_model: str | None = None) -> str:
        """The model a request will use: the one it names (checkpoint or stand-alone diffusion model by
        file name, or a checkpoint's hash or short hash), else its diffusion_model, the configured
        default, the loaded one, or the only checkpoint there is."""
        if diffusion_model:
            component_path(self._files, "diffusion_model_path", diffusion_model)  # inside its folder
            if requested and self.diffusion_model_of(requested, None) != diffusion_model:
                raise InvalidParameters(
                    f"model_name '{requested}' and diffusion_model '{diffusion_model}' differ: name one "
                    "diffusion model (or leave model_name out)",
                    field="model_name",
                )
            return diffusion_model
        if requested:
            model_set = self._catalog.model_set(requested)
            if model_set is not None:  # the set's diffusion model (with_set fills in its parts)
                return model_set.parts["diffusion_model"]
            try:
                return self._files.resolve_checkpoint(requested).name
            except CatalogError as exc:
                if exc.outside:
                    raise InvalidParameters(str(exc), field="model_name") from None
                diffusion = self._files.resolve_diffusion_model(requested)
                if diffusion is not None:
                    return diffusion
                # Not a file name: perhaps the hash or short hash the listing shows as the model's id.
                try:
                    return self._catalog.get(requested, kind="checkpoint").model.name
                except ModelNotFound as missing:
                    raise ModelNotFound(missing.message, field="model_name") from None
        if self._default_model:
            return self.resolve_model_name(self._default_model)
        checkpoints = self._files.list_checkpoints()
        for loaded in self._loaded_models():
            for checkpoint in checkpoints:
                if str(checkpoint.path) == loaded:
                    return checkpoint.name
        if len(checkpoints) == 1:
            return checkpoints[0].name
        if not checkpoints:
            raise ModelNotFound(
                "no checkpoint found: put one in the models folder's checkpoints/", field="model_name"
            )
        raise InvalidParameters(
            "model_name is required: several checkpoints are available (see /api/models)", field="model_name"
        )

    def diffusion_model_of(self, model_name: str | None, diffusion_model: str | None) -> str | None:
        """The stand-alone diffusion model a request runs: its diffusion_model, else its model_name when
        that names no checkpoint but a file of models/diffusion_models; None for a checkpoint."""
        if diffusion_model:
            return diffusion_model
        if not model_name:
            return None
        try:
            self._files.resolve_checkpoint(model_name)
            return None
        except CatalogError:
            return self._files.resolve_diffusion_model(model_name)

    def _family(self, request: Text2ImgRequest, model_name: str) -> str | None:
        diffusion_model = self.diffusion_model_of(request.model_name, request.diffusion_model_path)
        return model_family(self._files, model_name, diffusion_model)

    def with_set(self, request: GenerationRequest) -> GenerationRequest:
        """The request with its model set's parts and defaults when model_name names a set."""
        if isinstance(request, UpscaleRequest) or not request.model_name:
            return request
        model_set = self._catalog.model_set(request.model_name)
        return apply_set(request, model_set) if model_set is not None else request

    def with_styles(self, request: GenerationRequest, owner: str | None) -> GenerationRequest:
        """The request with the styles it names applied to its prompt and negative prompt, for the
        caller `owner` (its own styles over the shared ones). The names stay in `styles` (the PNG's
        `Styles`); the engine's prompt limit is checked again on the final text. Call it once: the
        styles apply to whatever prompt the request has."""
        if isinstance(request, UpscaleRequest) or not request.styles:
            return request
        prompt, negative = self._styles.apply(request.styles, owner, request.prompt, request.negative_prompt)
        for field, text in (("prompt", prompt), ("negative_prompt", negative)):
            error = prompt_size_error(text)
            if error:
                raise InvalidParameters(f"{field}: with its styles applied, it {error}", field=field)
        return request.model_copy(update={"prompt": prompt, "negative_prompt": negative})

    def with_defaults(self, request: GenerationRequest) -> GenerationRequest:
        """The request as a job would run it: its model set's parts and defaults, then its model
        family's recommended settings for the fields it leaves out (what /api/validate shows)."""
        request = self.with_set(request)
        if isinstance(request, UpscaleRequest):
            return request
        model_name = self.resolve_model_name(request.model_name, request.diffusion_model_path)
        family = self._family(request, model_name)
        return self.with_speed(with_recommended(request, family), model_name, family)

    def with_speed(
        self,
        request: PresetRequest,
        model_name: str,
        family: str | None,
        size: tuple[int, int] | None = None,
    ) -> PresetRequest:
        """The request with its speed preset's settings (schemas/speed.py) in the fields it left out."""
        diffusion_model = self.diffusion_model_of(request.model_name, request.diffusion_model_path)
        stored_wtype = model_weight_type(self._files, model_name, diffusion_model)
        device, taesd = self.engine_device(), self._has_taesd()
        return with_speed(request, family, device, self._default_speed, taesd, size, stored_wtype)

    def engine_device(self) -> str:
        """CPU or GPU: the device whose row of the speed presets applies."""
        return self._engine_device()

    def _has_taesd(self) -> bool:
        try:
            taesd_file(self._files, None, use_taesd=True)
        except InvalidParameters:
            return False
        return True

    def check(self, request: GenerationRequest) -> str | None:
        """Every file the request names exists in its folder; the checkpoint's name (None for upscale)."""
        request = self.with_set(request)
        if isinstance(request, UpscaleRequest):
            esrgan_file(self._files, request.upscaler)
            return None
        model_name = self.resolve_model_name(request.model_name, request.diffusion_model_path)
        family = self._family(request, model_name)
        check_family_fields(request, family)
        if isinstance(request, Txt2VidRequest) and family is not None and family not in VIDEO_FAMILIES:
            raise InvalidParameters(
                f"model_name: {family} models make no video (video needs {', '.join(VIDEO_FAMILIES)})",
                field="model_name",
            )
        for field in COMPONENT_FOLDERS:
            component_path(self._files, field, getattr(request, field))
        check_options(self._files, request, request.prompt, request.lora_model_dir, request.taesd_path)
        if isinstance(request, ControlNetRequest):
            controlnet_file(self._files, request.control_net)
        return model_name

    def input_sizes(
        self, request: GenerationRequest, limits: ImageLimits | None = None
    ) -> tuple[dict[str, tuple[int, int]], tuple[int, int] | None]:
        """Decode the images as a job would (within `limits`, default the configured ones) and keep
        only their fitted sizes by field, and the generation size: what /api/validate reports."""
        with self.decoder.gate():
            return self._fitted_sizes(request, limits or self.input_limits)

    def _fitted_sizes(
        self, request: GenerationRequest, limits: ImageLimits
    ) -> tuple[dict[str, tuple[int, int]], tuple[int, int] | None]:
        # The images live only in this call, so they are freed before the decode gate is left.
        images, size = self._decode_inputs(request, limits)
        return {field: image.size for field, image in images.items()}, size

    def _decode_inputs(
        self, request: GenerationRequest, limits: ImageLimits
    ) -> tuple[dict[str, Image.Image], tuple[int, int] | None]:
        """Decoded images by field, fitted to the generation size; and that size (None for upscale
        and text2img). Callers hold the decode gate."""
        if isinstance(request, UpscaleRequest):
            return {
                "init_image": self.decoder.decode_base64("image", request.image, limits).convert("RGB")
            }, None
        if isinstance(request, Img2VidRequest):
            image = self.decoder.decode_base64("init_image", request.init_image, limits).convert("RGB")
            size = (request.width, request.height)
            return {"init_image": fit_image(image, size[0], size[1], "crop")}, size
        if not isinstance(request, Img2ImgRequest):
            return {}, None
        raw: dict[str, Image.Image] = {}
        for field in IMAGE_INPUT_FIELDS:
            value = getattr(request, field, None)
            if value is not None:  # "" reaches decode_image, which names the field
                raw[field] = self.decoder.decode_base64(field, value, limits)
        first = raw.get("init_image") or raw["control_image"]
        if "mask_image" in raw and raw["mask_image"].size != first.size:
            mask_size, image_size = raw["mask_image"].size, first.size
            raise InvalidParameters(
                f"mask_image: {mask_size[0]}x{mask_size[1]} differs from init_image's "
                f"{image_size[0]}x{image_size[1]}",
                field="mask_image",
            )
        width, height = default_size(first)
        size = (request.width or width, request.height or height)
        fitted: dict[str, Image.Image] = {}
        for field, image in raw.items():
            if field == "mask_image" and isinstance(request, InpaintingRequest):
                image = prepare_mask(image, request.mask_blur, request.invert_mask)
            else:
                image = image.convert("RGB")
            fitted[field] = fit_image(image, size[0], size[1], request.resize_mode)
        return fitted, size

    def discard(self, job: NewJob) -> None:
        """Forget a planned job that will not be added: remove the inputs plan() wrote."""
        shutil.rmtree(self._job_dir(job.id), ignore_errors=True)

    def plan(self, request: GenerationRequest, owner: str | None) -> NewJob:
        """Check the names, decode and store the inputs; the job to add."""
        request = self.with_styles(self.with_set(request), owner)
        mode = mode_of(request)
        model_name = self.check(request)
        family = None
        if model_name is not None and not isinstance(request, UpscaleRequest):
            family = self._family(request, model_name)
            # Before the inputs are fitted: a video's frames take the family's size.
            request = with_recommended(request, family)
        job_id = str(uuid.uuid4())
        with self.decoder.gate():
            inputs, sizes, size = self._save_inputs(request, job_id)
            ref_inputs = self._save_ref_images(request, job_id)
        if model_name is not None and not isinstance(request, UpscaleRequest):
            request = self.with_speed(request, model_name, family, size)  # after the inputs: the size
        # The worker's share of the cores at most: more engine threads than cores slow every job down.
        asked = request.n_threads if request.n_threads is not None else -1
        threads = asked if 0 < asked <= self._threads else self._threads
        params: JobParams
        if isinstance(request, UpscaleRequest):
            width, height = sizes["init_image"]
            params = UpscaleParams.model_validate(
                {
                    **request.model_dump(exclude={"image"}),
                    "inputs": inputs,
                    "n_threads": threads,
                    "width": width,
                    "height": height,
                }
            )
            return NewJob(job_id, mode, owner, None, "", 0, 1, params)
        assert model_name is not None
        seed = secrets.randbelow(MAX_SEED + 1) if request.seed in ("random", -1) else int(request.seed)
        resolved: dict[str, object] = {"model_name": model_name, "seed": seed, "n_threads": threads}
        diffusion_model = self.diffusion_model_of(request.model_name, request.diffusion_model_path)
        if diffusion_model:  # model_name may have named it: the job runs it as its diffusion model
            resolved["diffusion_model_path"] = diffusion_model
        resolved["cache_mode"] = resolved_cache_mode(request.cache_mode, self._default_cache_mode, family)
        resolved["lora_apply_mode"] = request.lora_apply_mode or self._default_lora_apply_mode
        if size is not None:
            resolved.update(width=size[0], height=size[1], inputs=inputs)
        resolved["ref_inputs"] = ref_inputs
        params = _PARAMS_OF_MODE[mode].model_validate(
            {**request.model_dump(exclude={*IMAGE_INPUT_FIELDS, "ref_images"}), **resolved}
        )
        return NewJob(
            job_id, mode, owner, model_name, request.prompt, seed, request.planned_total_steps(), params
        )

    def _save_ref_images(self, request: GenerationRequest, job_id: str) -> list[str]:
        """Decode and write the reference images (same limits as every input image); their file
        names in order. Callers hold the decode gate."""
        if isinstance(request, UpscaleRequest) or not request.ref_images:
            return []
        job_dir = self._job_dir(job_id)
        names = []
        for index, value in enumerate(request.ref_images):
            image = self.decoder.decode_base64(f"ref_images.{index}", value, self.input_limits).convert("RGB")
            names.append(save_input(job_dir, f"ref_image_{index}", image).name)
        return names

    def _save_inputs(
        self, request: GenerationRequest, job_id: str
    ) -> tuple[dict[str, str], dict[str, tuple[int, int]], tuple[int, int] | None]:
        """Decode and write the input images: file names and sizes by field, and the generation size.
        The images live only in this call, so they are freed before the decode gate is left."""
        images, size = self._decode_inputs(request, self.input_limits)
        job_dir = self._job_dir(job_id)
        inputs = {field: save_input(job_dir, field, image).name for field, image in images.items()}
        return inputs, {field: image.size for field, image in images.items()}, size
