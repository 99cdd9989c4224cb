"""Request bodies that cannot stall the server.

FastAPI reads and parses a route's JSON body on the event loop, before any dependency runs: one
50 MB body of `[[],[],...]` (16 million lists, over a gigabyte) would hold every other request,
/api/health included, for seconds. So:
- a body FastAPI parses is limited to SMALL_BODY_BYTES (api/middleware.py, for every route with a
  declared body model), far more than any of those bodies needs (the longest text2img body, two
  20,000-character prompts, is some 250 kB); parsing that much takes milliseconds;
- the routes that take images, and /api/validate which checks their bodies, have no body model:
  they read their body themselves (max_request_bytes bounds it; `read_body` takes a lower limit,
  e.g. for guests) and parse it with `parse_json` below: the structure is counted before json.loads
  sees it (each `[`, `{` or `,` becomes at most one Python object, so a body that would explode in
  memory is refused first), parsing runs in a worker thread, and nesting too deep for the parser is
  a 400, not a 500.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from sdcpp_rest.errors import InvalidParameters, PayloadTooLarge

SMALL_BODY_BYTES = 1024 * 1024
# A real body has a few hundred of these (fields, LoRAs, commas in prompts; base64 has none); each
# costs at most ~200 bytes parsed, so this bounds a parsed body to some 20 MB beyond its strings.
MAX_JSON_STRUCTURE = 100_000


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body of {declared} bytes exceeds the limit of {limit} for this request"
        )
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes for this request")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes, what: str = "request body") -> Any:
    """JSON text to Python values, within MAX_JSON_STRUCTURE; InvalidParameters (400) otherwise.
    Blocking for a large body: call it off the event loop (parse_json_off_loop)."""
    structure = raw.count(b"[") + raw.count(b"{") + raw.count(b",")
    if structure > MAX_JSON_STRUCTURE:
        raise InvalidParameters(
            f"{what} has {structure} JSON values and separators; at most {MAX_JSON_STRUCTURE} are accepted"
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameters(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidParameters(f"{what} is nested too deeply") from None


async def parse_json_off_loop(raw: bytes) -> Any:
    return await run_in_threadpool(parse_json, raw)
