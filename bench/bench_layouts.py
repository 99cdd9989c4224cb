"""Images per second of a queue of jobs for each worker layout that fits the machine, side by side.

    .venv/bin/python -m bench.bench_layouts [--jobs 8] [--rounds 2]

A layout is (workers, threads per worker) with workers x threads = the cores: one worker with every
thread, then more workers with fewer threads each. Each layout runs in a real server process with the
random-weight SD1.5 model: a warm-up job per worker loads the model, then `jobs` jobs of 64x64 with 2
steps are queued at once and timed from the first submit to the last completion. Layouts alternate
within each round (these machines are noisy: only ratios measured in one run mean much), and the
ratio to the one-worker layout is printed with each round's figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tests.server import ServerProcess, prepare_data_dir

JOB = {"prompt": "a bench", "width": 64, "height": 64, "steps": 2, "seed": 1}


def layouts(cores: int) -> list[tuple[int, int]]:
    return [(workers, cores // workers) for workers in range(1, cores + 1) if cores % workers == 0]


def _queue_seconds(server: ServerProcess, workers: int, jobs: int) -> float:
    with server.client() as client:
        warm = [server.submit(client, **JOB) for _ in range(workers)]
        for job_id in warm:
            server.wait_for(client, job_id, timeout=900)
        started = time.perf_counter()
        queued = [server.submit(client, **JOB) for _ in range(jobs)]
        for job_id in queued:
            if server.wait_for(client, job_id, timeout=1800)["status"] != "completed":
                raise RuntimeError(f"job {job_id} did not complete")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(1, args.rounds + 1):
            rates: dict[tuple[int, int], float] = {}
            for workers, threads in layouts(cores):
                data_dir = prepare_data_dir(Path(tmp) / f"r{round_no}-w{workers}")
                env = {
                    "STABLE_DIFFUSION_MAX_CONCURRENT_GENERATIONS": str(workers),
                    "STABLE_DIFFUSION_N_THREADS": str(threads),
                }
                server = ServerProcess(data_dir, env=env).start()
                try:
                    seconds = _queue_seconds(server, workers, args.jobs)
                finally:
                    server.stop()
                rates[(workers, threads)] = args.jobs / seconds
            base = rates[(1, cores)]
            for (workers, threads), rate in rates.items():
                print(
                    f"round {round_no}: {workers} worker(s) x {threads} thread(s): {rate:.3f} images/s, "
                    f"{rate / base:.2f}x the one-worker layout"
                )


if __name__ == "__main__":
    main()
