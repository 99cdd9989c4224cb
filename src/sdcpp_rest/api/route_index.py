"""The app's routes as one flat list, whichever way the installed FastAPI nests included routers.

Older FastAPI versions copy every included route into `app.routes`; newer ones keep the included
routers there and offer `fastapi.routing.iter_route_contexts` to walk their effective routes (path with
prefixes, dependencies of the include). Both kinds of item answer `matches(scope)`, `methods`,
`path_format`, and for API routes `dependant`, `body_field` and `include_in_schema`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.routing import Match
from starlette.types import Scope


def flat_routes(app: Starlette) -> list[Any]:
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is not None:
        return list(iterate(app.routes))
    return list(app.routes)


def api_routes(app: Starlette) -> Iterator[tuple[str, str, Any]]:
    """(METHOD, path as in the OpenAPI document, route) for each method of each documented API route."""
    for entry in flat_routes(app):
        if not isinstance(getattr(entry, "original_route", entry), APIRoute) or not entry.include_in_schema:
            continue
        for method in sorted(entry.methods or ()):
            yield method, entry.path_format, entry


def allowed_methods(app: Starlette, scope: Scope) -> list[str]:
    """Every method some route of the request's path takes (Starlette's 405 names only the first
    route that matches the path, and several routes share a path with different methods)."""
    methods: set[str] = set()
    for entry in flat_routes(app):
        match, _ = entry.matches(dict(scope))
        if match is not Match.NONE:
            methods.update(getattr(entry, "methods", None) or ())
    return sorted(methods)
