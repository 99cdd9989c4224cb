"""The commands other processes of the cluster write for this one (worker_commands, see
cluster/commands.py): a model load or unload on this process's engine workers, or a restart of them.

A thread reads this process's pending commands about once a second (one indexed query) and runs them
in order on the current services; a restart replaces those services, so the inbox outlives them,
like the restarter it calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sdcpp_rest.catalog.files import CatalogError
from sdcpp_rest.cluster.commands import CommandKind, WorkerCommand
from sdcpp_rest.container import Services
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.scheduler.shared import ControlResult

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


class CommandInbox:
    def __init__(
        self,
        current: Callable[[], Services],
        request_restart: Callable[[], bool],
        poll_s: float = POLL_SECONDS,
    ) -> None:
        self._current = current
        self._request_restart = request_restart
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="command-inbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run_pending(self) -> int:
        """Run the commands waiting for this process; how many it ran."""
        services = self._current()
        if services.commands is None or services.heartbeat is None:
            return 0  # not on a shared database, or no engine workers here: nobody asks this process
        ran = 0
        for command in services.commands.pending(services.node):
            if not services.commands.take(command.id):
                continue
            log.info("cluster command %s %s", command.kind.value, command.model or "")
            services.commands.finish(command.id, self._results(services, command))
            ran += 1
        return ran

    def _results(self, services: Services, command: WorkerCommand) -> list[ControlResult]:
        if command.kind is CommandKind.RESTART:
            started = self._request_restart()
            return [ControlResult(services.node, True, message="" if started else "already restarting")]
        try:
            path = str(services.model_files.resolve_checkpoint(command.model or "").path)
        except CatalogError as exc:
            return [ControlResult(services.node, False, ErrorCode.MODEL_NOT_FOUND, str(exc))]
        loads = services.model_loads
        if command.kind is CommandKind.LOAD:
            loaded = loads.load_here(path)
            return [loaded or _unfinished(services.node)]
        unloaded = loads.unload_here(path)
        return [_unfinished(services.node)] if unloaded is None else unloaded

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.run_pending()
            except Exception:  # a database hiccup: the next round tries again
                log.exception("could not read or answer the cluster's commands")


def _unfinished(node: str) -> ControlResult:
    return ControlResult(node, False, ErrorCode.SERVICE_UNAVAILABLE, "did not finish in time; it goes on")
