"""AUTOMATIC1111's names and bodies onto the native requests (pure functions, no server)."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError

from sdcpp_rest.compat.a1111.mapping import to_native
from sdcpp_rest.compat.a1111.options import UserOptions
from sdcpp_rest.compat.a1111.schemas import Img2ImgBody, Txt2ImgBody
from sdcpp_rest.compat.a1111.vocab import NameNotFound, sampler_by_name, scheduler_by_name
from sdcpp_rest.schemas.generate import ControlNetRequest, Img2ImgRequest, InpaintingRequest, Text2ImgRequest
from tests.compat.conftest import png_b64


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Euler a", ("euler_a", None)), ("k_euler_a", ("euler_a", None)), ("euler", ("euler", None)),
        ("DPM++ 2M", ("dpmpp2m", None)), ("k_dpmpp_2m", ("dpmpp2m", None)),
        ("DPM++ 2S a", ("dpmpp2s_a", None)), ("Heun", ("heun", None)), ("DPM2", ("dpm2", None)),
        ("LCM", ("lcm", None)), ("DDIM", ("ddim_trailing", None)),
        ("DPM++ 2M Karras", ("dpmpp2m", "karras")), ("dpm++ 2m  sgm uniform", ("dpmpp2m", "sgm_uniform")),
        ("DPM2 Exponential", ("dpm2", "exponential")),
    ],
)  # fmt: skip
def test_sampler_names(name: str, expected: tuple[str, str | None]) -> None:
    assert sampler_by_name(name) == expected


@pytest.mark.parametrize("name", ["UniPC", "DPM++ SDE", "Euler Karras Karras", ""])
def test_unknown_sampler_is_a_404(name: str) -> None:
    with pytest.raises(NameNotFound) as refused:
        sampler_by_name(name)
    assert refused.value.status_code == 404 and "Sampler not found" in refused.value.message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, "discrete"), ("Automatic", "discrete"), ("automatic", "discrete"), ("Karras", "karras"),
        ("exponential", "exponential"), ("SGM Uniform", "sgm_uniform"), ("sgm_uniform", "sgm_uniform"),
        ("Align Your Steps", "ays"), ("simple", "simple"), ("KL Optimal", "kl_optimal"),
        ("polyexponential", "exponential"), ("normal", "discrete"), ("beta", "discrete"),
    ],
)  # fmt: skip
def test_scheduler_names(name: str | None, expected: str) -> None:
    assert scheduler_by_name(name) == expected


def test_txt2img_body_maps_onto_text2img() -> None:
    body = Txt2ImgBody.model_validate({
        "prompt": "x", "width": 70, "height": 64, "batch_size": 2, "n_iter": 3, "seed": -1,
        "sampler_index": "Euler", "enable_hr": True, "hr_upscaler": "Latent (nearest)", "hr_scale": 1.5,
        "denoising_strength": 0.4,
        "override_settings": {"CLIP_stop_at_last_layers": 2, "sd_vae": "Automatic"},
        "subseed": 5, "styles": ["a"], "url": "http://x", "auth": "user:secret", "tiling": None,
    })  # fmt: skip
    native = to_native(body, UserOptions(live_previews=False), "sd15.safetensors")
    assert type(native) is Text2ImgRequest
    assert (native.width, native.height, native.batch_count, native.seed) == (64, 64, 6, "random")
    assert native.sampling_method == "euler" and native.clip_skip == 2 and native.vae_path is None
    assert (
        native.hires is not None and native.hires.upscaler == "latent_nearest" and native.hires.scale == 1.5
    )
    assert native.hires.denoising_strength == 0.4 and native.preview == "none"


def test_img2img_inpainting_and_controlnet_bodies() -> None:
    image = png_b64()
    plain = to_native(
        Img2ImgBody(init_images=[image], resize_mode=2, denoising_strength=0.3), UserOptions(), None
    )
    assert type(plain) is Img2ImgRequest and plain.resize_mode == "fill" and plain.strength == 0.3
    masked = to_native(
        Img2ImgBody(init_images=[image], mask=image, mask_blur=99, inpainting_mask_invert=1),
        UserOptions(),
        None,
    )
    assert isinstance(masked, InpaintingRequest) and masked.invert_mask and masked.mask_blur == 64
    unit = {"enabled": True, "model": "control [0123abcd]", "module": "canny", "weight": 3, "image": image}
    controlled = to_native(
        Txt2ImgBody(alwayson_scripts={"controlnet": {"args": [unit]}}), UserOptions(), None
    )
    assert isinstance(controlled, ControlNetRequest)
    assert (controlled.control_net, controlled.control_strength, controlled.canny) == ("control", 2.0, True)
    with pytest.raises(NameNotFound):
        to_native(Img2ImgBody(prompt="no image"), UserOptions(), None)
    with pytest.raises(RequestValidationError) as invalid:
        to_native(Txt2ImgBody(batch_size=10, n_iter=10), UserOptions(), None)
    assert invalid.value.errors()[0]["loc"] == ("body", "batch_size*n_iter")
