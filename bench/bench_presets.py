"""Each speed preset (issue 26) against `quality`: time, speed-up, and how far its pixels move, per
family and size, through a real server and the real engine.

    .venv/bin/python -m bench.bench_presets [--runs 1] [--steps 20] [--sizes 64 256] [--families sd15 flux]
    .venv/bin/python -m bench.bench_presets --steps 4 --sizes 64     # quicker: checks that it runs

The server and its models are bench_cache_modes's (the random-weight SD1.5 checkpoint, the reduced
Flux, a random TAESD), so the presets choose on this machine's device what a real request would.
Each preset runs once untimed at 1 step (its engine context loads: `fast` converts to q8_0), then
`runs` timed times with the same seed; the table shows the median seconds from POST to completion,
the speed-up against `quality` of the same family and size, the mean absolute pixel difference to
`quality`'s image (0-255 per channel; random weights draw noise, so the figure says how much a
preset changes the output, not how good it looks) and the settings the PNG parameters record.
Target (SD1.5 on the 2-core CPU): `fast` at least 2x `quality` at 256x256, 20 steps.
"""

from __future__ import annotations

import argparse
import io
import statistics
from typing import Any

import numpy as np
from PIL import Image

from bench.bench_cache_modes import SD15, bench_server, run_job
from sdcpp_rest.outputs.infotext import parse_infotext
from sdcpp_rest.schemas.speed import SPEEDS
from tests.api.split_support import FLUX
from tests.server import ServerProcess

FAMILIES = {"sd15": ("SD1.5", SD15), "flux": ("Flux (reduced)", {**FLUX, "cfg_scale": 1.0})}
# The PNG parameters that show what a preset chose.
SHOWN = ("Cache mode", "Weight type", "TAESD", "VAE tiling")


def output(server: ServerProcess, job: dict[str, Any]) -> tuple[np.ndarray, dict[str, str]]:
    """The job's image as RGB numbers, and its PNG parameters."""
    with server.client() as client:
        content = client.get(job["outputs"][0]["url"]).content
    image = Image.open(io.BytesIO(content))
    image.load()
    fields = parse_infotext(image.text["parameters"])[2]
    return np.asarray(image.convert("RGB"), dtype=np.float64), fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    args = parser.parse_args()
    tmp, server = bench_server()
    with tmp:
        try:
            with server.client() as client:
                device = client.get("/api/parameters").json()["speed"]["device"]
            print(f"device: {device}, {args.steps} steps, {args.runs} timed run(s) each")
            header = f"{'family':<16} {'size':>7} {'speed':<9} {'seconds':>8} {'speed-up':>9}"
            print(f"{header} {'pixel diff':>10}  settings")
            for key in args.families:
                family, model = FAMILIES[key]
                for size in args.sizes:
                    base = {**model, "prompt": "a bench", "seed": 1, "steps": args.steps, "width": size}
                    base["height"] = size
                    reference: tuple[float, np.ndarray] | None = None
                    for speed in SPEEDS:
                        body = {**base, "speed": speed}
                        run_job(server, {**body, "steps": 1})  # untimed: loads the context
                        timed = [run_job(server, body) for _ in range(args.runs)]
                        seconds = statistics.median(elapsed for elapsed, _ in timed)
                        pixels, fields = output(server, timed[0][1])
                        reference = reference or (seconds, pixels)
                        difference = float(np.abs(pixels - reference[1]).mean())
                        chosen = ", ".join(f"{name}: {fields[name]}" for name in SHOWN if name in fields)
                        print(
                            f"{family:<16} {size:>4}x{size:<3} {speed:<9} {seconds:>8.2f} "
                            f"{reference[0] / seconds:>8.2f}x {difference:>10.2f}  {chosen or '-'}",
                            flush=True,
                        )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
