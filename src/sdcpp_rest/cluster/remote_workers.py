"""Model loads, unloads and restarts for the engine workers of the cluster's other processes (an API
node has none of its own): which processes, from the workers table; the commands go through the
worker_commands table (cluster/commands.py), and the sender waits for the outcome in the row."""

from __future__ import annotations

import time
from collections.abc import Callable

from sdcpp_rest.catalog.files import CatalogError, ModelFiles
from sdcpp_rest.cluster.commands import CommandBox, CommandKind
from sdcpp_rest.cluster.registry import ClusterWorker, WorkerRegistry
from sdcpp_rest.errors import ServiceUnavailable
from sdcpp_rest.jobs.scheduler.shared import ControlResult

# How often a sender looks for the outcome; the target itself looks for commands about once a second.
POLL_SECONDS = 0.2


class NoWorkerHasModel(ServiceUnavailable):
    """No online worker process has the checkpoint in its models folder."""


class NodeStoppedAnswering(ServiceUnavailable):
    """The process asked went offline (or stopped) before it answered."""


class RemoteWorkers:
    def __init__(
        self,
        box: CommandBox,
        registry: WorkerRegistry,
        *,
        own_node: str,
        stale_after_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._box = box
        self._registry = registry
        self._own_node = own_node
        self._stale_after = stale_after_s
        self._clock = clock

    def load(self, model: str, timeout: float) -> ControlResult | None:
        """Load `model` (a checkpoint's name) in one engine worker of another process: one that holds
        it already, else one with an idle worker, else any that has the file. None when no outcome came
        within `timeout` (the load goes on there)."""
        having = self._online_having(model)
        if not having:
            raise NoWorkerHasModel(f"no online engine worker has '{model}' in its models folder")
        base = model.rsplit("/", 1)[-1]  # the workers table names a loaded model by its file name
        chosen = min(having, key=lambda w: (w.loaded_model != base, w.status != "idle", w.node, w.id))
        deadline = time.monotonic() + timeout
        command_id = self._box.send(chosen.node, CommandKind.LOAD, model)
        results = self._wait(command_id, chosen.node, deadline)
        if results is None:
            return None
        if not results:  # a process whose engine workers all ended meanwhile
            raise NodeStoppedAnswering(f"node {chosen.node} has no engine worker left to load '{model}'")
        return results[0]

    def unload(self, model: str, timeout: float) -> list[ControlResult] | None:
        """Unload `model` wherever another process holds it; one result per engine worker that held it
        ([] when none did), None when some process gave no outcome within `timeout`. Every process that
        has the file is asked: the workers table's loaded model lags by up to a heartbeat."""
        nodes = sorted({w.node for w in self._online_having(model)})
        deadline = time.monotonic() + timeout
        sent = [(node, self._box.send(node, CommandKind.UNLOAD, model)) for node in nodes]
        results: list[ControlResult] = []
        for node, command_id in sent:
            try:
                outcome = self._wait(command_id, node, deadline)
            except NodeStoppedAnswering:
                continue  # a process that went away holds nothing any more
            if outcome is None:
                return None
            results.extend(outcome)
        return results

    def restart(self) -> list[str]:
        """Ask every other online process with engine workers to restart them; the processes asked.
        Does not wait: a restart lets running jobs finish first (restart_grace_seconds)."""
        nodes = sorted({w.node for w in self._online()})
        for node in nodes:
            self._box.send(node, CommandKind.RESTART)
        return nodes

    def loaded_paths(self, files: ModelFiles) -> list[str]:
        """The checkpoints other online processes hold, as files of this process's models folder
        (symlinks resolved, as the catalog keys them); the workers table names them by file name."""
        paths = []
        for name in sorted({w.loaded_model for w in self._online() if w.loaded_model}):
            try:
                paths.append(str(files.resolve_checkpoint(name).path.resolve()))
            except CatalogError:
                continue  # a model only that machine has, or in a subfolder here
        return paths

    def _online(self) -> list[ClusterWorker]:
        now = self._clock()
        return [
            w
            for w in self._registry.list_workers()
            if w.node != self._own_node and w.online(now, self._stale_after)
        ]

    def _online_having(self, model: str) -> list[ClusterWorker]:
        return [w for w in self._online() if model in w.models]

    def _wait(self, command_id: str, node: str, deadline: float) -> list[ControlResult] | None:
        """The command's results once the target wrote them (the row is then deleted); None at the
        deadline; NodeStoppedAnswering when the target went offline first."""
        while True:
            results = self._box.results(command_id)
            if results is not None:
                self._box.forget(command_id)
                return results
            if not any(w.node == node for w in self._online()):
                self._box.forget(command_id)
                raise NodeStoppedAnswering(f"node {node} went offline before it answered")
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)
