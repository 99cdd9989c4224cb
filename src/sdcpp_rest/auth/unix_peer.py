"""The identity of a Unix-socket peer (SO_PEERCRED), passed to the app through the ASGI `client`.

uvicorn reports no client address for a Unix socket. This protocol reports `("unix-peer:<uid>", 0)`
instead: a TCP client's host is always an IP address, so no network client can produce that value,
and the auth service reads the uid from it (see RequestCredentials.peer_uid).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from sdcpp_rest.auth.service import UNIX_PEER_PREFIX

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_uid(transport: asyncio.BaseTransport) -> int | None:
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    try:
        _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    except OSError:
        return None
    return int(uid)


def _peer_client(transport: asyncio.BaseTransport) -> tuple[str, int] | None:
    uid = peer_uid(transport)
    return None if uid is None else (f"{UNIX_PEER_PREFIX}{uid}", 0)


class PeerCredentialsProtocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client = _peer_client(transport) or self.client


def peer_credentials_ws_protocol() -> type[asyncio.Protocol] | None:
    """uvicorn's WebSocket protocol (the one "auto" picks) reporting the peer the same way: the HTTP
    protocol hands the upgraded connection's transport to it, and it sets its own `client`."""
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    if AutoWebSocketsProtocol is None:
        return None
    base: Any = AutoWebSocketsProtocol

    class PeerCredentialsWebSocketProtocol(base):
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self.client = _peer_client(transport) or self.client  # type: ignore[has-type]

    return PeerCredentialsWebSocketProtocol
