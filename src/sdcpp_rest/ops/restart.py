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
from typing import TYPE_CHECKING

from sdcpp_rest.config import ConfigError, Settings
from sdcpp_rest.monitoring.logs import configure_logging

if TYPE_CHECKING:
    from sdcpp_rest.container import Services

log = logging.getLogger(__name__)

# How long a shutdown waits for a restart in progress to finish before stopping what is running.
SHUTDOWN_WAIT_SLACK_SECONDS = 30.0


class ServerRestarter:
    """Owns the swap of the Services object; one restart at a time."""

    def __init__(
        self,
        current: Callable[[], Services],
        replace: Callable[[Services], None],
        build: Callable[[Settings, Services], Services],
        start: Callable[[Services], None],
        stop: Callable[[Services], None],
        reload_settings: Callable[[], Settings] | None,
    ) -> None:
        self._current = current
        self._replace = replace
        self._build = build
        self._start = start
        self._stop = stop
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
        old = self._current()
        grace = old.settings.restart_grace_seconds
        log.info("restart: no new jobs start; a running job may finish within %.0f s", grace)
        old.notifier.system("restarting", grace_seconds=grace)
        self._stop(old)
        settings = old.settings
        if self._reload_settings is not None:
            try:
                settings = self._reload_settings()
            except ConfigError as exc:
                log.error("restart: configuration not reloaded, keeping the current one: %s", exc)
        try:
            new = self._build(settings, old)
        except Exception:
            log.exception("restart: services could not be built on the reloaded settings; using the old ones")
            new = self._build(old.settings, old)
        if (settings.verbose, settings.log_format) != (old.settings.verbose, old.settings.log_format):
            configure_logging(settings.verbose, settings.log_format)
        self._replace(new)
        self._start(new)
        log.info("restart: done; workers started")
        new.notifier.system("restarted")
