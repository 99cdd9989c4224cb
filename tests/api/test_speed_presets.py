"""Speed presets end to end (issue 26): /api/parameters lists what each preset sets, /api/validate shows
a preset's settings, and a job run with `speed: fast` records the preset and the settings it chose in
its PNG parameters while a field the request gives itself wins."""

from __future__ import annotations

import httpx

from sdcpp_rest.schemas.speed import SPEED_TABLE, SPEEDS
from tests.api.modes_support import output_image, run_mode
from tests.server import ServerProcess

MODEL = "sd15.safetensors"  # the random-weight SD1.5 checkpoint of tests/server.py
# The shared server runs the CPU build of the engine.
SD1_CPU = {speed: choice.model_dump() for speed, choice in SPEED_TABLE[("SD1.x", "CPU")].items()}


def test_parameters_list_the_presets(client: httpx.Client) -> None:
    plain = client.get("/api/parameters").json()
    assert plain["vocabularies"]["speed"] == list(SPEEDS)
    speed = plain["speed"]
    assert (speed["default"], speed["device"]) == ("quality", "CPU")
    assert "wtype" in speed["load_time_fields"] and "cache_mode" not in speed["load_time_fields"]
    assert speed["presets"]["SD1.x"] == SD1_CPU
    assert speed["presets"]["Flux"]["fast"]["cache_mode"] == "cache_dit"
    named = client.get("/api/parameters", params={"model": MODEL}).json()
    assert named["speed"]["presets"] == SD1_CPU


def test_validate_shows_the_preset_settings(client: httpx.Client) -> None:
    body = {"prompt": "x", "model_name": MODEL, "speed": "fast", "wtype": "f16"}
    reply = client.post("/api/validate", json=body).json()
    assert reply["valid"], reply
    normalized = reply["normalized"]
    assert (normalized["speed"], normalized["cache_mode"], normalized["wtype"]) == ("fast", "spectrum", "f16")
    # The shared server's models folder has no TAESD: the preset leaves the decoder alone.
    assert normalized["use_taesd"] is False
    bad = client.post("/api/generate/text2img", json={"prompt": "x", "speed": "warp"})
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_fast_job_records_the_preset_and_keeps_the_fields_it_was_given(
    server: ServerProcess, client: httpx.Client
) -> None:
    # cache_mode given: it wins over the preset's spectrum; the preset's q8_0 weights still apply.
    body = {"model_name": MODEL, "width": 64, "height": 64, "steps": 2, "speed": "fast", "cache_mode": "none"}
    job = run_mode(server, client, "text2img", **body)
    assert job["parameters"]["speed"] == "fast"
    _, fields = output_image(client, job)
    assert fields["Speed"] == "fast"
    assert fields["Weight type"] == "q8_0"
    assert "Cache mode" not in fields  # none: the request's own value
