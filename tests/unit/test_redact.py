"""Credentials out of log lines, for each place one can travel (the server test,
tests/api/test_security_auth.py, sees the ones a running server logs)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from sdcpp_rest.monitoring.log_context import JsonFormatter, TextFormatter
from sdcpp_rest.monitoring.logs import RedactSecretsFilter
from sdcpp_rest.monitoring.redact import redact

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNlY3JldA"
KEY = "sdk_0a1b2c3d4e5f_S3cr3tK3yS3cr3tK3yS3cr3t"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"< authorization: Bearer {JWT}", JWT),
        ("< authorization: Bearer some-opaque-metrics-token", "some-opaque-metrics-token"),
        ("< authorization: Basic Ym9iOmh1bnRlcjI=", "Ym9iOmh1bnRlcjI="),
        ("[(b'authorization', b'Basic Ym9iOmh1bnRlcjI=')]", "Ym9iOmh1bnRlcjI="),
        (f"< x-api-key: {KEY}", KEY),
        ("< x-api-key: not-our-format-key", "not-our-format-key"),
        (f"< sec-websocket-protocol: bearer, {JWT}", JWT),
        ("< sec-websocket-protocol: api-key, opaque-key-value", "opaque-key-value"),
        (f"[(b'authorization', b'Bearer {JWT}'), (b'x-api-key', b'rawkey123')]", "rawkey123"),
        (f'"GET /ws?scope=all&token={JWT} HTTP/1.1" 101', JWT),
        ("GET /api/x?api_key=abc123def&x=1", "abc123def"),
        ("username=bob&password=hunter2-form", "hunter2-form"),
        ('{"username": "bob", "password": "hun\\"ter2"}', 'hun\\"ter2'),
        ("{'username': 'bob', 'password': 'hunter2-repr'}", "hunter2-repr"),
        ('{"password": "cut-short-by-the-log', "cut-short-by-the-log"),
        (f"something went wrong near {JWT[:60]}.x", JWT[37:60]),
        ('< TEXT \'{"type": "ping", "anything": "client secret"}\' [52 bytes]', "client secret"),
    ],
)
def test_redact(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned and "[REDACTED]" in cleaned, cleaned


def test_outgoing_frames_and_plain_text_are_kept() -> None:
    for text in ('> TEXT \'{"type": "pong"}\' [16 bytes]', "job 42 finished in 3.1 s", "Bearer"):
        assert redact(text) == text


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_tracebacks_are_redacted_too(formatter: logging.Formatter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger(f"test-redact-{id(formatter)}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError(f"bad header Authorization: Bearer {JWT}")
    except ValueError:
        logger.exception("request failed for token=%s", "querysecret")
    output = stream.getvalue()
    assert JWT not in output and "querysecret" not in output and "ValueError" in output
    if isinstance(formatter, JsonFormatter):
        assert "Traceback" in json.loads(output)["exception"]
