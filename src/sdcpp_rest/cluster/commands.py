"""The worker_commands table (storage/tables.py): model loads, unloads and restarts that one process of
the cluster asks of another. The sender writes a pending row naming the target process and waits for
its outcome (cluster/remote_workers.py); the target takes its pending rows, runs them on its own
engine workers and writes the outcome into the row (ops/command_inbox.py)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.scheduler.shared import ControlResult
from sdcpp_rest.storage.tables import worker_commands_table as commands_table

# Rows nobody will read any more (a sender that gave up waiting, a target that died before taking
# them) are deleted after this long.
FORGET_AFTER_SECONDS = 24 * 3600.0


class CommandKind(StrEnum):
    LOAD = "load"
    UNLOAD = "unload"
    RESTART = "restart"


@dataclass(frozen=True)
class WorkerCommand:
    id: str
    node: str
    kind: CommandKind
    model: str | None  # the checkpoint's name in the models folder (load, unload)


class CommandBox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def send(self, node: str, kind: CommandKind, model: str | None = None) -> str:
        """Write a pending command for the process `node`; its id."""
        command_id = str(uuid.uuid4())
        now = time.time()
        with self._engine.begin() as conn:
            conn.execute(
                commands_table.delete().where(commands_table.c.created_at < now - FORGET_AFTER_SECONDS)
            )
            conn.execute(
                commands_table.insert().values(
                    id=command_id, node=node, kind=kind.value, model=model, state="pending", created_at=now
                )
            )
        return command_id

    def pending(self, node: str) -> list[WorkerCommand]:
        """The commands waiting for the process `node`, oldest first."""
        query = (
            sa.select(commands_table.c.id, commands_table.c.kind, commands_table.c.model)
            .where(commands_table.c.node == node, commands_table.c.state == "pending")
            .order_by(commands_table.c.created_at)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [WorkerCommand(row.id, node, CommandKind(row.kind), row.model) for row in rows]

    def take(self, command_id: str) -> bool:
        """Mark the command running; False when it is no longer pending (taken or deleted)."""
        with self._engine.begin() as conn:
            taken = conn.execute(
                commands_table.update()
                .where(commands_table.c.id == command_id, commands_table.c.state == "pending")
                .values(state="running")
            )
        return taken.rowcount == 1

    def finish(self, command_id: str, results: list[ControlResult]) -> None:
        """Write the outcome: one result per engine worker that acted (none: nothing to do)."""
        with self._engine.begin() as conn:
            conn.execute(
                commands_table.update()
                .where(commands_table.c.id == command_id)
                .values(
                    state="done", results=json.dumps([asdict(r) for r in results]), finished_at=time.time()
                )
            )

    def results(self, command_id: str) -> list[ControlResult] | None:
        """The outcome of a finished command; None while it is pending or running."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(commands_table.c.state, commands_table.c.results).where(
                    commands_table.c.id == command_id
                )
            ).first()
        if row is None or row.state != "done":
            return None
        return [_control_result(entry) for entry in json.loads(row.results or "[]")]

    def forget(self, command_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(commands_table.delete().where(commands_table.c.id == command_id))


def _control_result(entry: dict[str, object]) -> ControlResult:
    code = entry.get("code")
    seconds = entry.get("seconds")
    return ControlResult(
        worker_id=str(entry["worker_id"]),
        ok=bool(entry["ok"]),
        code=ErrorCode(code) if isinstance(code, str) else None,
        message=str(entry.get("message") or ""),
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
    )
