"""Architecture detection from tensor names and shapes, in original and diffusers naming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdcpp_rest.catalog.detect import (
    detect_checkpoint_architecture,
    detect_checkpoint_variant,
    detect_lora_architecture,
)
from sdcpp_rest.catalog.headers import TensorInfo, read_header
from tests.fixtures.synthetic_models import ARCHITECTURE_TENSORS, EXPECTED_ARCHITECTURE, write_architecture

SD15_MANIFEST = Path(__file__).resolve().parents[1] / "fixtures" / "sd15_manifest.json"


@pytest.mark.parametrize("arch", sorted(EXPECTED_ARCHITECTURE))
def test_checkpoint_architecture_from_file_header(tmp_path: Path, arch: str) -> None:
    header = read_header(write_architecture(tmp_path / f"{arch}.safetensors", arch))
    assert detect_checkpoint_architecture(header.tensors) == EXPECTED_ARCHITECTURE[arch]


def test_the_test_suites_sd15_model_is_detected_as_sd1() -> None:
    shapes = json.loads(SD15_MANIFEST.read_text())
    tensors = {name: TensorInfo("f16", tuple(shape)) for name, shape in shapes.items()}
    assert detect_checkpoint_architecture(tensors) == "SD1.x"


def test_unknown_names_give_no_architecture() -> None:
    assert detect_checkpoint_architecture({}) is None
    assert detect_checkpoint_architecture({"foo.weight": TensorInfo("f16", (4, 4))}) is None
    vae = {name: TensorInfo("f16", tuple(s)) for name, s in ARCHITECTURE_TENSORS["vae"].items()}
    assert detect_checkpoint_architecture(vae) is None


def test_sdxl_width_without_pooled_embedding_is_not_claimed_as_sdxl() -> None:
    tensors = {"model.diffusion_model.x.attn2.to_k.weight": TensorInfo("f16", (4, 2048))}
    assert detect_checkpoint_architecture(tensors) is None


def test_lora_architecture() -> None:
    def info(arch: str) -> dict[str, TensorInfo]:
        return {n: TensorInfo("f16", tuple(s)) for n, s in ARCHITECTURE_TENSORS[arch].items()}

    assert detect_lora_architecture(info("lora_sd1")) == "SD1.x"
    assert detect_lora_architecture(info("lora_sdxl")) == "SDXL"


@pytest.mark.parametrize(
    ("name", "channels", "variant"),
    [
        ("unet.conv_in.weight", 4, None),
        ("unet.conv_in.weight", 9, "inpainting"),
        ("model.diffusion_model.input_blocks.0.0.weight", 9, "inpainting"),
        ("model.diffusion_model.input_blocks.0.0.weight", 8, "instruct-pix2pix"),
    ],
)
def test_checkpoint_variant_from_the_unet_input_channels(
    name: str, channels: int, variant: str | None
) -> None:
    shapes = json.loads(SD15_MANIFEST.read_text())
    tensors = {
        n: TensorInfo("f16", tuple(shape)) for n, shape in shapes.items() if n != "unet.conv_in.weight"
    }
    tensors[name] = TensorInfo("f16", (320, channels, 3, 3))
    assert detect_checkpoint_variant(tensors) == variant
    # The VAE's own conv_in never counts.
    assert (
        detect_checkpoint_variant({"vae.encoder.conv_in.weight": TensorInfo("f16", (128, 9, 3, 3))}) is None
    )


def test_weight_type_of_a_quantized_file_is_its_quantization_even_when_f16_holds_more() -> None:
    # The shape of stable-diffusion.cpp's q8_0 SD1.5: matrices quantized, convolution kernels f16.
    from sdcpp_rest.catalog.detect import weight_type
    from sdcpp_rest.catalog.headers import TensorInfo

    converted = {
        "conv.weight": TensorInfo("f16", (320, 320, 3, 3)),
        "attn.to_k.weight": TensorInfo("q8_0", (320, 768)),
        "norm.weight": TensorInfo("f32", (320,)),
    }
    assert weight_type(converted) == "q8_0"
    plain = {"conv.weight": TensorInfo("f16", (320, 320, 3, 3)), "norm.weight": TensorInfo("f32", (320,))}
    assert weight_type(plain) == "f16"
