"""POST /api/models/{id}/convert with the real engine: the random-weight SD1.5 checkpoint becomes a
q8_0 GGUF in an engine worker, the catalog lists it as q8_0, and it generates."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.security_support import admin_client, admin_server, bearer, login
from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USER, USER_PASSWORD = "bob", "bob-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("convert-server") / "data"
    link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / "sd15.safetensors")
    process = admin_server(data_dir)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with admin_client(server, timeout=120) as client:
        yield client


def test_convert_to_q8_0_is_listed_as_q8_0_and_generates(server: ServerProcess, admin: httpx.Client) -> None:
    reply = admin.post("/api/models/sd15/convert", json={"wtype": "q8_0"})
    assert reply.status_code == 202, reply.text
    assert reply.json()["filename"] == "sd15-q8_0.gguf"
    job = server.wait_for(admin, reply.json()["job_id"], timeout=1200)
    assert job["status"] == "completed" and job["mode"] == "model_convert", job
    model = admin.get("/api/models/sd15-q8_0.gguf").json()
    assert model["format"] == "gguf" and model["weight_type"] == "q8_0", model
    assert model["architecture"] == "SD1.x"
    # The engine quantizes the matrices only (convolution kernels stay f16): smaller, not half.
    assert model["size_bytes"] < sd15_model().stat().st_size
    checkpoints = server.data_dir / "models" / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob(".*.part")) == []
    generated = server.wait_for(admin, server.submit(admin, model_name="sd15-q8_0.gguf"))
    assert generated["status"] == "completed", generated
    # The name is taken now.
    again = admin.post("/api/models/sd15/convert", json={"wtype": "q8_0"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "MODEL_IN_USE"


def test_bad_convert_requests(server: ServerProcess, admin: httpx.Client) -> None:
    cases = [
        ("/api/models/sd15/convert", {"wtype": "q9_9"}, 400),
        ("/api/models/sd15/convert", {"wtype": "q4_0", "filename": "x.safetensors"}, 400),
        ("/api/models/sd15/convert", {"wtype": "q4_0", "filename": "../x.gguf"}, 400),
        ("/api/models/no-such/convert", {"wtype": "q4_0"}, 404),
        ("/api/models/sd15/convert", {}, 422),
    ]
    for path, body, status in cases:
        reply = admin.post(path, json=body)
        assert reply.status_code == status, (path, body, reply.text)


def test_a_plain_user_gets_403(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        client.headers.update(bearer(login(server, USER, USER_PASSWORD)))
        reply = client.post("/api/models/sd15/convert", json={"wtype": "q8_0"})
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
