"""Authentication endpoints: login, logout, validate, refresh, me, and API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from sdcpp_rest.api.deps import AuthenticatedDep, AuthServiceDep, JobsDep, PermissionDenied
from sdcpp_rest.auth.permissions import Permission
from sdcpp_rest.auth.service import RequestCredentials
from sdcpp_rest.errors import ApiError, ErrorCode, InvalidParameters

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(..., min_length=1, max_length=128)
    password: str | None = Field(None, max_length=1024, description="Optional only for Unix-socket login.")


class KeyCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=128)
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Default: never expires.")
    user_id: str | None = Field(None, description="Admins may create a key for another user.")


class KeyNotFound(ApiError):
    code, status_code = ErrorCode.NOT_FOUND, 404


def _credentials(request: Request) -> RequestCredentials:
    return RequestCredentials.from_headers(request.headers, request.client.host if request.client else None)


@router.post("/login", summary="Log in and receive a bearer token")
def login(body: LoginRequest, request: Request, auth: AuthServiceDep) -> dict[str, Any]:
    token, principal = auth.login(body.username, body.password, _credentials(request))
    return {
        "token": token,
        "user": principal.public(),
        "message": "Login successful",
        "expires_at": int(principal.token_expires_at or 0),
    }


@router.post("/logout", summary="Revoke the current token")
def logout(principal: AuthenticatedDep, auth: AuthServiceDep) -> dict[str, str]:
    auth.logout(principal)
    return {"message": "Logout successful"}


@router.get("/validate", summary="Check the current credentials")
def validate(principal: AuthenticatedDep) -> dict[str, Any]:
    return {"user": principal.public(), "valid": True}


@router.post("/refresh", summary="A new token for the current one, which is revoked")
def refresh(principal: AuthenticatedDep, auth: AuthServiceDep) -> dict[str, str]:
    return {"token": auth.refresh(principal), "message": "Token refreshed successfully"}


@router.get("/me", summary="The current user and the job limits that apply to them")
def me(principal: AuthenticatedDep, jobs: JobsDep) -> dict[str, Any]:
    return {"user": principal.public(), "limits": jobs.limits_for(principal).public()}


@router.post("/keys", status_code=201, summary="Create an API key (the secret is shown only here)")
def create_key(body: KeyCreateRequest, principal: AuthenticatedDep, auth: AuthServiceDep) -> dict[str, Any]:
    user_id = body.user_id or principal.user_id
    if body.user_id and body.user_id != principal.user_id and not principal.can(Permission.USERS_MANAGE):
        raise InvalidParameters("only admins may create keys for other users")
    if user_id is None or auth.users.get_user(user_id) is None:
        raise InvalidParameters(
            "API keys belong to a user: with auth_method=none there is none; pass user_id"
        )
    secret, record = auth.create_key(user_id, body.name, body.expires_in_days)
    return {"key": secret, **record.public(), "message": "Store this key now: it is not shown again"}


@router.get("/keys", summary="API keys (without their secrets)")
def list_keys(principal: AuthenticatedDep, auth: AuthServiceDep) -> dict[str, Any]:
    owner = None if principal.can(Permission.USERS_MANAGE) else principal.user_id
    return {"keys": [key.public() for key in auth.users.list_keys(owner)]}


@router.delete("/keys", summary="Revoke every API key of a user at once")
def revoke_all_keys(
    principal: AuthenticatedDep,
    auth: AuthServiceDep,
    user_id: str = Query(..., max_length=64, description="The user (your own id; admins: anyone's)."),
) -> dict[str, Any]:
    # The user is named even for one's own keys: a bare DELETE on the collection is too easy to send.
    if user_id != principal.user_id and not principal.can(Permission.USERS_MANAGE):
        raise PermissionDenied("only admins may revoke the keys of another user")
    auth.user_by_id(user_id)  # 404 for an unknown user
    revoked = auth.users.revoke_keys_of(user_id)
    return {"message": f"{revoked} API key(s) revoked", "revoked": revoked, "user_id": user_id}


@router.delete("/keys/{key_id}", summary="Revoke an API key")
def revoke_key(key_id: str, principal: AuthenticatedDep, auth: AuthServiceDep) -> dict[str, str]:
    key = auth.users.get_key(key_id)
    if key is None or (key.user_id != principal.user_id and not principal.can(Permission.USERS_MANAGE)):
        raise KeyNotFound(f"API key {key_id} not found")
    auth.users.revoke_key(key_id)
    return {"message": "API key revoked", "id": key_id}
