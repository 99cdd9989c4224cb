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
from sdcpp_rest.api.json_body import MAX_JSON_STRUCTURE, is_json_content_type, json_structure
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.monitoring import log_context

log = logging.getLogger("sdcpp_rest.http")

REQUEST_ID_HEADER = "x-request-id"


class _BodyRefused(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parsing re-raises it
    as is (it turns other exceptions into a generic 400) and the error handler renders it."""

    code = ErrorCode.INVALID_PARAMETERS


class _BodyTooLarge(_BodyRefused):
    code = ErrorCode.PAYLOAD_TOO_LARGE

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes for this request")


class _JsonTooComplex(_BodyRefused):
    def __init__(self) -> None:
        super().__init__(
            400,
            f"request body has more than {MAX_JSON_STRUCTURE} JSON values and separators; "
            "no request needs that many",
        )


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so streaming and WebSockets pass through untouched.

    Bodies (api/json_body.py): at most `max_body_bytes` for every request, and `parsed_body_bytes`
    for the main app's routes whose body FastAPI parses itself (a declared body model), on the event
    loop; every JSON body is counted as it streams in and refused past MAX_JSON_STRUCTURE. The route
    is known when the body is first read: routing has run by then."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        parsed_body_bytes: int | None = None,
        path_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.parsed_body_bytes = parsed_body_bytes or max_body_bytes
        # Paths whose bodies stream to disk and have their own bound (issue 16: the model upload).
        self.path_limits = dict(path_limits or {})

    def _limit_for(self, scope: Scope, main_app: object) -> int:
        # A mounted sub-application (the compat APIs) sets scope["app"] to itself on the way down;
        # its bodies carry base64 images and are not held to the main app's small limit.
        route = scope.get("route")
        if scope.get("path") in self.path_limits:
            return self.path_limits[scope["path"]]
        if scope.get("app") is main_app and getattr(route, "body_field", None) is not None:
            return min(self.parsed_body_bytes, self.max_body_bytes)
        return self.max_body_bytes

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
        most = self.path_limits.get(scope.get("path", ""), self.max_body_bytes)
        if declared is not None and declared > most:
            await self._send_error(
                send_with_id,
                request_id,
                413,
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"request body of {declared} bytes exceeds the limit of {most}",
            )
            return

        received = structure = 0
        limit: int | None = None
        main_app = scope.get("app")
        counts_structure = is_json_content_type(_content_type(scope))

        async def limited_receive() -> Message:
            nonlocal received, structure, limit
            if limit is None:
                limit = self._limit_for(scope, main_app)
                if declared is not None and declared > limit:
                    raise _BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise _BodyTooLarge(limit)
                if counts_structure:
                    structure += json_structure(chunk)
                    if structure > MAX_JSON_STRUCTURE:
                        raise _JsonTooComplex()
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyRefused as exc:
            if not started:
                await self._send_error(send_with_id, request_id, exc.status_code, exc.code, str(exc.detail))
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


def _content_type(scope: MutableMapping[str, Any]) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1").split(";")[0].strip().lower())
    return ""


def _content_length(scope: MutableMapping[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
