"""Models shipped as separate parts (issue 13): a Flux and an SD3 diffusion model with their text
encoders and 16-channel VAE, from the component folders, end to end through the API and the real
engine; parts of the wrong kind fail the job naming the part, and the server serves on."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.api.modes_support import output_image, run_mode
from tests.api.split_support import FLUX, SMALL
from tests.server import ServerProcess


def test_catalog_tells_each_part_by_its_tensors(split_client: httpx.Client) -> None:
    models = split_client.get("/api/models", params={"limit": 0}).json()["models"]
    seen = {(m["type"], m["name"]): (m["role"], m["architecture"]) for m in models}
    assert seen[("diffusion_model", "flux-tiny.safetensors")] == ("diffusion_model", "Flux")
    assert seen[("diffusion_model", "sd3-medium-q4_0.gguf")] == ("diffusion_model", "SD3")
    assert seen[("text_encoder", "clip_l.safetensors")] == ("clip_l", "CLIP-L")
    assert seen[("text_encoder", "clip_g.gguf")] == ("clip_g", "CLIP-G")
    assert seen[("text_encoder", "t5xxl-tiny.safetensors")] == ("t5xxl", "T5-XXL")
    assert seen[("vae", "flux-ae.safetensors")] == ("vae", "Flux/SD3 16-channel")
    assert seen[("vae", "sd-vae.safetensors")] == ("vae", "SD 4-channel")
    types = split_client.get("/api/models/types").json()
    assert types["folders"]["text_encoder"] == ["text_encoders", "clip", "t5", "llm"]


def test_flux_without_t5_generates_64x64(split_server: ServerProcess, split_client: httpx.Client) -> None:
    job = run_mode(split_server, split_client, "text2img", **FLUX, **SMALL, prompt="a flux fox")
    assert job["model_name"] == "flux-tiny.safetensors"
    image, fields = output_image(split_client, job)
    assert image.size == (64, 64)
    assert fields["Model"] == "flux-tiny"
    assert fields["VAE"] == "flux-ae.safetensors"
    # The engine said it ran as Flux, without T5 (it warns and goes on).
    log = split_server.log_tail(10**7)
    assert "Version: Flux" in log and "t5xxl text encoder not found" in log


def test_sd3_generates_with_path_spellings(split_server: ServerProcess, split_client: httpx.Client) -> None:
    body = {
        "diffusion_model_path": "sd3-medium-q4_0.gguf",
        "clip_l_path": "clip_l.safetensors",
        "clip_g_path": "clip_g.gguf",
        "vae_path": "flux-ae.safetensors",
    }
    job = run_mode(split_server, split_client, "text2img", **body, **SMALL, prompt="an sd3 owl")
    assert job["model_name"] == "sd3-medium-q4_0.gguf"
    image, fields = output_image(split_client, job)
    assert image.size == (64, 64)
    assert fields["CLIP-G"] == "clip_g"
    assert "Version: SD3.x" in split_server.log_tail(10**7)


@pytest.mark.parametrize(
    ("parts", "named"),
    [
        ({"clip_l": "t5xxl-tiny.safetensors"}, "clip_l 't5xxl-tiny.safetensors' is a T5-XXL text encoder"),
        ({"vae": "sd-vae.safetensors"}, "vae 'sd-vae.safetensors' is a 4-channel VAE; a Flux model needs"),
    ],
)
def test_a_wrong_part_fails_the_job_naming_it(
    split_server: ServerProcess, split_client: httpx.Client, parts: dict[str, str], named: str
) -> None:
    response = split_client.post("/api/generate/text2img", json={**FLUX, **SMALL, **parts, "prompt": "x"})
    assert response.status_code == 202, response.text
    job = split_server.wait_for(split_client, response.json()["job_id"], timeout=600)
    assert job["status"] == "failed", job
    assert job["error_code"] == "MODEL_LOAD_FAILED", job
    assert named in job["error"], job["error"]
    # The server serves on: the right parts generate.
    run_mode(split_server, split_client, "text2img", **FLUX, **SMALL)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"diffusion_model": "../checkpoints/sd15.safetensors"}, "diffusion_model_path"),
        ({"t5xxl": "/etc/passwd"}, "t5xxl_path"),
        ({"llm_path": "missing.gguf"}, "llm_path"),
    ],
)
def test_parts_stay_in_their_folders(split_client: httpx.Client, body: dict[str, str], field: str) -> None:
    response = split_client.post("/api/generate/text2img", json={"prompt": "x", **SMALL, **FLUX, **body})
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert error["code"] in ("INVALID_PARAMETERS", "MODEL_NOT_FOUND"), error
    assert field in error["message"], error


def test_the_worker_reloads_only_when_a_part_or_context_option_changes(
    split_server: ServerProcess, split_client: httpx.Client
) -> None:
    def loads() -> int:
        return len(re.findall(r"worker \S+ loaded \S*flux-tiny", split_server.log_tail(10**8)))

    run_mode(split_server, split_client, "text2img", **FLUX, **SMALL)
    before = loads()
    run_mode(split_server, split_client, "text2img", **FLUX, **SMALL, seed=3, guidance=2.0)  # same context
    assert loads() == before
    run_mode(split_server, split_client, "text2img", **FLUX, **SMALL, keep_vae_on_cpu=True)  # an option
    assert loads() == before + 1
    run_mode(split_server, split_client, "text2img", **FLUX, **SMALL, keep_vae_on_cpu=True, t5xxl=None)
    assert loads() == before + 1
