"""Logging set-up, with a filter that keeps credentials out of every log line."""

from __future__ import annotations

import logging
import re
import sys

from sdcpp_rest.monitoring.log_context import ContextFilter, JsonFormatter, TextFormatter

# Query parameters and headers that carry credentials (a WebSocket URL may hold ?token=...).
_SECRET_PATTERNS = (
    re.compile(r"(?i)((?:token|api_key|password)=)[^&\s\"']+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(sdk_[0-9a-f]+_)[A-Za-z0-9_-]+"),
)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1[REDACTED]", text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
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
