"""A local HTTP server playing the far side of GET /api/image/download: images, non-images, huge and
slow bodies, redirects. Threaded, on 127.0.0.1 and a free port."""

from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

BIG_BODY_BYTES = 2 * 1024 * 1024
SLOW_BYTE_INTERVAL_S = 0.2


def png_bytes(size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (20, 130, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    server: UpstreamServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # keep test output clean

    def _send(self, status: int, body: bytes, content_type: str, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.hosts.append(self.headers.get("Host", ""))
        try:
            self._route(parts.path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the slow and the oversized bodies)

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        if path == "/image.png":
            self._send(200, png_bytes(), "image/png")
        elif path == "/photo":
            # The upstream says text/plain; the reply must carry the type the bytes really have.
            self._send(200, jpeg_bytes(), "text/plain")
        elif path == "/not-image":
            self._send(200, b"<html><body>not an image</body></html>", "image/png")
        elif path == "/truncated.png":
            self._send(200, png_bytes(64)[:60], "image/png")
        elif path == "/big":
            self._send(200, b"\0" * BIG_BODY_BYTES, "image/png")
        elif path == "/big-unannounced":
            self._send(200, b"\0" * BIG_BODY_BYTES, "image/png", length=False)
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100000):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(SLOW_BYTE_INTERVAL_S)
        elif path == "/redirect":
            self.send_response(int(query.get("status", ["302"])[0]))
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/loop":
            hops = int(query.get("n", ["0"])[0])
            self.send_response(302)
            self.send_header("Location", f"/loop?n={hops + 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"no such thing", "text/plain")


class UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in /slow must not hold up the test's end

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hosts: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, name="upstream", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> UpstreamServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()
        self.server_close()
