"""The wheel (`pip wheel .`) carries everything the server needs: the web UI, the migrations and every
other data file, and the license; a server run from the unpacked wheel, outside the checkout, starts,
migrates its database and serves the UI, with the version of the package's metadata."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.server import ServerProcess

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
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked as a site folder, as an installer lays it out (pure Python: a plain unzip)."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


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


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site)}


def test_the_unpacked_wheel_runs_outside_the_checkout(wheel: Path, installed: Path, tmp_path: Path) -> None:
    env = _env(installed)
    where = subprocess.run(
        [sys.executable, "-c", "import sdcpp_rest; print(sdcpp_rest.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(installed)), "the test must run the wheel's copy"
    version = _metadata(wheel)["Version"]
    shown = subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", "--version"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert shown.stdout.strip() == f"sdcpp-rest {version}"

    (tmp_path / "data").mkdir()
    server = ServerProcess(tmp_path / "data", env={"PYTHONPATH": str(installed)}).start()
    try:
        with server.client() as client:
            assert client.get("/api/version").json()["version"] == version
            page = client.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            assert client.get("/api/queue/status").status_code == 200  # the database was migrated
    finally:
        server.stop()
