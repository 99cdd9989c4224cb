"""The exact request sequences Open WebUI and SillyTavern send to an AUTOMATIC1111 server, replayed
as they write them (Open WebUI's backend/open_webui/routers/images.py, SillyTavern's
src/endpoints/stable-diffusion.js and its stable-diffusion extension), with their headers."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx

from tests.compat.conftest import OTHER_CHECKPOINT, decode_png, native_job
from tests.server import ServerProcess

# What each sends as Authorization when no credentials are configured. Open WebUI's `Basic ` reaches
# the server as `Basic` (a header value's trailing whitespace is not part of it; httpx refuses to send it).
OPEN_WEBUI_NO_AUTH = {"authorization": "Basic"}
SILLYTAVERN_NO_AUTH = {"Authorization": "Basic dW5kZWZpbmVk"}  # base64 of "undefined"


def test_open_webui_sets_the_model_then_generates(compat_server: ServerProcess) -> None:
    with httpx.Client(base_url=compat_server.url, headers=OPEN_WEBUI_NO_AUTH, timeout=600) as client:
        models = client.get("/sdapi/v1/sd-models").json()
        wanted = next(model["title"] for model in models if model["model_name"] == "second")
        options = client.get("/sdapi/v1/options").json()
        assert options["sd_model_checkpoint"] != wanted
        options["sd_model_checkpoint"] = wanted  # set_image_model posts the whole dict back
        assert client.post("/sdapi/v1/options", json=options).status_code == 200
        assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == wanted
        try:
            # image_generations' body, AUTOMATIC1111_PARAMS (cfg_scale, sampler, scheduler) merged in.
            data = {"prompt": "a lighthouse", "batch_size": 1, "width": 64, "height": 64, "steps": 1,
                    "negative_prompt": "fog", "cfg_scale": 6, "sampler_name": "Euler a",
                    "scheduler": "Karras"}  # fmt: skip
            reply = client.post("/sdapi/v1/txt2img", json=data)
            assert reply.status_code == 200, reply.text
            res = reply.json()
            assert decode_png(res["images"][0]).format == "PNG"
            info = json.loads(res["info"])  # Open WebUI stores it with the image
            job = native_job(compat_server, info["job_id"])
            assert job["model_name"] == OTHER_CHECKPOINT and job["parameters"]["scheduler"] == "karras"
        finally:
            options["sd_model_checkpoint"] = next(m["title"] for m in models if m["model_name"] == "sd15")
            client.post("/sdapi/v1/options", json=options)


def _sillytavern_body(prompt: str, steps: int, vae: str | None) -> dict[str, Any]:
    """generateAutoImage's payload: getSdRequestBody()'s url and auth, then the settings."""
    return {
        "url": "http://127.0.0.1:7860", "auth": None, "prompt": prompt,
        "negative_prompt": "lowres, bad anatomy", "sampler_name": "DDIM", "scheduler": "normal",
        "steps": steps, "cfg_scale": 7, "width": 64, "height": 64, "restore_faces": False,
        "enable_hr": False, "hr_upscaler": "Latent", "hr_scale": 2, "hr_additional_modules": [],
        "denoising_strength": 0.7, "hr_second_pass_steps": 0,
        "override_settings": {"CLIP_stop_at_last_layers": 1, **({"sd_vae": vae} if vae else {})},
        "override_settings_restore_afterwards": True, "clip_skip": 1, "save_images": True,
        "send_images": True, "do_not_save_grid": False, "do_not_save_samples": False,
        "alwayson_scripts": {"ADetailer": {"args": [True, True, {"ad_model": "face_yolov8n.pt"}]}},
    }  # fmt: skip


def test_sillytavern_lists_switches_model_waits_and_generates(compat_server: ServerProcess) -> None:
    with httpx.Client(base_url=compat_server.url, headers=SILLYTAVERN_NO_AUTH, timeout=600) as client:
        assert client.get("/sdapi/v1/options").status_code == 200  # its ping
        samplers = [item["name"] for item in client.get("/sdapi/v1/samplers").json()]
        schedulers = [item["name"] for item in client.get("/sdapi/v1/schedulers").json()]
        upscalers = [item["name"] for item in client.get("/sdapi/v1/upscalers").json()]
        latent = [item["name"] for item in client.get("/sdapi/v1/latent-upscale-modes").json()]
        vaes = [item["model_name"] for item in client.get("/sdapi/v1/sd-vae").json()]
        assert client.get("/sdapi/v1/sd-modules").json() == []
        models = [item["title"] for item in client.get("/sdapi/v1/sd-models").json()]
        assert (
            "DDIM" in samplers and "automatic" in schedulers and upscalers[0] == "None" and "Latent" in latent
        )
        assert vaes == ["vae-random.safetensors"] and len(models) == 2

        sd15 = next(title for title in models if title.startswith("sd15"))
        assert client.post("/sdapi/v1/options", json={"sd_model_checkpoint": sd15}).status_code == 200
        for _attempt in range(10):  # set-model polls until the switch is done
            state = client.get("/sdapi/v1/progress").json()
            if state["progress"] == 0.0 and state["state"]["job_count"] == 0:
                break
            time.sleep(2)
        else:
            raise AssertionError(state)

        reply = client.post("/sdapi/v1/txt2img", json=_sillytavern_body("a tavern", 1, vaes[0]))
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert "auth" not in data["parameters"] and "url" not in data["parameters"]
        job = native_job(compat_server, json.loads(data["info"])["job_id"])
        assert (
            job["parameters"]["sampling_method"] == "ddim_trailing"
            and job["parameters"]["scheduler"] == "discrete"
        )
        assert job["parameters"]["vae_path"] == "vae-random.safetensors"


def _send_txt2img_and_hang_up(server: ServerProcess, body: dict[str, Any], then: Any) -> str:
    """POST txt2img on a raw connection, wait until its job runs, call `then`, close the connection;
    the job's id."""
    payload = json.dumps(body).encode()
    head = (
        "POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Basic dW5kZWZpbmVk\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with server.client() as client, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head + payload)
        deadline = time.monotonic() + 300
        while True:
            jobs = client.get("/api/queue/status", params={"limit": 0}).json()["queue"]["jobs"]
            running = [
                job for job in jobs if job["status"] == "processing" and job["prompt"] == body["prompt"]
            ]
            if running and running[0]["current_step"] >= 1:
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.2)
        then(client)
    return str(running[0]["id"])


def test_a_client_that_disconnects_cancels_its_job(compat_server: ServerProcess) -> None:
    # Any client: hanging up is enough.
    job_id = _send_txt2img_and_hang_up(compat_server, _sillytavern_body("hang up", 40, None), lambda _c: None)
    with compat_server.client() as client:
        assert compat_server.wait_for(client, job_id)["status"] == "cancelled"

    # SillyTavern: on the socket's close its server posts interrupt, then aborts the fetch.
    def interrupt(client: httpx.Client) -> None:
        assert client.post("/sdapi/v1/interrupt", headers=SILLYTAVERN_NO_AUTH).status_code == 200

    job_id = _send_txt2img_and_hang_up(compat_server, _sillytavern_body("interrupted", 40, None), interrupt)
    with compat_server.client() as client:
        assert compat_server.wait_for(client, job_id)["status"] == "cancelled"
        assert client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0
