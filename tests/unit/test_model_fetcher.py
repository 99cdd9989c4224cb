"""ModelFetcher (downloads/models.py) against a real HTTP server on loopback: the size limit, the
free-space check, and a resume from a part file."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcpp_rest.catalog.intake import DiskFull
from sdcpp_rest.downloads.images import DownloadPolicy
from sdcpp_rest.downloads.models import DownloadProgress, ModelDownloadPolicy, ModelFetcher
from sdcpp_rest.downloads.sources import SourceSettings
from sdcpp_rest.errors import PayloadTooLarge
from tests.model_hosts import FileHost, sha256_of

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)
SOURCES = SourceSettings("https://huggingface.co", None, "https://civitai.com", None)


@pytest.fixture(scope="module")
def host() -> Iterator[FileHost]:
    with FileHost("127.0.0.1") as served:
        yield served


def _fetcher(max_bytes: int = 10**9, min_free: int = 0) -> ModelFetcher:
    network = DownloadPolicy(allowed_networks=LOOPBACK, max_bytes=max_bytes, timeout_s=10)
    return ModelFetcher(ModelDownloadPolicy(network, SOURCES, min_free))


def test_a_file_over_the_size_limit_is_refused(host: FileHost, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"\x01" * 100_000)
    url = host.serve("/limit/big.bin", source)
    with pytest.raises(PayloadTooLarge):
        _fetcher(max_bytes=50_000).download(url, tmp_path / "part", lambda _p: None, lambda: False)


def test_too_little_free_space_is_refused_before_writing(host: FileHost, tmp_path: Path) -> None:
    source = tmp_path / "m.bin"
    source.write_bytes(b"\x02" * 10_000)
    url = host.serve("/space/m.bin", source)
    part = tmp_path / "m.part"
    with pytest.raises(DiskFull):
        _fetcher(min_free=2**62).download(url, part, lambda _p: None, lambda: False)
    assert part.stat().st_size == 0  # nothing written


def test_a_part_file_is_continued_with_a_range_request_and_hashed_whole(
    host: FileHost, tmp_path: Path
) -> None:
    source = tmp_path / "whole.bin"
    source.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    url = host.serve("/resume/whole.bin", source)
    part = tmp_path / "whole.part"
    part.write_bytes(source.read_bytes()[:300_000])
    seen: list[DownloadProgress] = []
    result = _fetcher().download(url, part, seen.append, lambda: False)
    assert result.sha256 == sha256_of(source) and result.size == source.stat().st_size
    assert part.read_bytes() == source.read_bytes()
    assert host.requests_to("/resume/whole.bin")[-1].headers["range"] == "bytes=300000-"
    assert seen[-1].done == seen[-1].total == source.stat().st_size
