"""Speed presets (issue 26): each preset resolves to its table's settings per family and device, a
field the request sets itself wins over the preset, and the table's values are ones the request
fields and the families take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sdcpp_rest.cluster.heartbeat import engine_device
from sdcpp_rest.config import ConfigError, load_settings
from sdcpp_rest.jobs.scheduler.shared import WorkerState
from sdcpp_rest.jobs.speed_presets import with_speed
from sdcpp_rest.schemas.family import CACHE_MODE_FAMILIES, DIT_FAMILIES, UNET_FAMILIES, WEIGHT_TYPES
from sdcpp_rest.schemas.generate import Img2ImgRequest, Text2ImgRequest
from sdcpp_rest.schemas.speed import (
    DEVICES,
    PRESET_FIELDS,
    SPEED_TABLE,
    SPEEDS,
    TILE_ABOVE_PIXELS,
    SpeedChoice,
    preset_listing,
)

# What each preset must set, spelled out here rather than read back from the table: a changed row
# must change this test too.
EXPECTED: dict[tuple[str, str, str], dict[str, Any]] = {
    ("SD1.x", "CPU", "balanced"): {"cache_mode": "spectrum"},
    ("SD1.x", "CPU", "fast"): {"wtype": "q8_0", "cache_mode": "spectrum", "use_taesd": True},
    ("SD2.x", "CPU", "fast"): {"wtype": "q8_0", "cache_mode": "spectrum", "use_taesd": True},
    ("SDXL", "CPU", "fast"): {"wtype": "q8_0", "cache_mode": "spectrum"},
    ("Flux", "CPU", "balanced"): {"cache_mode": "dbcache"},
    ("Flux", "CPU", "fast"): {"cache_mode": "cache_dit"},
    ("SD3", "CPU", "fast"): {"cache_mode": "cache_dit"},
    ("SD1.x", "GPU", "balanced"): {"cache_mode": "spectrum", "diffusion_flash_attn": True},
    ("SD1.x", "GPU", "fast"): {
        "wtype": "q8_0",
        "cache_mode": "spectrum",
        "use_taesd": True,
        "diffusion_flash_attn": True,
    },
    ("Flux", "GPU", "fast"): {"cache_mode": "cache_dit", "diffusion_flash_attn": True},
    **{(family, device, "quality"): {} for family in ("SD1.x", "Flux") for device in DEVICES},
}


def _request(**fields: Any) -> Text2ImgRequest:
    return Text2ImgRequest.model_validate({"prompt": "x", "width": 64, "height": 64, **fields})


def _preset_fields(request: Text2ImgRequest) -> dict[str, Any]:
    """The preset fields that differ from the request fields' own defaults."""
    plain = _request()
    return {
        name: getattr(request, name)
        for name in PRESET_FIELDS
        if getattr(request, name) != getattr(plain, name)
    }


@pytest.mark.parametrize(("family", "device", "speed"), sorted(EXPECTED))
def test_each_preset_resolves_to_its_table_settings(family: str, device: str, speed: str) -> None:
    resolved = with_speed(_request(speed=speed), family, device, "quality", taesd_available=True)
    assert resolved.speed == speed
    assert _preset_fields(resolved) == EXPECTED[(family, device, speed)]


def test_every_family_and_device_has_every_preset() -> None:
    assert set(SPEED_TABLE) == {(f, d) for f in UNET_FAMILIES + DIT_FAMILIES for d in DEVICES}
    for (family, device), row in SPEED_TABLE.items():
        assert tuple(row) == SPEEDS
        for choice in row.values():
            # Values the request fields take and the family runs: a preset never makes a job fail.
            if choice.cache_mode is not None:
                assert family in CACHE_MODE_FAMILIES[choice.cache_mode], (family, choice)
            assert choice.wtype is None or choice.wtype in WEIGHT_TYPES
            assert not choice.use_taesd or family in ("SD1.x", "SD2.x")  # the SD1 TAESD's latents
            assert choice.basis
        quality = row["quality"].model_dump(exclude={"basis", "measured"})
        assert quality == SpeedChoice(measured=True, basis="-").model_dump(exclude={"basis", "measured"})
        # GPU rows are not measured yet; they say so.
        assert all(choice.measured for choice in row.values()) == (device == "CPU")


def test_quality_changes_nothing() -> None:
    request = _request(speed="quality")
    resolved = with_speed(request, "SD1.x", "CPU", "fast", taesd_available=True)
    assert resolved.model_dump() == {**request.model_dump(), "speed": "quality"}


def test_the_default_speed_applies_when_the_request_names_none() -> None:
    resolved = with_speed(_request(), "SD1.x", "CPU", "fast", taesd_available=True)
    assert resolved.speed == "fast"
    assert resolved.cache_mode == "spectrum"
    assert with_speed(_request(), "SD1.x", "CPU", "quality", taesd_available=True).cache_mode is None


def test_a_field_the_request_sets_wins_over_the_preset() -> None:
    request = _request(speed="fast", cache_mode="none", use_taesd=False, wtype="f16")
    resolved = with_speed(request, "SD1.x", "CPU", "quality", taesd_available=True)
    assert (resolved.cache_mode, resolved.use_taesd, resolved.wtype) == ("none", False, "f16")
    # Only the fields given win: the rest of the preset still applies.
    partial = with_speed(_request(speed="fast", cache_mode="ucache"), "SD1.x", "CPU", "quality", True)
    assert (partial.cache_mode, partial.wtype, partial.use_taesd) == ("ucache", "q8_0", True)


def test_taesd_only_where_a_file_is_there_and_not_over_a_named_taesd() -> None:
    without = with_speed(_request(speed="fast"), "SD1.x", "CPU", "quality", taesd_available=False)
    assert not without.use_taesd
    assert without.cache_mode == "spectrum"  # the rest of the preset still applies
    named = with_speed(_request(speed="fast", taesd_path="mine.safetensors"), "SD1.x", "CPU", "quality", True)
    assert not named.use_taesd


def test_gpu_rows_tile_the_vae_of_large_images_only() -> None:
    edge = 2048
    assert edge * edge > TILE_ABOVE_PIXELS
    large = _request(speed="fast", width=edge, height=edge)
    assert with_speed(large, "Flux", "GPU", "quality", True).vae_tiling
    assert not with_speed(large, "Flux", "CPU", "quality", True).vae_tiling
    assert not with_speed(_request(speed="fast"), "Flux", "GPU", "quality", True).vae_tiling
    # An image mode's size comes from its input image: the planner passes it in.
    image_request = Img2ImgRequest.model_validate({"prompt": "x", "init_image": "AAAA", "speed": "fast"})
    assert with_speed(image_request, "SD1.x", "GPU", "quality", True, size=(edge, edge)).vae_tiling
    assert not with_speed(image_request, "SD1.x", "GPU", "quality", True).vae_tiling


def test_an_unknown_family_gets_the_speed_recorded_and_nothing_else() -> None:
    resolved = with_speed(_request(speed="fast"), None, "CPU", "quality", taesd_available=True)
    assert resolved.speed == "fast"
    assert _preset_fields(resolved) == {}
    assert preset_listing(None, "CPU") is None
    assert preset_listing("SD1.x", "CPU") == {
        speed: choice.model_dump() for speed, choice in SPEED_TABLE[("SD1.x", "CPU")].items()
    }


def test_the_device_is_read_from_the_engine_workers_build() -> None:
    def worker(info: str) -> WorkerState:
        return WorkerState("w", 1, True, None, None, system_info=info)

    assert engine_device([]) == "CPU"
    assert engine_device([worker("AVX = 1 | CUDA = 0 |")]) == "CPU"
    assert engine_device([worker("AVX = 1 | CUDA = 1 |")]) == "GPU"


def test_the_default_speed_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STABLE_DIFFUSION_DEFAULT_SPEED", raising=False)
    assert load_settings().default_speed == "quality"
    monkeypatch.setenv("STABLE_DIFFUSION_DEFAULT_SPEED", "fast")
    assert load_settings().default_speed == "fast"
    monkeypatch.setenv("STABLE_DIFFUSION_DEFAULT_SPEED", "warp")
    with pytest.raises(ConfigError, match="default_speed"):
        load_settings()


def test_q8_0_converts_float_weights_only() -> None:
    fast = _request(speed="fast")
    for stored in ("f16", "f32", "bf16"):
        assert with_speed(fast, "SD1.x", "CPU", "quality", True, stored_wtype=stored).wtype == "q8_0"
    # A file already quantized (or one whose type is unknown) keeps its own weights; the rest applies.
    for stored in ("q4_0", "q8_0", None):
        kept = with_speed(fast, "SD1.x", "CPU", "quality", True, stored_wtype=stored)
        assert (kept.wtype, kept.cache_mode) == (None, "spectrum")
