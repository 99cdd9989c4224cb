"""Stream a model file from a URL onto disk under the image download's SSRF guards (downloads/images.py:
each hop's address checked, the connection pinned to it, redirects followed by hand and checked
again), resuming a partial file with an HTTP Range request, hashing while it streams, bounded by a
size limit and the free disk space.

Differences from the image download, both deliberate: no deadline for the whole fetch (a 7 GB model
takes minutes), only one per hop and per read (`timeout_s` without a byte fails it); and a token from
the settings on requests to its own host only (downloads/sources.py), never on a redirect elsewhere.
Instead of a deadline, a rate floor: slower than `min_bytes_per_s` on average over `rate_window_s`
fails the download, so a server sending a byte a second cannot hold it for ever.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from sdcpp_rest.catalog.intake import check_free_space
from sdcpp_rest.config import Settings
from sdcpp_rest.downloads.images import (
    REDIRECT_STATUSES,
    DownloadPolicy,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
    Resolver,
    Target,
    UpstreamFailed,
    UpstreamTimeout,
    check_address,
    parse_networks,
    parse_target,
)
from sdcpp_rest.downloads.sources import SourceSettings, shown
from sdcpp_rest.errors import PayloadTooLarge

log = logging.getLogger(__name__)

USER_AGENT = "sdcpp-rest model download"
CHUNK_BYTES = 1024 * 1024
HASH_READ_BYTES = 4 * 1024 * 1024
# Free space is looked at again after this many bytes (a statvfs per MiB would be wasteful).
SPACE_CHECK_BYTES = 256 * 1024 * 1024
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class DownloadCancelled(Exception):
    """The job was cancelled, or the server stops: the caller decides what happens to the part file."""


@dataclass(frozen=True)
class ModelDownloadPolicy:
    network: DownloadPolicy
    sources: SourceSettings
    min_free_bytes: int
    min_bytes_per_s: int = 0  # 0: no rate floor
    rate_window_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelDownloadPolicy:
        network = DownloadPolicy(
            allow_private=settings.model_download_allow_private,
            allowed_networks=parse_networks(settings.model_download_allowed_networks),
            max_bytes=settings.model_download_max_bytes,
            timeout_s=settings.model_download_timeout_s,
        )
        return cls(
            network,
            SourceSettings.from_settings(settings),
            settings.model_min_free_bytes,
            settings.model_download_min_bytes_per_s,
            settings.model_download_rate_window_s,
        )


@dataclass(frozen=True)
class DownloadProgress:
    done: int  # bytes on disk
    total: int | None  # bytes in all, when the server said
    published_sha256: str | None  # Hugging Face's X-Linked-ETag (the LFS object's SHA-256)


@dataclass(frozen=True)
class DownloadResult:
    size: int
    sha256: str
    published_sha256: str | None
    final_url: str


class _Opened:
    def __init__(
        self,
        conn: PinnedHTTPConnection | PinnedHTTPSConnection,
        response: http.client.HTTPResponse,
        url: str,
        start: int,
        total: int | None,
        published: str | None,
    ) -> None:
        self.conn, self.response, self.url = conn, response, url
        self.start, self.total, self.published = start, total, published

    def close(self) -> None:
        self.response.close()
        self.conn.close()


class ModelFetcher:
    """Downloads one URL into a part file; blocking (the download runner's thread calls it)."""

    def __init__(self, policy: ModelDownloadPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self._resolver = resolver

    def download(
        self,
        url: str,
        part: Path,
        on_progress: Callable[[DownloadProgress], None],
        should_stop: Callable[[], bool],
    ) -> DownloadResult:
        """Fetch `url` into `part`, continuing after the bytes already there when the server allows
        a Range request; the SHA-256 covers the whole file."""
        offset = part.stat().st_size if part.exists() else 0
        opened = self._open(url, offset)
        try:
            if opened.start == 0 and offset:
                log.info("%s does not resume (no Range support): starting again", shown(url))
            digest = self._hash_existing(part, opened.start, should_stop)
            return self._stream(opened, part, digest, on_progress, should_stop)
        finally:
            opened.close()

    # --- the hops ---
    def _open(self, url: str, offset: int) -> _Opened:
        network = self.policy.network
        target = parse_target(url)
        published: str | None = None
        for _hop in range(network.max_redirects + 1):
            deadline = time.monotonic() + network.timeout_s
            address = check_address(target, network, self._resolver, deadline, "model_download_*")
            kind = PinnedHTTPSConnection if target.scheme == "https" else PinnedHTTPConnection
            conn = kind(target.host, target.port, address, network.timeout_s)
            headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            authorization = self.policy.sources.authorization_for(target.url)
            if authorization:
                headers["Authorization"] = authorization
            if offset:
                headers["Range"] = f"bytes={offset}-"
            try:
                conn.request("GET", target.path, headers=headers)
                response = conn.getresponse()
            except TimeoutError:
                conn.close()
                raise UpstreamTimeout(
                    f"{shown(target.url)} did not answer within {network.timeout_s:g} s"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise UpstreamFailed(f"cannot download {shown(target.url)}: {exc}") from None
            if self.policy.sources.is_hub(target.url):
                published = published or _linked_sha256(response)
            if response.status in REDIRECT_STATUSES:
                location = response.getheader("Location")
                response.close()
                conn.close()
                if not location:
                    raise UpstreamFailed(f"{shown(target.url)} answered {response.status} without a Location")
                target = parse_target(urljoin(target.url, location), redirected_from=shown(target.url))
                continue
            return self._accept(conn, response, target, offset, published)
        raise UpstreamFailed(f"more than {network.max_redirects} redirects, starting at {shown(url)}")

    def _accept(
        self,
        conn: PinnedHTTPConnection | PinnedHTTPSConnection,
        response: http.client.HTTPResponse,
        target: Target,
        offset: int,
        published: str | None,
    ) -> _Opened:
        length = response.getheader("Content-Length")
        size = int(length) if length and length.isdigit() else None
        if response.status == 206 and offset:
            match = _CONTENT_RANGE.match(response.getheader("Content-Range") or "")
            if match and int(match.group(1)) == offset:
                total = int(match.group(3)) if match.group(3) != "*" else None
                return self._bounded(_Opened(conn, response, target.url, offset, total, published))
        if response.status == 200:
            return self._bounded(_Opened(conn, response, target.url, 0, size, published))
        response.close()
        conn.close()
        if response.status == 416 and offset:
            # The part file is as long as the file, or longer: start again rather than guess.
            return self._open(target.url, 0)
        raise UpstreamFailed(f"{shown(target.url)} answered HTTP {response.status} {response.reason}")

    def _bounded(self, opened: _Opened) -> _Opened:
        limit = self.policy.network.max_bytes
        if opened.total is not None and opened.total > limit:
            opened.close()
            raise PayloadTooLarge(f"the file is {opened.total} bytes; model_download_max_bytes is {limit}")
        return opened

    # --- the body ---
    def _hash_existing(self, part: Path, keep: int, should_stop: Callable[[], bool]) -> hashlib._Hash:
        """The hash of the first `keep` bytes already in `part` (a resume); the rest is cut off."""
        digest = hashlib.sha256()
        if not keep:
            part.write_bytes(b"")
            return digest
        with part.open("r+b") as handle:
            left = keep
            while left:
                chunk = handle.read(min(HASH_READ_BYTES, left))
                if not chunk:
                    break
                if should_stop():
                    raise DownloadCancelled()
                digest.update(chunk)
                left -= len(chunk)
            handle.truncate(keep)
        return digest

    def _stream(
        self,
        opened: _Opened,
        part: Path,
        digest: hashlib._Hash,
        on_progress: Callable[[DownloadProgress], None],
        should_stop: Callable[[], bool],
    ) -> DownloadResult:
        network, limit = self.policy.network, self.policy.network.max_bytes
        done = opened.start
        still = (opened.total - done) if opened.total is not None else 0
        check_free_space(part.parent, still, self.policy.min_free_bytes)
        since_check = 0
        floor = _RateFloor(self.policy.min_bytes_per_s, self.policy.rate_window_s, done)
        with part.open("ab") as handle:
            while True:
                if should_stop():
                    raise DownloadCancelled()
                if opened.conn.opened is not None:
                    opened.conn.opened.settimeout(network.timeout_s)  # a silent server fails the read
                try:
                    chunk = opened.response.read1(CHUNK_BYTES)
                except TimeoutError:
                    raise UpstreamTimeout(
                        f"{shown(opened.url)} sent nothing for {network.timeout_s:g} s"
                    ) from None
                except (OSError, http.client.HTTPException) as exc:
                    raise UpstreamFailed(f"the download from {shown(opened.url)} broke off: {exc}") from None
                if not chunk:
                    break
                done += len(chunk)
                floor.check(done, opened.url)
                if done > limit:
                    raise PayloadTooLarge(f"the file is larger than model_download_max_bytes ({limit})")
                since_check += len(chunk)
                if since_check >= SPACE_CHECK_BYTES:
                    handle.flush()
                    check_free_space(part.parent, CHUNK_BYTES, self.policy.min_free_bytes)
                    since_check = 0
                handle.write(chunk)
                digest.update(chunk)
                on_progress(DownloadProgress(done, opened.total, opened.published))
        if opened.total is not None and done != opened.total:
            raise UpstreamFailed(
                f"the download from {shown(opened.url)} ended after {done} of {opened.total} bytes"
            )
        return DownloadResult(done, digest.hexdigest(), opened.published, opened.url)


class _RateFloor:
    """Fails a download whose average rate over each window of `window_s` is under `min_bytes_per_s`."""

    def __init__(self, min_bytes_per_s: int, window_s: float, done: int) -> None:
        self._min, self._window = min_bytes_per_s, window_s
        self._since, self._done_then = time.monotonic(), done

    def check(self, done: int, url: str) -> None:
        elapsed = time.monotonic() - self._since
        if not self._min or elapsed < self._window:
            return
        rate = (done - self._done_then) / elapsed
        if rate < self._min:
            raise UpstreamTimeout(
                f"the download from {shown(url)} ran at {rate:.0f} bytes/s over the last {elapsed:.0f} s, "
                f"under model_download_min_bytes_per_s ({self._min})"
            )
        self._since, self._done_then = time.monotonic(), done


def _linked_sha256(response: http.client.HTTPResponse) -> str | None:
    """The SHA-256 the hub publishes for an LFS file (X-Linked-ETag; a plain ETag there is a git hash)."""
    value = (response.getheader("X-Linked-ETag") or "").strip().removeprefix("W/").strip('"').lower()
    return value if SHA256_HEX.match(value) else None
