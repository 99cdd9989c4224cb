"""The database gone for a while (a PostgreSQL restart or failover, a SQLite file locked past its busy
timeout): how to recognise it, what a request is answered meanwhile, and how a background loop waits
before it tries again (issue 27: a restart once left a worker idle for good)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

from sdcpp_rest.errors import ApiError, ErrorCode

# Seconds a client is told to wait: a PostgreSQL restart takes a few seconds, a failover tens.
RETRY_AFTER_SECONDS = 5
# A loop's first wait after an error and its ceiling: quick to resume after a blip, and at most one
# attempt every 10 s (per thread) against a database that stays away.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0


def database_unavailable(exc: BaseException) -> bool:
    """True for errors of the connection or server rather than of the statement: OperationalError
    (connection refused or lost, server starting up, SQLite busy or locked), InterfaceError, and any
    error after which SQLAlchemy invalidated the connection."""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated


def log_failed_turn(log: logging.Logger, name: str, exc: BaseException, wait: float) -> None:
    """How a background loop reports a failed turn: the database away is expected from time to time
    (a restart, a locked SQLite file) and gets one warning line with the driver's message; anything
    else is a bug and gets its traceback."""
    if database_unavailable(exc):
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        log.warning("%s: database unavailable (%s); trying again in %.1f s", name, reason, wait)
    else:
        log.error("%s: unexpected error; trying again in %.1f s", name, wait, exc_info=exc)


def unavailable_error() -> ApiError:
    """The answer to a request that needed the database while it was away: 503 with Retry-After."""
    return ApiError(
        "the database is unavailable for the moment (restarting, or locked by another process); "
        "try again shortly",
        code=ErrorCode.SERVICE_UNAVAILABLE,
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class Backoff:
    """Exponential waits for a loop that keeps failing: 0.5 s, 1 s, 2 s ... up to 10 s; reset()
    after a success."""

    def __init__(self) -> None:
        self._next = FIRST_BACKOFF_SECONDS

    def next_wait(self) -> float:
        wait = self._next
        self._next = min(self._next * 2, MAX_BACKOFF_SECONDS)
        return wait

    def reset(self) -> None:
        self._next = FIRST_BACKOFF_SECONDS


def keep_running(turn: Callable[[], None], stopping: threading.Event, name: str, log: logging.Logger) -> None:
    """Call `turn` until `stopping` is set. An error (the database away first) is logged and the next
    turn waits a backoff: a background thread never ends by an exception and strands the queue."""
    backoff = Backoff()
    while not stopping.is_set():
        try:
            turn()
            backoff.reset()
        except Exception as exc:
            wait = backoff.next_wait()
            log_failed_turn(log, name, exc, wait)
            stopping.wait(wait)
