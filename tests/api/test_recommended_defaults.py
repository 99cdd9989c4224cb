"""Model-aware defaults end to end (issues 22 and 26): `/api/models` and `/api/parameters?model=` give
the family's recommended settings, and a request that leaves them out is stored with them (an SD1.5
checkpoint runs 512x512, not 1024x1024); what a request gives always wins."""

from __future__ import annotations

from pathlib import Path

import httpx

from sdcpp_rest.schemas.recommended import FAMILY_SETTINGS, spec_defaults
from tests.server import ServerProcess

MODEL = "sd15.safetensors"  # the random-weight SD1.5 checkpoint of tests/server.py
SD1 = FAMILY_SETTINGS["SD1.x"].model_dump()


def test_model_info_and_listing_carry_the_family_settings(client: httpx.Client) -> None:
    info = client.get(f"/api/models/{MODEL}").json()
    assert info["architecture"] == "SD1.x"
    assert info["recommended"] == SD1
    assert (info["recommended"]["width"], info["recommended"]["height"]) == (512, 512)
    listed = {model["name"]: model for model in client.get("/api/models").json()["models"]}
    assert listed[MODEL]["recommended"] == SD1


def test_parameters_keep_the_spec_defaults_unless_a_model_is_named(client: httpx.Client) -> None:
    plain = client.get("/api/parameters").json()
    assert "recommended" not in plain
    assert plain["parameters"]["width"]["default"] == spec_defaults().width
    named = client.get("/api/parameters", params={"model": MODEL}).json()
    assert named["recommended"] == SD1
    for name in ("width", "height", "steps", "cfg_scale"):
        assert named["parameters"][name]["default"] == SD1[name]
    missing = client.get("/api/parameters", params={"model": "no-such-model"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "MODEL_NOT_FOUND"


def test_validate_shows_the_values_the_job_would_use(client: httpx.Client) -> None:
    reply = client.post("/api/validate", json={"prompt": "x", "model_name": MODEL, "steps": 2}).json()
    assert reply["valid"], reply
    normalized = reply["normalized"]
    assert (normalized["width"], normalized["height"], normalized["steps"]) == (
        SD1["width"],
        SD1["height"],
        2,
    )


def test_request_without_size_is_queued_with_the_family_settings(own_data_dir: Path) -> None:
    # No engine workers: the jobs stay queued, so their stored parameters are read without a
    # 512x512 generation (a shared-CPU minute), then cancelled.
    server = ServerProcess(own_data_dir, args=["--no-workers"]).start()
    try:
        with server.client() as client:
            bare = client.post("/api/generate/text2img", json={"prompt": "defaults"})
            assert bare.status_code == 202, bare.text
            given = {"width": 64, "height": 128, "steps": 3, "cfg_scale": 2.5, "sampling_method": "heun"}
            explicit = client.post("/api/generate/text2img", json={"prompt": "explicit", **given})
            assert explicit.status_code == 202, explicit.text
            ids = [bare.json()["job_id"], explicit.json()["job_id"]]
            stored = [client.get(f"/api/queue/job/{job_id}").json()["parameters"] for job_id in ids]
            assert {name: stored[0][name] for name in SD1} == SD1
            assert {name: stored[1][name] for name in given} == given
            assert stored[1]["scheduler"] == SD1["scheduler"]  # not given: the family's
            for job_id in ids:
                assert client.post("/api/queue/cancel", json={"job_id": job_id}).status_code == 200
    finally:
        server.stop()
