"""The one job-change event: published once per change, by the process that made it, with the job's
new state. Every in-process listener (WebSocket connections, waiters, metrics, the catalog's rescan
after a convert) subscribes to it on the event bus and reads nothing back from the store."""

from __future__ import annotations

from dataclasses import dataclass

from sdcpp_rest.events.types import JobUpdated
from sdcpp_rest.jobs.records import JobRecord


@dataclass(frozen=True)
class JobChanged(JobUpdated):
    """A change this process made: the wire update and the job's record as it is now. Another node
    receives the update alone (a plain JobUpdated, cluster/event_codec.py), so a listener that acts
    on a job's record acts once, in the process that changed the job."""

    job: JobRecord
