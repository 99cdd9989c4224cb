"""Commands between the processes of a cluster (worker_commands) on real SQLite and PostgreSQL
databases: a command is taken once, its outcome reaches the sender; a load goes to the process that
holds the checkpoint (else an idle one), an unload to every process that has the file, a restart to
every other online process; offline and stopped processes are never asked.

The target processes here are rows in the workers table, written the way a heartbeat writes them,
and the test answers for them with the store's own calls: the real answering process (`sdcpp-rest
worker`) is tested end to end in tests/cluster/test_worker_process.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.engine import Engine

from sdcpp_rest.cluster.commands import CommandBox, CommandKind
from sdcpp_rest.cluster.registry import ClusterWorker, WorkerRegistry
from sdcpp_rest.cluster.remote_workers import NodeStoppedAnswering, NoWorkerHasModel, RemoteWorkers
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.scheduler.shared import ControlResult

STALE_AFTER = 30.0
MODEL = "sd15.safetensors"


def worker_row(
    node: str, *, status: str = "idle", loaded: str | None = None, age: float = 0.0
) -> ClusterWorker:
    now = time.time()
    return ClusterWorker(
        id=f"{node}/w0",
        node=node,
        host=node.split(".")[0],
        pid=1,
        device="CPU",
        status=status,
        started_at=now - 60,
        heartbeat_at=now - age,
        models=[MODEL, "other.safetensors"],
        loaded_model=loaded,
    )


def remote(engine: Engine, *rows: ClusterWorker, own_node: str = "api.1") -> RemoteWorkers:
    WorkerRegistry(engine).publish(list(rows))
    return RemoteWorkers(
        CommandBox(engine), WorkerRegistry(engine), own_node=own_node, stale_after_s=STALE_AFTER
    )


def pending_kinds(engine: Engine, node: str) -> list[tuple[CommandKind, str | None]]:
    return [(command.kind, command.model) for command in CommandBox(engine).pending(node)]


def test_a_command_is_taken_once_and_its_outcome_reaches_the_sender(engine: Engine) -> None:
    box = CommandBox(engine)
    command_id = box.send("gpu1.7", CommandKind.LOAD, MODEL)

    (pending,) = box.pending("gpu1.7")
    assert (pending.id, pending.kind, pending.model) == (command_id, CommandKind.LOAD, MODEL)
    assert box.pending("gpu2.8") == []
    assert box.results(command_id) is None
    assert box.take(command_id) is True
    assert box.take(command_id) is False  # a second reader (or a second round) does not run it again
    assert box.pending("gpu1.7") == [] and box.results(command_id) is None

    outcome = ControlResult("gpu1.7/w0", False, ErrorCode.MODEL_LOAD_FAILED, "bad header", 1.5)
    box.finish(command_id, [outcome])
    assert box.results(command_id) == [outcome]
    box.forget(command_id)
    assert box.results(command_id) is None


def test_a_load_goes_to_the_process_holding_the_model_else_an_idle_one(engine: Engine) -> None:
    rows = (
        worker_row("busy.1", status="busy"),
        worker_row("holder.2", status="busy", loaded=MODEL),
        worker_row("idle.3"),
        worker_row("api.1"),  # this process: never asked
    )
    workers = remote(engine, *rows)
    assert workers.load(MODEL, timeout=0) is None  # nobody answers within no time: the load goes on there
    assert pending_kinds(engine, "holder.2") == [(CommandKind.LOAD, MODEL)]

    workers.load("other.safetensors", timeout=0)
    assert pending_kinds(engine, "idle.3") == [(CommandKind.LOAD, "other.safetensors")]
    assert pending_kinds(engine, "busy.1") == [] and pending_kinds(engine, "api.1") == []


def test_a_load_nobody_online_can_run_is_refused_with_the_reason(engine: Engine) -> None:
    workers = remote(
        engine, worker_row("stale.1", age=STALE_AFTER + 5), worker_row("gone.2", status="stopped")
    )
    with pytest.raises(NoWorkerHasModel, match="no online engine worker has 'sd15.safetensors'"):
        workers.load(MODEL, timeout=5)
    with pytest.raises(NoWorkerHasModel):
        workers.load("missing.safetensors", timeout=5)
    assert pending_kinds(engine, "stale.1") == [] and pending_kinds(engine, "gone.2") == []


def answer_when_asked(engine: Engine, node: str, results: list[ControlResult]) -> threading.Thread:
    """Play the target process: take its first command and write `results` (timing only)."""

    def answer() -> None:
        box = CommandBox(engine)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for command in box.pending(node):
                if box.take(command.id):
                    box.finish(command.id, results)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=answer)
    thread.start()
    return thread


def test_the_sender_gets_the_outcome_and_the_row_is_removed(engine: Engine) -> None:
    workers = remote(engine, worker_row("gpu1.7"))
    loaded = ControlResult("gpu1.7/w0", True, seconds=2.0)
    answering = answer_when_asked(engine, "gpu1.7", [loaded])
    try:
        assert workers.load(MODEL, timeout=30) == loaded
    finally:
        answering.join()
    assert CommandBox(engine).pending("gpu1.7") == []


def test_a_process_that_goes_offline_before_answering_ends_the_wait(engine: Engine) -> None:
    workers = remote(engine, worker_row("gpu1.7"))
    registry = WorkerRegistry(engine)
    threading.Timer(0.3, lambda: registry.mark_stopped("gpu1.7")).start()
    with pytest.raises(NodeStoppedAnswering, match="gpu1.7 went offline"):
        workers.load(MODEL, timeout=30)
    assert CommandBox(engine).pending("gpu1.7") == []  # its command is withdrawn


def test_an_unload_asks_every_process_with_the_file_and_adds_up_their_outcomes(engine: Engine) -> None:
    workers = remote(engine, worker_row("gpu1.7", loaded=MODEL), worker_row("gpu2.8"))
    unloaded = ControlResult("gpu1.7/w0", True)
    answering = [answer_when_asked(engine, "gpu1.7", [unloaded]), answer_when_asked(engine, "gpu2.8", [])]
    try:
        assert workers.unload(MODEL, timeout=30) == [unloaded]
    finally:
        for thread in answering:
            thread.join()
    assert remote(engine).unload("nowhere.safetensors", timeout=30) == []


def test_a_restart_asks_every_other_online_process(engine: Engine) -> None:
    workers = remote(
        engine,
        worker_row("gpu1.7"),
        worker_row("gpu2.8", status="busy"),
        worker_row("gone.9", status="stopped"),
        worker_row("api.1"),
    )
    assert workers.restart() == ["gpu1.7", "gpu2.8"]
    assert pending_kinds(engine, "gpu1.7") == [(CommandKind.RESTART, None)]
    assert pending_kinds(engine, "gpu2.8") == [(CommandKind.RESTART, None)]
    assert pending_kinds(engine, "gone.9") == [] and pending_kinds(engine, "api.1") == []
