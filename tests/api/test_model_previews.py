"""Preview images beside model files (issue 22): `preview_url` in the catalog and the route serving it,
against a real server with JWT auth over its own models folder."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.api.security_support import admin_client, admin_server, data_dir_with_model, uniform_png
from tests.fixtures.synthetic_models import write_architecture
from tests.server import ServerProcess


def _image(path: Path, image_format: str, color: tuple[int, int, int]) -> bytes:
    """A small image file of one colour (the colour tells the files apart)."""
    buffer = io.BytesIO()
    options = {"lossless": True} if image_format == "WEBP" else {}
    Image.new("RGB", (8, 8), color).save(buffer, format=image_format, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def preview_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    data_dir = data_dir_with_model(tmp_path_factory.mktemp("previews"))
    models = data_dir / "models"
    # sd15.safetensors is there already: its preview in A1111's `.preview.png` form.
    (models / "checkpoints" / "sd15.preview.png").write_bytes(uniform_png(8, "RGB", (255, 0, 0)))
    write_architecture(models / "checkpoints" / "plain.safetensors", "sd1_original")
    write_architecture(models / "lora" / "style.safetensors", "lora_sd1")
    _image(models / "lora" / "style.png", "PNG", (0, 255, 0))
    # Both names beside one file: A1111 looks at NAME.png before NAME.preview.png.
    write_architecture(models / "lora" / "both.safetensors", "lora_sd1")
    _image(models / "lora" / "both.png", "PNG", (0, 0, 255))
    _image(models / "lora" / "both.preview.png", "PNG", (9, 9, 9))
    write_architecture(models / "lora" / "sub" / "webp.safetensors", "lora_sd1")
    _image(models / "lora" / "sub" / "webp.preview.webp", "WEBP", (1, 2, 3))
    # A preview that is a symlink out of the models folder must not be served.
    outside = _image(data_dir / "outside" / "secret.png", "PNG", (7, 7, 7))
    assert outside
    write_architecture(models / "lora" / "linked.safetensors", "lora_sd1")
    os.symlink(data_dir / "outside" / "secret.png", models / "lora" / "linked.png")
    server = admin_server(data_dir)
    yield server, models
    server.stop()


@pytest.fixture
def api(preview_server: tuple[ServerProcess, Path]) -> Iterator[httpx.Client]:
    with admin_client(preview_server[0]) as client:
        yield client


def _models(api: httpx.Client) -> dict[str, dict[str, Any]]:
    reply = api.get("/api/models", params={"limit": 0})
    assert reply.status_code == 200, reply.text
    return {m["name"]: m for m in reply.json()["models"]}


def test_listing_gives_preview_urls_only_where_an_image_sits_beside(api: httpx.Client) -> None:
    models = _models(api)
    # Image files are neither models nor scan errors.
    assert sorted(models) == [
        "both.safetensors",
        "linked.safetensors",
        "plain.safetensors",
        "sd15.safetensors",
        "style.safetensors",
        "sub/webp.safetensors",
    ]
    assert all(model["error"] is None for model in models.values())
    assert models["plain.safetensors"]["preview_url"] is None
    assert models["linked.safetensors"]["preview_url"] is None  # its image lies outside the folder
    for name in ("sd15.safetensors", "style.safetensors", "both.safetensors", "sub/webp.safetensors"):
        assert models[name]["preview_url"], name
    one = api.get("/api/models/style.safetensors").json()
    assert one["preview_url"] == models["style.safetensors"]["preview_url"]


def _pixel(body: bytes) -> tuple[int, ...]:
    return tuple(Image.open(io.BytesIO(body)).convert("RGB").getpixel((0, 0)))


@pytest.mark.parametrize(
    ("name", "media_type", "color"),
    [
        ("sd15.safetensors", "image/png", (255, 0, 0)),
        ("style.safetensors", "image/png", (0, 255, 0)),
        ("both.safetensors", "image/png", (0, 0, 255)),
        ("sub/webp.safetensors", "image/webp", (1, 2, 3)),
    ],
)
def test_preview_route_serves_the_image_found(
    api: httpx.Client, name: str, media_type: str, color: tuple[int, int, int]
) -> None:
    reply = api.get(_models(api)[name]["preview_url"])
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == media_type
    assert reply.headers["cache-control"] == "private, max-age=86400"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert _pixel(reply.content) == color


def test_preview_route_by_name_without_extension(api: httpx.Client) -> None:
    reply = api.get("/api/models/style/preview")
    assert reply.status_code == 200 and _pixel(reply.content) == (0, 255, 0)


def test_no_preview_is_404_in_the_error_format(api: httpx.Client) -> None:
    for model_id in ("plain.safetensors", "linked.safetensors"):
        reply = api.get(f"/api/models/{model_id}/preview")
        assert reply.status_code == 404
        assert reply.json()["error"]["code"] == "FILE_NOT_FOUND"
    wrong_type = api.get("/api/models/style.safetensors/preview", params={"type": "checkpoint"})
    assert wrong_type.status_code == 404 and wrong_type.json()["error"]["code"] == "MODEL_NOT_FOUND"
    bad_type = api.get("/api/models/style.safetensors/preview", params={"type": "../lora"})
    assert bad_type.status_code == 400 and bad_type.json()["error"]["code"] == "INVALID_PARAMETERS"
    unknown = api.get("/api/models/nothing-here.safetensors/preview")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "MODEL_NOT_FOUND"


@pytest.mark.parametrize(
    "model_id",
    [
        "..%2F..%2Foutside%2Fsecret.png",
        "lora%2F..%2F..%2F..%2Foutside%2Fsecret.png",
        "%2Fetc%2Fpasswd",
        "style.png",  # an image names no model, even beside one
        "sd15.preview.png",
    ],
)
def test_traversal_and_image_names_are_refused(api: httpx.Client, model_id: str) -> None:
    reply = api.get(f"/api/models/{model_id}/preview")
    assert reply.status_code in (400, 404), reply.text
    assert reply.json()["error"]["code"] in ("INVALID_PARAMETERS", "MODEL_NOT_FOUND")


def test_preview_needs_the_listings_permission(preview_server: tuple[ServerProcess, Path]) -> None:
    with preview_server[0].client() as anonymous:
        assert anonymous.get("/api/models/style.safetensors/preview").status_code == 401


def test_refresh_finds_a_preview_added_later(
    api: httpx.Client, preview_server: tuple[ServerProcess, Path]
) -> None:
    unchanged = api.post("/api/models/refresh").json()
    assert unchanged["changed"] == 0  # looking for previews does not make every model "changed"
    _image(preview_server[1] / "checkpoints" / "plain.jpg", "JPEG", (200, 200, 200))
    assert api.post("/api/models/refresh").json()["changed"] == 1
    url = _models(api)["plain.safetensors"]["preview_url"]
    reply = api.get(url)
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"


def test_openapi_documents_the_preview_route(api: httpx.Client) -> None:
    operation = api.get("/openapi.json").json()["paths"]["/api/models/{model_id}/preview"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"image/png", "image/jpeg", "image/webp"}
    assert {"400", "401", "404"} <= set(operation["responses"])
    model = api.get("/openapi.json").json()["components"]["schemas"]["ModelPublic"]
    assert "preview_url" in model["properties"]
