"""The OpenAPI document's error answers: the table covers every route, the document is self-consistent,
and integer/boolean query parameters are strict. In process (the app, not a server): cheap guards that
fail as soon as a route is added without thinking about its errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sdcpp_rest.api.error_handlers import error_body
from sdcpp_rest.api.error_table import ROUTE_ERRORS
from sdcpp_rest.api.route_index import api_routes
from sdcpp_rest.app import create_app
from sdcpp_rest.config import load_settings
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.schemas.errors import ErrorResponse
from sdcpp_rest.schemas.jobs import JobMode, JobPhase

# A value of the right type in a form the query types refuse.
NOT_PLAIN = {"integer": "+1", "boolean": "yes"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    data_dir: Path = tmp_path_factory.mktemp("openapi-app")
    application = create_app(load_settings(overrides={"data_dir": data_dir}))
    yield application
    application.state.holder.current.database.dispose()


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def test_every_route_is_in_the_error_table(app: FastAPI) -> None:
    routes = {(method, path) for method, path, _ in api_routes(app)}
    assert sorted(routes - set(ROUTE_ERRORS)) == [], "add these routes to api/error_table.py"
    assert sorted(set(ROUTE_ERRORS) - routes) == [], "these table entries name no route"


def test_no_operation_documents_fastapis_validation_error(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(document)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_error_answer_has_the_error_body(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "500" in responses, (method, path)
            for status, response in responses.items():
                if status[0] in "45":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
                    assert response["description"].startswith("- `"), (method, path, status)


def test_shared_rules_follow_the_route(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert {"401", "403", "413", "422"} <= set(paths["/api/generate/text2img"]["post"]["responses"])
    assert "415" in paths["/api/generate/img2img"]["post"]["responses"]
    assert "401" in paths["/api/auth/me"]["get"]["responses"]  # a credential, but no permission
    assert "403" not in paths["/api/auth/me"]["get"]["responses"]
    assert "422" in paths["/api/queue/status"]["get"]["responses"]  # limit is an integer
    public = paths["/api/health"]["get"]["responses"]
    assert sorted(public) == ["200", "500"]
    assert "429" in paths["/api/auth/login"]["post"]["responses"]


def test_query_bounds_are_json_schema_keywords(document: dict[str, Any]) -> None:
    (limit,) = [
        p for p in document["paths"]["/api/queue/status"]["get"]["parameters"] if p["name"] == "limit"
    ]
    assert limit["schema"]["minimum"] == 0 and limit["schema"]["maximum"] == 1000
    assert "ge" not in limit["schema"] and "le" not in limit["schema"]


def test_error_body_matches_its_documented_model() -> None:
    body = error_body(ErrorCode.JOB_NOT_FOUND.value, 404, "job x not found", "abc")
    assert ErrorResponse.model_validate(body).error.code == ErrorCode.JOB_NOT_FOUND


def test_integer_and_boolean_query_parameters_refuse_lax_forms(
    app: FastAPI, document: dict[str, Any]
) -> None:
    """Every route's integer/boolean query parameter, whatever its declaration: `+1` and `yes` are 422."""
    requests = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                kinds = {branch.get("type") for branch in schema.get("anyOf", [schema])}
                kind = next((k for k in ("integer", "boolean") if k in kinds), None)
                if parameter["in"] == "query" and kind is not None:
                    url = path.replace("{", "").replace("}", "")  # path parameters: their own names
                    requests.append((method, url, parameter["name"], NOT_PLAIN[kind]))
    assert len(requests) >= 7, requests  # queue limit, thumbnail thumb/size, models paging and filters
    for (method, url, name, _), response in zip(requests, asyncio.run(_send(app, requests)), strict=True):
        assert response.status_code == 422, (method, url, name, response.text)
        assert name in response.json()["error"]["message"]


async def _send(app: FastAPI, requests: list[tuple[str, str, str, str]]) -> list[httpx.Response]:
    # In process, without the lifespan: no worker starts, the routes only validate.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return [
            await client.request(method, url, params={name: value}) for method, url, name, value in requests
        ]


def test_job_status_mode_phase_and_error_code_list_their_values(document: dict[str, Any]) -> None:
    """Issue 21: the job's closed fields are enums in the document, with every value (all nine
    phases, not the five the description used to name)."""
    schemas = document["components"]["schemas"]
    expected = {
        "JobStatus": {"queued", "processing", "completed", "failed", "cancelled"},
        "JobMode": {mode.value for mode in JobMode},
        "JobPhase": {phase.value for phase in JobPhase},
        "ErrorCode": {code.value for code in ErrorCode},
    }
    for name, values in expected.items():
        assert set(schemas[name]["enum"]) == values, name
    assert len(expected["JobPhase"]) == 9
    job = schemas["JobPublic"]["properties"]
    for field, name in (("status", "JobStatus"), ("mode", "JobMode")):
        assert job[field] == {"$ref": f"#/components/schemas/{name}"}
    for field, name in (("phase", "JobPhase"), ("error_code", "ErrorCode")):
        assert {"$ref": f"#/components/schemas/{name}"} in job[field]["anyOf"]
