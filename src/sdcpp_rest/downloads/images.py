"""Fetch an image from a URL for the browser UI without turning the server into a proxy into its own
network (SSRF).

Each hop: only http(s); the host is resolved once and every address it resolves to is checked
(loopback, private, link-local, cloud metadata, multicast, reserved and unspecified addresses are
refused unless the settings allow them); the connection goes to that checked address, while the Host
header and TLS SNI/certificate check keep the URL's name, so a DNS answer that changes between check
and use (DNS rebinding) cannot redirect the request. Redirects are followed by hand and each target is
checked the same way. One deadline bounds the whole fetch, the body is capped while it streams in, and
the bytes must decode as an image; the reply carries the type Pillow detected, not the upstream's.

Refusals (all with the API's error body): 400 INVALID_PARAMETERS for a bad URL, scheme or address;
413 PAYLOAD_TOO_LARGE for a body or image over the limits; 415 UNSUPPORTED_MEDIA_TYPE when the body is
not an image; 502 UPSTREAM_FAILED when the upstream cannot be reached or answers with an error or too
many redirects; 504 UPSTREAM_TIMEOUT when the whole fetch takes longer than the timeout.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from PIL import Image

from sdcpp_rest.config import Settings
from sdcpp_rest.errors import ApiError, ErrorCode, InvalidParameters, PayloadTooLarge, UnsupportedMediaType
from sdcpp_rest.jobs.image_decoding import ImageDecoder, ImageLimits, ImageTooLarge, ImageUndecodable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> every address the host resolves to; injectable so tests can play a DNS server.
Resolver = Callable[[str, int], list[IPAddress]]

ALLOWED_SCHEMES = ("http", "https")
# Browsers cap URLs near this; a longer one is not an image link.
MAX_URL_LENGTH = 4096
# The same bound browsers and curl use; enough for CDNs and URL shorteners.
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
READ_CHUNK_BYTES = 64 * 1024
USER_AGENT = "sdcpp-rest image download"
# Instance metadata services hand out cloud credentials: refused even when private addresses are
# allowed, unless an allowed network names them explicitly (AWS/GCP/Azure, AWS IPv6, ECS task
# credentials, Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23", "100.100.100.200")
)
# Shared address space (carrier-grade NAT): not global, but Python's is_private does not cover it.
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class UpstreamFailed(ApiError):
    code, status_code = ErrorCode.UPSTREAM_FAILED, 502


class UpstreamTimeout(ApiError):
    code, status_code = ErrorCode.UPSTREAM_TIMEOUT, 504


class NotAnImage(UnsupportedMediaType):
    """The downloaded body does not decode as an image."""


@dataclass(frozen=True)
class DownloadPolicy:
    """What a download may reach and how much of it; built from the settings."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 15.0
    max_pixels: int = 4096 * 4096
    max_redirects: int = MAX_REDIRECTS

    @classmethod
    def from_settings(cls, settings: Settings) -> DownloadPolicy:
        return cls(
            allow_private=settings.image_download_allow_private,
            allowed_networks=parse_networks(settings.image_download_allowed_networks),
            max_bytes=settings.image_download_max_bytes,
            timeout_s=settings.image_download_timeout_s,
            max_pixels=settings.max_input_image_pixels,
        )


@dataclass(frozen=True)
class FetchedImage:
    content: bytes
    media_type: str  # detected from the bytes, e.g. image/png
    final_url: str  # after redirects


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """A comma-separated list of addresses or CIDR networks; raises ValueError naming a bad entry."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network: {exc}") from None
    return tuple(networks)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4 or NAT64): it reaches that IPv4 host."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress, policy: DownloadPolicy) -> str | None:
    """Why the policy refuses to connect to `address`, or None when it may."""
    if any(address.version == net.version and address in net for net in policy.allowed_networks):
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = refusal_reason(embedded, policy)
        return f"{reason} (embedded in {address})" if reason else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    # Loopback first: Python counts ::1 as reserved too. Reserved ranges (240.0.0.0/4 ...) before
    # private ones, because is_private covers them as well and allow_private must not open them.
    if address.is_loopback:
        private_kind = "a loopback address"
    elif address.is_link_local:
        private_kind = "a link-local address"
    elif address.is_reserved:
        return "a reserved address"
    elif address.is_private or address in SHARED_ADDRESS_SPACE:
        private_kind = "a private address"
    elif not address.is_global:
        return "a reserved address"
    else:
        return None
    return None if policy.allow_private else private_kind


def system_resolver(timeout_s: float) -> Resolver:
    """getaddrinfo with a deadline: it has none of its own, and a slow DNS must not outlive the fetch."""

    def resolve(host: str, port: int) -> list[IPAddress]:
        box: dict[str, object] = {}

        def lookup() -> None:
            try:
                box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                box["error"] = exc

        thread = threading.Thread(target=lookup, name="dns-lookup", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            raise UpstreamTimeout(f"resolving {host} took longer than {timeout_s:g} s")
        if "error" in box:
            # No network, no DNS, or no such host: the server cannot reach the upstream (502), which
            # is no fault of the request's form (issue 22: a pull without network said 400).
            raise UpstreamFailed(
                f"cannot resolve the host {host} (no network, or no such host): {box['error']}"
            )
        infos = box["infos"]
        assert isinstance(infos, list)
        # An IPv6 answer may carry a zone ("fe80::1%eth0"): the address part is what gets checked.
        return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))

    return resolve


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the URL's host."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        # http.client drops `sock` when the response owns the connection; the body is read through
        # this same socket, whose timeout the reader keeps re-arming.
        self.opened: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.opened = socket.create_connection((str(self._address), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with SNI and the certificate check made for the URL's host."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address
        self.opened: socket.socket | None = None

    def connect(self) -> None:
        raw = socket.create_connection((str(self._address), self.port), self.timeout)
        context: ssl.SSLContext = self._context  # type: ignore[attr-defined]
        self.sock = self.opened = context.wrap_socket(raw, server_hostname=self.host)


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str
    where: str = ""  # " (redirected from ...)" after a redirect, for error messages


class ImageDownloader:
    """Fetches one image per call under a DownloadPolicy; blocking, so callers run it off the loop."""

    def __init__(
        self, policy: DownloadPolicy, decoder: ImageDecoder, resolver: Resolver | None = None
    ) -> None:
        self.policy = policy
        self._decoder = decoder  # the request images' decoder: its gate bounds these decodes too
        self._resolver = resolver

    def fetch(self, url: str) -> FetchedImage:
        """Download `url`, following up to max_redirects checked redirects; raises ApiError subclasses
        (see the module docstring for which status means what)."""
        deadline = time.monotonic() + self.policy.timeout_s
        target = parse_target(url)
        for _hop in range(self.policy.max_redirects + 1):
            address = self._checked_address(target, deadline)
            location, body = self._request(target, address, deadline)
            if location is None:
                return FetchedImage(body, self._media_type(body), target.url)
            target = parse_target(urljoin(target.url, location), redirected_from=target.url)
        raise UpstreamFailed(f"more than {self.policy.max_redirects} redirects, starting at {url}")

    def _media_type(self, body: bytes) -> str:
        """The media type of `body` when it decodes as an image within the pixel limit, else 413/415."""
        limits = ImageLimits(self.policy.max_bytes, self.policy.max_pixels)
        with self._decoder.gate():
            return _decoded_media_type(self._decoder, body, limits)

    def _checked_address(self, target: _Target, deadline: float) -> IPAddress:
        return check_address(target, self.policy, self._resolver, deadline, "image_download_*")

    def _request(self, target: _Target, address: IPAddress, deadline: float) -> tuple[str | None, bytes]:
        """(redirect location, b"") for a redirect, else (None, body) of a 200."""
        kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        conn: _PinnedHTTPConnection | _PinnedHTTPSConnection = kind(
            target.host, target.port, address, _remaining(deadline, target)
        )
        response: http.client.HTTPResponse | None = None
        try:
            conn.request("GET", target.path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
            response = conn.getresponse()
            if response.status in REDIRECT_STATUSES:
                location = response.getheader("Location")
                if not location:
                    raise UpstreamFailed(f"{target.url} answered {response.status} without a Location")
                return location, b""
            if response.status != 200:
                raise UpstreamFailed(f"{target.url} answered HTTP {response.status} {response.reason}")
            return None, self._read_body(conn, response, target, deadline)
        except TimeoutError:
            raise UpstreamTimeout(
                f"downloading {target.url} took longer than {self.policy.timeout_s:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise UpstreamFailed(f"cannot download {target.url}: {exc}") from None
        finally:
            if response is not None:
                response.close()  # it may own the socket (http.client hands it over)
            conn.close()

    def _read_body(
        self,
        conn: _PinnedHTTPConnection | _PinnedHTTPSConnection,
        response: http.client.HTTPResponse,
        target: _Target,
        deadline: float,
    ) -> bytes:
        limit = self.policy.max_bytes
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"the image at {target.url} is {declared} bytes; the limit is {limit}")
        chunks: list[bytes] = []
        received = 0
        while True:
            # Re-arming the socket timeout with what is left of the deadline bounds a server that
            # trickles bytes, not only one that goes silent.
            left = _remaining(deadline, target)
            if conn.opened is not None:
                conn.opened.settimeout(left)
            chunk = response.read1(READ_CHUNK_BYTES)  # read() would wait to fill the whole chunk
            if not chunk:
                return b"".join(chunks)
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"the image at {target.url} is larger than the limit of {limit} bytes")
            chunks.append(chunk)


def check_address(
    target: _Target, policy: DownloadPolicy, resolver: Resolver | None, deadline: float, settings: str
) -> IPAddress:
    """The address to connect to for `target`: every address its host resolves to must pass the policy
    (`settings` names the settings that open it, for the message). Shared by the model download."""
    try:
        addresses: Sequence[IPAddress] = [ipaddress.ip_address(target.host)]
    except ValueError:
        resolve = resolver or system_resolver(_remaining(deadline, target))
        addresses = resolve(target.host, target.port)
    if not addresses:
        raise InvalidParameters(f"the host {target.host} has no address")
    # Every answer is checked, not only the one used: a name that mixes a public and an internal
    # address is refused outright.
    for address in addresses:
        reason = refusal_reason(address, policy)
        if reason is not None:
            raise InvalidParameters(
                f"refusing to download from {target.host}{target.where}: it resolves to {reason} "
                f"({address}); see the {settings} settings"
            )
    return addresses[0]


def parse_target(url: str, redirected_from: str | None = None) -> _Target:
    """Check a URL's form (scheme, host, no credentials) before anything is resolved or sent."""
    where = f" (redirected from {redirected_from})" if redirected_from else ""
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidParameters(f"url must be 1 to {MAX_URL_LENGTH} characters{where}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidParameters(f"url is not a valid URL: {exc}{where}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "none"
        raise InvalidParameters(f"only http and https URLs can be downloaded, not {shown!r}{where}")
    if not parts.hostname:
        raise InvalidParameters(f"url has no host{where}")
    if parts.username is not None or parts.password is not None:
        raise InvalidParameters(f"url must not carry credentials{where}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(ord(ch) < 0x21 for ch in path):  # spaces or control characters would split the request line
        raise InvalidParameters(f"url path contains spaces or control characters{where}")
    default_port = 443 if scheme == "https" else 80
    return _Target(parts.geturl(), scheme, parts.hostname, port or default_port, path, where)


def _decoded_media_type(decoder: ImageDecoder, body: bytes, limits: ImageLimits) -> str:
    """Decodes `body` (the caller holds the decoder's gate) and names its media type; the image is
    freed when this returns, before the gate is left."""
    try:
        image = decoder.open("url", body, limits, formats=None)  # any image format Pillow reads
    except ImageTooLarge as exc:
        raise PayloadTooLarge(exc.message.removeprefix("url: ")) from None
    except ImageUndecodable:
        raise NotAnImage("the downloaded content is not an image Pillow can decode") from None
    media_type = Image.MIME.get(image.format or "") if image.format else None
    if media_type is None or not media_type.startswith("image/"):
        raise NotAnImage(f"the body is a {image.format} file, which has no image media type")
    return media_type


def _remaining(deadline: float, target: _Target) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise UpstreamTimeout(f"downloading {target.url} ran out of time")
    return left


# The pieces the model download (downloads/models.py) shares, under public names.
Target = _Target
PinnedHTTPConnection = _PinnedHTTPConnection
PinnedHTTPSConnection = _PinnedHTTPSConnection
remaining_time = _remaining
