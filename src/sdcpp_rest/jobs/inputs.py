"""Input images of a request: decode base64 (with or without a data: prefix), check type and limits,
fit to the generation size, write to the job's inputs folder for the worker to read.

Decoding happens in the API process before a job is queued, so a bad image is an INVALID_PARAMETERS
reply naming its field, never a failed job. The worker gets file paths, not pickled pixels.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import ctypes.util
import io
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.schemas.parameters import PARAMETER_RANGES

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*;base64,", re.IGNORECASE)
# "fill" pads with a blurred stretch of the picture itself, as AUTOMATIC1111 does: no hard bars.
FILL_BLUR_RADIUS = 16
INPUTS_FOLDER = "inputs"
# Decoding is CPU-bound: more decodes at once than this only add memory (a 4096x4096 RGBA input is
# 64 MiB decoded, several times that while it is fitted and blurred), and two keep a second request
# moving while one decodes a huge image.
MAX_CONCURRENT_DECODES = 2


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    # Added to the message of an image over max_pixels (e.g. why this caller's limit is lower).
    pixels_note: str = ""


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None elsewhere (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], object] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: trim(0)


_TRIM = _malloc_trim()


class DecodeGate:
    """At most `slots` callers decode images at once, and each hands the memory it freed back to the
    system when it leaves. Without that, glibc keeps freed image blocks in the arena of the thread
    that used them, every thread of the pool has its own, and after a burst of big images the
    process stays gigabytes larger (the blocks of 16 threads, not of the 2 decoding at a time)."""

    def __init__(self, slots: int = MAX_CONCURRENT_DECODES) -> None:
        self._slots = threading.BoundedSemaphore(slots)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Decode inside; keep the decoded images in locals of a function called inside, so that
        they are freed before the memory is handed back."""
        with self._slots:
            try:
                yield
            finally:
                if _TRIM is not None:
                    _TRIM()


def decode_image(field: str, value: str, limits: ImageLimits) -> Image.Image:
    """A PNG/JPEG/WebP image from base64 text; InvalidParameters naming `field` otherwise."""
    text = value.strip()
    match = _DATA_URL.match(text)
    if match:
        mime = (match.group("mime") or "").lower()
        if mime and mime not in ALLOWED_FORMATS.values():
            raise InvalidParameters(
                field=field, message=f"{field}: type {mime} is not accepted (use PNG, JPEG or WebP)"
            )
        text = text[match.end() :]
    # Base64 grows data by 4/3: refuse over-long text before decoding it.
    if len(text) > limits.max_bytes * 4 // 3 + 4:
        raise InvalidParameters(
            field=field, message=f"{field}: image is larger than {limits.max_bytes} bytes"
        )
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameters(field=field, message=f"{field}: not valid base64 image data") from None
    return open_image(field, data, limits)


def open_image(field: str, data: bytes, limits: ImageLimits) -> Image.Image:
    """Checks bytes, format and pixel count before the pixels are decoded."""
    if not data:
        raise InvalidParameters(field=field, message=f"{field}: the image is empty")
    if len(data) > limits.max_bytes:
        raise InvalidParameters(
            field=field, message=f"{field}: image is larger than {limits.max_bytes} bytes"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ALLOWED_FORMATS:
                raise InvalidParameters(
                    field=field,
                    message=f"{field}: {image.format or 'unknown'} images are not accepted "
                    "(use PNG, JPEG or WebP)",
                )
            if image.width * image.height > limits.max_pixels:
                raise InvalidParameters(
                    field=field,
                    message=f"{field}: {image.width}x{image.height} has more than {limits.max_pixels} "
                    f"pixels{limits.pixels_note}",
                )
            image.load()
    except InvalidParameters:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ):
        raise InvalidParameters(
            field=field, message=f"{field}: could not decode the image (PNG, JPEG or WebP expected)"
        ) from None
    # Honour camera orientation so the picture is generated the way the user sees it.
    return ImageOps.exif_transpose(image)


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
