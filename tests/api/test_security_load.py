"""Issue 17, findings 2, 3 and 6: bodies and images that would stall the server or blow up its memory,
against real server processes, measuring /api/health latency and the process's resident memory
(/proc/<pid>/status) while the bad requests run. The bounds hold with wide margins on a loaded
2-core machine: before the fixes health took 9-24 s and memory grew by gigabytes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.sync.client import connect as ws_connect

from tests.api.security_support import ServerWatch, data_dir_with_model, rss_mib, uniform_png
from tests.server import ServerProcess

# Health answers in milliseconds when the loop is free; a parse on the loop took 6-9 s per body.
HEALTH_BOUND_SECONDS = 3.0
# 50 MB (under max_request_bytes, 50 MiB) of `[],` is 16 million lists: over 1.2 GB parsed.
BIG_BODY = b"[" + b"[]," * (50_000_000 // 3) + b"[]]"
DEEP = b"[" * 10_000 + b"]" * 10_000
IMAGE_ROUTES = ("img2img", "inpainting", "controlnet", "upscale")
# Each takes some 2.5 s of CPU (two 64 MiB decodes and a blur): enough to show 3 times the bound.
PARALLEL_DECODES = 6


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Auth off: every caller is the local admin, with the full limits (max_request_bytes, pixels)."""
    server = ServerProcess(data_dir_with_model(tmp_path_factory.mktemp("open-load"))).start()
    yield server
    server.stop()


def _post(server: ServerProcess, path: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    with server.client() as client:
        reply = client.post(
            path, content=body, headers={"content-type": "application/json", **(headers or {})}
        )
    assert "Traceback" not in reply.text
    assert reply.json()["error"]["status_code"] == reply.status_code  # the API's error body
    return reply.status_code


def _flood(server: ServerProcess, requests: list[tuple[str, bytes]]) -> list[int]:
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda r: _post(server, *r), requests))


def _inpainting_body() -> bytes:
    image = base64.b64encode(uniform_png(4096)).decode()
    mask = base64.b64encode(uniform_png(4096, color=(255, 255, 255, 255))).decode()
    body = {"prompt": "x", "init_image": image, "mask_image": mask, "mask_blur": 64}
    return json.dumps(body).encode()


def _validate_inpainting(server: ServerProcess, body: bytes) -> dict[str, object]:
    with server.client() as client:
        reply = client.post(
            "/api/validate", params={"mode": "inpainting"}, content=body, timeout=300,
            headers={"content-type": "application/json"},
        )  # fmt: skip
    assert reply.status_code == 200, reply.text
    result: dict[str, object] = reply.json()
    return result


def test_image_decodes_are_bounded_and_their_memory_given_back(open_server: ServerProcess) -> None:
    """Finding 3, as the local admin: 6 inpainting validations at once of two 4096x4096 RGBA PNGs
    (65 kB each, 64 MiB each decoded) with mask_blur 64. Two decode at a time, and each gives its
    memory back (before: 16 of them grew the process by 3.7 GB and it kept 1.1 GB)."""
    body = _inpainting_body()
    with ServerWatch(open_server) as watch, ThreadPoolExecutor(PARALLEL_DECODES) as pool:
        replies = list(pool.map(lambda _: _validate_inpainting(open_server, body), range(PARALLEL_DECODES)))
    assert open_server.process is not None
    kept = rss_mib(open_server.process.pid) - watch.baseline_mib
    print(f"\nfinding 3, local admin: {watch.summary()}; {kept:.0f} MiB more than before after")
    assert all(r["valid"] for r in replies), replies[0]
    assert replies[0]["normalized"]["init_image"] == "<image 4096x4096>"  # type: ignore[index]
    assert watch.worst_health_seconds < HEALTH_BOUND_SECONDS, watch.summary()
    assert watch.growth_mib < 900, watch.summary()
    assert kept < 300, f"kept {kept:.0f} MiB after the decodes; {watch.summary()}"


def test_guests_cannot_make_the_server_decode_large_images(guarded_server: ServerProcess) -> None:
    """Finding 3, as a guest: images above 1 megapixel are refused from their header, undecoded."""
    body = _inpainting_body()
    with ServerWatch(guarded_server) as watch, ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: _validate_inpainting(guarded_server, body), range(16)))
    print(f"\nfinding 3, guest: {watch.summary()}")
    assert watch.growth_mib < 300, watch.summary()
    assert watch.worst_health_seconds < HEALTH_BOUND_SECONDS, watch.summary()
    errors = replies[0]["errors"]
    assert isinstance(errors, list) and errors[0]["field"] == "init_image", replies[0]
    assert "guests" in errors[0]["message"] and "authenticate" in errors[0]["message"]


def test_big_json_bodies_do_not_stall_the_server(open_server: ServerProcess) -> None:
    """Finding 2, as the local admin: 50 MB `[[],...]` bodies to validate, login and an image route,
    three at a time. Bodies FastAPI parses are refused above 1 MiB; the routes that take large
    bodies count the JSON structure before parsing, off the event loop."""
    requests = [
        ("/api/validate", BIG_BODY),
        ("/api/auth/login", BIG_BODY),
        ("/api/generate/img2img", BIG_BODY),
    ]
    with ServerWatch(open_server) as watch:
        statuses = _flood(open_server, requests * 2)
    print(f"\nfinding 2, local admin: {watch.summary()}")
    assert statuses == [400, 413, 400] * 2, statuses
    assert watch.worst_health_seconds < HEALTH_BOUND_SECONDS, watch.summary()
    assert watch.growth_mib < 700, watch.summary()  # was over 3,500 MiB for three such bodies


def test_big_json_bodies_from_a_guest_are_refused_unread(guarded_server: ServerProcess) -> None:
    """Finding 2, as a guest (auth on): validate and login refuse the body by its length."""
    requests = [("/api/validate", BIG_BODY), ("/api/auth/login", BIG_BODY)] * 3
    with ServerWatch(guarded_server) as watch:
        statuses = _flood(guarded_server, requests)
    print(f"\nfinding 2, guest: {watch.summary()}")
    assert statuses == [413, 413] * 3, statuses
    assert watch.worst_health_seconds < HEALTH_BOUND_SECONDS, watch.summary()
    assert watch.growth_mib < 300, watch.summary()


def test_big_json_bodies_to_the_compat_apis_are_refused_early(guarded_server: ServerProcess) -> None:
    """Finding 2 on the AUTOMATIC1111 and OpenAI sub-applications, whose bodies FastAPI parses (they
    carry base64 images, so they keep max_request_bytes): every JSON body is counted as it streams
    in, so a guest's `[[],...]` is refused a few hundred kB in, whatever route reads it."""

    def post(path: str) -> int:
        with guarded_server.client() as client:
            reply = client.post(path, content=BIG_BODY, headers={"content-type": "application/json"})
        assert "Traceback" not in reply.text and "JSON values" in reply.text, reply.text
        return reply.status_code

    paths = ["/sdapi/v1/img2img", "/sdapi/v1/txt2img", "/v1/images/generations"] * 2
    with ServerWatch(guarded_server) as watch, ThreadPoolExecutor(len(paths)) as pool:
        statuses = list(pool.map(post, paths))
    print(f"\nfinding 2, compat APIs, guest: {watch.summary()}")
    assert statuses == [400] * len(paths), statuses
    assert watch.worst_health_seconds < HEALTH_BOUND_SECONDS, watch.summary()
    assert watch.growth_mib < 300, watch.summary()


def test_compat_image_bodies_keep_the_full_limit(open_server: ServerProcess) -> None:
    """The main app's 1 MiB limit for bodies FastAPI parses is not the compat APIs': an A1111 img2img
    body with a 3 MB image reaches the image checks."""
    image = base64.b64encode(b"\x89PNG" + b"\x00" * 3_000_000).decode()
    with open_server.client() as client:
        reply = client.post("/sdapi/v1/img2img", json={"prompt": "x", "init_images": [image]})
    assert reply.status_code not in (413, 500) and 400 <= reply.status_code < 500, reply.text


@pytest.mark.parametrize("route", IMAGE_ROUTES)
def test_deeply_nested_json_is_a_400(open_server: ServerProcess, route: str) -> None:
    """Finding 6: 10,000 levels of `[[...]]` were a RecursionError and a 500 in the body reader."""
    url = f"/api/generate/{route}"
    with open_server.client() as client:
        replies = [
            client.post(url, content=DEEP, headers={"content-type": "application/json"}),
            client.post(url, files={"request": (None, DEEP)}),
        ]
        if route != "upscale":  # the one body without a list or object field
            replies.append(client.post(url, files={"loras": (None, DEEP), "prompt": (None, b"x")}))
        for reply in replies:
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"]["code"] == "INVALID_PARAMETERS"
            assert "nested too deeply" in reply.json()["error"]["message"]
    assert "RecursionError" not in open_server.log_tail(20_000)


def test_deeply_nested_json_elsewhere_is_a_4xx(open_server: ServerProcess) -> None:
    """The same body to a route FastAPI parses, to validate, and as a WebSocket message."""
    with open_server.client() as client:
        for path in ("/api/validate", "/api/generate/text2img", "/api/queue/cancel"):
            reply = client.post(path, content=DEEP, headers={"content-type": "application/json"})
            assert reply.status_code == 400, (path, reply.text)
            assert reply.json()["error"]["code"] == "INVALID_PARAMETERS"
    with ws_connect(open_server.url.replace("http://", "ws://") + "/ws") as ws:
        ws.recv(timeout=10)  # the first queue_update
        ws.send("[" * 2000 + "]" * 2000)  # nested too deeply for json, within WS_MAX_MESSAGE_BYTES
        error = json.loads(ws.recv(timeout=10))
        assert error["type"] == "error", error
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"  # still connected


def test_structure_bound_does_not_refuse_real_bodies(open_server: ServerProcess) -> None:
    """A long prompt full of commas and LoRA tags is a real body: well under the structure bound."""
    prompt = ", ".join(["masterpiece", "best quality", "<lora:nothing:0.5>"] * 1000)[:16384]
    body = {"prompt": prompt, "init_image": base64.b64encode(uniform_png(64, "RGB")).decode()}
    with open_server.client() as client:
        reply = client.post("/api/validate", params={"mode": "img2img"}, json=body)
    assert reply.status_code == 200, reply.text
    assert all(e["field"] != "body" for e in reply.json()["errors"]), reply.json()["errors"]


def test_request_ids_and_error_format_on_refused_bodies(open_server: ServerProcess) -> None:
    """A body over the 1 MiB limit of a FastAPI-parsed route: 413 in the API's format, declared or not."""
    over = b'{"job_id": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    with open_server.client() as client:
        declared = client.post(
            "/api/queue/cancel", content=over, headers={"content-type": "application/json"}
        )
        streamed = client.post(
            "/api/queue/cancel", content=iter([over[:1000], over[1000:]]),
            headers={"content-type": "application/json"},
        )  # fmt: skip
    for reply in (declared, streamed):
        assert reply.status_code == 413, reply.text
        error = reply.json()["error"]
        assert error["code"] == "PAYLOAD_TOO_LARGE" and error["request_id"] == reply.headers["x-request-id"]


def test_image_route_bodies_keep_the_full_limit(open_server: ServerProcess) -> None:
    """Image bodies are not held to 1 MiB: a 3 MB base64 image reaches the image checks."""
    body = {"prompt": "x", "init_image": base64.b64encode(b"\x89PNG" + b"\x00" * 3_000_000).decode()}
    with open_server.client() as client:
        reply = client.post("/api/generate/img2img", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["message"].startswith("init_image: ")
