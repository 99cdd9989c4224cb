"""Counts HTTP requests by route template and status (pure ASGI: streaming and WebSockets pass through)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sdcpp_rest.monitoring.metrics import ServerMetrics

# The label of requests no route matched (404s of scanners and typos): one series, not one per path.
UNMATCHED_ROUTE = "unmatched"


class HttpMetricsMiddleware:
    """Labels each request with its route's template (`/api/queue/job/{job_id}`), never the raw path,
    so the number of series stays bounded whatever clients send."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before it answers
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The router writes the matched route into this same scope dict on its way down; a mounted
            # sub-application (the compat APIs) adds its mount path to root_path there too.
            path = getattr(scope.get("route"), "path", None)
            root = str(scope.get("root_path", ""))
            mount = root[len(str(scope.get("app_root_path", root))) :]
            route = mount + path if path else UNMATCHED_ROUTE
            self.metrics.record_request(scope["method"], route, status, time.perf_counter() - started)
