"""Events across machines through PostgreSQL LISTEN/NOTIFY: what one node publishes on its event bus
reaches the buses (and so the WebSocket clients and in-process waiters) of every other node.

Sending: a bus listener queues each relayed event (cluster/event_codec.py); one sender thread sends
them, in the order they were published, as NOTIFYs on one connection, several per transaction.
PostgreSQL delivers a transaction's notifications together and transactions in commit order, so a
job's updates arrive in the order its worker published them. Receiving: one thread LISTENs on its own
connection and publishes what other nodes sent on this node's bus, marked so it is not sent back.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import queue
import threading

import psycopg
import sqlalchemy as sa

from sdcpp_rest.cluster.event_codec import Reassembler, chunks, decode, encode
from sdcpp_rest.events.bus import EventBus
from sdcpp_rest.events.types import Event

log = logging.getLogger(__name__)

CHANNEL = "sdcpp_rest_events"
# Events sent per transaction at most (one commit for a burst of progress messages).
BATCH = 64
RECONNECT_SECONDS = 1.0
LISTEN_SLICE_SECONDS = 0.5


def libpq_url(database_url: str) -> str:
    """The URL psycopg connects with (SQLAlchemy's driver name removed)."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgEventRelay:
    def __init__(self, database_url: str, bus: EventBus, origin: str) -> None:
        self._url = libpq_url(database_url)
        self._bus = bus
        self._origin = origin
        self._outbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._ids = itertools.count()
        # True while this relay's listening thread publishes what another node sent: its bus listener
        # (called in the same thread) then does not send it back out.
        self._from_elsewhere = contextvars.ContextVar(f"relayed-{origin}", default=False)
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._bus.add_listener(self._on_local_event)
        self._threads = [
            threading.Thread(target=self._send_loop, name="event-relay-send", daemon=True),
            threading.Thread(target=self._listen_loop, name="event-relay-listen", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def wait_listening(self, timeout: float) -> bool:
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._bus.remove_listener(self._on_local_event)
        self._stop.set()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    # --- sending ---
    def _on_local_event(self, event: Event) -> None:
        if self._from_elsewhere.get():
            return
        text = encode(event)
        if text is not None:
            self._outbox.put(text)

    def _send_loop(self) -> None:
        connection: psycopg.Connection[tuple[object, ...]] | None = None
        pending: list[str] = []
        while True:
            if not pending:
                first = self._outbox.get()
                if first is None:
                    break
                pending.append(first)
                while len(pending) < BATCH:
                    try:
                        more = self._outbox.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._stop.set()
                        break
                    pending.append(more)
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(self._url)
                with connection.transaction():
                    for text in pending:
                        for payload in chunks(self._origin, next(self._ids), text):
                            connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                pending = []
            except psycopg.Error:
                # Kept and sent again once the database answers: a worker's final status must arrive.
                log.warning("could not relay events to other nodes; retrying", exc_info=True)
                connection = None
                if self._stop.wait(RECONNECT_SECONDS):
                    break
            if self._stop.is_set() and self._outbox.empty() and not pending:
                break
        if connection is not None:
            connection.close()

    # --- receiving ---
    def _listen_loop(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    self._receive(connection)
            except Exception:  # the thread must outlive any error: it is the node's only ear
                log.warning("lost the event relay's LISTEN connection; reconnecting", exc_info=True)
                self._stop.wait(RECONNECT_SECONDS)

    def _receive(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        reassembler = Reassembler()
        while not self._stop.is_set():
            for notify in connection.notifies(timeout=LISTEN_SLICE_SECONDS):
                complete = reassembler.add(notify.payload)
                if complete is None or complete[0] == self._origin:
                    continue
                try:
                    event = decode(complete[1])
                except (ValueError, KeyError, TypeError):
                    log.warning("ignored an event from another node that could not be read")
                    continue
                marked = self._from_elsewhere.set(True)
                try:
                    self._bus.publish(event)
                finally:
                    self._from_elsewhere.reset(marked)
