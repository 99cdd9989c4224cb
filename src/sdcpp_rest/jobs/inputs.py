"""Input images of a request, once decoded (jobs/image_decoding.py): fit to the generation size, prepare
masks, write to the job's inputs folder for the worker to read.

Decoding happens in the API process before a job is queued, so a bad image is an INVALID_PARAMETERS
reply naming its field, never a failed job. The worker gets file paths, not pickled pixels.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageFilter, ImageOps

from sdcpp_rest.schemas.parameters import PARAMETER_RANGES

# "fill" pads with a blurred stretch of the picture itself, as AUTOMATIC1111 does: no hard bars.
FILL_BLUR_RADIUS = 16
INPUTS_FOLDER = "inputs"


def default_size(image: Image.Image) -> tuple[int, int]:
    """The image's size rounded to the nearest multiple of 8, within the allowed range."""
    width_range, height_range = PARAMETER_RANGES["width"], PARAMETER_RANGES["height"]

    def fit(value: int, minimum: float, maximum: float) -> int:
        rounded = int(round(value / 8)) * 8
        return int(min(max(rounded, minimum), maximum))

    return (
        fit(image.width, width_range.minimum, width_range.maximum),
        fit(image.height, height_range.minimum, height_range.maximum),
    )


def fit_image(image: Image.Image, width: int, height: int, mode: str) -> Image.Image:
    """`resize` stretches, `crop` fills the frame and cuts the overflow (centred), `fill` fits the
    whole picture inside and fills the rest with a blurred stretch of it."""
    if image.size == (width, height):
        return image
    if mode == "resize":
        return image.resize((width, height), Image.Resampling.LANCZOS)
    if mode == "crop":
        return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    inner = ImageOps.contain(image, (width, height), Image.Resampling.LANCZOS)
    background = image.resize((width, height), Image.Resampling.BILINEAR)
    background = background.filter(ImageFilter.GaussianBlur(FILL_BLUR_RADIUS))
    background.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    return background


def prepare_mask(mask: Image.Image, blur: int, invert: bool) -> Image.Image:
    """Grey mask, white = repaint; blurred edges blend the repainted area into the rest."""
    grey = mask.convert("L")
    if invert:
        grey = ImageOps.invert(grey)
    if blur > 0:
        grey = grey.filter(ImageFilter.GaussianBlur(blur))
    return grey


def save_input(job_dir: Path, name: str, image: Image.Image) -> Path:
    """PNG in `{job_dir}/inputs/`: lossless, and the worker reads it by path."""
    folder = job_dir / INPUTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    image.save(target, format="PNG")
    return target
