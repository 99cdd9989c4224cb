"""CPU the API process spends per request, this checkout against another revision, side by side.

A client that polls (GET /api/queue/job/{id}, /api/queue/status, A1111's /sdapi/v1/progress) costs the
API process CPU on every request, and on a machine whose cores the engine uses that CPU is taken from
the engine. This starts two servers, one running the working tree and one running `--base` (a git
revision exported to a temporary folder and put first on PYTHONPATH), and sends each route the same
number of requests in alternating rounds, reading the API process's CPU seconds from /proc around each
round. The ratio of the medians is what the change did; CPU seconds, not wall time, are compared, so
other load on the machine moves both sides alike.

Run from the checkout: `.venv/bin/python -m bench.bench_request_cpu --base HEAD~1 [--rounds 8]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.bench_server_overhead import _process_seconds, print_table
from tests.server import ServerProcess, prepare_data_dir

ROUTES = ["/api/queue/job/{job_id}", "/api/queue/status?limit=5", "/api/health", "/sdapi/v1/progress"]


def export_revision(revision: str, target: Path) -> Path:
    """The revision's src/ folder, exported with git archive (the server imports it first)."""
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def cpu_per_request(server: ServerProcess, path: str, requests: int) -> float:
    """Milliseconds of API-process CPU per request of `path`, over `requests` requests."""
    assert server.process is not None
    with server.client() as client:
        client.get(path).raise_for_status()  # open the connection outside the measurement
        before = _process_seconds(server.process.pid)
        for _ in range(requests):
            client.get(path)
        return (_process_seconds(server.process.pid) - before) / requests * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="git revision to compare against (e.g. HEAD~1)")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds per route (default 8)")
    parser.add_argument("--requests", type=int, default=200, help="requests per round (default 200)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sdcpp-bench-cpu-") as scratch:
        base_src = export_revision(args.base, Path(scratch) / "base")
        servers = {
            "base": ServerProcess(
                prepare_data_dir(Path(scratch) / "data-base"), env={"PYTHONPATH": str(base_src)}
            ).start(),
            "this": ServerProcess(prepare_data_dir(Path(scratch) / "data-this")).start(),
        }
        try:
            job_ids = {}
            for name, server in servers.items():
                with server.client() as client:
                    job_ids[name] = server.submit(client)
                    server.wait_for(client, job_ids[name])
            rows = []
            for route in ROUTES:
                samples: dict[str, list[float]] = {name: [] for name in servers}
                for _ in range(args.rounds):
                    for name, server in servers.items():
                        path = route.format(job_id=job_ids[name])
                        samples[name].append(cpu_per_request(server, path, args.requests))
                base, this = (statistics.median(samples[name]) for name in ("base", "this"))
                rows.append([route, f"{base:.2f}", f"{this:.2f}", f"{this / base:.2f}"])
        finally:
            for server in servers.values():
                server.stop()
    print(
        f"\n=== API-process CPU per request: this checkout vs {args.base} (median of {args.rounds} rounds "
        f"of {args.requests}) ===\n"
    )
    print_table(["route", f"{args.base} ms", "this ms", "this/base"], rows)


if __name__ == "__main__":
    main()
