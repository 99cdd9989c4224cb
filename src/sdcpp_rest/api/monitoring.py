"""GET /metrics: Prometheus text format. With `metrics_token` set, that token; otherwise, when auth is on,
a caller holding `system:read` (its labels name models), unless `metrics_public` opens it."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from sdcpp_rest.api.deps import (
    AuthRequired,
    AuthServiceDep,
    MetricsDep,
    PermissionDenied,
    SettingsDep,
    optional_principal,
)
from sdcpp_rest.auth.permissions import Permission

router = APIRouter(tags=["monitoring"])


def _check_metrics_access(request: Request, settings: SettingsDep, auth: AuthServiceDep) -> None:
    """The metrics token is its own secret (a scraper is not a user), compared in constant time, and
    read before any user credential (a Bearer token here is not a JWT). Without a token the labels
    (model names) are for users with system:read when auth is on."""
    token = settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise AuthRequired()
        return
    if settings.metrics_public or not auth.enabled:
        return
    principal = optional_principal(request, auth)
    if principal is None:
        raise AuthRequired()
    if not principal.can(Permission.SYSTEM_READ):
        raise PermissionDenied("/metrics needs the 'system:read' permission")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(
    request: Request, settings: SettingsDep, auth: AuthServiceDep, server_metrics: MetricsDep
) -> Response:
    _check_metrics_access(request, settings, auth)
    return Response(server_metrics.render(), media_type=CONTENT_TYPE_LATEST)
