"""Signed, expiring output URLs (issue 27): with auth on, an output file is served to its owner (or an
admin) or to whoever holds a link the server signed. The links let `<img>` tags, downloads and shared
URLs work without headers, while a bare job id is refused.

The HMAC key is derived from the JWT secret, never the secret itself, so a signature reveals nothing
usable against login tokens; every node of a cluster shares `jwt_secret` and so derives the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

# Domain separation: the same secret also signs login tokens.
_KEY_PURPOSE = b"sdcpp-rest output url v1"


def derive_key(secret: str) -> bytes:
    """The output-URL key of a server secret (HMAC-SHA256 of a fixed purpose under the secret)."""
    return hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()


class OutputUrlSigner:
    """Signs and checks `?expires=<unix>&signature=<hex>` for one job's output file."""

    def __init__(self, key: bytes, ttl_seconds: int) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds
        # Expiry times are rounded up to this step, so the URLs of one job stay the same for a while
        # and a browser's cache (and the web UI's <img> elements) keep serving them.
        self._step = max(ttl_seconds // 4, 1)

    def _signature(self, job_id: str, filename: str, expires: int) -> str:
        message = f"{job_id}\n{filename}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def query(self, job_id: str, filename: str, now: float | None = None) -> dict[str, str]:
        """The query that lets the link work for at least ttl_seconds from now."""
        earliest = int(now if now is not None else time.time()) + self.ttl_seconds
        expires = -(-earliest // self._step) * self._step
        return {"expires": str(expires), "signature": self._signature(job_id, filename, expires)}

    def is_valid(
        self, job_id: str, filename: str, expires: str, signature: str, now: float | None = None
    ) -> bool:
        """True for an unexpired signature this server made for exactly this job and file."""
        if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
            return False
        if int(expires) < (now if now is not None else time.time()):
            return False
        expected = self._signature(job_id, filename, int(expires))
        return hmac.compare_digest(expected, signature.lower()) if signature.isascii() else False


class OutputLinks:
    """The URLs the server hands out for a job's outputs: signed when auth is on, plain when off."""

    def __init__(self, signer: OutputUrlSigner | None) -> None:
        self._signer = signer

    def _signed(self, path: str, job_id: str, filename: str, query: dict[str, str]) -> str:
        if self._signer is not None:
            query = {**query, **self._signer.query(job_id, filename)}
        return f"{path}?{urlencode(query)}" if query else path

    def file_url(self, job_id: str, filename: str) -> str:
        return self._signed(f"/api/queue/job/{job_id}/output/{filename}", job_id, filename, {})

    def thumbnail_url(self, job_id: str, filename: str) -> str:
        path = f"/api/v1/jobs/{job_id}/output/{filename}"
        return self._signed(path, job_id, filename, {"thumb": "true"})
