"""Issue 27, finding 5: a WebSocket client's big frames no longer stall the server. uvicorn took frames
up to 16 MiB and parsed them on the event loop (twenty 15.8 MB frames: /api/health p90 2.8 s); now a
message over WS_MAX_MESSAGE_BYTES is refused with close code 1009, by uvicorn from the frame's header
under `sdcpp-rest serve`, and by the /ws handler under a server started another way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from sdcpp_rest.api.ws import WS_MAX_MESSAGE_BYTES, WS_MESSAGE_TOO_BIG
from tests.server import ServerProcess, free_port

ONE_MIB = 2**20
# uvicorn.run with its defaults (ws_max_size 16 MiB): how an operator might embed the app themselves.
PLAIN_UVICORN = """
import sys, uvicorn
from sdcpp_rest.app import create_app
from sdcpp_rest.config import load_settings
settings = load_settings(None, {"data_dir": sys.argv[1], "host": "127.0.0.1", "port": int(sys.argv[2])})
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[2]), log_config=None)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path_factory.mktemp("ws-limit")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def plain_uvicorn_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("ws-limit-uvicorn")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (data_dir / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", PLAIN_UVICORN, str(data_dir), str(port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "STABLE_DIFFUSION_N_THREADS": "1"},
        )  # fmt: skip
    try:
        _wait_healthy(url, process, data_dir / "server.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-3000:]}")


def _ws(url: str) -> ClientConnection:
    # The client's own limit is for what it receives; a test of the server's must not trip over it.
    return connect(url.replace("http://", "ws://") + "/ws", max_size=None)


def _ping(size: int) -> str:
    """A ping padded to `size` bytes: the server reads only `type`, so only the size can refuse it."""
    bare = json.dumps({"type": "ping", "pad": ""})
    return json.dumps({"type": "ping", "pad": "x" * (size - len(bare))})


def _close_code_after_sending(url: str, message: str) -> int | None:
    with _ws(url) as ws:
        ws.recv(timeout=30)  # the first queue_update: the connection is set up
        ws.send(message)
        try:
            while True:
                ws.recv(timeout=30)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
        except TimeoutError:
            return None  # still open: the message was taken


def _answers_pings(url: str) -> bool:
    with _ws(url) as ws:
        ws.send(_ping(WS_MAX_MESSAGE_BYTES))  # the largest message allowed
        return any(json.loads(ws.recv(timeout=30))["type"] == "pong" for _ in range(5))


@pytest.mark.parametrize("url_of", ["serve", "plain-uvicorn"])
def test_a_one_mib_message_is_closed_with_1009_and_the_server_goes_on(
    url_of: str, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("server").url
        if url_of == "serve"
        else request.getfixturevalue("plain_uvicorn_url")
    )
    assert _close_code_after_sending(url, _ping(ONE_MIB)) == WS_MESSAGE_TOO_BIG
    assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200
    assert _answers_pings(url)  # other clients, and messages up to the limit, are served as before


def test_a_message_just_over_the_limit_is_refused(server: ServerProcess) -> None:
    assert _close_code_after_sending(server.url, _ping(WS_MAX_MESSAGE_BYTES + 1)) == WS_MESSAGE_TOO_BIG
