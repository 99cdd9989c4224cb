"""The event bus: fan-out of typed events (events/types.py) to WebSocket connections and listeners.

Publishers (scheduler threads, request handlers) call `publish` from any thread; delivery happens on
the event loop. Each connection has its own bounded buffer: a slow or dead client loses its oldest
progress messages, never a final status, and never slows the engine or other clients.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sdcpp_rest.events.types import Event, JobUpdated, QueueChanged

log = logging.getLogger(__name__)

# Messages a client may fall behind by before its oldest progress updates are dropped.
CONNECTION_BUFFER_MESSAGES = 256

# Called in the publisher's thread for every event (JobService.wait listens this way).
EventListener = Callable[[Event], None]


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
        if self.is_admin or not isinstance(event, QueueChanged):
            return event
        return event.seen_by(self.user)

    def wants(self, event: Event) -> bool:
        if not isinstance(event, JobUpdated):
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
    """Delivers events to WebSocket connections (on the event loop) and to in-process listeners
    (in the publisher's thread)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[Connection] = set()
        self._listeners: list[EventListener] = []
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start delivering to connections on `loop` (the server's, once it runs)."""
        self._loop = loop

    def add_listener(self, listener: EventListener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: EventListener) -> None:
        with self._lock:
            self._listeners = [known for known in self._listeners if known != listener]

    def publish(self, event: Event) -> None:
        """Thread-safe. Listeners are called at once; connections get the event on the loop (none
        until the server's loop is running)."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # one listener's bug must not stop the others or the publisher
                log.exception("event listener failed on %s", type(event).__name__)
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
