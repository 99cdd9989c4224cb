"""The error answers of every operation in /openapi.json: one table, a few shared rules, applied once.

FastAPI documents a 422 `HTTPValidationError` this server never sends (errors have the body of
ErrorResponse) and nothing else. Here each operation gets the statuses it can really answer, each with
the error codes it carries and what they mean for that route:
- ROUTE_ERRORS: what the route's own code raises, keyed by (METHOD, path as in the document);
- shared rules, read off the route: a credential check gives 401, a permission check 403, a body
  400/413/422, a query parameter that can fail validation 422, and every route can fail with 500.
The document is post-processed (not the routes), so no router needs to know about any of this; a
route's own 4xx/5xx `responses=` entries are replaced, the table being the one place for them. A route
missing from the table still gets the shared rules; tests/unit/test_openapi_table.py fails on it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from sdcpp_rest.api.deps import optional_principal, require
from sdcpp_rest.api.error_table import ROUTE_ERRORS, Answer
from sdcpp_rest.api.route_index import api_routes
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.schemas.errors import ErrorResponse

log = logging.getLogger(__name__)

ERROR_SCHEMA_REF = "#/components/schemas/ErrorResponse"
_FASTAPI_422_REF = "#/components/schemas/HTTPValidationError"
# pydantic writes a bound that follows a validator as its own keyword (ge), not JSON Schema's (minimum).
_PYDANTIC_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
# Keywords that make a string parameter refusable (a bare string takes any text).
_STRING_LIMITS = ("maxLength", "minLength", "pattern", "enum", "const", "format")
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {"description": "Seconds to wait before the next login", "schema": {"type": "string"}}
    },
}

AUTH = (
    Answer(401, ErrorCode.AUTH_REQUIRED, "no credential, and this route needs one (auth is enabled)"),
    Answer(
        401,
        ErrorCode.INVALID_CREDENTIALS,
        "the bearer token or API key is invalid, expired or revoked, its user is disabled, or its "
        "method is not enabled (a wrong credential is refused even when auth is off)",
    ),
    Answer(
        429,
        ErrorCode.RATE_LIMITED,
        "this client address failed login_attempts_per_minute times in the last minute (wrong "
        "passwords or API keys): the limiter decides before any credential is looked at",
    ),
)
PERMISSION = Answer(
    403, ErrorCode.INSUFFICIENT_PERMISSIONS, "the caller's role lacks the permission this route needs"
)
BODY = (
    Answer(
        400,
        ErrorCode.INVALID_PARAMETERS,
        "the body is not valid JSON, or holds more JSON values than any request needs (100,000)",
    ),
    Answer(
        413,
        ErrorCode.PAYLOAD_TOO_LARGE,
        "the body is larger than the route takes: 1 MiB, or max_request_bytes where images are sent",
    ),
    Answer(
        422,
        ErrorCode.VALIDATION_ERROR,
        "a body field is missing, unknown, of the wrong type or out of range (the message names it)",
    ),
)
JSON_ONLY_BODY = Answer(
    422, ErrorCode.VALIDATION_ERROR, "the content type is not JSON: the body then reads as missing"
)
QUERY = Answer(
    422,
    ErrorCode.VALIDATION_ERROR,
    "a query parameter is of the wrong type or out of range (the message names it, e.g. query.limit); "
    "integers take only plain digits (5), booleans only true, false, 1 or 0",
)
UNEXPECTED = Answer(
    500, ErrorCode.INTERNAL_ERROR, "an unexpected error; the server log has it under the request id"
)


def shared_answers(operation: dict[str, Any], route: Any) -> list[Answer]:
    """The answers every route of a kind gives, read off the route and its operation."""
    calls = _dependency_calls(route)
    answers: list[Answer] = []
    if optional_principal in calls:
        answers.extend(AUTH)
    if any(_is_permission_check(call) for call in calls):
        answers.append(PERMISSION)
    if "requestBody" in operation:
        answers.extend(BODY)
        if set(operation["requestBody"].get("content", {})) == {"application/json"}:
            answers.append(JSON_ONLY_BODY)
    if any(_can_fail(parameter) for parameter in operation.get("parameters", [])):
        answers.append(QUERY)
    answers.append(UNEXPECTED)
    return answers


def _dependency_calls(route: Any) -> set[Callable[..., Any]]:
    found: set[Callable[..., Any]] = set()
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call is not None:
            found.add(dependant.call)
        pending.extend(dependant.dependencies)
    return found


def _is_permission_check(call: Callable[..., Any]) -> bool:
    # The checks are closures made by deps.require(permission), one per permission.
    return getattr(call, "__qualname__", "").startswith(f"{require.__qualname__}.<locals>.")


def _can_fail(parameter: dict[str, Any]) -> bool:
    if parameter.get("in") not in ("query", "header", "cookie"):
        return False  # path parameters are strings here; routes check their form themselves
    if parameter.get("required"):
        return True
    schema = parameter.get("schema", {})
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    return any(b.get("type") != "string" or any(k in b for k in _STRING_LIMITS) for b in branches)


def error_responses(answers: list[Answer]) -> dict[str, dict[str, Any]]:
    """OpenAPI response objects, one per status: the codes and meanings as a list, the error body."""
    by_status: dict[int, list[Answer]] = {}
    for answer in answers:
        by_status.setdefault(answer.status, []).append(answer)
    responses: dict[str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        lines = list(dict.fromkeys(f"- `{a.code.value}`: {a.meaning}" for a in group))
        response: dict[str, Any] = {
            "description": "\n".join(lines),
            "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
        }
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        responses[str(status)] = response
    return responses


def document_errors(schema: dict[str, Any], app: FastAPI) -> None:
    """Rewrite the error responses of every operation of `schema` (idempotent)."""
    for method, path, route in api_routes(app):
        operation = schema.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            continue
        own = ROUTE_ERRORS.get((method, path))
        if own is None:
            log.warning("%s %s is missing from the OpenAPI error table (api/error_table.py)", method, path)
        responses = operation.setdefault("responses", {})
        for status in [s for s in responses if s[:1] in "45"]:
            del responses[status]  # FastAPI's 422 and any hand-written error entry: the table decides
        errors = error_responses([*shared_answers(operation, route), *(own or ())])
        operation["responses"] = dict(sorted({**responses, **errors}.items()))
        for parameter in operation.get("parameters", []):
            _standard_bounds(parameter.get("schema", {}))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if _FASTAPI_422_REF not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    definition = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(definition.pop("$defs", {}))
    components["ErrorResponse"] = definition


def _standard_bounds(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", [schema]):
        for pydantic_key, standard in _PYDANTIC_BOUNDS.items():
            if pydantic_key in branch:
                branch[standard] = branch.pop(pydantic_key)


def install_openapi_errors(app: FastAPI) -> None:
    """Wrap app.openapi (after install_body_schemas) so the document carries the error answers."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI: rewriting it again changes nothing
        document_errors(schema, app)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
