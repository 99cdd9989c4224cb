"""The order in which queued jobs run: the `scheduling` setting.

fifo: by arrival (seq), the spec's default. fair: the next job comes from the user who has had the
least engine time in the last `fair_share_window_s` (running jobs count as far as they got), first
come first served within a user, arrival breaking ties. One user's long batch then no longer holds
everyone else for hours: a newcomer's job runs as soon as a worker is free.

The order is a pure function of what the store reads (the queued jobs and each owner's recent engine
time), so claims and the queue positions the API shows follow the same policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class QueuedJob:
    id: str
    seq: int
    owner: str | None


@dataclass(frozen=True)
class QueueState:
    """The queue at one moment, from one read: each queued job's place (1 = next) and owner, and how
    many jobs are processing anywhere."""

    positions: dict[str, int]
    owners: dict[str, str | None]
    processing: int


class QueueOrder(Protocol):
    needs_usage: bool  # whether `order` reads the owners' engine time (a query the store can skip)

    def order(self, queued: list[QueuedJob], usage: dict[str | None, float], job_seconds: float) -> list[str]:
        """The ids of `queued` in the order they would run."""
        ...


class FifoOrder:
    needs_usage = False

    def order(self, queued: list[QueuedJob], usage: dict[str | None, float], job_seconds: float) -> list[str]:
        return [job.id for job in sorted(queued, key=lambda job: job.seq)]


class FairOrder:
    """Least recent engine time first. To place the jobs further back, each job taken is charged
    `job_seconds` (the recent average) to its owner, as if it had run."""

    needs_usage = True

    def order(self, queued: list[QueuedJob], usage: dict[str | None, float], job_seconds: float) -> list[str]:
        lines: dict[str | None, list[QueuedJob]] = {}
        for job in sorted(queued, key=lambda job: job.seq):
            lines.setdefault(job.owner, []).append(job)
        spent = {owner: usage.get(owner, 0.0) for owner in lines}
        ordered: list[str] = []
        while lines:
            owner = min(lines, key=lambda who: (spent[who], lines[who][0].seq))
            job = lines[owner].pop(0)
            ordered.append(job.id)
            spent[owner] += job_seconds
            if not lines[owner]:
                del lines[owner]
        return ordered


def queue_order(scheduling: str) -> QueueOrder:
    return FairOrder() if scheduling == "fair" else FifoOrder()
