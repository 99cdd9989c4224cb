"""GET /api/models, /types, /{modelId} and POST /refresh against a real server over its own models folder."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.synthetic_models import write_architecture, write_gguf
from tests.server import ServerProcess, prepare_data_dir

SPEC_TYPES = ["checkpoint", "vae", "lora", "controlnet", "embedding", "esrgan", "taesd"]
# Issue 13: the parts of split models.
ALL_TYPES = [*SPEC_TYPES, "diffusion_model", "text_encoder", "clip_vision", "set"]


def _populate(data_dir: Path) -> Path:
    prepare_data_dir(data_dir)  # models/checkpoints/sd15.safetensors, hard-linked from the cache
    models = data_dir / "models"
    write_architecture(models / "checkpoints" / "xl" / "sdxl-tiny.safetensors", "sdxl")
    write_gguf(
        models / "stable-diffusion" / "flux-q8.gguf",
        {"double_blocks.0.w": ([4, 4], 8), "single_blocks.0.w": ([4, 4], 8)},
    )
    write_architecture(models / "vae" / "vae-ft.safetensors", "vae")
    write_architecture(models / "lora" / "style.safetensors", "lora_sd1")
    write_architecture(models / "embeddings" / "badword.safetensors", "embedding")
    (models / "checkpoints" / "broken.safetensors").write_bytes(b"\x10\x00\x00")
    outside = data_dir / "outside"
    write_architecture(outside / "secret.safetensors", "sd1_original")
    # A link to a file that is gone (links that work are followed: tests/api/test_model_folders.py).
    os.symlink(outside / "missing.safetensors", models / "checkpoints" / "escape.safetensors")
    return models


def _wait_hashed(client: httpx.Client, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model: dict[str, Any] = client.get(f"/api/models/{name}").json()
        if model["hash_status"] == "done":
            return model
        time.sleep(0.2)
    raise AssertionError(f"{name} was not hashed in {timeout} s")


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("catalog-server")
    _populate(data_dir)
    process = ServerProcess(data_dir).start()
    yield process
    process.stop()


@pytest.fixture
def api(catalog_server: ServerProcess) -> Iterator[httpx.Client]:
    with catalog_server.client() as http:
        yield http


def _names(api: httpx.Client, **params: Any) -> list[str]:
    reply = api.get("/api/models", params=params)
    assert reply.status_code == 200, reply.text
    return [m["name"] for m in reply.json()["models"]]


def test_listing_has_every_type_with_header_facts(api: httpx.Client) -> None:
    reply = api.get("/api/models", params={"limit": 0}).json()
    by_name = {m["name"]: m for m in reply["models"]}
    assert reply["total"] == 7 and "escape.safetensors" not in by_name
    sd15 = by_name["sd15.safetensors"]
    assert (sd15["type"], sd15["architecture"], sd15["weight_type"], sd15["format"]) == (
        "checkpoint",
        "SD1.x",
        "f16",
        "safetensors",
    )
    assert sd15["tensor_count"] == 1130 and sd15["path"] == "checkpoints/sd15.safetensors"
    assert "vae_path" in sd15["components"]
    assert by_name["xl/sdxl-tiny.safetensors"]["architecture"] == "SDXL"
    flux = by_name["flux-q8.gguf"]
    assert (flux["architecture"], flux["weight_type"], flux["path"]) == (
        "Flux",
        "q8_0",
        "stable-diffusion/flux-q8.gguf",
    )
    assert by_name["broken.safetensors"]["error"] and by_name["broken.safetensors"]["hash_status"] == "error"
    assert {m["type"] for m in reply["models"]} == {"checkpoint", "vae", "lora", "embedding"}


def test_types_endpoint_lists_the_spec_types(api: httpx.Client) -> None:
    reply = api.get("/api/models/types").json()
    assert reply["types"] == ALL_TYPES
    assert reply["folders"]["checkpoint"] == ["checkpoints", "stable-diffusion"]
    assert "upscale_models" in reply["folders"]["esrgan"]


def test_filters_and_sorts(api: httpx.Client) -> None:
    assert _names(api, type="vae") == ["vae-ft.safetensors"]
    assert _names(api, search="SDXL") == ["xl/sdxl-tiny.safetensors"]
    assert _names(api, size_category="large") == []
    assert _names(api, size_category="medium") == ["sd15.safetensors"]
    assert _names(api, min_size=1_000_000_000) == ["sd15.safetensors"]
    assert "sd15.safetensors" not in _names(api, max_size=1_000_000)
    assert _names(api, sort_by="size", sort_order="desc", limit=1) == ["sd15.safetensors"]
    assert _names(api, format="gguf") == ["flux-q8.gguf"]
    assert _names(api, loaded=True) == []
    assert len(_names(api, loaded=False)) == 7
    assert _names(api, modified_after="2999-01-01") == []
    assert len(_names(api, modified_before=time.time() + 60)) == 7
    assert len(_names(api, modified_after="2000-01-01T00:00:00Z")) == 7
    types = [m["type"] for m in api.get("/api/models", params={"sort_by": "type"}).json()["models"]]
    assert types == sorted(types, key=ALL_TYPES.index)
    by_name = _names(api, sort_by="name")
    assert by_name == sorted(by_name, key=str.lower)
    assert _names(api, sort_by="name", sort_order="desc") == list(reversed(by_name))


@pytest.mark.parametrize(
    "params",
    [
        {"type": "unicorn"},
        {"sort_by": "colour"},
        {"sort_order": "sideways"},
        {"size_category": "enormous"},
        {"modified_after": "yesterday"},
    ],
)
def test_bad_query_values_are_invalid_parameters(api: httpx.Client, params: dict[str, str]) -> None:
    reply = api.get("/api/models", params=params)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "INVALID_PARAMETERS"


def test_pagination_edges(api: httpx.Client) -> None:
    first = api.get("/api/models", params={"limit": 3}).json()
    assert (first["total"], first["pages"], first["has_next"], first["has_previous"]) == (7, 3, True, False)
    last = api.get("/api/models", params={"limit": 3, "page": 3}).json()
    assert len(last["models"]) == 1 and last["has_next"] is False
    past = api.get("/api/models", params={"limit": 3, "page": 50}).json()
    assert past["models"] == [] and past["total"] == 7
    everything = api.get("/api/models", params={"limit": 0}).json()
    assert len(everything["models"]) == 7 and everything["pages"] == 1
    assert api.get("/api/models", params={"page": 0}).status_code == 422
    assert api.get("/api/models", params={"limit": -1}).status_code == 422


def test_model_id_by_hash_short_hash_and_name(api: httpx.Client) -> None:
    model = _wait_hashed(api, "sd15.safetensors")
    assert model["id"] == model["hash"] and len(model["hash"]) == 64
    assert model["short_hash"] == model["hash"][:10]
    for model_id in (model["hash"], model["short_hash"], "sd15", "checkpoints/sd15.safetensors"):
        reply = api.get(f"/api/models/{model_id}")
        assert reply.status_code == 200 and reply.json()["name"] == "sd15.safetensors", model_id
    assert api.get("/api/models/xl/sdxl-tiny.safetensors").json()["architecture"] == "SDXL"
    missing = api.get("/api/models/no-such-model")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "MODEL_NOT_FOUND"


@pytest.mark.parametrize(
    "model_id", ["..%2F..%2Fetc%2Fpasswd", "checkpoints/..%2F..%2Foutside%2Fsecret.safetensors"]
)
def test_path_escapes_in_model_id_are_refused(api: httpx.Client, model_id: str) -> None:
    reply = api.get(f"/api/models/{model_id}")
    assert reply.status_code in (400, 404)
    assert reply.json()["error"]["code"] in ("INVALID_PARAMETERS", "NOT_FOUND")
    assert api.get("/api/models/escape.safetensors").status_code == 404  # the broken link is not listed


def test_generation_accepts_the_short_hash_as_model_name(api: httpx.Client) -> None:
    model = _wait_hashed(api, "sd15.safetensors")
    reply = api.post("/api/validate", json={"prompt": "x", "model_name": model["short_hash"]}).json()
    assert reply["valid"] is True and reply["normalized"]["model_name"] == "sd15.safetensors"


def test_refresh_notices_added_changed_and_removed(api: httpx.Client, catalog_server: ServerProcess) -> None:
    models = catalog_server.data_dir / "models"
    assert api.post("/api/models/refresh").json()["models_updated"] == 0
    write_architecture(models / "taesd" / "taesd.safetensors", "vae")
    write_architecture(models / "vae" / "vae-ft.safetensors", "sd2")  # changed content
    (models / "embeddings" / "badword.safetensors").unlink()
    reply = api.post("/api/models/refresh").json()
    assert reply["message"] == "Model refresh completed"
    assert (reply["models_found"], reply["models_updated"]) == (7, 3)
    assert (reply["added"], reply["changed"], reply["removed"]) == (1, 1, 1)
    assert _names(api, type="taesd") == ["taesd.safetensors"] and _names(api, type="embedding") == []
    assert api.post("/api/models/refresh").json()["models_updated"] == 0


def test_hashes_survive_a_restart_without_rehashing(tmp_path: Path) -> None:
    _populate(tmp_path)
    first = ServerProcess(tmp_path).start()
    try:
        with first.client() as api:
            before = _wait_hashed(api, "sd15.safetensors")
    finally:
        first.stop()
    second = ServerProcess(tmp_path).start()
    try:
        with second.client() as api:
            after = api.get("/api/models/sd15.safetensors").json()
    finally:
        second.stop()
    assert after["hash_status"] == "done" and after["hash"] == before["hash"]
    assert after["hashed_at"] == before["hashed_at"]  # read from the cache, not computed again
