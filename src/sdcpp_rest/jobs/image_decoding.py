"""The one way an image that came with a request (native API, A1111, OpenAI, a downloaded URL) is
decoded: its bytes, format and pixel count are checked before its pixels are, and it is decoded inside
the decode gate, which bounds how many decodes (and resizes) run at once and hands the memory back.

Every caller holds the gate (`ImageDecoder.gate()`) around the decode and around everything it does
with the pixels; `open`/`decode_base64` refuse to run outside it, so a new path that forgets the gate
fails its first test instead of a server under load.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import ctypes.util
import io
import math
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image, ImageOps, UnidentifiedImageError

from sdcpp_rest.errors import InvalidParameters

# The formats a request's image may have, with their media types.
REQUEST_FORMATS: Mapping[str, str] = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*;base64,", re.IGNORECASE)
# Decoding is CPU-bound: more decodes at once than this only add memory (a 4096x4096 RGBA input is
# 64 MiB decoded, several times that while it is fitted and blurred), and two keep a second request
# moving while one decodes a huge image.
MAX_CONCURRENT_DECODES = 2
T = TypeVar("T")


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    # Added to the message of an image over max_pixels (e.g. why this caller's limit is lower).
    pixels_note: str = ""


class ImageTooLarge(InvalidParameters):
    """More bytes or pixels than the limits allow (a 400 naming the field; callers may map it)."""


class ImageUndecodable(InvalidParameters):
    """Not an image of an accepted format, or a corrupt one."""


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None elsewhere (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], object] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: trim(0)


_TRIM = _malloc_trim()


def checked_size(field: str, width: float, height: float, max_pixels: int) -> tuple[int, int]:
    """A target size (of a resize, an upscale, a second pass) as whole pixels, at least 1x1 and at most
    `max_pixels`: a request may not make the server allocate more than it may send."""
    if not (math.isfinite(width) and math.isfinite(height)):
        raise InvalidParameters(f"{field}: the size must be a finite number", field=field)
    if width * height > max_pixels:  # before rounding: 1e308 must not reach int()
        raise ImageTooLarge(
            f"{field}: {width:.0f}x{height:.0f} has more than {max_pixels} pixels (max_input_image_pixels)",
            field=field,
        )
    return max(round(width), 1), max(round(height), 1)


def base64_image_data(
    field: str, value: str, max_bytes: int, media_types: Mapping[str, str] = REQUEST_FORMATS
) -> bytes:
    """The bytes of base64 image text (with or without a data: prefix of one of `media_types`),
    refused past `max_bytes` before it is decoded; InvalidParameters naming `field` otherwise."""
    text = value.strip()
    match = _DATA_URL.match(text)
    if match:
        mime = (match.group("mime") or "").lower()
        if mime and mime not in media_types.values():
            kinds = "PNG, JPEG or WebP" if media_types is REQUEST_FORMATS else " or ".join(media_types)
            raise ImageUndecodable(field=field, message=f"{field}: type {mime} is not accepted (use {kinds})")
        text = text[match.end() :]
    # Base64 grows data by 4/3: refuse over-long text before decoding it.
    if len(text) > max_bytes * 4 // 3 + 4:
        raise ImageTooLarge(field=field, message=f"{field}: image is larger than {max_bytes} bytes")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageUndecodable(field=field, message=f"{field}: not valid base64 image data") from None


class _HeldHere(threading.local):
    """How deep the current thread is inside the gate (0: outside)."""

    depth = 0

    def enter(self) -> None:
        self.depth += 1

    def leave(self) -> None:
        self.depth -= 1


class ImageDecoder:
    """Decodes request images within `limits`, at most `slots` at once. Without the memory hand-back
    glibc keeps freed image blocks in the arena of the thread that used them, every thread of the pool
    has its own, and after a burst of big images the process stays gigabytes larger."""

    def __init__(self, limits: ImageLimits, slots: int = MAX_CONCURRENT_DECODES) -> None:
        self.limits = limits
        self._slots = threading.BoundedSemaphore(slots)
        self._held = _HeldHere()

    @contextmanager
    def gate(self) -> Iterator[None]:
        """Decode and work on the pixels inside; keep the images in locals of a function called inside,
        so that they are freed before the memory is handed back. Re-entrant on one thread."""
        if self._held.depth:
            self._held.enter()
            try:
                yield
            finally:
                self._held.leave()
            return
        with self._slots:
            self._held.enter()
            try:
                yield
            finally:
                self._held.leave()
                if _TRIM is not None:
                    _TRIM()

    def run(self, work: Callable[[], T]) -> T:
        """`work()` inside the gate (for a worker thread: `run_in_threadpool(decoder.run, work)`)."""
        with self.gate():
            return work()

    def decode_base64(self, field: str, value: str, limits: ImageLimits | None = None) -> Image.Image:
        """A PNG/JPEG/WebP image from base64 text (with or without a data: prefix); InvalidParameters
        naming `field` otherwise."""
        limits = limits or self.limits
        return self.open(field, base64_image_data(field, value, limits.max_bytes), limits)

    def open(
        self,
        field: str,
        data: bytes,
        limits: ImageLimits | None = None,
        formats: Mapping[str, str] | None = REQUEST_FORMATS,
    ) -> Image.Image:
        """The decoded image of `data`, checked for bytes, format (one of `formats`, Pillow's format
        names; None: any Pillow reads) and pixel count before its pixels are decoded; camera
        orientation applied."""
        if not self._held.depth:
            raise RuntimeError("ImageDecoder.open outside ImageDecoder.gate()")
        limits = limits or self.limits
        if not data:
            raise ImageUndecodable(field=field, message=f"{field}: the image is empty")
        if len(data) > limits.max_bytes:
            raise ImageTooLarge(
                field=field, message=f"{field}: image is larger than {limits.max_bytes} bytes"
            )
        accepted = "PNG, JPEG or WebP" if formats is REQUEST_FORMATS else "an image"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))  # reads the header only: format and size
                if formats is not None and image.format not in formats:
                    kind = image.format or "unknown"
                    raise ImageUndecodable(
                        field=field, message=f"{field}: {kind} images are not accepted (use {accepted})"
                    )
                if image.width * image.height > limits.max_pixels:
                    raise ImageTooLarge(
                        field=field,
                        message=f"{field}: {image.width}x{image.height} has more than {limits.max_pixels} "
                        f"pixels{limits.pixels_note}",
                    )
                image.load()
        except InvalidParameters:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ImageTooLarge(
                field=field, message=f"{field}: the image is too large to decode ({limits.max_pixels} pixels)"
            ) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise ImageUndecodable(
                field=field, message=f"{field}: could not decode the image ({accepted} expected)"
            ) from None
        # Honour camera orientation so the picture is generated the way the user sees it (in place: the
        # image keeps the format it was decoded from).
        ImageOps.exif_transpose(image, in_place=True)
        return image
