"""Each model type's folder can be configured on its own (e.g. shared with another tool); symlinks
placed in the folders bring in a library shared with other tools (issue 22)."""

from __future__ import annotations

import io
import os
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


def _library_server(tmp_path: Path) -> tuple[ServerProcess, Path]:
    """A server whose checkpoints/ links to a model library elsewhere: one file, one folder, and the
    kinds of entry a scan must skip with a reason."""
    library = tmp_path / "library"
    link_or_copy(sd15_model(), library / "shared.safetensors")
    link_or_copy(sd15_model(), library / "sd" / "in-folder.safetensors")
    checkpoints = tmp_path / "data" / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    os.symlink(library / "shared.safetensors", checkpoints / "linked.safetensors")
    os.symlink(library / "sd", checkpoints / "library")
    os.symlink(checkpoints, checkpoints / "loop")
    os.symlink(library / "gone.safetensors", checkpoints / "broken.safetensors")
    (checkpoints / "damaged.safetensors").write_bytes(b"\x10\x00\x00")
    (checkpoints / "model.zip").write_bytes(b"PK")
    link_or_copy(sd15_model(), tmp_path / "data" / "models" / "dropped.safetensors")
    return ServerProcess(tmp_path / "data").start(), library


def test_symlinked_checkpoints_are_listed_generate_and_only_the_link_is_deleted(tmp_path: Path) -> None:
    server, library = _library_server(tmp_path)
    checkpoints = tmp_path / "data" / "models" / "checkpoints"
    try:
        with server.client() as client:
            models = {m["name"]: m for m in client.get("/api/models", params={"limit": 0}).json()["models"]}
            assert {"linked.safetensors", "library/in-folder.safetensors"} <= set(models)
            assert models["linked.safetensors"]["path"] == "checkpoints/linked.safetensors"
            assert models["linked.safetensors"]["architecture"] == "SD1.x"
            assert not any(name.startswith("loop/") for name in models)
            job = server.wait_for(client, server.submit(client, model_name="linked.safetensors"))
            assert job["status"] == "completed", job
            # A request's name still cannot climb out to the library itself.
            escape = client.post(
                "/api/generate/text2img",
                json={"prompt": "x", "model_name": "../../../library/shared.safetensors", "steps": 1},
            )
            assert escape.status_code == 400 and escape.json()["error"]["code"] == "INVALID_PARAMETERS"

            # Deleting the linked model moves the link into the trash; the library keeps its file.
            deleted = client.delete("/api/models/linked.safetensors")
            assert deleted.status_code == 200, deleted.text
            assert not os.path.lexists(checkpoints / "linked.safetensors")
            assert (library / "shared.safetensors").is_file()
            entry_id = deleted.json()["entry"]["id"]
            assert client.post(f"/api/models/trash/{entry_id}/restore").status_code == 200
            assert (checkpoints / "linked.safetensors").is_symlink()
            assert (checkpoints / "linked.safetensors").resolve() == (
                library / "shared.safetensors"
            ).resolve()
            # A file only a linked folder brings in is the library's: refused, left where it is.
            refused = client.delete("/api/models/library/in-folder.safetensors")
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "INVALID_PARAMETERS"
            assert (library / "sd" / "in-folder.safetensors").is_file()
    finally:
        server.stop()


def test_files_a_scan_cannot_use_are_logged_and_listed_with_their_reason(tmp_path: Path) -> None:
    server, _library = _library_server(tmp_path)
    try:
        with server.client() as client:
            plain = client.get("/api/models").json()
            assert plain.get("errors") is None
            reply = client.get("/api/models", params={"include_errors": "true", "type": "lora"})
            assert reply.status_code == 200
            errors = {e["path"]: e for e in reply.json()["errors"]}  # whatever the filters
            assert set(errors) == {
                "checkpoints/loop",
                "checkpoints/broken.safetensors",
                "checkpoints/model.zip",
                "checkpoints/damaged.safetensors",
                "dropped.safetensors",
            }
            assert "loop" in errors["checkpoints/loop"]["reason"]
            assert "broken symlink" in errors["checkpoints/broken.safetensors"]["reason"]
            assert "unknown file type '.zip'" in errors["checkpoints/model.zip"]["reason"]
            assert "not in a model-type folder" in errors["dropped.safetensors"]["reason"]
            assert errors["checkpoints/damaged.safetensors"]["listed"] is True
            assert errors["checkpoints/model.zip"]["type"] == "checkpoint"
            assert str(tmp_path) not in reply.text  # no server path, least of all the library's
            spec = client.get("/openapi.json").json()
            parameters = {p["name"] for p in spec["paths"]["/api/models"]["get"]["parameters"]}
            assert "include_errors" in parameters and "ModelFileError" in spec["components"]["schemas"]
            log = server.log_tail(100_000)
            for path in ("checkpoints/loop", "checkpoints/broken.safetensors", "dropped.safetensors"):
                assert f"{path} skipped" in log
    finally:
        server.stop()


def test_every_model_type_folder_is_made_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    server = ServerProcess(tmp_path / "data").start()
    try:
        with server.client() as client:
            folders = client.get("/api/models/types").json()["folders"]
    finally:
        server.stop()
    canonical = [paths[0] for kind, paths in folders.items() if paths]
    assert len(canonical) == len(folders) - 1  # every type but model sets, which are no folder
    for folder in canonical:
        assert (tmp_path / "data" / "models" / folder).is_dir(), folder
