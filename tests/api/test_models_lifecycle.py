"""POST /api/models/{modelId}/load and /unload with the real engine in real worker processes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.synthetic_models import write_architecture, write_safetensors
from tests.server import ServerProcess, prepare_data_dir


@pytest.fixture(scope="module")
def lifecycle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("lifecycle-server"))
    checkpoints = data_dir / "models" / "checkpoints"
    # Header fine, names the engine recognises nowhere: the engine refuses it without crashing.
    write_safetensors(checkpoints / "unknown-arch.safetensors", {"foo.weight": [4, 4]})
    # SD1 names with tiny shapes: the engine may refuse it or die on it; the server must survive both.
    write_architecture(checkpoints / "wrong-shapes.safetensors", "sd1_diffusers")
    (checkpoints / "damaged.safetensors").write_bytes(b"\x00" * 5)
    process = ServerProcess(data_dir).start()
    yield process
    process.stop()


@pytest.fixture
def api(lifecycle_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lifecycle_server.url, timeout=300) as http:
        yield http


def _loaded(api: httpx.Client) -> list[str]:
    return [m["name"] for m in api.get("/api/models", params={"loaded": "true"}).json()["models"]]


def test_load_then_unload_a_checkpoint(api: httpx.Client, lifecycle_server: ServerProcess) -> None:
    reply = api.post("/api/models/sd15/load")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["message"] == "Model loaded successfully" and body["model"] == "sd15.safetensors"
    assert body["worker_ids"] == ["w0"]
    assert _loaded(api) == ["sd15.safetensors"]
    assert api.get("/api/models/sd15.safetensors").json()["loaded"] is True
    again = api.post("/api/models/sd15.safetensors/load").json()  # already loaded: no second load
    assert again["seconds"] == 0.0
    # A job right after an explicit load runs without reloading (same context).
    job_id = lifecycle_server.submit(api, model_name="sd15.safetensors")
    job = lifecycle_server.wait_for(api, job_id)
    assert job["status"] == "completed", job
    unload = api.post("/api/models/sd15/unload")
    assert unload.status_code == 200 and unload.json()["message"] == "Model unloaded successfully"
    assert _loaded(api) == []
    not_loaded = api.post("/api/models/sd15/unload")
    assert not_loaded.status_code == 409 and not_loaded.json()["error"]["code"] == "MODEL_NOT_LOADED"


@pytest.mark.parametrize("name", ["unknown-arch", "wrong-shapes", "damaged"])
def test_failed_load_is_a_clear_error_and_the_server_goes_on(
    api: httpx.Client, lifecycle_server: ServerProcess, name: str
) -> None:
    reply = api.post(f"/api/models/{name}/load")
    assert reply.status_code == 500, reply.text
    error = reply.json()["error"]
    assert error["code"] == "MODEL_LOAD_FAILED" and name in error["message"]
    assert api.get("/api/health").status_code == 200
    assert name + ".safetensors" not in _loaded(api)


def test_load_refuses_unknown_and_escaping_ids(api: httpx.Client) -> None:
    missing = api.post("/api/models/no-such/load")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "MODEL_NOT_FOUND"
    escape = api.post("/api/models/..%2F..%2Fsd15.safetensors/load")
    assert escape.status_code in (400, 404)
    assert escape.json()["error"]["code"] in ("INVALID_PARAMETERS", "NOT_FOUND")
