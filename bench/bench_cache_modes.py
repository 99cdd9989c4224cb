"""Speed-up of each step-caching mode and of TAESD decoding against no caching, side by side, through a
real server and the real engine, at 64x64 and 256x256.

    .venv/bin/python -m bench.bench_cache_modes [--runs 1] [--steps 12] [--sizes 64 256] [--families flux]

Families: the random-weight SD1.5 checkpoint (UNet: ucache, spectrum, TAESD) and the reduced Flux
(DiT: easycache, dbcache, taylorseer, cache_dit, spectrum; no Flux TAESD among the test models).
Each configuration runs once untimed (context load), then `runs` timed times; the table shows the
median seconds from POST to completion and the speed-up against `none` of the same family and size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.api.split_support import FLUX, prepare_split_data_dir
from tests.fixtures import mode_models
from tests.server import ServerProcess, link_or_copy

SD15 = {"model_name": "sd15.safetensors"}
DIT_MODES = ("easycache", "dbcache", "taylorseer", "cache_dit", "spectrum")
CONFIGS: list[tuple[str, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
    (
        "SD1.5",
        SD15,
        [
            ("none", {"cache_mode": "none"}),
            ("ucache", {"cache_mode": "ucache"}),
            ("spectrum", {"cache_mode": "spectrum"}),
            ("taesd", {"cache_mode": "none", "use_taesd": True}),
        ],
    ),
    (
        "Flux (reduced)",
        {**FLUX, "cfg_scale": 1.0},
        [
            (mode, {"cache_mode": mode})
            for mode in ("none", "easycache", "dbcache", "taylorseer", "cache_dit", "spectrum")
        ],
    ),
]


def run_job(server: ServerProcess, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Seconds from POST to the job's completion (the benches' unit of time), and the finished job."""
    with server.client() as client:
        started = time.perf_counter()
        response = client.post("/api/generate/text2img", json=body)
        response.raise_for_status()
        job = server.wait_for(client, response.json()["job_id"], timeout=1800)
        elapsed = time.perf_counter() - started
        if job["status"] != "completed":
            raise RuntimeError(f"{body} failed: {job['error']}")
        return elapsed, job


def run_to_completion(server: ServerProcess, body: dict[str, Any]) -> float:
    """Seconds from POST to the job's completion."""
    return run_job(server, body)[0]


def bench_server() -> tuple[tempfile.TemporaryDirectory[str], ServerProcess]:
    """A started server over the split-model test folder plus TAESD, and its folder (to clean up)."""
    tmp = tempfile.TemporaryDirectory(prefix="bench-cache-")
    data_dir = prepare_split_data_dir(Path(tmp.name))
    link_or_copy(mode_models.taesd_model(), data_dir / "models" / "taesd" / "taesd-random.safetensors")
    server = ServerProcess(data_dir)
    try:
        # A loaded machine may take minutes to start it (the catalog hashes the models first).
        return tmp, server.start(timeout=600)
    except BaseException:
        server.stop()  # a server that did not answer in time is still running
        tmp.cleanup()
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--families", nargs="+", default=["sd15", "flux"], help="sd15 and/or flux")
    args = parser.parse_args()
    tmp, server = bench_server()
    with tmp:
        try:
            print(f"{'family':<16} {'size':>7} {'mode':<11} {'seconds':>8} {'speed-up':>9}")
            chosen = [
                config for key, config in zip(("sd15", "flux"), CONFIGS, strict=True) if key in args.families
            ]
            for family, model, modes in chosen:
                for size in args.sizes:
                    base = {**model, "prompt": "a bench", "seed": 1, "steps": args.steps}
                    base.update(width=size, height=size)
                    reference = 0.0
                    for name, extra in modes:
                        body = {**base, **extra}
                        run_to_completion(server, {**body, "steps": 1})  # untimed: loads the context
                        seconds = statistics.median(run_to_completion(server, body) for _ in range(args.runs))
                        reference = reference or seconds
                        speedup = reference / seconds
                        print(
                            f"{family:<16} {size:>4}x{size:<3} {name:<11} {seconds:>8.2f} {speedup:>8.2f}x",
                            flush=True,
                        )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
