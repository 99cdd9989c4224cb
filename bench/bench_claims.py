"""Claims per second and one API node's submit rate, on SQLite and on PostgreSQL, side by side.

Claims: N tiny jobs (rows only, no engine) are queued, then 1, 2 and 4 claiming processes take them
as workers do (`SqlJobStore.claim_next`, then `complete` with the claim's token) until none is left;
claims/s = jobs / wall time of the slowest process. Target: at least 200/s with 4 on PostgreSQL.

Submits: one `serve --no-workers` API node (a real server process, random-weight model in its
models folder) takes `POST /api/generate/text2img` from 4 client threads; submits/s = accepted / wall
time.

    .venv/bin/python -m bench.bench_claims                      # 2000 jobs per run, 400 submits
    .venv/bin/python -m bench.bench_claims --jobs 500 --submits 100

PostgreSQL: 127.0.0.1:5432 as user postgres (SDCPP_REST_TEST_POSTGRES_URL for another server); a
throw-away database per run, dropped after.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing.synchronize import Event
from pathlib import Path

from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.database import create_database_engine, migrate
from tests.postgres import create_database, drop_database
from tests.server import ServerProcess, prepare_data_dir
from tests.unit.conftest import text2img_job

PROCESSES = (1, 2, 4)
CLIENT_THREADS = 4


def _claimer(url: str, start: Event, results: multiprocessing.Queue[tuple[int, float]]) -> None:
    engine = create_database_engine(url)
    store = SqlJobStore(engine)
    start.wait()
    began, count = time.perf_counter(), 0
    while (job := store.claim_next(f"bench-{uuid.uuid4().hex[:6]}")) is not None:
        store.complete(job.id, [], token=job.claim_token)
        count += 1
    results.put((count, time.perf_counter() - began))
    engine.dispose()


def claims_per_second(url: str, jobs: int, processes: int) -> float:
    engine = create_database_engine(url)
    migrate(engine)
    store = SqlJobStore(engine)
    for _ in range(jobs):
        store.add(text2img_job(str(uuid.uuid4())))
    engine.dispose()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results: multiprocessing.Queue[tuple[int, float]] = context.Queue()
    workers = [context.Process(target=_claimer, args=(url, start, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    time.sleep(2)  # let every process import and connect before the clock starts
    start.set()
    outcomes = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    claimed = sum(count for count, _ in outcomes)
    assert claimed == jobs, f"{claimed} claims for {jobs} jobs"
    return claimed / max(seconds for _, seconds in outcomes)


def submits_per_second(database_url: str, submits: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        data_dir = prepare_data_dir(Path(folder) / "data")
        env = {
            "STABLE_DIFFUSION_DATABASE_URL": database_url,
            "STABLE_DIFFUSION_MAX_QUEUED_JOBS_PER_USER": "0",
        }
        env["STABLE_DIFFUSION_MAX_SUBMISSIONS_PER_MINUTE"] = "0"
        node = ServerProcess(data_dir, env=env, args=["--no-workers"]).start()
        accepted: list[int] = []
        try:
            barrier = threading.Barrier(CLIENT_THREADS + 1)

            def submit(count: int) -> None:
                with node.client() as client:
                    barrier.wait()
                    for i in range(count):
                        body = {"prompt": f"p{i}", "width": 64, "height": 64, "steps": 1}
                        response = client.post("/api/generate/text2img", json=body)
                        accepted.append(response.status_code)

            threads = [
                threading.Thread(target=submit, args=(submits // CLIENT_THREADS,))
                for _ in range(CLIENT_THREADS)
            ]
            for thread in threads:
                thread.start()
            barrier.wait()
            began = time.perf_counter()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - began
        finally:
            node.stop()
    assert all(code == 202 for code in accepted), {code for code in accepted}
    return len(accepted) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per claim run")
    parser.add_argument("--submits", type=int, default=400, help="submits to the API node per database")
    args = parser.parse_args()
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("sqlite", "postgresql"):
            row: dict[str, float] = {}
            for processes in PROCESSES:
                if kind == "sqlite":
                    url = f"sqlite:///{Path(folder) / f'claims-{processes}.db'}"
                else:
                    url = create_database("sdcpp_rest_bench")
                try:
                    row[f"claims/s x{processes}"] = claims_per_second(url, args.jobs, processes)
                finally:
                    if kind == "postgresql":
                        drop_database(url)
            url = (
                f"sqlite:///{Path(folder) / 'submits.db'}"
                if kind == "sqlite"
                else create_database("sdcpp_rest_bench")
            )
            try:
                row["submits/s"] = submits_per_second(url, args.submits)
            finally:
                if kind == "postgresql":
                    drop_database(url)
            table[kind] = row
    columns = list(table["sqlite"])
    logline = f"{'':12}" + "".join(f"{column:>16}" for column in columns)
    lines = [logline] + [
        f"{kind:12}" + "".join(f"{values[column]:>16.1f}" for column in columns)
        for kind, values in table.items()
    ]
    target = table["postgresql"]["claims/s x4"]
    lines.append(
        f"target: >= 200 claims/s with 4 processes on PostgreSQL: {'met' if target >= 200 else 'NOT met'}"
    )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
