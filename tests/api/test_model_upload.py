"""POST /api/models/upload on a real server with auth on: a 2.1 GB random-weight checkpoint streams
to disk with flat server memory (RSS sampled every 20 ms by ServerWatch), lands with its hash and is
listed; a text file sent as a checkpoint is refused and removed; bad forms and names are refused."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.security_support import ServerWatch, admin_client, admin_server, bearer, login
from tests.fixtures.test_models import sd15_model
from tests.model_hosts import sha256_of
from tests.server import ServerProcess, link_or_copy

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USER, USER_PASSWORD = "bob", "bob-password-1"
# Reading and writing a 2.1 GB body in 4 MiB blocks: the server may grow by a few blocks and the
# allocator's slack, far below the file's size.
MAX_GROWTH_MIB = 150


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("upload-server") / "data"
    link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / "sd15.safetensors")
    # Pickle formats on: the zip checks below are about what a PyTorch archive holds.
    process = admin_server(data_dir, {"STABLE_DIFFUSION_ALLOW_PICKLE_MODELS": "true"})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with admin_client(server, timeout=600) as client:
        yield client


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.part"))


def test_a_2gb_checkpoint_upload_streams_with_flat_server_memory(
    server: ServerProcess, admin: httpx.Client
) -> None:
    source = sd15_model()
    with ServerWatch(server) as watch, source.open("rb") as handle:
        # httpx sends a file part in chunks read from the handle: the client streams too.
        reply = admin.post(
            "/api/models/upload",
            params={"type": "checkpoint"},
            files={"file": ("uploaded.safetensors", handle, "application/octet-stream")},
        )
    assert reply.status_code == 201, reply.text
    assert watch.growth_mib < MAX_GROWTH_MIB, watch.summary()
    model = reply.json()
    assert model["name"] == "uploaded.safetensors" and model["architecture"] == "SD1.x"
    assert model["size_bytes"] == source.stat().st_size
    assert model["hash"] == sha256_of(source)
    checkpoints = server.data_dir / "models" / "checkpoints"
    assert (checkpoints / "uploaded.safetensors").stat().st_size == source.stat().st_size
    assert _leftovers(checkpoints) == []
    listed = admin.get("/api/models", params={"search": "uploaded"}).json()["models"]
    assert [m["name"] for m in listed] == ["uploaded.safetensors"]


def test_a_text_file_uploaded_as_a_checkpoint_is_refused_and_removed(
    server: ServerProcess, admin: httpx.Client
) -> None:
    text = b"just some notes, not a model\n" * 1000
    reply = admin.post(
        "/api/models/upload",
        data={"type": "checkpoint", "filename": "notes.safetensors"},
        files={"file": ("whatever.bin", text, "text/plain")},
    )
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "INVALID_PARAMETERS", reply.text
    assert "not a .safetensors model" in reply.json()["error"]["message"]
    checkpoints = server.data_dir / "models" / "checkpoints"
    assert not (checkpoints / "notes.safetensors").exists() and _leftovers(checkpoints) == []
    # A LoRA-typed upload of the same text is refused as well, from its own folder.
    lora = admin.post("/api/models/upload", params={"type": "lora"}, files={"file": ("x.pt", text)})
    assert lora.status_code == 400 and _leftovers(server.data_dir / "models" / "lora") == []


def test_bad_uploads_are_refused(server: ServerProcess, admin: httpx.Client) -> None:
    small = b"\x00" * 16
    cases = [
        ({"params": {"filename": "../escape.safetensors"}}, 400),
        ({"params": {"filename": "model.txt"}}, 400),
        ({"params": {"type": "nope"}}, 400),
        ({"params": {"filename": "sd15.safetensors"}}, 409),
    ]
    for extra, status in cases:
        reply = admin.post("/api/models/upload", files={"file": ("m.safetensors", small)}, **extra)
        assert reply.status_code == status, (extra, reply.text)
    no_file = admin.post("/api/models/upload", data={"type": "checkpoint"}, files={"other": ("a", b"1")})
    assert no_file.status_code == 400
    as_json = admin.post("/api/models/upload", json={"file": "x"})
    assert as_json.status_code == 415 and as_json.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    late_type = b'--b\r\nContent-Disposition: form-data; name="file"; filename="late.safetensors"\r\n\r\n'
    late_type += (
        b"\x00" * 8 + b'\r\n--b\r\nContent-Disposition: form-data; name="type"\r\n\r\nlora\r\n--b--\r\n'
    )
    late = admin.post(
        "/api/models/upload", content=late_type, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert late.status_code == 400 and "before the file" in late.json()["error"]["message"]
    checkpoints = server.data_dir / "models" / "checkpoints"
    assert _leftovers(checkpoints) == [] and not (checkpoints / "late.safetensors").exists()


def test_a_plain_user_gets_403(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        client.headers.update(bearer(login(server, USER, USER_PASSWORD)))
        reply = client.post("/api/models/upload", files={"file": ("m.safetensors", b"\x00" * 16)})
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert not (server.data_dir / "models" / "checkpoints" / "m.safetensors").exists()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_that_is_no_pytorch_checkpoint_is_refused(server: ServerProcess, admin: httpx.Client) -> None:
    """Issue 27, finding 9: any zip passed as a .pt/.ckpt; a PyTorch one holds <dir>/data.pkl and
    <dir>/data/<storages>."""
    page = _zip({"index.html": b"<html><script>alert(1)</script></html>"})
    reply = admin.post("/api/models/upload", params={"type": "lora"}, files={"file": ("page.pt", page)})
    assert reply.status_code == 400 and "data.pkl" in reply.json()["error"]["message"], reply.text
    assert _leftovers(server.data_dir / "models" / "lora") == []
    torch_like = _zip({"lora/data.pkl": b"\x80\x02}q\x00.", "lora/data/0": b"\x00" * 16})
    accepted = admin.post("/api/models/upload", params={"type": "lora"}, files={"file": ("t.pt", torch_like)})
    assert accepted.status_code == 201, accepted.text


def _tiny_safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 4


@pytest.mark.parametrize("name", ["x.safetensors/", "sub//x.safetensors", "./x.safetensors"])
def test_a_name_that_is_not_its_normal_form_is_refused_before_writing(
    server: ServerProcess, admin: httpx.Client, name: str
) -> None:
    """Issue 27: `x.safetensors/` was written as x.safetensors and then answered 404."""
    reply = admin.post(
        "/api/models/upload",
        params={"type": "lora", "filename": name},
        files={"file": ("m", _tiny_safetensors())},
    )
    assert reply.status_code == 400 and "plain file name" in reply.json()["error"]["message"], reply.text
    lora = server.data_dir / "models" / "lora"
    assert not (lora / "x.safetensors").exists() and not (lora / "sub").exists()
