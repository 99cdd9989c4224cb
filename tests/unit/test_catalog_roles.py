"""What a model part is, from its header (catalog/roles.py), and the check that fails a job whose
parts do not fit (jobs/parts.py), on the real random-weight test files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdcpp_rest.catalog.headers import read_header
from sdcpp_rest.catalog.roles import PartKind, detect_part, part_mismatch
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.parts import check_parts
from sdcpp_rest.jobs.records import JobPreparationError
from tests.fixtures import dit_models, mode_models
from tests.fixtures.synthetic_models import write_safetensors
from tests.fixtures.test_models import sd15_model


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (dit_models.flux_model, PartKind("diffusion_model", family="Flux")),
        (dit_models.sd3_model, PartKind("diffusion_model", family="SD3")),
        (sd15_model, PartKind("diffusion_model", family="SD1.x")),  # a whole checkpoint: its UNet
        (dit_models.clip_l_model, PartKind("clip_l")),
        (dit_models.clip_g_model, PartKind("clip_g")),
        (dit_models.flux_vae_model, PartKind("vae", latent_channels=16)),
        (mode_models.vae_model, PartKind("vae", latent_channels=4)),
        (mode_models.lora_model, PartKind(None)),
    ],
)
def test_detect_part(make: object, expected: PartKind) -> None:
    assert callable(make)
    assert detect_part(read_header(make()).tensors) == expected


def test_t5_and_llm_encoders_by_their_names(tmp_path: Path) -> None:
    t5 = write_safetensors(
        tmp_path / "t5.safetensors", {"encoder.block.0.layer.0.SelfAttention.q.weight": [4, 4]}
    )
    llm = write_safetensors(
        tmp_path / "qwen.safetensors",
        {"model.layers.0.self_attn.q_proj.weight": [4, 4], "model.layers.0.mlp.gate_proj.weight": [8, 4]},
    )
    assert detect_part(read_header(t5).tensors).role == "t5xxl"
    assert detect_part(read_header(llm).tensors).role == "llm"


def test_part_mismatch_messages() -> None:
    assert part_mismatch("clip_l_path", PartKind("t5xxl"), "Flux") == (
        "is a T5-XXL text encoder, not a CLIP-L text encoder"
    )
    assert part_mismatch("vae_path", PartKind("vae", latent_channels=4), "Flux") == (
        "is a 4-channel VAE; a Flux model needs a 16-channel VAE"
    )
    assert part_mismatch("vae_path", PartKind("vae", latent_channels=16), "SD3") is None
    assert part_mismatch("clip_l_path", PartKind(None), "Flux") is None  # unknown: the engine decides


def test_check_parts_fails_a_checkpoint_with_a_flux_vae() -> None:
    with pytest.raises(JobPreparationError) as failure:
        check_parts({"vae_path": str(dit_models.flux_vae_model())}, sd15_model())
    assert failure.value.code == ErrorCode.MODEL_LOAD_FAILED
    assert "vae 'flux-vae-random.safetensors' is a 16-channel VAE; an SD1.x model needs a 4-channel" in (
        failure.value.message
    )
    check_parts({"vae_path": str(mode_models.vae_model())}, sd15_model())  # fits: no error


def test_job_preparation_error_keeps_its_code() -> None:
    """It was a frozen dataclass by mistake: raising one raised FrozenInstanceError instead, so every
    job that could not be prepared failed as INTERNAL_ERROR."""
    error = JobPreparationError(ErrorCode.MODEL_NOT_FOUND, "gone")
    assert (error.code, error.message, str(error)) == (ErrorCode.MODEL_NOT_FOUND, "gone", "gone")
