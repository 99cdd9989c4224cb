"""Input image decoding and limits (sdcpp_rest.jobs.image_decoding) and fitting (sdcpp_rest.jobs.inputs)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.jobs.image_decoding import ImageDecoder, ImageLimits, checked_size
from sdcpp_rest.jobs.inputs import default_size, fit_image, prepare_mask

LIMITS = ImageLimits(max_bytes=1024 * 1024, max_pixels=512 * 512)
DECODER = ImageDecoder(LIMITS)


def decode_image(field: str, value: str, limits: ImageLimits) -> Image.Image:
    with DECODER.gate():
        return DECODER.decode_base64(field, value, limits)


def _encoded(size: tuple[int, int], fmt: str = "PNG", color: str = "red") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_decodes_each_format_with_and_without_data_prefix(fmt: str) -> None:
    text = _encoded((30, 20), fmt)
    assert decode_image("init_image", text, LIMITS).size == (30, 20)
    prefixed = f"data:image/{fmt.lower()};base64,{text}"
    assert decode_image("init_image", prefixed, LIMITS).size == (30, 20)


def test_byte_limit_names_the_field() -> None:
    with pytest.raises(InvalidParameters, match="^control_image: .*bytes"):
        noise = Image.effect_noise((64, 64), 100).convert("RGB")  # noise does not compress
        buffer = io.BytesIO()
        noise.save(buffer, format="PNG")
        text = base64.b64encode(buffer.getvalue()).decode()
        decode_image("control_image", text, ImageLimits(max_bytes=1024, max_pixels=10**6))


def test_pixel_limit_is_checked_before_decoding() -> None:
    with pytest.raises(InvalidParameters, match="^image: 600x600 has more than"):
        decode_image("image", _encoded((600, 600)), LIMITS)


@pytest.mark.parametrize(
    ("size", "expected"), [((83, 69), (80, 72)), ((20, 5000), (64, 4096)), ((512, 517), (512, 520))]
)
def test_default_size_rounds_to_multiples_of_8_within_range(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert default_size(Image.new("RGB", size)) == expected


@pytest.mark.parametrize("mode", ["resize", "crop", "fill"])
def test_fit_image_gives_the_requested_size(mode: str) -> None:
    assert fit_image(Image.new("RGB", (120, 40)), 64, 64, mode).size == (64, 64)


def test_crop_keeps_the_centre_and_fill_keeps_everything() -> None:
    wide = Image.new("RGB", (120, 40), "blue")
    wide.paste((255, 0, 0), (0, 0, 20, 40))  # a red strip on the left edge
    cropped = fit_image(wide, 64, 64, "crop")
    assert cropped.getpixel((0, 32)) == (0, 0, 255)  # the red edge was cut away
    filled = fit_image(wide, 64, 64, "fill")
    assert filled.getpixel((2, 32))[0] > 200  # the red edge is still in the picture


def test_mask_inverts_and_blurs() -> None:
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (16, 0, 32, 32))
    inverted = prepare_mask(mask, blur=0, invert=True)
    assert inverted.getpixel((0, 0)) == 255 and inverted.getpixel((31, 0)) == 0
    blurred = prepare_mask(mask, blur=3, invert=False)
    assert 0 < blurred.getpixel((16, 16)) < 255


def test_decoding_outside_the_gate_is_refused() -> None:
    with pytest.raises(RuntimeError, match="outside"):
        DECODER.decode_base64("image", _encoded((8, 8)))


def test_the_gate_is_reentrant_on_one_thread() -> None:
    gate = ImageDecoder(LIMITS, slots=1)
    with gate.gate(), gate.gate():
        assert gate.decode_base64("image", _encoded((8, 8))).size == (8, 8)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 1e308])
def test_checked_size_refuses_non_finite_and_huge_sizes(bad: float) -> None:
    with pytest.raises(InvalidParameters, match="^upscaling_resize: "):
        checked_size("upscaling_resize", bad, 512, 4096 * 4096)


def test_checked_size_rounds_within_the_limit() -> None:
    assert checked_size("size", 0.2, 99.6, 10_000) == (1, 100)
