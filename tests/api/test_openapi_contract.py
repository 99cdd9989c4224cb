"""The OpenAPI document tells the truth: schemathesis against real server processes, over HTTP.

Two servers, one with auth off and one with auth on (jwt,api_key). Every operation of the served
/openapi.json gets generated requests from schemathesis's examples, coverage and fuzzing phases (a
fixed number of examples, derandomized: the same requests on every run), and every answer must pass
not_a_server_error, status_code_conformance, content_type_conformance and response_schema_conformance.
See tests/api/contract_support.py for how schemathesis is driven.

Cheap by construction: the servers have no checkpoint and no other model, so every generation (and
the estimate) answers 404 MODEL_NOT_FOUND before a job is stored, and no engine worker ever runs a
job. Otherwise schemathesis's valid bodies (4096x4096, 150 steps) would queue hours of CPU work. The
queued (202) path and image decoding are covered by tests/api/test_text2img.py and test_modes_*.py.

With auth on, the requests carry an admin API key (X-API-Key), so they get past the permission checks
to the routes' own logic. An API key rather than a bearer token: a generated POST /api/auth/logout or
/refresh would revoke a token and leave the rest of the run testing 401s.

Not run: the WebSocket route (/ws is not in the OpenAPI document). POST /api/system/restart stays in:
without a model a restart only respawns idle workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.contract_support import run_contract
from tests.server import ServerProcess

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
AUTH_ENV = {
    "STABLE_DIFFUSION_AUTH_METHOD": "jwt,api_key",
    "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
    "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
}
# Generated URLs for /api/image/download may name hosts that resolve: a short timeout bounds each one.
COMMON_ENV = {"STABLE_DIFFUSION_IMAGE_DOWNLOAD_TIMEOUT_S": "2"}
EXAMPLES_PER_OPERATION = 5
# The document has this many operations today; far fewer tested would mean a broken run, not a pass.
MIN_OPERATIONS = 35


def _start(data_dir: Path, env: dict[str, str]) -> ServerProcess:
    # An empty data folder: no models at all (see the module docstring).
    return ServerProcess(data_dir, env={**COMMON_ENV, **env}).start()


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = _start(tmp_path_factory.mktemp("contract-open"), {})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = _start(tmp_path_factory.mktemp("contract-auth"), AUTH_ENV)
    yield server
    server.stop()


def _admin_key(server: ServerProcess) -> str:
    with server.client() as client:
        login = client.post("/api/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        created = client.post(
            "/api/auth/keys",
            json={"name": "contract"},
            headers={"Authorization": f"Bearer {login.json()['token']}"},
        )
        assert created.status_code == 201, created.text
        return str(created.json()["key"])


def test_contract_with_auth_off(open_server: ServerProcess) -> None:
    report = run_contract(f"{open_server.url}/openapi.json", max_examples=EXAMPLES_PER_OPERATION)
    assert len(report.operations) >= MIN_OPERATIONS, sorted(report.operations)
    assert report.problems == [], "\n".join(report.problems)


def test_contract_with_auth_on(auth_server: ServerProcess) -> None:
    key = _admin_key(auth_server)
    report = run_contract(
        f"{auth_server.url}/openapi.json", max_examples=EXAMPLES_PER_OPERATION, headers={"X-API-Key": key}
    )
    assert len(report.operations) >= MIN_OPERATIONS, sorted(report.operations)
    assert report.problems == [], "\n".join(report.problems)
    # Had the key stopped working midway, most of the run would have tested 401s. Asked from another
    # loopback address: the run's wrong credentials hold its own address back (429, documented).
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=auth_server.url, transport=transport) as fresh:
        assert fresh.get("/api/auth/me", headers={"X-API-Key": key}).status_code == 200
