"""Real HTTP servers on loopback for the model download tests: files with Range support (optionally
throttled), redirects, and a Hugging Face hub stand-in (the public hub cannot be reached from tests;
this one answers `resolve` URLs the way it does: a 302 to a storage host with `X-Linked-ETag`).

Every request's path and headers are recorded, so tests can see Range and Authorization headers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024


@dataclass
class Served:
    path: Path
    delay_per_chunk: float = 0.0  # seconds between 64 KiB chunks: keeps a download running for a while
    chunk_bytes: int = 0  # bytes per delayed chunk (0: 64 KiB); 1 makes a server that trickles
    sha256: str = ""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class HostState:
    files: dict[str, Served] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    linked_etags: dict[str, str] = field(default_factory=dict)  # path -> X-Linked-ETag of its redirect
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class _Handler(BaseHTTPRequestHandler):
    state: HostState  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        state = self.state
        with state.lock:
            state.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path in state.redirects:
            self.send_response(302)
            self.send_header("Location", state.redirects[self.path])
            if self.path in state.linked_etags:
                self.send_header("X-Linked-ETag", f'"{state.linked_etags[self.path]}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        served = state.files.get(self.path)
        if served is None:
            self.send_error(404)
            return
        size = served.path.stat().st_size
        start = 0
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[len("bytes=") : -1])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        try:
            with served.path.open("rb") as handle:
                handle.seek(start)
                step = (served.chunk_bytes or CHUNK) if served.delay_per_chunk else 1024 * 1024
                while chunk := handle.read(step):
                    self.wfile.write(chunk)
                    if served.delay_per_chunk:
                        time.sleep(served.delay_per_chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (cancel, server stop)


class FileHost:
    """A ThreadingHTTPServer on `host` (a loopback address) with its own state."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.state = HostState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer((host, 0), handler)
        self._server.daemon_threads = True
        self.base = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FileHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve(self, path: str, file: Path, delay_per_chunk: float = 0.0, chunk_bytes: int = 0) -> str:
        self.state.files[path] = Served(file, delay_per_chunk, chunk_bytes, sha256_of(file))
        return self.base + path

    def redirect(self, path: str, location: str, linked_etag: str | None = None) -> str:
        self.state.redirects[path] = location
        if linked_etag:
            self.state.linked_etags[path] = linked_etag
        return self.base + path

    def requests_to(self, path: str) -> list[Seen]:
        with self.state.lock:
            return [seen for seen in self.state.seen if seen.path == path]
