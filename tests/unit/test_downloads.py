"""The image download's address policy, URL checks and fetch, against a real local HTTP server."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from sdcpp_rest.downloads.images import (
    DownloadPolicy,
    ImageDownloader,
    IPAddress,
    NotAnImage,
    UpstreamFailed,
    UpstreamTimeout,
    parse_networks,
    parse_target,
    refusal_reason,
)
from sdcpp_rest.errors import ApiError, InvalidParameters, PayloadTooLarge
from sdcpp_rest.jobs.image_decoding import ImageDecoder, ImageLimits
from tests.upstream import BIG_BODY_BYTES, UpstreamServer, jpeg_bytes, png_bytes

LOOPBACK_ONLY = DownloadPolicy(
    allowed_networks=parse_networks("127.0.0.1/32"), timeout_s=2.0, max_bytes=100_000
)
# The downloader decodes with the policy's limits, through the request images' decoder and its gate.
DECODER = ImageDecoder(ImageLimits(max_bytes=100_000, max_pixels=4096 * 4096))


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd12::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
    ],
)
def test_non_public_addresses_are_refused_by_default(address: str, reason: str) -> None:
    found = refusal_reason(ipaddress.ip_address(address), DownloadPolicy())
    assert found is not None and reason in found


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), DownloadPolicy()) is None


def test_allow_private_opens_private_addresses_but_not_metadata_or_multicast() -> None:
    policy = DownloadPolicy(allow_private=True)
    for address in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.1.1", "fd12::1", "::1"):
        assert refusal_reason(ipaddress.ip_address(address), policy) is None, address
    for address in ("169.254.169.254", "224.0.0.1", "0.0.0.0"):
        assert refusal_reason(ipaddress.ip_address(address), policy) is not None, address


def test_allowed_networks_open_exactly_what_they_name() -> None:
    policy = DownloadPolicy(allowed_networks=parse_networks("10.5.0.0/16, 169.254.169.254"))
    assert refusal_reason(ipaddress.ip_address("10.5.3.4"), policy) is None
    assert refusal_reason(ipaddress.ip_address("169.254.169.254"), policy) is None
    assert refusal_reason(ipaddress.ip_address("10.6.0.1"), policy) is not None
    with pytest.raises(ValueError, match="not an IP address"):
        parse_networks("10.0.0.0/8, intranet")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "http://",
        "http://user:secret@example.com/a.png",
        "http://example.com:99999/a.png",
        "http://example.com/a b.png",
        "example.com/a.png",
    ],
)
def test_malformed_and_non_http_urls_are_invalid_parameters(url: str) -> None:
    with pytest.raises(InvalidParameters):
        parse_target(url)


def test_target_keeps_host_port_and_query() -> None:
    target = parse_target("HTTPS://Images.Example.com/a/b.png?size=2#frag")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "images.example.com",
        443,
        "/a/b.png?size=2",
    )


def _fetch_error(downloader: ImageDownloader, url: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        downloader.fetch(url)
    return caught.value


def test_fetch_returns_the_image_with_its_detected_type(upstream: UpstreamServer) -> None:
    downloader = ImageDownloader(LOOPBACK_ONLY, DECODER)
    image = downloader.fetch(upstream.url("/image.png"))
    assert image.content == png_bytes() and image.media_type == "image/png"
    photo = downloader.fetch(upstream.url("/photo"))
    assert photo.content == jpeg_bytes() and photo.media_type == "image/jpeg"


def test_loopback_is_refused_before_connecting_without_an_allowance(upstream: UpstreamServer) -> None:
    before = len(upstream.hosts)
    error = _fetch_error(ImageDownloader(DownloadPolicy(), DECODER), upstream.url("/image.png"))
    assert isinstance(error, InvalidParameters) and "loopback" in error.message
    assert len(upstream.hosts) == before


def test_connection_goes_to_the_checked_address_with_the_urls_host_header(upstream: UpstreamServer) -> None:
    """The name is resolved once and the socket opened to that very address: a resolver that would
    answer differently the second time (DNS rebinding) is never asked again."""
    answers: list[list[IPAddress]] = [[ipaddress.ip_address("127.0.0.1")], [ipaddress.ip_address("10.0.0.1")]]
    calls: list[tuple[str, int]] = []

    def rebinding_resolver(host: str, port: int) -> list[IPAddress]:
        calls.append((host, port))
        return answers[len(calls) - 1]

    downloader = ImageDownloader(LOOPBACK_ONLY, DECODER, resolver=rebinding_resolver)
    image = downloader.fetch(f"http://images.test:{upstream.port}/image.png")
    assert image.media_type == "image/png"
    assert calls == [("images.test", upstream.port)]
    assert upstream.hosts[-1] == f"images.test:{upstream.port}"


def test_a_name_resolving_to_any_refused_address_is_refused(upstream: UpstreamServer) -> None:
    def mixed(_host: str, _port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("169.254.169.254")]

    error = _fetch_error(
        ImageDownloader(LOOPBACK_ONLY, DECODER, resolver=mixed), f"http://x.test:{upstream.port}/"
    )
    assert isinstance(error, InvalidParameters) and "metadata" in error.message


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
    ],
)
def test_redirect_to_a_refused_address_is_refused(upstream: UpstreamServer, target: str) -> None:
    """The first hop is allowed (127.0.0.1/32 is listed); the redirect target is checked again."""
    error = _fetch_error(
        ImageDownloader(LOOPBACK_ONLY, DECODER), upstream.url(f"/redirect?to={quote(target)}")
    )
    assert isinstance(error, InvalidParameters) and "redirected from" in error.message


def test_redirects_are_followed_up_to_the_limit(upstream: UpstreamServer) -> None:
    downloader = ImageDownloader(LOOPBACK_ONLY, DECODER)
    for status in (301, 302, 303, 307, 308):
        image = downloader.fetch(upstream.url(f"/redirect?status={status}&to=/image.png"))
        assert image.media_type == "image/png" and image.final_url.endswith("/image.png")
    error = _fetch_error(downloader, upstream.url("/loop"))
    assert isinstance(error, UpstreamFailed) and "redirects" in error.message


def test_non_images_oversized_and_slow_bodies_are_refused(upstream: UpstreamServer) -> None:
    downloader = ImageDownloader(LOOPBACK_ONLY, DECODER)
    assert isinstance(_fetch_error(downloader, upstream.url("/not-image")), NotAnImage)
    assert isinstance(_fetch_error(downloader, upstream.url("/truncated.png")), NotAnImage)
    assert BIG_BODY_BYTES > LOOPBACK_ONLY.max_bytes
    assert isinstance(_fetch_error(downloader, upstream.url("/big")), PayloadTooLarge)
    assert isinstance(_fetch_error(downloader, upstream.url("/big-unannounced")), PayloadTooLarge)
    assert isinstance(_fetch_error(downloader, upstream.url("/missing")), UpstreamFailed)
    slow = _fetch_error(downloader, upstream.url("/slow"))
    assert isinstance(slow, UpstreamTimeout) and slow.status_code == 504


def test_an_image_over_the_pixel_limit_is_too_large(upstream: UpstreamServer) -> None:
    small = DownloadPolicy(allowed_networks=LOOPBACK_ONLY.allowed_networks, max_pixels=8 * 8)
    assert isinstance(
        _fetch_error(ImageDownloader(small, DECODER), upstream.url("/image.png")), PayloadTooLarge
    )


def test_unreachable_upstream_is_a_bad_gateway() -> None:
    policy = DownloadPolicy(allowed_networks=LOOPBACK_ONLY.allowed_networks, timeout_s=2.0)
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    error = _fetch_error(ImageDownloader(policy, DECODER), "http://127.0.0.1:1/image.png")
    assert isinstance(error, UpstreamFailed) and error.status_code == 502


def test_https_goes_to_the_checked_address_with_the_urls_name_as_sni(tmp_path: Path) -> None:
    """TLS is made for the URL's name (SNI and certificate check), not for the pinned address."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=images.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve_one() -> None:
            conn, _ = listener.accept()
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                pass  # the client refuses the self-signed certificate
            finally:
                conn.close()

        thread = threading.Thread(target=serve_one, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        downloader = ImageDownloader(
            LOOPBACK_ONLY, DECODER, resolver=lambda _h, _p: [ipaddress.ip_address("127.0.0.1")]
        )
        error = _fetch_error(downloader, f"https://images.test:{port}/image.png")
        thread.join(timeout=10)
    assert isinstance(error, UpstreamFailed) and "certificate" in error.message
    assert names == ["images.test"]
