"""Each model type's folder can be configured on its own (e.g. shared with another tool)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from sdcpp_rest.outputs.infotext import parse_infotext
from tests.fixtures.mode_models import vae_model
from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy


def test_configured_checkpoint_and_vae_folders_are_used(tmp_path: Path) -> None:
    shared = tmp_path / "elsewhere"
    link_or_copy(sd15_model(), shared / "sd-checkpoints" / "custom.safetensors")
    link_or_copy(vae_model(), shared / "sd-vae" / "custom-vae.safetensors")
    env = {
        "STABLE_DIFFUSION_CHECKPOINTS_DIR": str(shared / "sd-checkpoints"),
        "STABLE_DIFFUSION_VAE_DIR": str(shared / "sd-vae"),
    }
    (tmp_path / "data").mkdir()
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        with server.client() as client:
            names = {m["name"] for m in client.get("/api/models", params={"limit": 0}).json()["models"]}
            assert {"custom.safetensors", "custom-vae.safetensors"} <= names
            job_id = server.submit(client, model_name="custom.safetensors", vae_path="custom-vae.safetensors")
            job = server.wait_for(client, job_id)
            assert job["status"] == "completed", job
            image = Image.open(io.BytesIO(client.get(job["outputs"][0]["url"]).content))
            assert parse_infotext(image.text["parameters"])[2]["VAE"] == "custom-vae.safetensors"
            # The configured folder is the only root: paths out of it are refused as before.
            escape = client.post(
                "/api/generate/text2img",
                json={
                    "prompt": "x",
                    "width": 64,
                    "height": 64,
                    "steps": 1,
                    "vae_path": "../sd-checkpoints/x",
                },
            )
            assert escape.status_code == 400 and escape.json()["error"]["code"] == "INVALID_PARAMETERS"
    finally:
        server.stop()
