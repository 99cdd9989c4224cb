"""Soak test: a mix of clients against one real server for a while, engine workers killed at random.

    .venv/bin/python -m bench.soak [--minutes 20] [--workers 2] [--kill-every 45]

Clients (threads, each its own HTTP connection): a submitter queues small text2img jobs (while fewer
than `--max-queued` wait, so the queue stays short and drains quickly at the end), pollers read
jobs and the queue, a WebSocket follower watches everything, a canceller cancels a random job now and
then, a downloader fetches finished images; a killer sends SIGKILL to a random engine worker every
`--kill-every` seconds on average. At the end the submitters stop, the queue drains, and the run
checks what the server promises: every accepted job is in a final state (or still queued), each
completed job's images are on disk, no job ran twice, and the API process's memory and open file
descriptors grew by no more than a small bound after the warm-up. It prints the figures: requests,
jobs by final status, kills, and the p50/p99 latency of each kind of request. Exit status 1 when a
check fails. Not part of the test suite: it runs for minutes by design.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
from websockets.sync.client import connect as ws_connect

from tests.server import TERMINAL, ServerProcess, prepare_data_dir

JOB = {"prompt": "a soak", "width": 64, "height": 64, "steps": 2}
# Growth allowed after the warm-up: the caches (catalog, step history) fill, the allocator keeps pages.
MAX_RSS_GROWTH_MB = 64
MAX_FD_GROWTH = 16


class Figures:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.accepted: list[str] = []
        self.kills = 0

    def timed(self, kind: str, call: object) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = call()  # type: ignore[operator]
        except httpx.HTTPError:
            with self._lock:
                self.errors[kind] += 1
            return None
        with self._lock:
            self.latencies[kind].append(time.perf_counter() - started)
            if response.status_code >= 500:
                self.errors[kind] += 1
        return response  # type: ignore[no-any-return]

    def job(self, job_id: str) -> None:
        with self._lock:
            self.accepted.append(job_id)

    def some_job(self) -> str | None:
        with self._lock:
            return random.choice(self.accepted) if self.accepted else None


def _process_figures(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def _loop(stop: threading.Event, pause: float, step: object) -> None:
    while not stop.is_set():
        step()  # type: ignore[operator]
        stop.wait(random.uniform(0.5, 1.5) * pause)


def run(minutes: float, workers: int, kill_every: float, max_queued: int) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = prepare_data_dir(Path(tmp) / "soak")
        env = {"STABLE_DIFFUSION_MAX_CONCURRENT_GENERATIONS": str(workers), "STABLE_DIFFUSION_N_THREADS": "1"}
        server = ServerProcess(data_dir, env=env).start()
        try:
            return _soak(server, minutes, kill_every, max_queued)
        finally:
            server.stop()


def _soak(server: ServerProcess, minutes: float, kill_every: float, max_queued: int) -> bool:
    assert server.process is not None
    pid = server.process.pid
    figures = Figures()
    with server.client() as warm:
        server.wait_for(warm, server.submit(warm, **JOB), timeout=600)
    rss_before, fds_before = _process_figures(pid)
    stop, submitting = threading.Event(), threading.Event()
    submitting.set()
    clients = [httpx.Client(base_url=server.url, timeout=60) for _ in range(5)]
    submitter, poller, canceller, downloader, queue_reader = clients

    def submit() -> None:
        # Keep the backlog small: submitting faster than the engine runs would only grow a queue that
        # the drain at the end then waits hours for (a 20-minute run once queued 600 jobs).
        if submitting.is_set() and queued_now() < max_queued:
            response = figures.timed("submit", lambda: submitter.post("/api/generate/text2img", json=JOB))
            if response is not None and response.status_code == 202:
                figures.job(response.json()["job_id"])

    def queued_now() -> int:
        response = figures.timed("status", lambda: submitter.get("/api/status"))
        if response is None or response.status_code != 200:
            return max_queued  # no answer: do not add to a queue of unknown length
        return int(response.json()["generation_queue"]["queue_size"])

    def poll() -> None:
        job_id = figures.some_job()
        if job_id:
            figures.timed("get job", lambda: poller.get(f"/api/queue/job/{job_id}"))

    def read_queue() -> None:
        figures.timed("queue status", lambda: queue_reader.get("/api/queue/status", params={"limit": 20}))

    def cancel() -> None:
        job_id = figures.some_job()
        if job_id:
            figures.timed("cancel", lambda: canceller.post("/api/queue/cancel", json={"job_id": job_id}))

    def download() -> None:
        job_id = figures.some_job()
        if job_id:
            figures.timed("download", lambda: downloader.get(f"/api/queue/job/{job_id}/output/image_0.png"))

    def kill() -> None:
        pids = server.worker_pids()
        if pids:
            try:
                os.kill(random.choice(pids), signal.SIGKILL)
                figures.kills += 1
            except ProcessLookupError:
                pass

    def follow() -> None:
        while not stop.is_set():
            try:
                with ws_connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as ws:
                    while not stop.is_set():
                        try:
                            json.loads(ws.recv(timeout=1))
                        except TimeoutError:
                            continue
            except Exception:  # a dropped connection: reconnect, as a client would
                figures.errors["websocket"] += 1
                stop.wait(1)

    threads = [
        threading.Thread(target=_loop, args=(stop, 2.0, submit)),
        threading.Thread(target=_loop, args=(stop, 0.5, poll)),
        threading.Thread(target=_loop, args=(stop, 1.0, read_queue)),
        threading.Thread(target=_loop, args=(stop, 15.0, cancel)),
        threading.Thread(target=_loop, args=(stop, 3.0, download)),
        threading.Thread(target=_loop, args=(stop, kill_every, kill)),
        threading.Thread(target=follow),
    ]
    for thread in threads:
        thread.start()
    ends = time.monotonic() + minutes * 60
    while time.monotonic() < ends:  # a line a minute, so a long run shows it is alive
        time.sleep(min(60.0, max(0.0, ends - time.monotonic())))
        print(f"soak: {len(figures.accepted)} jobs accepted, {figures.kills} kills so far", flush=True)
    submitting.clear()
    with server.client() as client:  # let the queue drain (kills continue meanwhile)
        for job_id in list(figures.accepted):
            server.wait_for(client, job_id, timeout=1800)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    for client in clients:
        client.close()
    time.sleep(2)  # let connections close before counting descriptors
    rss_after, fds_after = _process_figures(pid)
    return _report(server, figures, (rss_before, rss_after), (fds_before, fds_after))


def _report(server: ServerProcess, figures: Figures, rss: tuple[float, float], fds: tuple[int, int]) -> bool:
    problems: list[str] = []
    statuses: dict[str, int] = defaultdict(int)
    with server.client() as client:
        for job_id in figures.accepted:
            job = client.get(f"/api/queue/job/{job_id}").json()
            statuses[job["status"]] += 1
            if job["status"] not in (*TERMINAL, "queued"):
                problems.append(f"job {job_id} is {job['status']}")
            if job["attempts"] > 1:
                problems.append(f"job {job_id} ran {job['attempts']} times")
            if job["status"] == "completed":
                for output in job["outputs"]:
                    if not (server.data_dir / "outputs" / job_id / output["filename"]).is_file():
                        problems.append(f"job {job_id}: {output['filename']} is not on disk")
    if rss[1] - rss[0] > MAX_RSS_GROWTH_MB:
        problems.append(f"API process memory grew {rss[1] - rss[0]:.0f} MB (bound {MAX_RSS_GROWTH_MB})")
    if fds[1] - fds[0] > MAX_FD_GROWTH:
        problems.append(f"API process file descriptors grew by {fds[1] - fds[0]} (bound {MAX_FD_GROWTH})")
    requests = sum(len(values) for values in figures.latencies.values())
    print(f"requests: {requests}, errors (5xx or no answer): {dict(figures.errors)}")
    print(
        f"jobs accepted: {len(figures.accepted)}, by final status: {dict(statuses)}; "
        f"workers killed: {figures.kills}"
    )
    print(f"API process: {rss[0]:.0f} -> {rss[1]:.0f} MB resident, {fds[0]} -> {fds[1]} open files")
    for kind, values in sorted(figures.latencies.items()):
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"{kind:>12}: {len(values):5d} requests, p50 {statistics.median(values) * 1000:7.1f} ms, "
              f"p99 {p99 * 1000:7.1f} ms")  # fmt: skip
    for problem in problems:
        print(f"FAILED: {problem}")
    print("soak: OK" if not problems else f"soak: {len(problems)} problem(s)")
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=45.0, help="Mean seconds between worker kills.")
    parser.add_argument(
        "--max-queued", type=int, default=4, help="Submit only while fewer jobs than this wait (default 4)."
    )
    args = parser.parse_args()
    raise SystemExit(0 if run(args.minutes, args.workers, args.kill_every, args.max_queued) else 1)


if __name__ == "__main__":
    main()
