"""Events between nodes through a real PostgreSQL (LISTEN/NOTIFY): what one node's bus publishes
reaches another node's bus whole (a preview far over NOTIFY's 8000-byte limit included) and in
order, is not sent back to its sender, and node-local events stay home."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator

import pytest

from sdcpp_rest.cluster.event_codec import Reassembler, chunks, decode, encode
from sdcpp_rest.cluster.event_relay import PgEventRelay
from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.events.types import Event, JobUpdated, ModelLoaded, QueueChanged, ShuttingDown
from sdcpp_rest.schemas.jobs import JobPhase, JobPreview, JobStatus, JobUpdate
from tests.postgres import PostgresUnavailable, create_database, drop_database

WAIT_SECONDS = 60


def preview_update(step: int, size: int = 30_000) -> JobUpdated:
    jpeg = base64.b64encode(os.urandom(size)).decode()
    update = JobUpdate(
        job_id="j1", status=JobStatus.PROCESSING, model_name="sd15.safetensors", seed=1, position=0,
        progress=step / 20, phase=JobPhase.SAMPLING, current_step=step, total_steps=20, time_elapsed=5,
        time_remaining=None, speed=1.5, error=None, error_code=None, timestamp=1,
        preview=JobPreview(step=step, data=jpeg),
    )  # fmt: skip
    return JobUpdated(job_id="j1", owner="alice", update=update)


def test_events_round_trip_through_chunks_and_local_ones_stay_home() -> None:
    sent: list[Event] = [
        preview_update(3),
        QueueChanged(size=2, active_generations=1, positions={"a": 1}, position_owners={"a": "bob"}),
        ModelLoaded(worker_id="host.1/w0", model="sd15.safetensors", seconds=1.5),
    ]
    reassembler = Reassembler()
    received = []
    for number, event in enumerate(sent):
        text = encode(event)
        assert text is not None
        payloads = chunks("node-a", number, text)
        assert all(len(payload.encode()) < 8000 for payload in payloads)
        results = [reassembler.add(payload) for payload in payloads]
        assert results[:-1] == [None] * (len(payloads) - 1)
        origin, whole = results[-1]  # type: ignore[misc]
        assert origin == "node-a"
        received.append(decode(whole))
    assert received == sent
    assert encode(ShuttingDown()) is None  # a node's own shutdown is not the cluster's


@pytest.fixture
def relay_url() -> Iterator[str]:
    try:
        url = create_database("sdcpp_rest_relay")
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    yield url
    drop_database(url)


def test_two_nodes_relay_events_in_order_without_echo(relay_url: str) -> None:
    bus_a, bus_b = EventBus(), EventBus()
    seen_a: list[Event] = []
    seen_b: list[Event] = []
    done = threading.Event()

    def on_b(event: Event) -> None:
        seen_b.append(event)
        if isinstance(event, JobUpdated) and event.update.current_step == 20:
            done.set()

    bus_a.add_listener(seen_a.append)
    bus_b.add_listener(on_b)
    node_a, node_b = PgEventRelay(relay_url, bus_a, "node-a"), PgEventRelay(relay_url, bus_b, "node-b")
    node_a.start()
    node_b.start()
    try:
        assert node_a.wait_listening(WAIT_SECONDS) and node_b.wait_listening(WAIT_SECONDS)
        published = [preview_update(step, size=2_000 if step % 2 else 20_000) for step in range(1, 21)]
        for event in published:
            bus_a.publish(event)
        assert done.wait(WAIT_SECONDS)
    finally:
        node_a.stop()
        node_b.stop()

    assert seen_b == published  # whole, in order, once
    assert seen_a == published  # its own events only: nothing came back from B
