"""Events as text for other nodes (cluster/event_relay.py): the kinds worth relaying, encoded, split
into NOTIFY-sized chunks, and put back together.

Relayed: job updates (progress, previews, every status), queue updates, and the worker and model
events of a worker process. A node's own restart and shutdown stay with its own clients.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sdcpp_rest.events import types as events
from sdcpp_rest.schemas.jobs import JobUpdate

RELAYED_SYSTEM_EVENTS: dict[str, type[events.SystemEvent]] = {
    cls.name: cls
    for cls in (
        events.WorkerStarted,
        events.WorkerStartFailed,
        events.WorkerCrashed,
        events.ModelLoading,
        events.ModelLoaded,
        events.ModelUnloaded,
    )
}
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. A chunk of this many ASCII characters
# stays under it inside its JSON envelope even if every character needs escaping.
CHUNK_CHARS = 3500


def encode(event: events.Event) -> str | None:
    """The event as JSON text; None for events that stay on their node."""
    body: dict[str, Any]
    if isinstance(event, events.JobUpdated):
        body = {"k": "job", "job_id": event.job_id, "owner": event.owner, "update": event.update.wire()}
    elif isinstance(event, events.QueueChanged):
        body = {"k": "queue", **_fields(event)}
    elif isinstance(event, events.SystemEvent) and event.name in RELAYED_SYSTEM_EVENTS:
        body = {"k": "system", "name": event.name, **_fields(event)}
    else:
        return None
    return json.dumps(body)


def decode(text: str) -> events.Event:
    body = json.loads(text)
    kind = body.pop("k")
    if kind == "job":
        update = JobUpdate.model_validate(body["update"])
        return events.JobUpdated(job_id=body["job_id"], owner=body["owner"], update=update, relayed=True)
    if kind == "queue":
        return events.QueueChanged(**body, relayed=True)
    if kind == "system":
        return RELAYED_SYSTEM_EVENTS[body.pop("name")](**body, relayed=True)
    raise ValueError(f"unknown relayed event kind {kind!r}")


def _fields(event: events.Event) -> dict[str, Any]:
    """The event's own fields (the relayed mark is set by the receiving side)."""
    fields = dataclasses.asdict(event)
    del fields["relayed"]
    return fields


def chunks(origin: str, message_id: int, text: str) -> list[str]:
    """NOTIFY payloads carrying `text`; sent in one transaction, they arrive together and in order."""
    parts = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
    return [
        json.dumps({"o": origin, "m": message_id, "i": index, "n": len(parts), "d": part})
        for index, part in enumerate(parts)
    ]


class Reassembler:
    """Puts chunks back together; the text of a message once its last chunk came, else None."""

    def __init__(self) -> None:
        self._partial: dict[tuple[str, int], list[str]] = {}

    def add(self, payload: str) -> tuple[str, str] | None:
        """(origin, text) when `payload` completes a message."""
        chunk = json.loads(payload)
        key = (chunk["o"], chunk["m"])
        parts = self._partial.setdefault(key, [])
        parts.append(chunk["d"])
        if len(parts) < chunk["n"]:
            return None
        del self._partial[key]
        return chunk["o"], "".join(parts)
