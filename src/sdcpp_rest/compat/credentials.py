"""Who a compat request is. The clients of the compat APIs carry credentials differently from the
native API's: the OpenAI SDK has one `Authorization: Bearer` slot for an API key or a login token,
AUTOMATIC1111's clients send HTTP Basic. Both end in AuthService, so users, keys, roles and rate
limits are the native API's."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import replace

from fastapi import Depends, Request

from sdcpp_rest.api.deps import AuthServiceDep, PermissionDenied
from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.auth.service import API_KEY_PREFIX, AuthFailed, RequestCredentials
from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.monitoring import log_context

PrincipalSource = Callable[..., Principal | None]


class CredentialsRequired(ApiError):
    code, status_code = ErrorCode.AUTH_REQUIRED, 401

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": challenge})


def _credentials(request: Request) -> RequestCredentials:
    """The native reading of the headers, except that a Bearer value shaped like an API key is one."""
    client = request.client.host if request.client else None
    credentials = RequestCredentials.from_headers(request.headers, client)
    bearer = credentials.bearer_token
    if bearer is not None and bearer.startswith(f"{API_KEY_PREFIX}_"):
        return replace(credentials, bearer_token=None, api_key=bearer)
    return credentials


def _basic(value: str) -> tuple[str, str] | None:
    """(username, password) of a Basic value; None for an empty one (Open WebUI sends `Basic ` when no
    credentials are configured)."""
    if not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthFailed("the Basic credentials are not base64 of username:password") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise AuthFailed("the Basic credentials are not base64 of username:password")
    return username, password


def bearer_principal(request: Request, auth: AuthServiceDep) -> Principal | None:
    """Bearer (an API key or a login token), or X-API-Key; None for a guest. Headers are ignored
    when authentication is off."""
    principal = auth.authenticate(_credentials(request))
    log_context.set_user(principal.username if principal else None)
    return principal


def basic_or_bearer_principal(request: Request, auth: AuthServiceDep) -> Principal | None:
    """HTTP Basic (username and password, or an API key as the password), else as bearer_principal.
    With authentication off any Authorization header is ignored: SillyTavern sends `Basic
    dW5kZWZpbmVk` (base64 of "undefined") when no credentials are set."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not auth.enabled or scheme.lower() != "basic":
        return bearer_principal(request, auth)
    pair = _basic(value)
    if pair is None:
        return bearer_principal(request, auth) if request.headers.get("x-api-key") else None
    # The peer and X-Forwarded-For only: the failed-login limits count against the client's address.
    client = request.client.host if request.client else None
    forwarded = RequestCredentials.from_headers(request.headers, client)
    credentials = replace(forwarded, bearer_token=None, api_key=None, unix_user=None)
    principal = auth.authenticate_basic(pair[0], pair[1], credentials)
    log_context.set_user(principal.username)
    return principal


def requiring(
    source: PrincipalSource, permission: Permission, challenge: str
) -> Callable[..., Awaitable[Principal]]:
    """A dependency letting the request through only for a principal (from `source`) holding `permission`."""

    # Depends as the default: the annotations are strings, and `source` is not a global to resolve.
    # `async def`: no I/O here, and a plain `def` would cost a thread-pool hop per request.
    async def dependency(principal: Principal | None = Depends(source)) -> Principal:
        if principal is None:
            raise CredentialsRequired("authentication required", challenge)
        if not principal.can(permission):
            raise PermissionDenied(
                f"this needs the '{permission.value}' permission; your role is {principal.role}"
            )
        return principal

    return dependency
