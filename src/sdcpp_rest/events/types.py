"""Typed events: one dataclass per kind of message, each with the wire name a WebSocket client sees.

On the wire every event is `{"type": <wire_type>, "data": {...}}`. System events share the wire type
`system_update` and name themselves in `data.event`. `owner` and `job_id` are for filtering only
(who may see the event) and never go on the wire unless they are part of `data`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sdcpp_rest.schemas.jobs import JobStatus, JobUpdate


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Event:
    """Base of every event; subclasses set `wire_type` and say what `data` holds."""

    wire_type: ClassVar[str] = ""
    # True for an event another node published (cluster/event_relay.py): listeners that count what
    # this process did (metrics) leave it to that node. Never on the wire.
    relayed: bool = field(default=False, kw_only=True, compare=False, repr=False)

    def data(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def droppable(self) -> bool:
        """Whether a slow client may lose this event under pressure (a newer one supersedes it)."""
        return False

    def wire(self) -> dict[str, Any]:
        return {"type": self.wire_type, "data": self.data()}

    @functools.cached_property
    def wire_text(self) -> str:
        """Serialised once, however many connections send it."""
        return json.dumps(self.wire())


@dataclass(frozen=True)
class JobUpdated(Event):
    """A job's new state as clients see it (`update`: the spec's job_update fields, typed).

    The queue publishes its own subclass (jobs/changes.py: JobChanged) that also carries the job's
    record for in-process listeners; what another node relayed arrives as this class."""

    wire_type: ClassVar[str] = "job_update"
    job_id: str
    owner: str | None
    update: JobUpdate

    def data(self) -> dict[str, Any]:
        return self.update.wire()

    @property
    def status(self) -> JobStatus:
        return self.update.status

    @property
    def is_final(self) -> bool:
        return self.update.is_final

    @property
    def droppable(self) -> bool:
        return not self.is_final  # progress: a newer one follows; a final status never is dropped


@dataclass(frozen=True)
class QueueChanged(Event):
    """The queue after a submit, start, finish, cancel or clear."""

    wire_type: ClassVar[str] = "queue_update"
    size: int
    active_generations: int
    positions: dict[str, int]
    # The owner of each job in `positions`, so other users' job ids can be removed for a non-admin.
    position_owners: dict[str, str | None] = field(default_factory=dict)
    timestamp: int = field(default_factory=now_ms)

    def data(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "active_generations": self.active_generations,
            "positions": self.positions,
            "timestamp": self.timestamp,
        }

    @property
    def droppable(self) -> bool:
        return True

    def seen_by(self, user: str | None) -> QueueChanged:
        """The same update with only `user`'s jobs in `positions`."""
        mine = {
            job_id: pos for job_id, pos in self.positions.items() if self.position_owners.get(job_id) == user
        }
        return QueueChanged(self.size, self.active_generations, mine, {}, self.timestamp)


@dataclass(frozen=True)
class SystemEvent(Event):
    """A worker, model or server event; `name` is `data.event` on the wire."""

    wire_type: ClassVar[str] = "system_update"
    name: ClassVar[str] = ""

    def details(self) -> dict[str, Any]:
        """The event's own fields, in wire form."""
        fields = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in fields if f.name not in ("timestamp", "relayed")}

    def data(self) -> dict[str, Any]:
        return {"event": self.name, "timestamp": getattr(self, "timestamp", now_ms()), **self.details()}


@dataclass(frozen=True)
class WorkerStarted(SystemEvent):
    name: ClassVar[str] = "worker_started"
    worker_id: str
    pid: int | None
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class WorkerStartFailed(SystemEvent):
    name: ClassVar[str] = "worker_start_failed"
    worker_id: str
    message: str
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class WorkerCrashed(SystemEvent):
    name: ClassVar[str] = "worker_crashed"
    worker_id: str
    job_id: str | None
    reason: str
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class ModelLoading(SystemEvent):
    name: ClassVar[str] = "model_loading"
    worker_id: str
    model: str | None
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class ModelLoaded(SystemEvent):
    name: ClassVar[str] = "model_loaded"
    worker_id: str
    model: str | None
    seconds: float
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class ModelUnloaded(SystemEvent):
    name: ClassVar[str] = "model_unloaded"
    worker_id: str
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class ServerRestarting(SystemEvent):
    name: ClassVar[str] = "restarting"
    grace_seconds: float
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class ServerRestarted(SystemEvent):
    name: ClassVar[str] = "restarted"
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class ShuttingDown(SystemEvent):
    name: ClassVar[str] = "shutting_down"
    timestamp: int = field(default_factory=now_ms)


@dataclass(frozen=True)
class Pong(Event):
    """The answer to a client's `{"type": "ping"}`."""

    wire_type: ClassVar[str] = "pong"

    def data(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class ClientError(Event):
    """A message the server could not act on (sent to that one connection only)."""

    wire_type: ClassVar[str] = "error"
    message: str
    code: str = "INVALID_PARAMETERS"

    def data(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code}
