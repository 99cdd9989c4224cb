"""Family parameters (issue 13): in /api/parameters and the OpenAPI schema with range and families,
refused for a family that does not take them, recorded in the PNG parameters, reaching the engine
(a different distilled guidance draws a different Flux image from the same seed), and every step
caching mode running on a family that takes it."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.modes_support import output_image, run_mode
from tests.api.split_support import FLUX, SMALL
from tests.server import ServerProcess

SD15 = {"model_name": "sd15.safetensors", "width": 64, "height": 64, "steps": 2}


def test_parameters_and_openapi_show_range_and_families(split_client: httpx.Client) -> None:
    reply = split_client.get("/api/parameters").json()
    assert reply["parameters"]["guidance"] == {"min": 0.0, "max": 100.0, "default": 3.5, "step": 0.1}
    assert reply["parameters"]["flow_shift"]["max"] == 100.0
    assert reply["families"]["guidance"] == ["Flux", "Flux.2"]
    assert "SD1.x" in reply["families"]["cache_mode=ucache"]
    assert "Flux" not in reply["families"]["cache_mode=ucache"]
    assert reply["vocabularies"]["cache_mode"] == [
        "none",
        "ucache",
        "easycache",
        "dbcache",
        "taylorseer",
        "cache_dit",
        "spectrum",
    ]
    schema = split_client.get("/openapi.json").json()["components"]["schemas"]["Text2ImgRequest"]
    guidance = schema["properties"]["guidance"]
    assert guidance["anyOf"][0]["maximum"] == 100.0
    assert "Families: Flux, Flux.2." in guidance["description"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SD15, "guidance": 3.0}, "guidance"),
        ({**SD15, "flow_shift": 3.0}, "flow_shift"),
        ({**SD15, "slg_scale": 2.5}, "slg_scale"),
        ({**SD15, "cache_mode": "cache_dit"}, "cache_mode"),
        ({**FLUX, **SMALL, "cache_mode": "ucache"}, "cache_mode"),
    ],
)
def test_a_parameter_the_family_does_not_take_is_refused(
    split_client: httpx.Client, body: dict[str, Any], field: str
) -> None:
    response = split_client.post("/api/generate/text2img", json={"prompt": "x", **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_PARAMETERS"
    assert error["message"].startswith(f"{field}: "), error


def _pixels(client: httpx.Client, job: dict[str, Any]) -> np.ndarray:
    image, _ = output_image(client, job)
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_flux_guidance_and_flow_shift_reach_the_engine(
    split_server: ServerProcess, split_client: httpx.Client
) -> None:
    base = {**FLUX, **SMALL, "steps": 2, "seed": 7, "prompt": "a fox"}
    first = run_mode(split_server, split_client, "text2img", **base, guidance=1.0)
    again = run_mode(split_server, split_client, "text2img", **base, guidance=1.0)
    other = run_mode(split_server, split_client, "text2img", **base, guidance=9.0)
    shifted = run_mode(split_server, split_client, "text2img", **base, guidance=1.0, flow_shift=9.0)
    reference = _pixels(split_client, first)
    assert np.array_equal(reference, _pixels(split_client, again))  # the engine is deterministic
    assert not np.array_equal(reference, _pixels(split_client, other))
    assert not np.array_equal(reference, _pixels(split_client, shifted))
    _, fields = output_image(split_client, shifted)
    assert (fields["Guidance"], fields["Flow shift"]) == ("1.0", "9.0")


ENGINE_LINES = {
    "ucache": "UCache enabled",
    "easycache": "EasyCache enabled",
    "dbcache": "CacheDIT enabled - mode: DBCache,",
    "taylorseer": "CacheDIT enabled - mode: TaylorSeer",
    "cache_dit": "CacheDIT enabled - mode: DBCache+TaylorSeer",
    "spectrum": "Spectrum enabled",
}


@pytest.mark.parametrize(
    ("mode", "model"),
    [
        ("ucache", SD15),
        ("spectrum", SD15),
        ("easycache", {**FLUX, **SMALL}),
        ("dbcache", {**FLUX, **SMALL}),
        ("taylorseer", {**FLUX, **SMALL}),
        ("cache_dit", {**FLUX, **SMALL}),
        ("spectrum", {**FLUX, **SMALL}),
    ],
)
def test_each_cache_mode_runs_and_is_recorded(
    split_server: ServerProcess, split_client: httpx.Client, mode: str, model: dict[str, Any]
) -> None:
    line = ENGINE_LINES[mode]
    before = split_server.log_tail(10**8).count(line)
    body = {**model, "steps": 4, "cache_mode": mode, "cache_threshold": 0.5}
    job = run_mode(split_server, split_client, "text2img", **body)
    _, fields = output_image(split_client, job)
    assert fields["Cache mode"] == mode
    # The engine itself says it ran the mode (it warns and runs uncached when it does not).
    assert split_server.log_tail(10**8).count(line) == before + 1
