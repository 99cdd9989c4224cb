"""Which idle worker slot takes the next job.

The next job is the store's (FIFO or fair, jobs/queue_order.py): the dispatcher never reorders the
queue, it only picks the worker. Loading a model is the slow part of a job (seconds to minutes), so
the job goes to an idle worker that already holds its model when there is one; otherwise to an idle
worker that holds nothing (no model to drop); otherwise to any idle worker. With two workers and two
checkpoints used in turn, each worker then keeps one of them and nothing reloads.

Idle slots wait here for work; `notify` (a job was queued, the server stops) wakes them all, and each
asks again whether the next job is its own to take.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sdcpp_rest.jobs.claims import ANY_JOB, Runnable
from sdcpp_rest.jobs.records import JobRecord
from sdcpp_rest.jobs.store import JobStore

# The checkpoint path a job will load ("" for none, e.g. upscale, or a name that no longer resolves).
ModelPathOf = Callable[[JobRecord], str]


class Dispatcher:
    def __init__(
        self, store: JobStore, model_path_of: ModelPathOf, runnable: Callable[[], Runnable] = lambda: ANY_JOB
    ) -> None:
        self._store = store
        self._model_path_of = model_path_of
        self._runnable = runnable  # the jobs this process's workers can run (all, unless a cluster)
        self._condition = threading.Condition()
        self._idle: dict[str, str | None] = {}  # slot id -> the model path it holds

    def claim_for(self, slot_id: str, loaded: str | None) -> JobRecord | None:
        """The next job if it is this slot's to take, claimed for it; None otherwise (the slot that
        should take it is woken)."""
        with self._condition:
            self._idle[slot_id] = loaded
            if len(self._idle) == 1:
                # The only idle slot takes the next job whatever it holds: claim it in one step (on
                # PostgreSQL the SKIP LOCKED claim, which never collides with other processes).
                claimed = self._store.claim_next(slot_id, self._runnable())
                if claimed is not None:
                    del self._idle[slot_id]
                return claimed
            job = self._store.peek_next(self._runnable())
            if job is None:
                return None
            chosen = self._choose(self._model_path_of(job))
            if chosen != slot_id:
                self._condition.notify_all()
                return None
            claimed = self._store.claim(job.id, slot_id)
            if claimed is not None:
                del self._idle[slot_id]
            else:  # taken meanwhile by another process sharing the database: look again soon
                self._condition.notify_all()
            return claimed

    def _choose(self, model_path: str) -> str:
        idle = sorted(self._idle.items())
        holding = [slot for slot, loaded in idle if model_path and loaded == model_path]
        empty = [slot for slot, loaded in idle if loaded is None]
        return (holding or empty or [slot for slot, _ in idle])[0]

    def wait(self, slot_id: str, loaded: str | None, timeout: float) -> None:
        """Wait, as an idle slot holding `loaded`, for work or `timeout` seconds."""
        with self._condition:
            self._idle[slot_id] = loaded
            self._condition.wait(timeout)

    def leave(self, slot_id: str) -> None:
        """The slot cannot take a job now (its worker is starting, it runs a load): choose others."""
        with self._condition:
            self._idle.pop(slot_id, None)
            self._condition.notify_all()

    def notify(self) -> None:
        with self._condition:
            self._condition.notify_all()
