"""Request bodies that cannot stall the server.

FastAPI reads and parses a route's JSON body on the event loop, before any dependency runs: one
50 MB body of `[[],[],...]` (16 million lists, over a gigabyte) would hold every other request,
/api/health included, for seconds. What makes a body expensive is the number of objects it parses
into, not its bytes (a 50 MB base64 string parses in milliseconds), and each `[`, `{` or `,` gives at
most one object. So:
- every JSON body, whichever route reads it (the compat sub-applications' too), is counted as it
  streams in (api/middleware.py) and refused with a 400 past MAX_JSON_STRUCTURE, a few hundred kB
  into a pathological one;
- a body FastAPI parses for a route of the main app is limited to SMALL_BODY_BYTES, far more than
  any of those bodies needs (the longest text2img body, two 16,384-byte prompts, is some
  250 kB);
- the image routes, and /api/validate which checks their bodies, have no body model: they read their
  body themselves (max_request_bytes bounds it; `read_body` takes a lower limit, e.g. for guests) and
  parse it with `parse_json` below, in a worker thread, with the same structure bound (also for the
  JSON in multipart fields) and nesting too deep for the parser a 400, not a 500.
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


def is_json_content_type(content_type: str) -> bool:
    """`content_type` without its parameters, lower case; no content type at all is taken as JSON."""
    return content_type in ("", "application/json") or content_type.endswith("+json")


def json_structure(raw: bytes) -> int:
    """The `[`, `{` and `,` in JSON text: a bound on the objects parsing it makes."""
    return raw.count(b"[") + raw.count(b"{") + raw.count(b",")


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
    structure = json_structure(raw)
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
