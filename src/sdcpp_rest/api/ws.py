"""`/ws`: live job progress, queue changes and system events as `{"type", "data"}` JSON messages.

Query parameters choose what to follow at connect time: `job_id` (repeatable) for given jobs,
`scope=own` for the caller's jobs, `scope=all` for every job (admins; without authentication every
client is the local admin). Default: `all` for admins, `own` otherwise. Later, the client may send
`{"type": "subscribe", "job_id": ...}`, `{"type": "unsubscribe", "job_id": ...}`,
`{"type": "subscribe", "scope": "own"|"all"}` or `{"type": "ping"}`. After each subscription the
server sends the current state of what it covers, so a reconnecting client is up to date at once.
Dead connections are found by WebSocket ping/pong (uvicorn's ws_ping_interval / ws_ping_timeout).

Credentials: the HTTP headers (Authorization, X-API-Key), or, for browsers that cannot set headers,
the subprotocol pair `Sec-WebSocket-Protocol: bearer, <token>` or `api-key, <key>` (the server
answers with the scheme as the chosen subprotocol; secrets there stay out of URLs and access logs),
or the `token` / `api_key` query parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from sdcpp_rest.api.deps import services_of
from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.auth.service import RequestCredentials
from sdcpp_rest.container import Services
from sdcpp_rest.errors import ApiError
from sdcpp_rest.events.bus import Connection, Subscription
from sdcpp_rest.events.types import ClientError, Event, Pong
from sdcpp_rest.outputs.files import is_job_id

router = APIRouter(tags=["websocket"])

MAX_FOLLOWED_JOBS = 1000
WS_POLICY_VIOLATION = 1008
WS_MESSAGE_TOO_BIG = 1009
# The largest message a client may send, in bytes. Its messages are a few dozen bytes (the longest,
# a subscription to a job id, is about 60); without a bound uvicorn takes 16 MiB frames and parses
# them on the event loop, stalling every request (issue 27). `sdcpp-rest serve` gives this to uvicorn
# as ws_max_size, which closes with 1009 before reading such a frame; _read checks it again for servers
# started another way.
WS_MAX_MESSAGE_BYTES = 4096
# Subprotocol scheme -> (the header it stands for, the value's prefix before the secret).
CREDENTIAL_SUBPROTOCOLS = {"bearer": ("authorization", "Bearer "), "api-key": ("x-api-key", "")}


def _snapshot(services: Services, subscription: Subscription, job_ids: set[str] | None) -> list[Event]:
    """Current state of what a subscription covers (runs in a thread: it reads the database)."""
    owner = None if subscription.everything and subscription.is_admin else subscription.user
    current = services.notifier.current_state(owner, job_ids)
    return [subscription.view(event) for event in current if subscription.wants(event)]


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    services = services_of(websocket.app)
    params = websocket.query_params
    offered = _offered_credential(websocket)
    subprotocol = offered[0] if offered else None
    principal = await _authenticate(websocket, services, offered)
    if principal is None:
        return
    job_ids = {job_id for job_id in params.getlist("job_id") if is_job_id(job_id)}
    scope = params.get("scope")
    subscription = Subscription(
        job_ids=set(job_ids), user=principal.user_id, is_admin=principal.can(Permission.QUEUE_MANAGE_ALL)
    )
    if scope in ("all", "own") or not job_ids:
        subscription.everything = scope != "own" and subscription.is_admin
        subscription.own_jobs = not subscription.everything
    await websocket.accept(subprotocol=subprotocol)
    connection = services.bus.connect(subscription)
    try:
        for event in await asyncio.to_thread(_snapshot, services, subscription, job_ids or None):
            connection.offer(event)
        writer = asyncio.create_task(_write(websocket, connection))
        reader = asyncio.create_task(_read(websocket, services, connection))
        done, pending = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    finally:
        services.bus.disconnect(connection)


def _offered_credential(websocket: WebSocket) -> tuple[str, str] | None:
    """(scheme, secret) when the client offers `bearer|api-key, <secret>` as its subprotocols."""
    offered = [part.strip() for part in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if len(offered) >= 2 and offered[0] in CREDENTIAL_SUBPROTOCOLS and offered[1]:
        return offered[0], offered[1]
    return None


async def _authenticate(
    websocket: WebSocket, services: Services, offered: tuple[str, str] | None
) -> Principal | None:
    """Headers as on HTTP; browsers cannot set WebSocket headers, so the credential subprotocol and
    `token` / `api_key` query parameters are accepted too. A refused client is closed with code 1008
    (policy violation)."""
    headers = dict(websocket.headers)
    query = websocket.query_params
    subprotocol = offered[0] if offered else None
    if offered is not None:
        header, prefix = CREDENTIAL_SUBPROTOCOLS[offered[0]]
        headers.setdefault(header, prefix + offered[1])
    if "authorization" not in headers and query.get("token"):
        headers["authorization"] = f"Bearer {query['token']}"
    if "x-api-key" not in headers and query.get("api_key"):
        headers["x-api-key"] = query["api_key"]
    client = websocket.client.host if websocket.client else None
    try:
        principal = await asyncio.to_thread(
            services.auth.authenticate, RequestCredentials.from_headers(headers, client)
        )
    except ApiError as exc:
        await _refuse(websocket, exc.message, subprotocol)
        return None
    if principal is None or not principal.can(Permission.QUEUE_READ):
        await _refuse(websocket, "authentication required: send a token or API key", subprotocol)
        return None
    return principal


async def _refuse(websocket: WebSocket, reason: str, subprotocol: str | None) -> None:
    # Accept first so the client receives the close code and reason (a refused handshake is a bare 403);
    # with the offered subprotocol, or a browser drops the connection before reading the reason.
    await websocket.accept(subprotocol=subprotocol)
    await websocket.close(code=WS_POLICY_VIOLATION, reason=reason[:120])


async def _write(websocket: WebSocket, connection: Connection) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            event = await connection.next()
            await websocket.send_text(event.wire_text)


async def _read(websocket: WebSocket, services: Services, connection: Connection) -> None:
    subscription = connection.subscription
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            text = await websocket.receive_text()
            if len(text) > WS_MAX_MESSAGE_BYTES or len(text.encode()) > WS_MAX_MESSAGE_BYTES:
                await websocket.close(
                    WS_MESSAGE_TOO_BIG, f"messages are at most {WS_MAX_MESSAGE_BYTES} bytes"
                )
                return
            try:
                message = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
                connection.offer(ClientError("messages must be JSON objects"))
                continue
            if not isinstance(message, dict):
                connection.offer(ClientError("messages must be JSON objects"))
                continue
            kind, job_id, scope = message.get("type"), message.get("job_id"), message.get("scope")
            if kind == "ping":
                connection.offer(Pong())
            elif kind == "subscribe" and isinstance(job_id, str) and is_job_id(job_id):
                if len(subscription.job_ids) < MAX_FOLLOWED_JOBS:
                    subscription.job_ids.add(job_id)
                for event in await asyncio.to_thread(_snapshot, services, subscription, {job_id}):
                    connection.offer(event)
            elif kind == "subscribe" and scope in ("all", "own"):
                subscription.everything = scope == "all" and subscription.is_admin
                subscription.own_jobs = True
                for event in await asyncio.to_thread(_snapshot, services, subscription, None):
                    connection.offer(event)
            elif kind == "unsubscribe" and isinstance(job_id, str):
                subscription.job_ids.discard(job_id)
            else:
                connection.offer(ClientError(f"unknown message: {text[:200]}"))
