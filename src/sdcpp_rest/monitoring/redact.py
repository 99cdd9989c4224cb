"""Credentials out of text bound for a log line, wherever they travel.

A secret can reach a log line as a header (`authorization: Bearer X` or `Basic X`, `x-api-key: X`, also in a
repr of header tuples), as the WebSocket credential subprotocol (`sec-websocket-protocol: bearer, X`
or `api-key, X`, which the websockets library logs at debug level), in a query string
(`?token=X`, `?api_key=X`), or in a body (`"password": "X"` in JSON or a Python repr, `password=X`
in a form). Patterns for each of those places, plus two for the shapes of our own secrets anywhere
at all: a JWT (`eyJ...`) and an API key (`sdk_<id>_<secret>`).

The frames a WebSocket client sends are logged (at debug level) with their middle cut out, so no
pattern could be sure to find a secret in them: their payload is not logged at all.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"
# Names under which a secret travels in bodies, forms and query strings.
_SECRET_NAMES = r"(?:password|passwd|token|access_token|refresh_token|api_key|apikey|key|secret|jwt_secret)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # websockets' "< TEXT '<payload>' [71 bytes]" for a frame received from the client.
    (re.compile(r"(?s)^(< (?:TEXT|BINARY|CONT)) .*( \[[^\]]*\bbytes?\b[^\]]*\])$"), rf"\1 {REDACTED}\2"),
    # Query strings and form bodies: token=X, api_key=X, password=X (also inside access_token=X).
    (re.compile(r"(?i)((?:token|api_key|apikey|password|passwd|secret)=)[^&\s\"']+"), rf"\1{REDACTED}"),
    # Authorization header values, and the subprotocol pair "bearer, X".
    (re.compile(r"(?i)\b(bearer(?:\s*,\s*|\s+))[^\s,;\"'\\]+"), rf"\1{REDACTED}"),
    # HTTP Basic (the compat APIs' clients): base64 of username:password.
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*b?['\"]?basic\s+)[A-Za-z0-9+/=._~-]+"),
        rf"\1{REDACTED}",
    ),
    # The subprotocol pair "api-key, X".
    (re.compile(r"(?i)\b(api-key\s*,\s*)[^\s,;\"'\\]+"), rf"\1{REDACTED}"),
    # Headers as logged lines ("x-api-key: X") or reprs ((b'x-api-key', b'X')).
    (
        re.compile(r"(?i)((?:x-api-key|x-auth-token|cookie)\b['\"]?\s*(?::|,)\s*b?['\"]?)[^\s,;\"'\\)]+"),
        rf"\1{REDACTED}",
    ),
    # JSON bodies ("password": "X", with escaped quotes inside X) and Python reprs ('password': 'X').
    # (the closing quote may be missing: a log line can cut a value short).
    (re.compile(rf'(?i)("{_SECRET_NAMES}"\s*:\s*")(?:[^"\\]|\\.)*"?'), rf'\1{REDACTED}"'),
    (re.compile(rf"(?i)('{_SECRET_NAMES}'\s*:\s*')(?:[^'\\]|\\.)*'?"), rf"\1{REDACTED}'"),
    # Our secrets by their shape, wherever they are: JWTs and API keys.
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(sdk_[0-9a-f]+_)[A-Za-z0-9_-]+"), rf"\1{REDACTED}"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
