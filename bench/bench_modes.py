"""Time every generation mode at 64x64 with 2 steps through a real server and the real engine.

    .venv/bin/python -m bench.bench_modes [--runs 2]

Each mode runs `runs` times in a row: the first run includes any context reload the mode needs
(a ControlNet, TAESD or upscaler changes the engine context), the later ones are warm. Times are
from the POST to the job's completion as the API reports it (queue wait is zero: one job at a time).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.api.modes_support import half_mask, image_b64
from tests.server import ServerProcess

SIZE = {"width": 64, "height": 64, "steps": 2, "seed": 1, "prompt": "a bench"}
MODES: list[tuple[str, str, dict[str, Any]]] = [
    ("text2img", "text2img", {**SIZE}),
    ("img2img", "img2img", {**SIZE, "init_image": image_b64()}),
    ("inpainting", "inpainting", {**SIZE, "init_image": image_b64(), "mask_image": half_mask()}),
    (
        "controlnet",
        "controlnet",
        {**SIZE, "control_image": image_b64(color="white"), "control_net": "control-random"},
    ),
    (
        "controlnet+canny",
        "controlnet",
        {**SIZE, "control_image": image_b64(), "control_net": "control-random", "canny": True},
    ),
    ("text2img+lora", "text2img", {**SIZE, "loras": [{"name": "lora-random", "weight": 0.8}]}),
    ("text2img+embedding", "text2img", {**SIZE, "prompt": "a testemb bench"}),
    ("text2img+taesd", "text2img", {**SIZE, "use_taesd": True}),
    ("text2img+vae_tiling", "text2img", {**SIZE, "vae_tiling": True}),
    ("text2img+vae", "text2img", {**SIZE, "vae_path": "vae-random.safetensors"}),
    ("text2img+hires x2 (1+2 steps)", "text2img", {**SIZE, "hires": {"scale": 2, "steps": 2}}),
    ("text2img+upscale x4", "text2img", {**SIZE, "upscaler": "esrgan-x4"}),
    ("upscale x4 (64x64 input)", "upscale", {"image": image_b64(), "upscaler": "esrgan-x4"}),
]


def _run(server: ServerProcess, mode: str, body: dict[str, Any]) -> float:
    with server.client() as client:
        started = time.perf_counter()
        response = client.post(f"/api/generate/{mode}", json=body)
        response.raise_for_status()
        job = server.wait_for(client, response.json()["job_id"], timeout=900)
        elapsed = time.perf_counter() - started
        if job["status"] != "completed":
            raise RuntimeError(f"{mode} failed: {job['error']}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from tests.api.modes_support import prepare_modes_data_dir

    with tempfile.TemporaryDirectory() as folder:
        server = ServerProcess(prepare_modes_data_dir(Path(folder))).start()
        try:
            _run(server, "text2img", SIZE)  # load the checkpoint once, outside the table
            print(f"{'mode (64x64, 2 steps)':34} {'first s':>8} {'warm s':>8}")
            for label, mode, body in MODES:
                times = [_run(server, mode, body) for _ in range(args.runs)]
                warm = min(times[1:]) if len(times) > 1 else times[0]
                print(f"{label:34} {times[0]:8.2f} {warm:8.2f}", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
