"""Dependencies shared by the routers: services, the request's principal, permission checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.auth.service import RequestCredentials
from sdcpp_rest.container import Services
from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.monitoring import log_context


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


class AuthRequired(ApiError):
    code, status_code = ErrorCode.AUTH_REQUIRED, 401

    def __init__(self) -> None:
        super().__init__("authentication required: send Authorization: Bearer <token> or X-API-Key")
        self.headers = {"WWW-Authenticate": "Bearer"}


class PermissionDenied(ApiError):
    code, status_code = ErrorCode.INSUFFICIENT_PERMISSIONS, 403


def optional_principal(request: Request, services: ServicesDep) -> Principal | None:
    """The caller, or None for a guest. A wrong credential is an error even on public routes."""
    client = request.client.host if request.client else None
    credentials = RequestCredentials.from_headers(request.headers, client)
    principal = services.auth.authenticate(credentials)
    request.state.principal = principal
    log_context.set_user(principal.username if principal else None)
    return principal


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that lets the request through only for a principal holding `permission`."""

    def dependency(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
        if principal is None:
            raise AuthRequired()
        if not principal.can(permission):
            raise PermissionDenied(
                f"this needs the '{permission.value}' permission; your role is {principal.role}"
            )
        return principal

    return dependency


def authenticated(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise AuthRequired()
    return principal


AuthenticatedDep = Annotated[Principal, Depends(authenticated)]
GenerateDep = Annotated[Principal, Depends(require(Permission.GENERATE))]
QueueReadDep = Annotated[Principal, Depends(require(Permission.QUEUE_READ))]
QueueManageDep = Annotated[Principal, Depends(require(Permission.QUEUE_MANAGE_OWN))]
ModelsReadDep = Annotated[Principal, Depends(require(Permission.MODELS_READ))]
ModelsManageDep = Annotated[Principal, Depends(require(Permission.MODELS_MANAGE))]
SystemReadDep = Annotated[Principal, Depends(require(Permission.SYSTEM_READ))]
SystemManageDep = Annotated[Principal, Depends(require(Permission.SYSTEM_MANAGE))]
UsersManageDep = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
