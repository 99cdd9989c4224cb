"""Request context: a request id on every response, a body size limit, and no traceback ever leaks."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sdcpp_rest.api.error_handlers import error_body
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.monitoring import log_context

log = logging.getLogger("sdcpp_rest.http")

REQUEST_ID_HEADER = "x-request-id"


class _BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parsing re-raises it
    as is (it turns other exceptions into a generic 400) and the error handler renders a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so streaming and WebSockets pass through untouched."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        context_token = log_context.begin_request(request_id)
        try:
            await self._handle(scope, receive, send, request_id)
        finally:
            log_context.end(context_token)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._send_error(
                send_with_id,
                request_id,
                413,
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"request body of {declared} bytes exceeds the limit of {self.max_body_bytes}",
            )
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge(self.max_body_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            if not started:
                await self._send_error(
                    send_with_id,
                    request_id,
                    413,
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    f"request body exceeds the limit of {self.max_body_bytes} bytes",
                )
        except Exception:
            log.exception("unhandled error (request_id=%s)", request_id)
            if not started:
                await self._send_error(
                    send_with_id,
                    request_id,
                    500,
                    ErrorCode.INTERNAL_ERROR,
                    "internal server error; see the server log for this request id",
                )

    @staticmethod
    async def _send_error(send: Send, request_id: str, status: int, code: ErrorCode, message: str) -> None:
        body = json.dumps(error_body(code.value, status, message, request_id)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: MutableMapping[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
