"""A request's speed preset (schemas/speed.py) applied to the fields it leaves out: a field the request
(or its model set's defaults) gives itself wins, then the preset, then the server's defaults (the
planner's default cache mode, the fields' own defaults). An unknown family gets nothing from a preset.
"""

from __future__ import annotations

from typing import TypeVar

from sdcpp_rest.schemas.generate import Text2ImgRequest
from sdcpp_rest.schemas.speed import SpeedChoice, speed_choice

Request = TypeVar("Request", bound=Text2ImgRequest)


# Weight types a preset's wtype converts from: a file already quantized keeps its own type (converting
# q4_0 weights "up" to q8_0 costs memory and brings back no fidelity).
FLOAT_WEIGHT_TYPES = ("f32", "f16", "bf16")


def preset_update(
    choice: SpeedChoice,
    given: set[str],
    width: int,
    height: int,
    taesd_available: bool,
    stored_wtype: str | None = "f16",
) -> dict[str, object]:
    """The fields `choice` sets that the request did not give, for an image of width x height of a
    model stored as `stored_wtype` (None: unknown, left as stored)."""
    chosen: dict[str, object] = {}
    for name in ("cache_mode", "cache_threshold"):
        value = getattr(choice, name)
        if value is not None:
            chosen[name] = value
    if choice.wtype is not None and stored_wtype in FLOAT_WEIGHT_TYPES:
        chosen["wtype"] = choice.wtype
    for name in ("diffusion_flash_attn", "diffusion_conv_direct", "vae_conv_direct"):
        if getattr(choice, name):
            chosen[name] = True
    # TAESD only where a file is there to use: a preset never makes a request fail.
    if choice.use_taesd and taesd_available:
        chosen["use_taesd"] = True
    tile_above = choice.vae_tiling_above_pixels
    if tile_above is not None and width * height > tile_above:
        chosen["vae_tiling"] = True
    # A TAESD the request names itself decides the decoder: the preset's use_taesd changes nothing.
    if "taesd_path" in given:
        chosen.pop("use_taesd", None)
    return {name: value for name, value in chosen.items() if name not in given}


def with_speed(
    request: Request,
    family: str | None,
    device: str,
    default_speed: str,
    taesd_available: bool,
    size: tuple[int, int] | None = None,
    stored_wtype: str | None = "f16",
) -> Request:
    """`request` with its speed (the request's, else `default_speed`) and that preset's settings in
    every field it did not set; `size` is the image's when the input images decided it,
    `stored_wtype` the model file's weight type."""
    speed = request.speed or default_speed
    update: dict[str, object] = {"speed": speed}
    choice = speed_choice(speed, family, device)
    if choice is not None:
        # Img2img leaves its size to the input image: 0 means "not known yet", no tiling.
        width, height = size or (request.width or 0, request.height or 0)
        given = request.model_fields_set
        update.update(preset_update(choice, given, width, height, taesd_available, stored_wtype))
    # The table's values are valid for the fields (tests/unit/test_speed_presets.py), so no
    # validation again, as jobs/request_defaults.py does.
    return request.model_copy(update=update)
