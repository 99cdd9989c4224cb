"""GET /metrics: Prometheus text format; public unless `metrics_token` is set."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from sdcpp_rest.api.deps import AuthRequired, MetricsDep, SettingsDep

router = APIRouter(tags=["monitoring"])


def _check_metrics_token(request: Request, settings: SettingsDep) -> None:
    """The metrics token is its own secret (a scraper is not a user), compared in constant time."""
    token = settings.metrics_token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise AuthRequired()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request, settings: SettingsDep, server_metrics: MetricsDep) -> Response:
    _check_metrics_token(request, settings)
    return Response(server_metrics.render(), media_type=CONTENT_TYPE_LATEST)
