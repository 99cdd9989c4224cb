"""What a claim is made of, apart from the row it changes: which queued jobs a worker can run (the
filter every claim takes), the lease a renewal answers with, and the one statement that claims the
head of a FIFO queue on PostgreSQL.

A claim gives the job a random token and a lease (`lease_expires_at`). The holder renews the lease
while it works; every write it makes about the job (progress, completion, failure, cancel) names the
token, and the store applies it only while the token is still the job's. A holder whose lease ran
out (its machine died, hung or lost the network) finds its token gone: the job was requeued, perhaps
claimed by another worker, and nothing the late holder writes reaches the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sdcpp_rest.jobs.records import JobStatus
from sdcpp_rest.storage.tables import jobs_table


@dataclass(frozen=True)
class Runnable:
    """The queued jobs a worker can run. None in a field means any: `modes` the job kinds it runs,
    `model_names` the checkpoints it has (a job without a checkpoint, an upscale say, needs none)."""

    modes: frozenset[str] | None = None
    model_names: frozenset[str] | None = None

    @classmethod
    def of(cls, modes: Iterable[str] | None = None, model_names: Iterable[str] | None = None) -> Runnable:
        return cls(
            frozenset(modes) if modes is not None else None,
            frozenset(model_names) if model_names is not None else None,
        )

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """The WHERE conditions that keep a claim to these jobs."""
        found: list[sa.ColumnElement[bool]] = []
        if self.modes is not None:
            found.append(jobs_table.c.mode.in_(sorted(self.modes)))
        if self.model_names is not None:
            found.append(
                sa.or_(
                    jobs_table.c.model_name.is_(None), jobs_table.c.model_name.in_(sorted(self.model_names))
                )
            )
        return found


ANY_JOB = Runnable()


@dataclass(frozen=True)
class Lease:
    """A renewal's answer: whether the claim is still the holder's, until when, and whether someone
    asked for the job to be cancelled (possibly through another machine's API)."""

    held: bool
    expires_at: float | None = None
    cancel_requested: bool = False


LOST = Lease(held=False)


def claim_fifo_head(conn: Connection, runnable: Runnable, values: dict[str, Any]) -> sa.Row[Any] | None:
    """PostgreSQL: claim the oldest queued job `runnable` allows in one statement (UPDATE ... WHERE
    id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING), its row as claimed; None when there is none.
    SKIP LOCKED passes over rows other claimers hold, so claimers take successive jobs at once
    instead of queueing on the head's lock and then finding it gone; one statement is one round trip
    (run it in autocommit: it is atomic on its own)."""
    head: Any = (
        sa.select(jobs_table.c.id)
        .where(jobs_table.c.status == JobStatus.QUEUED.value, *runnable.conditions())
        .order_by(jobs_table.c.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        jobs_table.update()
        .where(jobs_table.c.id == head, jobs_table.c.status == JobStatus.QUEUED.value)
        .values(**values)
        .returning(*jobs_table.c)
    )
    return conn.execute(statement).first()
