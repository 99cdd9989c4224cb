"""text2img end to end: real server process, real engine, random-weight SD1.5 model."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from sdcpp_rest.outputs.infotext import parse_infotext
from tests.server import ServerProcess


def test_text2img_writes_png_with_parameters_and_records_seed(
    server: ServerProcess, client: httpx.Client
) -> None:
    job_id = server.submit(
        client,
        prompt="a red fox",
        negative_prompt="blurry",
        width=64,
        height=72,
        steps=2,
        seed=1234,
        batch_count=2,
        cfg_scale=5.5,
        sampling_method="euler",
    )
    job = server.wait_for(client, job_id)
    assert job["status"] == "completed", job
    assert job["seed"] == 1234
    assert job["progress"] == 1.0 and job["current_step"] == job["total_steps"] == 4
    assert [out["filename"] for out in job["outputs"]] == ["image_0.png", "image_1.png"]

    for index, output in enumerate(job["outputs"]):
        response = client.get(output["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        assert image.size == (64, 72)
        prompt, negative, fields = parse_infotext(image.text["parameters"])
        assert prompt == "a red fox"
        assert negative == "blurry"
        assert fields["Steps"] == "2"
        assert fields["Sampler"] == "Euler"
        assert fields["CFG scale"] == "5.5"
        assert fields["Seed"] == str(1234 + index)  # a batch uses seed, seed+1, ...
        assert fields["Size"] == "64x72"
        assert fields["Model"] == "sd15"


def test_random_seed_is_chosen_by_server_and_returned(server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(
        "/api/generate/text2img",
        json={"prompt": "x", "width": 64, "height": 64, "steps": 1, "seed": "random"},
    )
    assert response.status_code == 202
    reply = response.json()
    assert reply["status"] == "queued" and reply["request_id"] == reply["job_id"]
    job = server.wait_for(client, reply["job_id"])
    assert job["status"] == "completed"
    assert job["seed"] == reply["seed"]
    assert 0 <= job["seed"] <= 2**32 - 1
    image = Image.open(io.BytesIO(client.get(job["outputs"][0]["url"]).content))
    assert parse_infotext(image.text["parameters"])[2]["Seed"] == str(reply["seed"])


def test_thumbnail_is_a_small_jpeg(server: ServerProcess, client: httpx.Client) -> None:
    job = server.wait_for(client, server.submit(client, width=128, height=64))
    name = job["outputs"][0]["filename"]
    response = client.get(f"/api/v1/jobs/{job['id']}/output/{name}", params={"thumb": "true", "size": 50})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (50, 25)
    full = client.get(f"/api/v1/jobs/{job['id']}/output/{name}")
    assert Image.open(io.BytesIO(full.content)).size == (128, 64)


def test_progress_fields_while_processing(server: ServerProcess, client: httpx.Client) -> None:
    job_id = server.submit(client, steps=6, width=64, height=64)
    seen_steps: list[int] = []
    job = server.wait_for(client, job_id, ("processing",))
    while job["status"] in ("queued", "processing"):
        if job["status"] == "processing":
            assert job["position"] == 0
            assert 0 <= job["progress"] <= 1
            assert job["time_elapsed"] >= 0
            if job["current_step"]:
                seen_steps.append(job["current_step"])
            if job["phase"] == "sampling" and job["current_step"] >= 1:
                assert job["speed"] > 0 and job["time_remaining"] is not None
        job = client.get(f"/api/queue/job/{job_id}").json()
    assert job["status"] == "completed"
    assert seen_steps == sorted(seen_steps) and seen_steps, "progress was never reported"
    assert job["total_steps"] == 6 and job["time_remaining"] == 0


def test_time_remaining_is_estimated_before_the_first_step_from_history(
    server: ServerProcess, client: httpx.Client
) -> None:
    server.wait_for(client, server.submit(client, width=64, height=64, steps=2))
    blocker = server.submit(client, width=64, height=64, steps=4)
    waiting = server.submit(client, width=128, height=64, steps=3)
    job = client.get(f"/api/queue/job/{waiting}").json()
    if job["status"] == "queued":
        assert job["time_remaining"] is not None and job["time_remaining"] > 0
    server.wait_for(client, blocker)
    assert server.wait_for(client, waiting)["status"] == "completed"
