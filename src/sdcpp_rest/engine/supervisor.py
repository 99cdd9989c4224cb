"""The API-process handle of one engine worker process: spawn, talk, notice death, kill."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections import deque
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess

from sdcpp_rest.engine.protocol import (
    EngineContext,
    EngineLog,
    ModelLoaded,
    ModelUnloaded,
    WorkerCommand,
    WorkerMessage,
    WorkerReady,
    hide_server_folders,
)
from sdcpp_rest.engine.worker import worker_main

log = logging.getLogger(__name__)

# Engine log lines kept per worker to explain a crash: native code dies without an exception.
_CRASH_CONTEXT_LINES = 6


class WorkerExited(Exception):
    """The worker process is gone (crashed, killed or exited); `description` says how."""

    def __init__(self, description: str, last_log: list[str]) -> None:
        super().__init__(description)
        self.description = description
        self.last_log = last_log


class WorkerStartFailed(Exception):
    pass


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped responding"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hints = {
            "SIGSEGV": " (segmentation fault)",
            "SIGKILL": " (killed, e.g. out of memory)",
            "SIGABRT": " (aborted, e.g. a failed engine assertion)",
        }
        return f"was killed by {name}{hints.get(name, '')}"
    return f"exited with status {exitcode}"


class EngineWorkerProcess:
    """One child process running `worker_main`; used by exactly one scheduler thread."""

    def __init__(self, worker_id: str, verbose: bool, start_timeout_s: float) -> None:
        self.worker_id = worker_id
        self._verbose = verbose
        self._start_timeout_s = start_timeout_s
        self._process: SpawnProcess | None = None
        self._conn: Connection | None = None
        self._recent_log: deque[str] = deque(maxlen=_CRASH_CONTEXT_LINES)
        self.loaded_context: EngineContext | None = None
        self.pid: int | None = None
        self.system_info: str = ""

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe(duplex=True)
        process = context.Process(
            target=worker_main, args=(child_conn, self._verbose), name=f"sdcpp-{self.worker_id}", daemon=True
        )
        process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn
        self.loaded_context = None
        self._recent_log.clear()
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            try:
                message = self.receive(timeout=0.5)
            except WorkerExited as exc:
                raise WorkerStartFailed(f"engine worker {exc.description} while starting") from None
            if isinstance(message, WorkerReady):
                self.pid, self.system_info = message.pid, message.system_info
                log.info("engine worker %s started (pid %s)", self.worker_id, message.pid)
                return
        self.kill()
        raise WorkerStartFailed(f"engine worker did not start within {self._start_timeout_s:.0f} s")

    def send(self, command: WorkerCommand) -> None:
        if self._conn is None:
            raise WorkerExited("was never started", [])
        try:
            self._conn.send(command)
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise self._exited() from None

    def receive(self, timeout: float) -> WorkerMessage | None:
        """The next message, None after `timeout` seconds without one; WorkerExited if the process died.

        Engine log lines are consumed here (logged and kept for crash reports), never returned."""
        if self._conn is None:
            raise WorkerExited("was never started", [])
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if not self._conn.poll(max(remaining, 0)):
                    if not self.alive:
                        raise self._exited()
                    return None
                message: WorkerMessage = self._conn.recv()
            except (EOFError, ConnectionResetError, OSError):
                raise self._exited() from None
            if isinstance(message, EngineLog):
                self._recent_log.append(hide_server_folders(message.text))
                log.log(
                    logging.WARNING if message.level in ("warning", "error") else logging.DEBUG,
                    "engine[%s]: %s",
                    self.worker_id,
                    message.text,
                )
                continue
            # The supervisor keeps track of what the process holds, from the process's own reports.
            if isinstance(message, ModelLoaded):
                self.loaded_context = message.context
            elif isinstance(message, ModelUnloaded):
                self.loaded_context = None
            return message

    def _exited(self) -> WorkerExited:
        exitcode = None
        if self._process is not None:
            self._process.join(timeout=5)
            exitcode = self._process.exitcode
        self._close()
        return WorkerExited(describe_exit(exitcode), list(self._recent_log))

    def kill(self) -> None:
        """End the process now (there is no abort call in the engine: this is how a job is cancelled)."""
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)

    def stop(self, timeout_s: float = 5.0) -> None:
        from sdcpp_rest.engine.protocol import ShutdownCommand

        if self.alive and self._conn is not None:
            try:
                self._conn.send(ShutdownCommand())
            except OSError:
                pass
            assert self._process is not None
            self._process.join(timeout=timeout_s)
        self.kill()
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self.loaded_context = None
        self.pid = None
