"""Who and what a log line concerns (request id, job id, user), carried in a context variable, and the
text and JSON formats that print it.

The request middleware opens a context per HTTP request and the authentication dependency fills in
the user; a scheduler slot opens one per job it runs. The context is a mutable object held by the
variable because FastAPI runs `def` dependencies in a worker thread on a *copy* of the context: a
new value set there would not reach the route, a change to the shared object does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

CONTEXT_FIELDS = ("request_id", "job_id", "user")


@dataclass
class LogContext:
    request_id: str | None = None
    job_id: str | None = None
    user: str | None = None


_current: ContextVar[LogContext | None] = ContextVar("sdcpp_rest_log_context", default=None)


def begin_request(request_id: str) -> Token[LogContext | None]:
    """Open the context of one HTTP request; pass the token to `end`."""
    return _current.set(LogContext(request_id=request_id))


def end(token: Token[LogContext | None]) -> None:
    _current.reset(token)


def set_user(user: str | None) -> None:
    """Name the caller on the lines of the current request (no-op outside one)."""
    context = _current.get()
    if context is not None:
        context.user = user


@contextmanager
def job_log_context(job_id: str, user: str | None) -> Iterator[None]:
    """Lines logged inside concern this job (and its owner)."""
    token = _current.set(LogContext(job_id=job_id, user=user))
    try:
        yield
    finally:
        _current.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current context onto the record (fields given through `extra=` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, getattr(context, name) if context else None)
        return True


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    return {name: value for name in CONTEXT_FIELDS if (value := getattr(record, name, None))}


class TextFormatter(logging.Formatter):
    """The classic line, with ` [request_id=... job_id=... user=...]` when the line concerns one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context_of(record)
        if not context:
            return line
        first, newline, rest = line.partition("\n")  # keep a traceback below the tagged first line
        tags = " ".join(f"{key}={value}" for key, value in context.items())
        return f"{first} [{tags}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context_of(record),
        }
        if record.exc_text:  # prepared (and redacted) by RedactSecretsFilter
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
