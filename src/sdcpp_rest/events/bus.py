"""Typed events and their fan-out to WebSocket connections.

Publishers (scheduler threads, request handlers) call `publish` from any thread; delivery happens on
the event loop. Each connection has its own bounded buffer: a slow or dead client loses its oldest
progress messages, never a final status, and never slows the engine or other clients.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# Messages a client may fall behind by before its oldest progress updates are dropped.
CONNECTION_BUFFER_MESSAGES = 256
FINAL_JOB_STATUSES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class Event:
    """One message on the wire: `{"type": type, "data": data}`; `owner` and `job_id` drive filtering."""

    type: str
    data: dict[str, Any]
    job_id: str | None = None
    owner: str | None = None
    # queue_update only: the owner of each job in `positions`, so other users' job ids can be removed.
    position_owners: dict[str, str | None] | None = None

    @property
    def droppable(self) -> bool:
        """Progress can be dropped under pressure (a newer one follows); a final status cannot."""
        if self.type == "job_update":
            return self.data.get("status") not in FINAL_JOB_STATUSES
        return self.type == "queue_update"

    def wire(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}

    @functools.cached_property
    def wire_text(self) -> str:
        """Serialised once, however many connections send it."""
        return json.dumps(self.wire())


def job_update(data: dict[str, Any], owner: str | None) -> Event:
    return Event("job_update", data, job_id=str(data["job_id"]), owner=owner)


def queue_update(data: dict[str, Any], position_owners: dict[str, str | None] | None = None) -> Event:
    return Event("queue_update", data, position_owners=position_owners)


def system_update(kind: str, **details: Any) -> Event:
    return Event("system_update", {"event": kind, "timestamp": int(time.time() * 1000), **details})


@dataclass
class Subscription:
    """What one connection follows: jobs by id, the jobs of one owner, or everything (admin)."""

    job_ids: set[str] = field(default_factory=set)
    own_jobs: bool = False
    everything: bool = False
    user: str | None = None
    is_admin: bool = True

    def view(self, event: Event) -> Event:
        """The event as this subscriber may see it: a non-admin sees only their own jobs' positions."""
        if self.is_admin or event.type != "queue_update" or event.position_owners is None:
            return event
        owners = event.position_owners
        mine = {
            job_id: pos
            for job_id, pos in event.data.get("positions", {}).items()
            if owners.get(job_id) == self.user
        }
        return Event(event.type, {**event.data, "positions": mine})

    def wants(self, event: Event) -> bool:
        if event.type != "job_update":
            return True  # queue and system updates carry no other user's job details
        if event.job_id in self.job_ids:
            return self.is_admin or event.owner == self.user
        if self.everything:
            return self.is_admin or event.owner == self.user
        return self.own_jobs and event.owner == self.user


class Connection:
    """One client's bounded outbox; the WebSocket handler drains it."""

    def __init__(self, subscription: Subscription, capacity: int = CONNECTION_BUFFER_MESSAGES) -> None:
        self.subscription = subscription
        self._capacity = capacity
        self._outbox: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0

    def offer(self, event: Event) -> None:
        """Called on the event loop only."""
        if len(self._outbox) >= self._capacity:
            self._drop_oldest_droppable()
        self._outbox.append(event)
        self._ready.set()

    def _drop_oldest_droppable(self) -> None:
        for index, queued in enumerate(self._outbox):
            if queued.droppable:
                del self._outbox[index]
                self.dropped += 1
                return
        # Only final statuses are queued: keep them all (they are few, one per job).

    async def next(self) -> Event:
        while not self._outbox:
            self._ready.clear()
            await self._ready.wait()
        return self._outbox.popleft()


class EventBus:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, event: Event) -> None:
        """Thread-safe; a no-op until the server's loop is running."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if _running_loop() is loop:
                self._deliver(event)
            else:
                loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:  # the loop closed between the check and the call (shutdown)
            pass

    def _deliver(self, event: Event) -> None:
        for connection in list(self._connections):
            if connection.subscription.wants(event):
                connection.offer(connection.subscription.view(event))

    def connect(self, subscription: Subscription) -> Connection:
        connection = Connection(subscription)
        self._connections.add(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        self._connections.discard(connection)

    @property
    def connection_count(self) -> int:
        return len(self._connections)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
