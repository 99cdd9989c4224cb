"""Worker resident memory across alternating loads of two models: does memory grow model after model?

Two checkpoint names (hard links of the random-weight SD1.5 file: different paths, so each load builds
a new engine context) are loaded alternately through `POST /api/models/{id}/load`, 10 times in all;
after each load the engine worker's VmRSS is read from /proc. Prints the series, the first and last
values and the growth between the 2nd and the 10th load (after both models have been seen once).

Run from the checkout: `.venv/bin/python -m bench.bench_model_memory [--loads 10]`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy, prepare_data_dir

MODELS = ("model-a.safetensors", "model-b.safetensors")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        data_dir = prepare_data_dir(Path(tmp), model_name=MODELS[0])
        link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / MODELS[1])
        server = ServerProcess(data_dir).start()
        series: list[tuple[str, float]] = []
        try:
            with server.client() as client:
                client.timeout = 600
                for index in range(args.loads):
                    name = MODELS[index % 2]
                    reply = client.post(f"/api/models/{name}/load")
                    assert reply.status_code == 200, reply.text
                    (pid,) = server.worker_pids()
                    series.append((name, rss_mib(pid)))
        finally:
            server.stop()
    print(f"{'load':>4}  {'model':<20} {'worker RSS (MiB)':>16}")
    for index, (name, rss) in enumerate(series, start=1):
        print(f"{index:>4}  {name:<20} {rss:>16.0f}")
    if len(series) >= 2:
        growth = series[-1][1] - series[1][1]
        print(
            f"RSS after load 2: {series[1][1]:.0f} MiB, after load {len(series)}: {series[-1][1]:.0f} MiB "
            f"(growth {growth:+.0f} MiB over {len(series) - 2} more loads)"
        )


if __name__ == "__main__":
    main()
