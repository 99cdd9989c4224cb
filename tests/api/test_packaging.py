"""The wheel (`pip wheel .`) carries everything the server needs: the web UI, the migrations and every
other data file, and the license; installed by pip into a fresh virtual environment outside the
checkout, its `sdcpp-rest serve` starts, migrates its database, serves the UI with the version of the
package's metadata, and generates an image."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy

REPO = Path(__file__).resolve().parents[2]
PACKAGE_SOURCE = REPO / "src" / "sdcpp_rest"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    [path] = out.glob("sdcpp_rest-*.whl")
    return path


@pytest.fixture(scope="module")
def venv_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment outside the checkout with the wheel installed by pip, with its
    dependencies (from the package index, or pip's cache where the engine's wheel was built once)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv / "bin" / "python"


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


def test_the_wheel_holds_every_data_file_of_the_package_and_the_license(wheel: Path) -> None:
    data_files = {
        path.relative_to(PACKAGE_SOURCE.parent).as_posix()
        for path in PACKAGE_SOURCE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert data_files, "the package has data files (the web UI at least)"
    assert data_files - names == set(), "package-data in pyproject.toml misses these"
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert _metadata(wheel)["License-Expression"] == "MIT"


def test_the_wheel_in_a_fresh_venv_serves_and_generates_outside_the_checkout(
    wheel: Path, venv_python: Path, tmp_path: Path
) -> None:
    where = subprocess.run(
        [str(venv_python), "-c", "import sdcpp_rest; print(sdcpp_rest.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(venv_python.parents[1])), "the venv's own copy runs"
    version = _metadata(wheel)["Version"]
    shown = subprocess.run(
        [str(venv_python.parent / "sdcpp-rest"), "--version"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert shown.stdout.strip() == f"sdcpp-rest {version}"

    data_dir = tmp_path / "data"
    link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / "sd15.safetensors")
    server = ServerProcess(data_dir, python=str(venv_python)).start(timeout=120)
    try:
        with server.client() as client:
            assert client.get("/api/version").json()["version"] == version
            page = client.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            body = {"prompt": "a wheel", "width": 64, "height": 64, "steps": 1, "seed": 3}
            queued = client.post("/api/generate/text2img", json=body)
            assert queued.status_code == 202, queued.text
            job = server.wait_for(client, queued.json()["job_id"], timeout=300)
            assert job["status"] == "completed", job
            image = client.get(f"/api/queue/job/{job['id']}/output/image_0.png")
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    finally:
        server.stop()
