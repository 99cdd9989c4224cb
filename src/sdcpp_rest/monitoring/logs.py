"""Logging set-up, with a filter that keeps credentials out of every log line."""

from __future__ import annotations

import logging
import sys

from sdcpp_rest.monitoring.log_context import ContextFilter, JsonFormatter, TextFormatter
from sdcpp_rest.monitoring.redact import redact

_TRACEBACKS = logging.Formatter()


class RedactSecretsFilter(logging.Filter):
    """Redacts the message, and the traceback and stack a record carries (an exception's text may
    hold a header or a body too); formatters then print the redacted traceback (record.exc_text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure_logging(verbose: bool, log_format: str = "text") -> None:
    """Log to stderr as text or JSON lines, credentials redacted, request/job/user context attached."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RedactSecretsFilter())
    handler.addFilter(ContextFilter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    # uvicorn's loggers have handlers of their own: filter those too.
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        for existing in logging.getLogger(name).handlers:
            existing.addFilter(RedactSecretsFilter())
