"""OpenAI's sizes, models and formats onto the native requests (pure functions, no server)."""

from __future__ import annotations

import base64
import json

import pytest

from sdcpp_rest.compat.openai.mapping import Previews, encode, parse_size, response_format, with_extra_args
from sdcpp_rest.compat.openai.schemas import GenerationBody, ImageOptions
from sdcpp_rest.errors import InvalidParameters
from tests.compat.conftest import decode_png, png_b64


@pytest.mark.parametrize(
    ("size", "expected"),
    [("1024x1024", (1024, 1024)), ("1792x1024", (1792, 1024)), ("256x256", (256, 256)), ("64X128", (64, 128)),
     ("auto", None), (None, None)],
)  # fmt: skip
def test_sizes(size: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_size(size, None) == expected


@pytest.mark.parametrize("size", ["banana", "1001x1000", "32x32", "8192x8192", "64x", "-64x64"])
def test_bad_sizes(size: str) -> None:
    with pytest.raises(InvalidParameters) as refused:
        parse_size(size, None)
    assert refused.value.field == "size" and refused.value.status_code == 400


def test_response_format_defaults_as_openai() -> None:
    assert response_format(ImageOptions(model="gpt-image-1")) == "b64_json"
    assert response_format(ImageOptions(model="dall-e-3")) == "url"
    assert response_format(ImageOptions()) == "url"
    assert response_format(ImageOptions(model="gpt-image-1", response_format="url")) == "url"


def test_previews_are_spread_over_the_steps_and_formats_convert() -> None:
    assert Previews(0).fields(20) == {"preview": "none"}
    assert Previews(3).fields(20) == {"preview": "proj", "preview_interval": 5}
    png = base64.b64decode(png_b64())
    assert encode(png, "png", None) == base64.b64encode(png).decode()  # as written, infotext and all
    assert decode_png(encode(png, "webp", 80)).format == "WEBP"


def test_sd_server_extra_args_in_the_prompt_fill_what_the_body_does_not_set() -> None:
    sample = {"sample_steps": 3, "sample_method": "euler", "guidance": {"txt_cfg": 4.5}}
    tag = json.dumps({"seed": 9, "sample_params": sample})
    body = GenerationBody(prompt=f"a fox <sd_cpp_extra_args>{tag}</sd_cpp_extra_args>", steps=2)
    merged, prompt = with_extra_args(body, body.prompt)
    assert prompt == merged.prompt == "a fox"
    assert (merged.seed, merged.steps, merged.sampler, merged.cfg_scale) == (
        9,
        2,
        "euler",
        4.5,
    )  # body's steps win
    with pytest.raises(InvalidParameters):
        with_extra_args(body, "x <sd_cpp_extra_args>not json</sd_cpp_extra_args>")
