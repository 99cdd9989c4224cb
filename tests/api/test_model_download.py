"""POST /api/models/download against real local HTTP servers (tests/model_hosts.py) and a real
sdcpp-rest server with auth on. Loopback addresses are opened to downloads by the setting
model_download_allowed_networks (127.0.0.1 and 127.0.0.2 only), so 127.0.0.3 stands for an internal
address the server must refuse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from tests.api.security_support import admin_client, admin_server, bearer, login
from tests.fixtures.synthetic_models import write_architecture, write_safetensors
from tests.fixtures.test_models import sd15_model
from tests.model_hosts import FileHost, sha256_of
from tests.server import TERMINAL, ServerProcess, link_or_copy

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USER, USER_PASSWORD = "bob", "bob-password-1"
HF_TOKEN = "hf_test_secret_token_123"


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[FileHost, FileHost]]:
    """The origin (127.0.0.1, also the hub stand-in) and a second host (127.0.0.2, its storage)."""
    with FileHost("127.0.0.1") as origin, FileHost("127.0.0.2") as storage:
        yield origin, storage


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("served")
    big = root / "big-vae.safetensors"  # 32 MiB of one tensor: long enough to stop half-way when throttled
    write_safetensors(big, {"decoder.conv_in.weight": [4 * 1024 * 1024, 4]}, dtype=np.float16)
    return {
        "tiny": write_architecture(root / "tiny.safetensors", "sd1_diffusers"),
        "big": big,
        "text": _text(root / "notes.safetensors"),
    }


def _text(path: Path) -> Path:
    path.write_text("this is a text file, not a model\n" * 100)
    return path


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, hosts: tuple[FileHost, FileHost]
) -> Iterator[ServerProcess]:
    origin, _storage = hosts
    data_dir = tmp_path_factory.mktemp("download-server") / "data"
    link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / "sd15.safetensors")
    process = admin_server(
        data_dir,
        {
            "STABLE_DIFFUSION_MODEL_DOWNLOAD_ALLOWED_NETWORKS": "127.0.0.1/32,127.0.0.2/32",
            "STABLE_DIFFUSION_HUGGINGFACE_ENDPOINT": origin.base,
            "STABLE_DIFFUSION_HUGGINGFACE_TOKEN": HF_TOKEN,
            "STABLE_DIFFUSION_VERBOSE": "true",  # debug logs too must not carry the token
            # A floor every local transfer clears by far, over a short window for the trickle test.
            "STABLE_DIFFUSION_MODEL_DOWNLOAD_MIN_BYTES_PER_S": "1024",
            "STABLE_DIFFUSION_MODEL_DOWNLOAD_RATE_WINDOW_S": "5",
        },
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with admin_client(server, timeout=120) as client:
        yield client


def _download(client: httpx.Client, **body: Any) -> str:
    reply = client.post("/api/models/download", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["job_id"])


def _wait(client: httpx.Client, job_id: str, until: Any, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/queue/job/{job_id}").json()
        if until(job):
            return job
        if job.get("status") in TERMINAL:
            raise AssertionError(f"job {job_id} ended before it got there: {job}")
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never got there: {job}")


def _final(client: httpx.Client, job_id: str, timeout: float = 600) -> dict[str, Any]:
    return _wait(client, job_id, lambda job: job["status"] in TERMINAL, timeout)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.part"))


def test_download_of_a_checkpoint_completes_with_its_hash_and_generates(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost]
) -> None:
    origin, _ = hosts
    url = origin.serve("/files/sd15-copy.safetensors", sd15_model())
    job_id = _download(admin, url=url, type="checkpoint", filename="downloaded.safetensors")
    job = _final(admin, job_id)
    assert job["status"] == "completed", job
    assert job["mode"] == "model_download" and job["download"]["filename"] == "downloaded.safetensors"
    assert job["download"]["bytes_total"] // 1024 == sd15_model().stat().st_size // 1024
    model = admin.get("/api/models/downloaded.safetensors").json()
    assert model["hash"] == origin.state.files["/files/sd15-copy.safetensors"].sha256
    assert model["architecture"] == "SD1.x" and model["hash_status"] == "done"
    checkpoints = server.data_dir / "models" / "checkpoints"
    assert _leftovers(checkpoints) == []
    generated = server.wait_for(admin, server.submit(admin, model_name="downloaded.safetensors"))
    assert generated["status"] == "completed", generated


def test_a_wrong_sha256_fails_the_job_and_leaves_no_file(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost], files: dict[str, Path]
) -> None:
    origin, _ = hosts
    url = origin.serve("/files/tiny.safetensors", files["tiny"])
    job = _final(admin, _download(admin, url=url, filename="wrong-hash.safetensors", sha256="ab" * 32))
    assert job["status"] == "failed" and job["error_code"] == "HASH_MISMATCH", job
    checkpoints = server.data_dir / "models" / "checkpoints"
    assert not (checkpoints / "wrong-hash.safetensors").exists() and _leftovers(checkpoints) == []
    # The right hash, given in capitals, is accepted.
    sha = sha256_of(files["tiny"])
    ok = _final(admin, _download(admin, url=url, filename="right-hash.safetensors", sha256=sha.upper()))
    assert ok["status"] == "completed", ok
    assert admin.get("/api/models/right-hash.safetensors").json()["hash"] == sha


def test_a_text_file_downloaded_as_a_checkpoint_is_refused(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost], files: dict[str, Path]
) -> None:
    origin, _ = hosts
    url = origin.serve("/files/notes.safetensors", files["text"])
    job = _final(admin, _download(admin, url=url))
    assert job["status"] == "failed" and job["error_code"] == "INVALID_PARAMETERS", job
    assert "not a .safetensors model" in job["error"]
    checkpoints = server.data_dir / "models" / "checkpoints"
    assert not (checkpoints / "notes.safetensors").exists() and _leftovers(checkpoints) == []


def test_a_redirect_to_an_address_not_allowed_is_refused(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost]
) -> None:
    origin, _ = hosts
    url = origin.redirect("/go-inside", "http://127.0.0.3:9/secret.safetensors")
    job = _final(admin, _download(admin, url=url, filename="inside.safetensors"))
    assert job["status"] == "failed" and job["error_code"] == "INVALID_PARAMETERS", job
    assert "refusing" in job["error"] and "127.0.0.3" in job["error"]
    direct = _final(admin, _download(admin, url="http://10.1.2.3/x.safetensors"))
    assert direct["status"] == "failed" and "a private address" in direct["error"], direct
    metadata = _final(admin, _download(admin, url="http://169.254.169.254/latest.safetensors"))
    assert metadata["status"] == "failed" and "metadata" in metadata["error"], metadata


def test_hf_url_goes_to_the_configured_hub_with_the_token_and_not_to_its_storage_host(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost], files: dict[str, Path]
) -> None:
    origin, storage = hosts
    sha = sha256_of(files["tiny"])
    blob = storage.serve("/lfs/objects/tiny", files["tiny"])
    origin.redirect("/acme/tiny-sd/resolve/main/tiny.safetensors", blob, linked_etag=sha)
    job = _final(admin, _download(admin, url="hf://acme/tiny-sd/tiny.safetensors"))
    assert job["status"] == "completed", job
    (to_hub,) = origin.requests_to("/acme/tiny-sd/resolve/main/tiny.safetensors")
    assert to_hub.headers.get("authorization") == f"Bearer {HF_TOKEN}"
    (to_storage,) = storage.requests_to("/lfs/objects/tiny")
    assert "authorization" not in to_storage.headers
    assert admin.get("/api/models/tiny.safetensors").json()["hash"] == sha
    # The huggingface.co form resolves to the same hub; a published hash that does not match fails.
    origin.redirect("/acme/tiny-sd/resolve/v2/other.safetensors", blob, linked_etag="cd" * 32)
    url = "https://huggingface.co/acme/tiny-sd/blob/v2/other.safetensors"
    mismatch = _final(admin, _download(admin, url=url))
    assert mismatch["status"] == "failed" and mismatch["error_code"] == "HASH_MISMATCH", mismatch
    assert "published" in mismatch["error"]
    # The token is in no reply and no log line.
    assert HF_TOKEN not in admin.get("/api/config").text
    assert HF_TOKEN not in str(admin.get(f"/api/queue/job/{mismatch['id']}").json())
    assert HF_TOKEN not in server.log_tail(10**7)


def test_cancel_of_a_running_download_removes_the_partial_file(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost], files: dict[str, Path]
) -> None:
    origin, _ = hosts
    url = origin.serve("/files/slow-vae.safetensors", files["big"], delay_per_chunk=0.02)
    job_id = _download(admin, url=url, type="vae")
    running = _wait(admin, job_id, lambda job: (job.get("download") or {}).get("bytes_done", 0) > 0)
    assert running["status"] == "processing" and running["phase"] == "downloading"
    assert running["download"]["bytes_total"] == files["big"].stat().st_size // 1024 * 1024
    vae = server.data_dir / "models" / "vae"
    assert len(_leftovers(vae)) == 1
    assert admin.post("/api/queue/cancel", json={"job_id": job_id}).status_code == 200
    job = _final(admin, job_id)
    assert job["status"] == "cancelled", job
    assert _leftovers(vae) == [] and not (vae / "slow-vae.safetensors").exists()


def test_a_server_that_trickles_fails_the_download_at_the_rate_floor(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost], files: dict[str, Path]
) -> None:
    """Issue 27: a byte at a time never trips the per-read timeout; the rate floor ends it."""
    origin, _ = hosts
    url = origin.serve("/files/trickle-vae.safetensors", files["big"], delay_per_chunk=0.05, chunk_bytes=1)
    job = _final(admin, _download(admin, url=url, type="vae"), timeout=120)
    assert job["status"] == "failed" and "model_download_min_bytes_per_s" in job["error"], job
    vae = server.data_dir / "models" / "vae"
    assert _leftovers(vae) == [] and not (vae / "trickle-vae.safetensors").exists()


def test_websocket_job_updates_carry_the_download_progress(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost], files: dict[str, Path]
) -> None:
    origin, _ = hosts
    url = origin.serve("/files/watched-vae.safetensors", files["big"], delay_per_chunk=0.005)
    job_id = _download(admin, url=url, type="vae")
    ws_url = server.url.replace("http://", "ws://") + f"/ws?job_id={job_id}"
    updates: list[dict[str, Any]] = []
    with connect(ws_url, additional_headers={"Authorization": admin.headers["Authorization"]}) as ws:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=60))
            if message["type"] == "job_update" and message["data"]["job_id"] == job_id:
                updates.append(message["data"])
                if message["data"]["status"] in TERMINAL:
                    break
    assert updates and updates[-1]["status"] == "completed", updates[-3:]
    moving = [u for u in updates if u.get("phase") == "downloading" and u["download"]["bytes_done"] > 0]
    assert moving, updates[:5]
    done = [u["download"]["bytes_done"] for u in moving]
    assert done == sorted(done) and moving[-1]["download"]["bytes_total"] > 0
    assert any(u["download"]["speed_bytes_per_s"] for u in moving)


def test_a_download_cut_off_by_a_restart_resumes_with_a_range_request(
    server: ServerProcess, admin: httpx.Client, hosts: tuple[FileHost, FileHost], files: dict[str, Path]
) -> None:
    origin, _ = hosts
    path = "/files/resumed-vae.safetensors"
    url = origin.serve(path, files["big"], delay_per_chunk=0.01)
    sha = sha256_of(files["big"])
    job_id = _download(admin, url=url, type="vae", sha256=sha)
    _wait(admin, job_id, lambda job: (job.get("download") or {}).get("bytes_done", 0) > 2 * 1024 * 1024)
    server.stop()
    vae = server.data_dir / "models" / "vae"
    (part,) = vae.glob(".*.part")
    kept = part.stat().st_size
    assert 0 < kept < files["big"].stat().st_size
    server.start()
    with httpx.Client(base_url=server.url, timeout=120) as client:
        client.headers.update(bearer(login(server, ADMIN, ADMIN_PASSWORD)))
        job = _final(client, job_id)
        assert job["status"] == "completed", job
        assert client.get("/api/models/resumed-vae.safetensors", params={}).json()["hash"] == sha
        admin.headers.update(client.headers)  # the restart signed new tokens
    ranges = [seen.headers.get("range") for seen in origin.requests_to(path)]
    assert ranges == [None, f"bytes={kept}-"], ranges
    assert sha256_of(vae / "resumed-vae.safetensors") == sha and _leftovers(vae) == []


def test_bad_download_requests_are_refused_before_queueing(
    admin: httpx.Client, hosts: tuple[FileHost, FileHost]
) -> None:
    origin, _ = hosts
    cases = [
        ({"url": "ftp://example.com/x.safetensors"}, 400, "url"),
        ({"url": "file:///etc/passwd"}, 400, "url"),
        ({"url": "http://user:pw@127.0.0.1/x.safetensors"}, 400, "url"),
        ({"url": origin.base + "/x.safetensors", "type": "nope"}, 400, "type"),
        ({"url": origin.base + "/x.safetensors", "filename": "../../escape.safetensors"}, 400, "filename"),
        ({"url": origin.base + "/x.safetensors", "filename": "notes.txt"}, 400, "filename"),
        ({"url": origin.base + "/x.safetensors", "sha256": "z" * 64}, 400, "sha256"),
        ({"url": origin.base + "/sd15.safetensors"}, 409, None),  # the name is taken
        ({"url": "hf://only-org"}, 400, "url"),
        ({"url": "https://civitai.com/models/1234"}, 400, "url"),
        ({"url": "http://[::1]:99999/x.safetensors"}, 400, "url"),  # issue 27: was a 500
        ({"url": "http://127.0.0.1:99999/x.safetensors"}, 400, "url"),
        # Pickle formats are off by default (issue 27, finding 9), whichever name gives the suffix.
        ({"url": origin.base + "/files/model.ckpt"}, 400, "allow_pickle_models"),
        ({"url": origin.base + "/files/x.safetensors", "filename": "x.pt"}, 400, "allow_pickle_models"),
        ({"url": origin.base + "/x.safetensors", "filename": "x.safetensors/"}, 400, "filename"),
    ]
    for body, status, field in cases:
        reply = admin.post("/api/models/download", json=body)
        assert reply.status_code == status, (body, reply.text)
        error = reply.json()["error"]
        assert field is None or field in error["message"].lower(), (body, error)  # it names the field


def test_a_plain_user_gets_403(server: ServerProcess, hosts: tuple[FileHost, FileHost]) -> None:
    origin, _ = hosts
    with httpx.Client(base_url=server.url, timeout=60) as client:
        client.headers.update(bearer(login(server, USER, USER_PASSWORD)))
        reply = client.post("/api/models/download", json={"url": origin.base + "/files/tiny.safetensors"})
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
