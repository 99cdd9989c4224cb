"""`sdcpp-rest models pull / list / rm` run as real processes against a real server, downloading from a
real local HTTP server (tests/model_hosts.py; loopback opened by model_download_allowed_networks)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.api.security_support import admin_server, login
from tests.fixtures.synthetic_models import write_safetensors
from tests.model_hosts import FileHost, sha256_of
from tests.server import ServerProcess, free_port

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USER, USER_PASSWORD = "bob", "bob-password-1"


@pytest.fixture(scope="module")
def host() -> Iterator[FileHost]:
    with FileHost("127.0.0.1") as served:
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("cli-models") / "data"
    process = admin_server(data_dir, {"STABLE_DIFFUSION_MODEL_DOWNLOAD_ALLOWED_NETWORKS": "127.0.0.1/32"})
    yield process
    process.stop()


def run_models(server: ServerProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDCPP_REST_")}
    env.update(SDCPP_REST_URL=server.url, SDCPP_REST_TOKEN=token)
    done = subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", "models", *args],
        env=env, capture_output=True, timeout=240, check=False,
    )  # fmt: skip
    # Bytes, decoded by hand: text mode would turn the progress bar's \r into \n.
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_pull_list_and_rm(server: ServerProcess, host: FileHost, tmp_path: Path) -> None:
    model = write_safetensors(
        tmp_path / "vae.safetensors", {"decoder.conv_in.weight": [1024 * 1024, 4]}, np.float16
    )
    url = host.serve("/files/cli-vae.safetensors", model, delay_per_chunk=0.005)
    token = login(server, ADMIN, ADMIN_PASSWORD)

    pulled = run_models(server, token, "pull", url, "--type", "vae", "--sha256", sha256_of(model))
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.splitlines() == ["cli-vae.safetensors"]
    assert "\r" in pulled.stderr and "100%" in pulled.stderr and "8.0/8.0 MiB" in pulled.stderr
    assert (server.data_dir / "models" / "vae" / "cli-vae.safetensors").is_file()

    listed = run_models(server, token, "list", "--type", "vae")
    assert listed.returncode == 0, listed.stderr
    assert "cli-vae.safetensors" in listed.stdout and "8.0 MiB" in listed.stdout
    assert listed.stdout.splitlines()[0].split() == ["TYPE", "NAME", "SIZE", "WEIGHTS", "STATE", "HASH"]

    removed = run_models(server, token, "rm", "cli-vae.safetensors")
    assert removed.returncode == 0, removed.stderr
    assert "vae/cli-vae.safetensors moved to the trash" in removed.stdout
    assert not (server.data_dir / "models" / "vae" / "cli-vae.safetensors").exists()
    missing = run_models(server, token, "rm", "cli-vae.safetensors")
    assert missing.returncode == 2 and "MODEL_NOT_FOUND" in missing.stderr


def test_pull_of_a_wrong_hash_exits_1_and_a_plain_user_exits_2(
    server: ServerProcess, host: FileHost, tmp_path: Path
) -> None:
    model = write_safetensors(tmp_path / "small.safetensors", {"decoder.conv_in.weight": [64, 4]}, np.float16)
    url = host.serve("/files/small-vae.safetensors", model)
    token = login(server, ADMIN, ADMIN_PASSWORD)
    wrong = run_models(server, token, "pull", url, "--type", "vae", "--sha256", "ab" * 32)
    assert wrong.returncode == 1 and "HASH_MISMATCH" in wrong.stderr, wrong.stderr
    user = run_models(server, login(server, USER, USER_PASSWORD), "pull", url, "--type", "vae")
    assert user.returncode == 2 and "INSUFFICIENT_PERMISSIONS" in user.stderr, user.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://no-such-host.invalid/model.safetensors",  # what no network looks like: no DNS answer
        "http://127.0.0.1:{closed_port}/model.safetensors",  # a host that refuses the connection
    ],
)
def test_pull_without_network_is_an_upstream_failure_with_what_to_do(server: ServerProcess, url: str) -> None:
    """Issue 22: it said INVALID_PARAMETERS; the progress line ran into the message."""
    token = login(server, ADMIN, ADMIN_PASSWORD)
    failed = run_models(server, token, "pull", url.format(closed_port=free_port()), "--type", "lora")
    assert failed.returncode == 1, failed.stderr
    message = failed.stderr.split("\n")[-2]  # the last line, after the progress line's own end
    assert message.startswith("sdcpp-rest: download failed: "), failed.stderr
    assert "UPSTREAM_FAILED" in message and "INVALID_PARAMETERS" not in failed.stderr
    assert "huggingface_endpoint" in message and "models folder's lora/" in message


def test_a_server_gone_mid_pull_is_said_on_a_line_of_its_own(tmp_path: Path, host: FileHost) -> None:
    """The progress line ends before the next message, whatever ends the pull (issue 22)."""
    model = write_safetensors(
        tmp_path / "slow.safetensors", {"decoder.conv_in.weight": [256 * 1024, 4]}, np.float16
    )
    url = host.serve("/files/slow.safetensors", model, delay_per_chunk=0.5, chunk_bytes=64 * 1024)
    gone = admin_server(
        tmp_path / "data", {"STABLE_DIFFUSION_MODEL_DOWNLOAD_ALLOWED_NETWORKS": "127.0.0.1/32"}
    )
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SDCPP_REST_")}
        env.update(SDCPP_REST_URL=gone.url, SDCPP_REST_TOKEN=login(gone, ADMIN, ADMIN_PASSWORD))
        pull = subprocess.Popen(
            [sys.executable, "-m", "sdcpp_rest.cli.main", "models", "pull", url, "--type", "vae"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert pull.stderr is not None
        shown = b""
        while b"\r" not in shown:  # the progress line is drawn
            byte = pull.stderr.read(1)
            assert byte, shown
            shown += byte
    finally:
        gone.stop()
    _out, rest = pull.communicate(timeout=120)
    stderr = (shown + rest).decode()
    assert pull.returncode == 2, stderr
    assert stderr.split("\n")[-2].startswith("sdcpp-rest: error: "), stderr


def test_list_says_when_there_are_no_models(server: ServerProcess) -> None:
    listed = run_models(server, login(server, ADMIN, ADMIN_PASSWORD), "list", "--type", "controlnet")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("The server has no controlnet models."), listed.stdout
    assert "sdcpp-rest models pull URL" in listed.stdout
