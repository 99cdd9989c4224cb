"""Accuracy of POST /api/estimate for a size the server has never generated.

A real server with the random-weight SD1.5 model runs a few jobs at two sizes (the history), then for
each new size: asks for an estimate (idle queue, model loaded), runs the same job, and compares the
estimate with the job's real time (start to finish, from the job record). Target: within 30%.

Run from the checkout: `.venv/bin/python -m bench.bench_estimate [--history 64,128] [--new 192,96x160]`.
Timings on a shared machine are noisy: run it when nothing else uses the CPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

from tests.server import ServerProcess, prepare_data_dir


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height or width)


def _run(server: ServerProcess, client: httpx.Client, width: int, height: int, steps: int) -> float:
    job = server.wait_for(client, server.submit(client, width=width, height=height, steps=steps), timeout=900)
    assert job["status"] == "completed", job
    return float(job["time_elapsed"]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history", default="64,128", help="sizes run first, e.g. 64,128 or 64x96")
    parser.add_argument("--new", default="192,96x160", help="sizes to estimate, then run")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="history jobs per size")
    args = parser.parse_args()
    data_dir = prepare_data_dir(Path(tempfile.mkdtemp(prefix="bench-estimate-")))
    server = ServerProcess(data_dir).start()
    rows = []
    try:
        with server.client() as client:
            client.timeout = 900
            for text in args.history.split(","):
                width, height = _size(text)
                for _ in range(args.repeats):
                    _run(server, client, width, height, args.steps)
            for text in args.new.split(","):
                width, height = _size(text)
                body = {"prompt": "a test", "width": width, "height": height, "steps": args.steps}
                estimate = client.post("/api/estimate", json=body).json()
                started = time.monotonic()
                real = _run(server, client, width, height, args.steps)
                wall = time.monotonic() - started
                error = (estimate["estimated_seconds"] - real) / real
                rows.append(
                    (f"{width}x{height}", estimate["basis"], estimate["estimated_seconds"], real, wall, error)
                )
    finally:
        server.stop()
    print(f"history: {args.history} x{args.repeats}, {args.steps} steps")  # noqa: T201
    print(f"{'size':>9} {'basis':>8} {'estimate s':>10} {'real s':>7} {'wall s':>7} {'error':>7}")  # noqa: T201
    for size, basis, estimated, real, wall, error in rows:
        print(f"{size:>9} {basis:>8} {estimated:10.2f} {real:7.2f} {wall:7.2f} {error:+7.1%}")  # noqa: T201


if __name__ == "__main__":
    main()
