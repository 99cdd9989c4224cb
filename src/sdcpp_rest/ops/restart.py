"""POST /api/system/restart: a graceful restart of the workers and services inside the same process.

Steps, on a background thread: slots stop claiming jobs; a running job may finish for up to
`restart_grace_seconds`, after which it is requeued without counting an attempt; the workers end; the
settings are read again from the same sources (config file, environment; command-line flags kept);
every service is built again on them (the event bus is kept, so WebSocket clients stay connected)
and started. Queued jobs are rows in the database throughout: none is lost, and requests that arrive
meanwhile are queued as usual and picked up by the new workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sdcpp_rest.config import ConfigError, Settings
from sdcpp_rest.events.types import ServerRestarted, ServerRestarting, SystemEvent
from sdcpp_rest.monitoring.logs import configure_logging

log = logging.getLogger(__name__)

# How long a shutdown waits for a restart in progress to finish before stopping what is running.
SHUTDOWN_WAIT_SLACK_SECONDS = 30.0


class ServerRestarter:
    """Runs one restart at a time on a thread of its own; knows the steps, not the services: the
    container supplies how to stop the current services and how to build and start new ones."""

    def __init__(
        self,
        *,
        current_settings: Callable[[], Settings],
        stop_current: Callable[[], None],
        start_with: Callable[[Settings], None],
        announce: Callable[[SystemEvent], None],
        reload_settings: Callable[[], Settings] | None,
    ) -> None:
        self._current_settings = current_settings
        self._stop_current = stop_current
        self._start_with = start_with
        self._announce = announce
        self._reload_settings = reload_settings
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def in_progress(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def request(self) -> bool:
        """Start a restart in the background; False when one is already under way."""
        with self._lock:
            if self.in_progress:
                return False
            self._thread = threading.Thread(target=self._run, name="restart", daemon=True)
            self._thread.start()
        return True

    def wait(self, timeout: float) -> None:
        """Let a restart in progress finish (a shutdown then stops what it started)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        old = self._current_settings()
        grace = old.restart_grace_seconds
        log.info("restart: no new jobs start; a running job may finish within %.0f s", grace)
        self._announce(ServerRestarting(grace_seconds=grace))
        self._stop_current()
        settings = old
        if self._reload_settings is not None:
            try:
                settings = self._reload_settings()
            except ConfigError as exc:
                log.error("restart: configuration not reloaded, keeping the current one: %s", exc)
        if (settings.verbose, settings.log_format) != (old.verbose, old.log_format):
            configure_logging(settings.verbose, settings.log_format)
        try:
            self._start_with(settings)
        except Exception:
            log.exception("restart: services could not be built on the reloaded settings; using the old ones")
            self._start_with(old)
        log.info("restart: done; workers started")
        self._announce(ServerRestarted())
