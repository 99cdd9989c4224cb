"""The image work of AUTOMATIC1111's extras and png-info routes, all of it through the request images'
decoder (a PNG's texts through PNG info's chunk reader, within the same limits) and inside its gate:
the sizes asked for are held to max_input_image_pixels before a pixel is allocated, and at most the
gate's number of these run at once. Blocking: call from a worker thread."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from sdcpp_rest.compat.a1111.schemas import ExtraSingleBody, PngInfoBody
from sdcpp_rest.jobs.image_decoding import ImageDecoder, ImageLimits, base64_image_data, checked_size
from sdcpp_rest.outputs.infotext import parse_infotext
from sdcpp_rest.outputs.png_info.chunks import PNG_SIGNATURE, read_png_text

# An ESRGAN model multiplies each side by its scale (4 at most among the common ones): its result may
# have this many times more pixels than the largest input image.
ESRGAN_MAX_AREA_GROWTH = 4 * 4


def _target_size(body: ExtraSingleBody, size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """A1111's extras size: scaled by upscaling_resize (resize_mode 0) or upscaling_resize_w x h (1)."""
    if body.resize_mode == 1:
        return checked_size(
            "upscaling_resize_w", body.upscaling_resize_w, body.upscaling_resize_h, max_pixels
        )
    factor = body.upscaling_resize
    return checked_size("upscaling_resize", size[0] * factor, size[1] * factor, max_pixels)


def target_sizes(decoder: ImageDecoder, body: ExtraSingleBody, images: list[str]) -> list[tuple[int, int]]:
    """The size each image is to get; decoding them (one at a time) refuses a bad or too large one."""
    with decoder.gate():
        sizes = []
        for image in images:
            size = decoder.decode_base64("image", image).size  # freed before the next is decoded
            sizes.append(_target_size(body, size, decoder.limits.max_pixels))
        return sizes


def _png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def resized(
    decoder: ImageDecoder, image: str, target: tuple[int, int] | None, resample: Image.Resampling
) -> str:
    """The request's base64 `image` as a PNG of `target` size (None: its own size), base64."""
    with decoder.gate():
        decoded = decoder.decode_base64("image", image)
        if target is None or decoded.size == target:
            return _png_base64(decoded)
        return _png_base64(decoded.convert("RGB").resize(target, resample))


def resized_output(decoder: ImageDecoder, png: bytes, target: tuple[int, int]) -> str:
    """An upscale job's PNG resized to `target`, base64."""
    limits = decoder.limits
    # The job's output: larger than any input by up to the model's scale, never larger than that.
    output_limits = ImageLimits(
        limits.max_bytes * ESRGAN_MAX_AREA_GROWTH, limits.max_pixels * ESRGAN_MAX_AREA_GROWTH
    )
    with decoder.gate():
        decoded = decoder.open("image", png, output_limits)
        if decoded.size == target:
            return _png_base64(decoded)
        return _png_base64(decoded.convert("RGB").resize(target, Image.Resampling.LANCZOS))


def png_parameters(decoder: ImageDecoder, body: PngInfoBody) -> dict[str, Any]:
    """The generation parameters (A1111's infotext) and the other text chunks of an image. A PNG's
    texts are read by PNG info's chunk reader (no pixel decoded); JPEG and WebP are decoded for theirs."""
    limits = decoder.limits
    data = base64_image_data("image", body.image, limits.max_bytes)
    with decoder.gate():
        if data.startswith(PNG_SIGNATURE):
            texts = read_png_text(data, limits.max_pixels).texts
        else:  # Pillow's `info` (decoding copies the image, which keeps `info`, not `text`)
            info_chunks = dict(decoder.open("image", data).info)
            texts = {str(key): value for key, value in info_chunks.items() if isinstance(value, str)}
    info = texts.get("parameters", "")
    parameters: dict[str, Any] = {}
    if info:
        prompt, negative, fields = parse_infotext(info)
        parameters = {"Prompt": prompt, "Negative prompt": negative, **fields}
        width, _, height = fields.get("Size", "").partition("x")
        if width and height:
            parameters.update({"Size-1": width, "Size-2": height})
    return {
        "info": info,
        "items": {key: value for key, value in texts.items() if key != "parameters"},
        "parameters": parameters,
    }
