"""Servers of the compat tests: real server processes, real engine, the random-weight test models.

One server with authentication off serves every test that does not need auth (they run one after
another and leave no job behind), one with authentication on serves the credential tests.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.api.modes_support import prepare_modes_data_dir
from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy, prepare_data_dir

OTHER_CHECKPOINT = "second.safetensors"
ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USERS = {"bob": "bob-password-1", "carol": "carol-password-1"}
SUBMISSIONS_PER_MINUTE = 2


def prepare_compat_data_dir(data_dir: Path) -> Path:
    """The modes server's models (SD1.5, VAE, TAESD, ControlNet, ESRGAN, LoRA, embedding) and a
    second checkpoint to switch to (the same file under another name)."""
    prepare_modes_data_dir(data_dir)
    link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / OTHER_CHECKPOINT)
    return data_dir


@pytest.fixture(scope="session")
def compat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(prepare_compat_data_dir(tmp_path_factory.mktemp("compat-server"))).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def compat_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = prepare_data_dir_with_users(tmp_path_factory.mktemp("compat-auth-server"))
    env = {
        "STABLE_DIFFUSION_AUTH_METHOD": "jwt,api_key",
        "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
        "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Users may submit this many generations a minute (the credential tests submit at most this
        # many each), so that a third is the 429 with Retry-After that clients must see.
        "STABLE_DIFFUSION_MAX_SUBMISSIONS_PER_MINUTE": str(SUBMISSIONS_PER_MINUTE),
    }
    process = ServerProcess(data_dir, env=env).start()
    yield process
    process.stop()


def prepare_data_dir_with_users(data_dir: Path) -> Path:
    prepare_data_dir(data_dir)
    for name, password in USERS.items():
        result = subprocess.run(
            [sys.executable, "-m", "sdcpp_rest.cli.main", "users", "add", name, "--role", "user",
             "--password-stdin", "--data-dir", str(data_dir)],
            input=password + "\n", capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    return data_dir


def login(server: ServerProcess, username: str, password: str) -> str:
    response = httpx.post(f"{server.url}/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def api_key(server: ServerProcess, username: str, password: str) -> str:
    token = login(server, username, password)
    response = httpx.post(
        f"{server.url}/api/auth/keys", json={"name": "compat"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def png_b64(size: tuple[int, int] = (64, 64), color: str = "red", mode: str = "RGB") -> str:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decode_png(text: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(text)))
    image.load()
    return image


def native_job(
    server: ServerProcess, job_id: str, headers: dict[str, str] | None = None
) -> dict[str, object]:
    with server.client() as client:
        response = client.get(f"/api/queue/job/{job_id}", headers=headers or {})
        assert response.status_code == 200, response.text
        return dict(response.json())
