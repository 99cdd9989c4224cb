"""The informational endpoints: health, status, version, vocabularies, parameters, validate, models."""

from __future__ import annotations

import httpx

from sdcpp_rest.schemas.parameters import PARAMETER_RANGES


def test_health_status_version(client: httpx.Client) -> None:
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert health.headers["x-request-id"]
    status = client.get("/api/status").json()
    assert status["server"]["running"] is True
    assert status["generation_queue"]["running"] is True
    assert status["models"]["available_count"] == 1
    version = client.get("/api/version").json()
    assert set(version) >= {"version", "type", "commit", "branch", "clean", "build_time"}
    assert set(version["commit"]) == {"short", "full"}


def test_samplers_and_schedulers_cover_the_spec(client: httpx.Client) -> None:
    samplers = client.get("/api/samplers").json()["samplers"]
    for name in [
        "euler",
        "euler_a",
        "heun",
        "dpm2",
        "dpmpp2s_a",
        "dpmpp2m",
        "dpmpp2mv2",
        "ipndm",
        "ipndm_v",
        "lcm",
        "ddim_trailing",
        "tcd",
    ]:
        assert name in samplers
    schedulers = client.get("/api/schedulers").json()["schedulers"]
    for name in ["discrete", "karras", "exponential", "ays", "gits", "smoothstep", "sgm_uniform", "simple"]:
        assert name in schedulers


def test_parameters_table_matches_validation(client: httpx.Client) -> None:
    params = client.get("/api/parameters").json()["parameters"]
    assert params["width"] == {"min": 64, "max": 4096, "default": 1024, "step": 8}
    assert params["steps"]["max"] == 150
    for name, spec in PARAMETER_RANGES.items():
        above = {"prompt": "x", name: spec.maximum + spec.step}
        reply = client.post("/api/validate", json=above).json()
        assert reply["valid"] is False and reply["errors"][0]["field"] == name


def test_validate_reports_fields_and_fills_defaults(client: httpx.Client) -> None:
    ok = client.post("/api/validate", json={"prompt": "a cat", "width": 64, "height": 64}).json()
    assert ok["valid"] is True and ok["errors"] == []
    assert ok["normalized"]["steps"] == 20 and ok["normalized"]["model_name"] == "sd15.safetensors"
    bad = client.post("/api/validate", json={"prompt": "a", "sampling_method": "nope", "width": 65}).json()
    assert bad["valid"] is False
    assert {issue["field"] for issue in bad["errors"]} == {"sampling_method", "width"}
    missing = client.post("/api/validate", json={"prompt": "a", "model_name": "missing.safetensors"}).json()
    assert missing["valid"] is False and missing["errors"][0]["code"] == "MODEL_NOT_FOUND"


def test_models_lists_checkpoints(client: httpx.Client) -> None:
    reply = client.get("/api/models").json()
    assert reply["total"] == 1
    model = reply["models"][0]
    assert model["name"] == "sd15.safetensors" and model["format"] == "safetensors"
    assert model["size_bytes"] > 2_000_000_000
    assert client.get("/api/models", params={"search": "nothing-like-it"}).json()["total"] == 0


def test_openapi_documents_text2img_ranges(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["Text2ImgRequest"]["properties"]
    assert body["steps"]["maximum"] == 150 and body["width"]["minimum"] == 64
