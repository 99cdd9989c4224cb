"""An inpainting checkpoint (9-channel UNet input) through the real server and engine: the engine
feeds it the mask and the masked image's latent, and the server needs nothing special for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.modes_support import half_mask, image_b64, output_image, run_mode
from tests.fixtures import mode_models
from tests.server import ServerProcess, link_or_copy

MODEL = "sd15-inpainting"


@pytest.fixture(scope="module")
def inpainting_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("inpainting-server")
    link_or_copy(
        mode_models.inpainting_checkpoint(), data_dir / "models" / "checkpoints" / f"{MODEL}.safetensors"
    )
    process = ServerProcess(data_dir)
    process.start()
    yield process
    process.stop()


def test_inpainting_checkpoint_repaints_and_is_named(inpainting_server: ServerProcess) -> None:
    with inpainting_server.client() as client:
        listed = client.get("/api/models", params={"type": "checkpoint"}).json()["models"]
        assert [(m["name"], m["architecture"], m["variant"]) for m in listed] == [
            (f"{MODEL}.safetensors", "SD1.x", "inpainting")
        ]
        job = run_mode(
            inpainting_server,
            client,
            "inpainting",
            init_image=image_b64((80, 64)),
            mask_image=half_mask((80, 64)),
            strength=1.0,
        )
        image, fields = output_image(client, job)
        assert image.size == (80, 64)
        assert fields["Model"] == MODEL and fields["Denoising strength"] == "1.0"
        # The same checkpoint also makes plain text2img pictures (the engine gives it an empty mask).
        plain = run_mode(inpainting_server, client, "text2img", width=64, height=64)
        assert output_image(client, plain)[0].size == (64, 64)
