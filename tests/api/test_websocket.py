"""WebSocket /ws with real clients against a real server and the real engine."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import threading
import time
from typing import Any

import httpx
from PIL import Image
from websockets.sync.client import ClientConnection, connect

from tests.server import ServerProcess

FINAL = {"completed", "failed", "cancelled"}


def ws_url(server: ServerProcess, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/ws" + (f"?{query}" if query else "")


def receive_until_final(ws: ClientConnection, job_id: str, timeout: float = 120) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        messages.append(message)
        data = message["data"]
        if message["type"] == "job_update" and data["job_id"] == job_id and data["status"] in FINAL:
            return messages
    raise AssertionError(f"no final status for {job_id}: {messages[-5:]}")


def test_job_messages_arrive_in_order_and_end_with_final_status(
    server: ServerProcess, client: httpx.Client
) -> None:
    with connect(ws_url(server)) as ws:
        job_id = server.submit(client, steps=3, batch_count=2)
        messages = receive_until_final(ws, job_id)
    updates = [m["data"] for m in messages if m["type"] == "job_update" and m["data"]["job_id"] == job_id]
    statuses = [u["status"] for u in updates]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    assert statuses.index("processing") < statuses.index("completed")
    steps = [u["current_step"] for u in updates if u["status"] == "processing" and u["phase"] == "sampling"]
    assert steps == sorted(steps) and max(steps) == 6  # 3 steps x 2 images, in order
    assert all(u["total_steps"] == 6 for u in updates)
    final = updates[-1]
    assert final["progress"] == 1.0 and [o["filename"] for o in final["outputs"]] == [
        "image_0.png",
        "image_1.png",
    ]
    assert any(m["type"] == "queue_update" for m in messages)
    for update in updates:
        assert set(update) >= {
            "job_id",
            "status",
            "progress",
            "current_step",
            "total_steps",
            "time_elapsed",
            "time_remaining",
            "speed",
        }


def test_queue_update_on_submit_cancel_and_clear(server: ServerProcess, client: httpx.Client) -> None:
    blocker = server.submit(client, steps=6)
    server.wait_for(client, blocker, ("processing",))
    with connect(ws_url(server)) as ws:
        while json.loads(ws.recv(timeout=10))["type"] != "queue_update":  # the snapshot
            pass

        def next_queue_update() -> dict[str, Any]:
            while True:
                message = json.loads(ws.recv(timeout=30))
                if message["type"] == "queue_update":
                    return dict(message["data"])

        queued = server.submit(client)
        assert queued in next_queue_update()["positions"]
        client.post("/api/queue/cancel", json={"job_id": queued})
        assert queued not in next_queue_update()["positions"]
        others = [server.submit(client) for _ in range(2)]
        for _ in others:
            next_queue_update()
        client.post("/api/queue/clear")
        assert next_queue_update()["size"] == 0
    server.wait_for(client, blocker)


def test_following_one_job_and_reconnect_gets_current_state(
    server: ServerProcess, client: httpx.Client
) -> None:
    job_id = server.submit(client, steps=4)
    other = server.submit(client, steps=1)
    with connect(ws_url(server, f"job_id={job_id}")) as ws:
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "job_update" and first["data"]["job_id"] == job_id
        server.wait_for(client, job_id, ("processing",))
    # Reconnect mid-job: the current state arrives at once, without waiting for the next step.
    with connect(ws_url(server, f"job_id={job_id}")) as ws:
        state = json.loads(ws.recv(timeout=5))
        assert state["data"]["job_id"] == job_id and state["data"]["status"] in ("processing", "completed")
        messages = receive_until_final(ws, job_id)
    assert all(m["data"].get("job_id") in (None, job_id) for m in messages if m["type"] == "job_update")
    server.wait_for(client, other)


def test_ping_and_bad_messages(server: ServerProcess) -> None:
    with connect(ws_url(server, "scope=all")) as ws:
        ws.send(json.dumps({"type": "ping"}))
        ws.send("not json")
        seen = set()
        deadline = time.monotonic() + 10
        while {"pong", "error"} - seen and time.monotonic() < deadline:
            seen.add(json.loads(ws.recv(timeout=10))["type"])
        assert {"pong", "error"} <= seen


def never_reading_client(server: ServerProcess) -> socket.socket:
    """A raw WebSocket handshake on a socket with a tiny receive buffer that is then never read
    (a websockets client would keep reading in its background thread)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return sock


def test_hundred_clients_get_final_message_and_a_stuck_one_does_not_delay_them(
    server: ServerProcess, client: httpx.Client
) -> None:
    stuck = never_reading_client(server)
    finals: dict[int, float] = {}
    errors: list[str] = []
    ready = threading.Barrier(101)
    job_box: dict[str, str] = {}

    def follower(index: int) -> None:
        try:
            with connect(ws_url(server)) as ws:
                ready.wait(timeout=60)
                while "id" not in job_box:
                    time.sleep(0.01)
                receive_until_final(ws, job_box["id"], timeout=180)
                finals[index] = time.monotonic()
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=follower, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=60)
    job_box["id"] = server.submit(client, steps=4, batch_count=2)
    done = server.wait_for(client, job_box["id"])
    for thread in threads:
        thread.join(timeout=60)
    stuck.close()
    assert errors == []
    assert len(finals) == 100
    assert done["status"] == "completed"


def test_previews_arrive_when_asked_and_not_otherwise(server: ServerProcess, client: httpx.Client) -> None:
    def previews_of(body: dict[str, Any]) -> list[dict[str, Any]]:
        with connect(ws_url(server)) as ws:
            job_id = server.submit(client, steps=2, **body)
            messages = receive_until_final(ws, job_id)
        updates = [m["data"] for m in messages if m["type"] == "job_update" and m["data"]["job_id"] == job_id]
        # Completed, not failed: a job without previews after one with them once ran the freed preview
        # callback of the one before and crashed its worker (engine/sd_engine.py clears it now).
        assert updates[-1]["status"] == "completed", updates[-1]
        return [update["preview"] for update in updates if "preview" in update]

    previews = previews_of({"preview": "proj", "preview_interval": 1})
    assert previews, "no preview arrived"
    image = Image.open(io.BytesIO(base64.b64decode(previews[0]["data"])))
    assert image.format == "JPEG" and max(image.size) <= 256
    assert previews[0]["mime_type"] == "image/jpeg" and previews[0]["step"] >= 1
    assert previews_of({}) == []


def test_step_messages_carry_the_engine_timestamp(server: ServerProcess, client: httpx.Client) -> None:
    with connect(ws_url(server)) as ws:
        job_id = server.submit(client, steps=2)
        messages = receive_until_final(ws, job_id)
    stamped = [m["data"] for m in messages if m["type"] == "job_update" and "engine_timestamp" in m["data"]]
    assert len(stamped) == 2
    assert all(s["engine_timestamp"] <= s["timestamp"] + 1 for s in stamped)
