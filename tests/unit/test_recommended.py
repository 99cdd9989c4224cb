"""The model families' recommended settings (schemas/recommended.py) and how a request's unset fields
take them (jobs/request_defaults.py, the A1111 and OpenAI mappings)."""

from __future__ import annotations

import pytest

from sdcpp_rest.catalog.detect import SVD
from sdcpp_rest.compat.a1111.mapping import to_native
from sdcpp_rest.compat.a1111.options import UserOptions
from sdcpp_rest.compat.a1111.schemas import Txt2ImgBody
from sdcpp_rest.jobs.request_defaults import with_recommended
from sdcpp_rest.schemas.family import ALL_FAMILIES
from sdcpp_rest.schemas.generate import Img2ImgRequest, Text2ImgRequest
from sdcpp_rest.schemas.recommended import (
    FAMILY_SETTINGS,
    RECOMMENDED_FIELDS,
    recommended_for,
    recommended_for_model,
    spec_defaults,
)


@pytest.mark.parametrize("family", [*ALL_FAMILIES, SVD])
def test_every_family_has_settings_a_request_accepts(family: str) -> None:
    settings = recommended_for(family)
    assert settings is not None, family
    # The request model's own ranges and vocabularies accept every value of the table.
    request = Text2ImgRequest.model_validate({"prompt": "x", **settings.model_dump()})
    assert {name: getattr(request, name) for name in RECOMMENDED_FIELDS} == settings.model_dump()


def test_sizes_follow_the_family_as_the_issue_asks() -> None:
    edges = {
        family: (FAMILY_SETTINGS[family].width, FAMILY_SETTINGS[family].height) for family in FAMILY_SETTINGS
    }
    assert edges["SD1.x"] == (512, 512)
    assert edges["SD2.x"] == (768, 768)
    assert edges["SDXL"] == edges["Flux"] == edges["SD3"] == (1024, 1024)
    assert FAMILY_SETTINGS["Flux"].cfg_scale == 1.0


def test_unknown_family_and_non_generation_types_have_none() -> None:
    assert recommended_for(None) is None
    assert recommended_for("Some future family") is None
    assert recommended_for_model("lora", "SD1.x") is None
    assert recommended_for_model("checkpoint", "SD1.x") == FAMILY_SETTINGS["SD1.x"]


def test_a_sets_defaults_win_over_its_family_and_bad_ones_are_ignored() -> None:
    settings = recommended_for("Flux", {"steps": 4, "guidance": 3.5})
    assert settings is not None
    assert settings.steps == 4
    assert settings.width == FAMILY_SETTINGS["Flux"].width
    assert recommended_for("Flux", {"steps": "many"}) == FAMILY_SETTINGS["Flux"]


def test_unset_fields_take_the_family_values_and_given_ones_win() -> None:
    request = Text2ImgRequest.model_validate({"prompt": "x", "steps": 3, "sampling_method": "heun"})
    resolved = with_recommended(request, "SD1.x")
    sd1 = FAMILY_SETTINGS["SD1.x"]
    assert (resolved.width, resolved.height, resolved.cfg_scale, resolved.scheduler) == (
        sd1.width,
        sd1.height,
        sd1.cfg_scale,
        sd1.scheduler,
    )
    assert (resolved.steps, resolved.sampling_method) == (3, "heun")


def test_unknown_family_keeps_the_api_defaults() -> None:
    request = Text2ImgRequest.model_validate({"prompt": "x"})
    resolved = with_recommended(request, None)
    defaults = spec_defaults()
    assert (resolved.width, resolved.steps) == (defaults.width, defaults.steps)


def test_image_modes_keep_the_input_image_size() -> None:
    request = Img2ImgRequest.model_validate({"prompt": "x", "init_image": "AAAA"})
    resolved = with_recommended(request, "SDXL")
    assert resolved.width is None and resolved.height is None
    assert resolved.cfg_scale == FAMILY_SETTINGS["SDXL"].cfg_scale


def test_a1111_body_leaves_unsent_fields_to_the_family() -> None:
    native = to_native(Txt2ImgBody.model_validate({"prompt": "x", "width": None}), UserOptions(), "m")
    assert (
        not {"width", "height", "steps", "cfg_scale", "sampling_method", "scheduler"}
        & native.model_fields_set
    )
    sent = to_native(
        Txt2ImgBody.model_validate({"prompt": "x", "width": 64, "steps": 3, "sampler_name": "Euler"}),
        UserOptions(),
        "m",
    )
    assert isinstance(sent, Text2ImgRequest)
    assert {"width", "steps", "sampling_method"} <= sent.model_fields_set
    assert (sent.width, sent.steps, sent.sampling_method) == (64, 3, "euler")
