"""A server whose models folder holds split models (issue 13): a Flux and an SD3 diffusion model with
their text encoders and VAEs in the component folders, plus the SD1.5 checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.modes_support import TEST_MAX_PIXELS
from tests.fixtures import dit_models, mode_models
from tests.fixtures.synthetic_models import write_safetensors
from tests.server import ServerProcess, link_or_copy, prepare_data_dir

FLUX = {"model_name": "flux-tiny.safetensors", "clip_l": "clip_l.safetensors", "vae": "flux-ae.safetensors"}
# Flow models at cfg 1: one evaluation a step (SD3's MMDiT is full size, see dit_models.py).
SMALL = {"width": 64, "height": 64, "steps": 1, "cfg_scale": 1.0}
# A T5 encoder's names (Hugging Face naming): the catalog tells it from a CLIP one by them alone.
T5_TENSORS = {
    "encoder.block.0.layer.0.SelfAttention.q.weight": [64, 64],
    "encoder.block.0.layer.1.DenseReluDense.wi_0.weight": [128, 64],
    "shared.weight": [32, 64],
}


def prepare_split_data_dir(data_dir: Path) -> Path:
    prepare_data_dir(data_dir)  # the SD1.5 checkpoint too: a server with both kinds of model
    models = data_dir / "models"
    link_or_copy(dit_models.flux_model(), models / "diffusion_models" / "flux-tiny.safetensors")
    link_or_copy(dit_models.sd3_model(), models / "unet" / "sd3-medium-q4_0.gguf")  # ComfyUI's alias
    link_or_copy(dit_models.clip_l_model(), models / "text_encoders" / "clip_l.safetensors")
    link_or_copy(dit_models.clip_g_model(), models / "clip" / "clip_g.gguf")
    link_or_copy(dit_models.flux_vae_model(), models / "vae" / "flux-ae.safetensors")
    link_or_copy(mode_models.vae_model(), models / "vae" / "sd-vae.safetensors")
    write_safetensors(models / "t5" / "t5xxl-tiny.safetensors", T5_TENSORS)
    link_or_copy(dit_models.wan_model(), models / "diffusion_models" / "wan2.1-t2v-1.3b-q4_0.gguf")
    link_or_copy(dit_models.wan_vae_model(), models / "vae" / "wan2.1-vae.safetensors")
    return data_dir


@pytest.fixture(scope="session")
def split_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Verbose: the engine's own lines ("Version: Flux") are logged at debug level.
    data_dir = prepare_split_data_dir(tmp_path_factory.mktemp("split-models"))
    env = {
        "STABLE_DIFFUSION_VERBOSE": "true",
        "STABLE_DIFFUSION_MAX_INPUT_IMAGE_PIXELS": str(TEST_MAX_PIXELS),
    }
    process = ServerProcess(data_dir, env=env)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def split_client(split_server: ServerProcess) -> Iterator[httpx.Client]:
    with split_server.client() as http:
        yield http
