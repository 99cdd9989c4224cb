"""GET /api/image/download against a real server and a local upstream HTTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.server import ServerProcess
from tests.upstream import UpstreamServer, jpeg_bytes, png_bytes

DOWNLOAD_TIMEOUT_S = 2
ALLOWING_ENV = {
    "STABLE_DIFFUSION_IMAGE_DOWNLOAD_ALLOW_PRIVATE": "true",
    "STABLE_DIFFUSION_IMAGE_DOWNLOAD_MAX_BYTES": "100000",
    "STABLE_DIFFUSION_IMAGE_DOWNLOAD_TIMEOUT_S": str(DOWNLOAD_TIMEOUT_S),
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.fixture(scope="module")
def allowing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that may fetch from private addresses (the upstream is on 127.0.0.1)."""
    data_dir: Path = tmp_path_factory.mktemp("download-server")
    server = ServerProcess(data_dir, env=ALLOWING_ENV).start()
    yield server
    server.stop()


def download(server: ServerProcess, url: str) -> httpx.Response:
    with server.client() as client:
        return client.get("/api/image/download", params={"url": url})


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["status_code"] == status and error["request_id"]
    return str(error["message"])


def test_default_settings_refuse_loopback_private_and_metadata_without_connecting(
    server: ServerProcess, upstream: UpstreamServer
) -> None:
    before = len(upstream.hosts)
    for url in (
        upstream.url("/image.png"),
        f"http://localhost:{upstream.port}/image.png",
        "http://[::1]/image.png",
        "http://10.0.0.1/image.png",
        "http://192.168.1.10/image.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/image.png",
        "http://0.0.0.0/image.png",
    ):
        message = assert_error(download(server, url), 400, "INVALID_PARAMETERS")
        assert "refusing" in message, url
    assert len(upstream.hosts) == before


@pytest.mark.parametrize(
    "url", ["", "file:///etc/passwd", "ftp://example.com/a.png", "gopher://x/", "http://", "not a url"]
)
def test_non_http_and_malformed_urls_are_invalid_parameters(server: ServerProcess, url: str) -> None:
    assert_error(download(server, url), 400, "INVALID_PARAMETERS")


def test_missing_url_is_invalid_parameters(server: ServerProcess) -> None:
    with server.client() as client:
        assert_error(client.get("/api/image/download"), 400, "INVALID_PARAMETERS")


def test_allowed_download_returns_the_image_with_its_detected_type(
    allowing_server: ServerProcess, upstream: UpstreamServer
) -> None:
    response = download(allowing_server, upstream.url("/image.png"))
    assert response.status_code == 200, response.text
    assert response.content == png_bytes() and response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    photo = download(allowing_server, upstream.url("/photo"))
    assert photo.content == jpeg_bytes() and photo.headers["content-type"] == "image/jpeg"
    redirected = download(allowing_server, upstream.url("/redirect?to=/image.png"))
    assert redirected.status_code == 200 and redirected.content == png_bytes()


def test_redirects_to_refused_addresses_and_schemes_are_refused(
    allowing_server: ServerProcess, upstream: UpstreamServer
) -> None:
    # allow_private opens loopback but never the metadata service, whichever hop reaches it.
    for target in ("http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "http://0.0.0.0/"):
        response = download(allowing_server, upstream.url(f"/redirect?to={quote(target)}"))
        assert "redirected from" in assert_error(response, 400, "INVALID_PARAMETERS"), target
    assert_error(download(allowing_server, upstream.url("/loop")), 502, "UPSTREAM_FAILED")


def test_non_images_oversized_bodies_and_upstream_errors_are_refused(
    allowing_server: ServerProcess, upstream: UpstreamServer
) -> None:
    assert_error(download(allowing_server, upstream.url("/not-image")), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(download(allowing_server, upstream.url("/big")), 413, "PAYLOAD_TOO_LARGE")
    assert_error(download(allowing_server, upstream.url("/big-unannounced")), 413, "PAYLOAD_TOO_LARGE")
    assert_error(download(allowing_server, upstream.url("/missing")), 502, "UPSTREAM_FAILED")


def test_a_slow_upstream_times_out_within_the_setting(
    allowing_server: ServerProcess, upstream: UpstreamServer
) -> None:
    started = time.monotonic()
    assert_error(download(allowing_server, upstream.url("/slow")), 504, "UPSTREAM_TIMEOUT")
    assert time.monotonic() - started < DOWNLOAD_TIMEOUT_S + 3
