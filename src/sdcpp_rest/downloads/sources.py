"""Where a model download comes from: `hf://ORG/REPO/FILE` and Hugging Face page or resolve URLs
turned into resolve URLs on the configured hub (HF_ENDPOINT-style), CivitAI model pages into their
download API, and which token (if any) a request to a given host may carry.

A token goes only to the host it belongs to, compared by scheme, host name and port: a redirect to a
CDN or anywhere else gets no Authorization header (the hub's own LFS redirects are signed URLs that
need none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

from sdcpp_rest.config import Settings
from sdcpp_rest.errors import InvalidParameters

HF_SCHEME = "hf://"
PUBLIC_HF_HOSTS = ("huggingface.co", "hf.co")
PUBLIC_CIVITAI_HOSTS = ("civitai.com",)
_HUB_FILE = re.compile(r"^/[^/]+/[^/]+/(resolve|blob)/[^/]+/.+")


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port  # parsed here: "[::1]:99999" is out of range (ValueError)
        except ValueError as exc:
            raise InvalidParameters(f"url is not a valid URL: {exc}", field="url") from None
        return cls(scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80))


@dataclass(frozen=True)
class SourceSettings:
    hf_endpoint: str
    hf_token: str | None
    civitai_endpoint: str
    civitai_token: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceSettings:
        return cls(
            hf_endpoint=settings.huggingface_endpoint.rstrip("/"),
            hf_token=settings.huggingface_token.get_secret_value() if settings.huggingface_token else None,
            civitai_endpoint=settings.civitai_endpoint.rstrip("/"),
            civitai_token=settings.civitai_token.get_secret_value() if settings.civitai_token else None,
        )

    def is_hub(self, url: str) -> bool:
        return Origin.of(url) == Origin.of(self.hf_endpoint)

    def authorization_for(self, url: str) -> str | None:
        """The Authorization header a request to `url` may carry: a token only for its own host."""
        origin = Origin.of(url)
        if self.hf_token and origin == Origin.of(self.hf_endpoint):
            return f"Bearer {self.hf_token}"
        if self.civitai_token and origin == Origin.of(self.civitai_endpoint):
            return f"Bearer {self.civitai_token}"
        return None


def resolve_source(url: str, sources: SourceSettings) -> str:
    """The http(s) URL to fetch for what a request names."""
    url = url.strip()
    if url.startswith(HF_SCHEME):
        return _hf_short(url[len(HF_SCHEME) :], sources)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in PUBLIC_HF_HOSTS:
        return _hf_page(parts.path, sources)
    if sources.is_hub(url):  # the configured hub (a mirror) may serve other paths as they are
        return _hf_page(parts.path, sources) if _HUB_FILE.match(parts.path) else url
    if host in PUBLIC_CIVITAI_HOSTS or Origin.of(url) == Origin.of(sources.civitai_endpoint):
        return _civitai(url, sources)
    return url


def _hf_short(rest: str, sources: SourceSettings) -> str:
    """hf://ORG/REPO/PATH (the main revision) or hf://ORG/REPO@REV/PATH."""
    pieces = rest.split("/")
    if len(pieces) < 3 or not all(pieces):
        raise InvalidParameters(
            "an hf:// URL is hf://ORG/REPO/FILE (or hf://ORG/REPO@REVISION/FILE)", field="url"
        )
    org, repo, path = pieces[0], pieces[1], "/".join(pieces[2:])
    repo, _, revision = repo.partition("@")
    return (
        f"{sources.hf_endpoint}/{quote(org)}/{quote(repo)}/resolve/{quote(revision or 'main')}/{quote(path)}"
    )


def _hf_page(path: str, sources: SourceSettings) -> str:
    """huggingface.co/ORG/REPO/(resolve|blob)/REV/FILE on the configured hub, as a resolve URL."""
    pieces = [unquote(p) for p in path.strip("/").split("/")]
    if len(pieces) < 5 or pieces[2] not in ("resolve", "blob"):
        raise InvalidParameters(
            "a Hugging Face URL must name one file: https://huggingface.co/ORG/REPO/resolve/REVISION/FILE",
            field="url",
        )
    org, repo, _kind, revision = pieces[:4]
    file_path = "/".join(pieces[4:])
    return f"{sources.hf_endpoint}/{quote(org)}/{quote(repo)}/resolve/{quote(revision)}/{quote(file_path)}"


def _civitai(url: str, sources: SourceSettings) -> str:
    """A model page with ?modelVersionId=N, or an /api/download/models/N URL, as the download API."""
    parts = urlsplit(url)
    if parts.path.startswith("/api/download/models/"):
        version = parts.path.rsplit("/", 1)[-1]
    else:
        version = (parse_qs(parts.query).get("modelVersionId") or [""])[0]
    if not version.isdigit():
        raise InvalidParameters(
            "a CivitAI URL must name a model version: .../models/ID?modelVersionId=N or "
            "/api/download/models/N",
            field="url",
        )
    return f"{sources.civitai_endpoint}/api/download/models/{version}"


def file_name_of(url: str) -> str:
    """The last path segment of a URL (decoded): the default file name of a download."""
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


def shown(url: str) -> str:
    """A URL as logs and messages show it: without its query (signed URLs carry credentials there)."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl() + ("?..." if parts.query else "")
