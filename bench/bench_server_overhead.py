"""What the server costs on top of the engine, and how responsive it stays while the engine works.

1. The same generation (model, size, steps, seed, euler_a/discrete, thread count) run through a real
   server process (POST /api/generate/text2img, then GET /api/queue/job/{id} every 20 ms until
   "completed") and directly through the binding in this process (generate_image, then the PNG written
   with the server's own helper). Both are warmed up first, with the model already loaded, and the timed
   runs alternate server/direct so machine noise hits both alike; the server is idle while a direct run
   is timed and the direct engine is idle while a server run is timed. Target: server/direct <= 1.02.
   Beside the wall-clock ratio it prints the CPU-seconds ratio: what the server's processes (API and
   engine worker) used for a job against what the direct path used, which tells whether the server
   spends CPU of its own or only waits. (It is no cure for a busy machine: ggml's threads spin while
   they wait for each other, so their CPU seconds grow with contention too.)
2. GET /api/health latency while a generation runs (every 10 ms). Target: p99 < 50 ms.

Run from the checkout: `.venv/bin/python -m bench.bench_server_overhead [--repeats 3] [--sizes 64,256]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageChops
from websockets.sync.client import connect

from sdcpp_rest.outputs.files import output_filename, write_png_atomically
from sdcpp_rest.outputs.infotext import format_infotext
from tests.server import TERMINAL, ServerProcess, prepare_data_dir

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
SAMPLER = "euler_a"
SCHEDULER = "discrete"
CFG_SCALE = 7.0
MODEL_NAME = "sd15.safetensors"

RATIO_TARGET = 1.02
HEALTH_P99_TARGET_MS = 50.0
JOB_POLL_SECONDS = 0.02
HEALTH_POLL_SECONDS = 0.01
# While measuring health, the job's status is looked at this often (its own requests are not timed).
HEALTH_JOB_CHECK_SECONDS = 0.1
# After a server job completes, the slot thread still publishes events: let it finish before timing
# the direct path, so the two never overlap.
SETTLE_SECONDS = 0.3
JOB_TIMEOUT_SECONDS = 600.0
# The machine is shared: CPU used by processes other than this benchmark, the server and its workers
# ("foreign" CPU, steal time included) is measured around every run. A run during which it exceeds this
# share of one core is "disturbed" and its server/direct pair is done again (see --retries).
DISTURBED_CORE_SHARE = 0.05
# Before each run, wait (at most --quiet-timeout seconds) for a window this long with less than
# QUIET_CORE_SHARE of one core used by anything.
QUIET_WINDOW_SECONDS = 0.5
QUIET_CORE_SHARE = 0.10


@dataclass
class SizeResult:
    size: int
    server: list[float] = field(default_factory=list)
    server_in_job: list[float] = field(default_factory=list)  # the job's own time_elapsed (claim -> done)
    direct: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)  # CPU seconds of the API process + workers
    direct_cpu: list[float] = field(default_factory=list)  # CPU seconds of this process
    foreign: list[float] = field(default_factory=list)  # foreign CPU seconds of each kept pair
    redone: int = 0  # pairs measured again because another process disturbed them
    disturbed_kept: int = 0  # pairs kept although disturbed (retries used up)
    same_image: bool | None = None

    @property
    def ratio(self) -> float:
        return statistics.median(self.server) / statistics.median(self.direct)

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.server_cpu) / statistics.median(self.direct_cpu)


@dataclass
class HealthResult:
    samples_ms: list[float]
    jobs: int
    foreign_core_share: float
    size: int
    steps: int

    def percentile(self, p: int) -> float:
        if len(self.samples_ms) < 2:
            return self.samples_ms[0]
        return statistics.quantiles(self.samples_ms, n=100, method="inclusive")[p - 1]


# --- CPU accounting on a shared machine ---------------------------------------------------------------

_CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def _system_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICK


def _process_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICK  # utime + stime, all threads


class CpuMeter:
    """Foreign CPU: what the machine spent beyond this process, the server and its engine workers."""

    def __init__(self, server: ServerProcess) -> None:
        self._server = server

    def _ours(self) -> float:
        return self.own_seconds() + self.server_seconds()

    @staticmethod
    def own_seconds() -> float:
        """CPU seconds of this process: the direct path's engine (the server path only waits here)."""
        return _process_seconds(os.getpid())

    def server_seconds(self) -> float:
        """CPU seconds of the server's API process and its engine workers."""
        assert self._server.process is not None
        return sum(_process_seconds(pid) for pid in [self._server.process.pid, *self._server.worker_pids()])

    def snapshot(self) -> tuple[float, float]:
        return _system_busy_seconds(), self._ours()

    @staticmethod
    def foreign(before: tuple[float, float], after: tuple[float, float]) -> float:
        return max(0.0, (after[0] - before[0]) - (after[1] - before[1]))

    def wait_for_quiet(self, timeout: float) -> bool:
        """Until the machine (everything, ours included) is nearly idle for a short window."""
        deadline = time.monotonic() + timeout
        while True:
            before = _system_busy_seconds()
            time.sleep(QUIET_WINDOW_SECONDS)
            if _system_busy_seconds() - before < QUIET_CORE_SHARE * QUIET_WINDOW_SECONDS:
                return True
            if time.monotonic() > deadline:
                return False


def disturbed(foreign_seconds: float, wall_seconds: float) -> bool:
    return foreign_seconds > DISTURBED_CORE_SHARE * wall_seconds


# --- the two paths -------------------------------------------------------------------------------------


def infotext_for(size: int, steps: int, seed: int) -> str:
    """The same kind of `parameters` text the server writes (same length, near enough the same bytes)."""
    fields = {
        "Steps": steps,
        "Sampler": "Euler a",
        "Schedule type": SCHEDULER,
        "CFG scale": CFG_SCALE,
        "Seed": seed,
        "Size": f"{size}x{size}",
        "Model": Path(MODEL_NAME).stem,
        "Version": "sdcpp-rest",
    }
    return format_infotext(PROMPT, "", fields)


class DirectEngine:
    """The binding in this process, the same way the server's worker uses it: one context, kept loaded."""

    def __init__(self, model_path: Path, n_threads: int, output_root: Path) -> None:
        from stable_diffusion_cpp import StableDiffusion

        started = time.perf_counter()
        self._sd = StableDiffusion(model_path=str(model_path), n_threads=n_threads, verbose=False)
        if getattr(self._sd, "_model", None) is None or not self._sd._model.model:
            raise RuntimeError(f"the engine could not load {model_path}")
        self.load_seconds = time.perf_counter() - started
        self._output_root = output_root
        # Always passed, and referenced for the whole call: the binding's callback is process-global.
        self._progress: Callable[..., None] = lambda *_args: None

    def run(self, size: int, steps: int, seed: int) -> tuple[float, Path]:
        """Seconds for generate_image plus the PNG write, and the PNG written."""
        target = self._output_root / str(uuid.uuid4()) / output_filename(0)
        started = time.perf_counter()
        images = self._sd.generate_image(
            prompt=PROMPT,
            width=size,
            height=size,
            sample_steps=steps,
            cfg_scale=CFG_SCALE,
            sample_method=SAMPLER,
            scheduler=SCHEDULER,
            seed=seed,
            progress_callback=self._progress,
        )
        write_png_atomically(images[0].convert("RGB"), target, infotext_for(size, steps, seed))
        return time.perf_counter() - started, target


class ServerPath:
    def __init__(
        self, server: ServerProcess, poll_seconds: float = JOB_POLL_SECONDS, follow: str = "ws"
    ) -> None:
        self.server = server
        self.poll_seconds = poll_seconds
        self.client = httpx.Client(base_url=server.url, timeout=60)
        # Following on the WebSocket is what a client should do: polling costs the server CPU that the
        # engine's threads then lack (about 10% of a core at 20 ms on 2 cores).
        self.follow = follow
        ws_url = server.url.replace("http://", "ws://") + "/ws"
        self.ws = connect(ws_url, max_size=None) if follow == "ws" else None

    @staticmethod
    def body(size: int, steps: int, seed: int) -> dict[str, Any]:
        return {
            "prompt": PROMPT,
            "width": size,
            "height": size,
            "steps": steps,
            "seed": seed,
            "sampling_method": SAMPLER,
            "scheduler": SCHEDULER,
            "cfg_scale": CFG_SCALE,
        }

    def submit(self, size: int, steps: int, seed: int) -> str:
        response = self.client.post("/api/generate/text2img", json=self.body(size, steps, seed))
        if response.status_code != 202:
            raise RuntimeError(f"text2img answered {response.status_code}: {response.text}")
        return str(response.json()["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/queue/job/{job_id}")
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        return job

    def run(self, size: int, steps: int, seed: int) -> tuple[float, dict[str, Any]]:
        """Seconds from the POST to "completed" (WebSocket message or first poll seeing it), and the job."""
        started = time.perf_counter()
        job_id = self.submit(size, steps, seed)
        if self.ws is not None:
            while True:
                message = json.loads(self.ws.recv(timeout=JOB_TIMEOUT_SECONDS))
                data = message.get("data", {})
                if message.get("type") == "job_update" and data.get("job_id") == job_id:
                    if data["status"] == "completed":
                        elapsed = time.perf_counter() - started
                        self.wait_idle()
                        return elapsed, self.job(job_id)
                    if data["status"] in TERMINAL:
                        raise RuntimeError(f"job {job_id} {data['status']}: {data.get('error')}")
        while True:
            job = self.job(job_id)
            if job["status"] == "completed":
                elapsed = time.perf_counter() - started
                self.wait_idle()
                return elapsed, job
            if job["status"] in TERMINAL:
                detail = f"{job.get('error')}\n{self.server.log_tail()}"
                raise RuntimeError(f"job {job_id} {job['status']}: {detail}")
            if time.perf_counter() - started > JOB_TIMEOUT_SECONDS:
                raise RuntimeError(f"job {job_id} did not finish in {JOB_TIMEOUT_SECONDS:.0f} s")
            time.sleep(self.poll_seconds)

    def wait_idle(self) -> None:
        """Until no job is queued or running, then a moment for the slot thread's last events."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queue = self.client.get("/api/status").json()["generation_queue"]
            if queue["active_generations"] == 0 and queue["queue_size"] == 0:
                break
            time.sleep(0.05)
        time.sleep(SETTLE_SECONDS)

    def output_path(self, job: dict[str, Any]) -> Path:
        return self.server.data_dir / "outputs" / job["id"] / job["outputs"][0]["filename"]

    def close(self) -> None:
        self.client.close()


def same_pixels(a: Path, b: Path) -> bool:
    with Image.open(a) as first, Image.open(b) as second:
        if first.size != second.size:
            return False
        return ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox() is None


# --- the benchmarks ------------------------------------------------------------------------------------


@dataclass
class Bench:
    server: ServerPath
    direct: DirectEngine
    meter: CpuMeter
    args: argparse.Namespace

    def quiet(self) -> None:
        if not self.meter.wait_for_quiet(self.args.quiet_timeout):
            print(f"  (machine still busy after {self.args.quiet_timeout:.0f} s; going on)", flush=True)

    def timed(self, run: Callable[[], tuple[float, Any]]) -> tuple[float, Any, float]:
        """Wait for a quiet machine, then run; (seconds, run's result, foreign CPU seconds meanwhile)."""
        self.quiet()
        before = self.meter.snapshot()
        seconds, value = run()
        return seconds, value, CpuMeter.foreign(before, self.meter.snapshot())

    def cpu_of(self, run: Callable[[], tuple[float, Any]], server: bool) -> tuple[float, Any, float, float]:
        """`timed`, plus the CPU seconds of the path that ran (the server's processes, or this one)."""
        meter = self.meter.server_seconds if server else self.meter.own_seconds
        before = meter()
        seconds, value, foreign = self.timed(run)
        return seconds, value, foreign, meter() - before


def bench_size(bench: Bench, size: int) -> SizeResult:
    args = bench.args
    steps, seed = args.steps, args.seed
    result = SizeResult(size)
    print(f"\n{size}x{size}, {steps} steps: warm-up", flush=True)
    seconds, job, _ = bench.timed(lambda: bench.server.run(size, steps, seed))
    print(f"  warm-up server {seconds:7.3f} s", flush=True)
    seconds, direct_png, _ = bench.timed(lambda: bench.direct.run(size, steps, seed))
    print(f"  warm-up direct {seconds:7.3f} s", flush=True)
    result.same_image = same_pixels(bench.server.output_path(job), direct_png)
    for index in range(args.repeats):
        for attempt in range(args.retries + 1):
            server_s, job, server_foreign, server_cpu = bench.cpu_of(
                lambda: bench.server.run(size, steps, seed), server=True
            )
            direct_s, _, direct_foreign, direct_cpu = bench.cpu_of(
                lambda: bench.direct.run(size, steps, seed), server=False
            )
            was_disturbed = disturbed(server_foreign, server_s) or disturbed(direct_foreign, direct_s)
            print(
                f"  run {index + 1}/{args.repeats}: server {server_s:7.3f} s "
                f"(in job {job['time_elapsed'] / 1000:7.3f} s)   direct {direct_s:7.3f} s   "
                f"CPU {server_cpu:6.2f} / {direct_cpu:6.2f} s   "
                f"foreign CPU {server_foreign:5.2f} / {direct_foreign:5.2f} s"
                + ("   DISTURBED" if was_disturbed else ""),
                flush=True,
            )
            if not was_disturbed or attempt == args.retries:
                break
            result.redone += 1
        result.disturbed_kept += int(was_disturbed)
        result.server.append(server_s)
        result.server_in_job.append(job["time_elapsed"] / 1000)
        result.direct.append(direct_s)
        result.server_cpu.append(server_cpu)
        result.direct_cpu.append(direct_cpu)
        result.foreign.append(server_foreign + direct_foreign)
    return result


def bench_health(bench: Bench) -> HealthResult:
    """GET /api/health every 10 ms while jobs run; only samples taken while a job is processing count.
    Jobs are submitted one after another until there are `--health-samples` samples."""
    server, args = bench.server, bench.args
    size, steps = args.health_size, args.steps
    every_ms = HEALTH_POLL_SECONDS * 1000
    print(f"\nGET /api/health every {every_ms:.0f} ms during {size}x{size} jobs", flush=True)
    samples: list[float] = []
    jobs = 0
    bench.quiet()
    before, wall_started = bench.meter.snapshot(), time.perf_counter()
    with httpx.Client(base_url=server.server.url, timeout=60) as health_client:
        health_client.get("/api/health").raise_for_status()  # open the connection before timing
        while len(samples) < args.health_samples:
            job_id = server.submit(size, steps, args.seed + jobs)
            jobs += 1
            processing, next_check = False, 0.0
            started = time.perf_counter()
            while True:
                now = time.perf_counter()
                if now >= next_check:
                    status = server.job(job_id)["status"]
                    if status in TERMINAL:
                        if status != "completed":
                            raise RuntimeError(f"health job {job_id} {status}")
                        break
                    processing = status == "processing"
                    next_check = now + HEALTH_JOB_CHECK_SECONDS
                    if now - started > JOB_TIMEOUT_SECONDS:
                        raise RuntimeError(f"health job {job_id} did not finish")
                sent = time.perf_counter()
                response = health_client.get("/api/health")
                latency = time.perf_counter() - sent
                if response.status_code != 200:
                    raise RuntimeError(f"/api/health answered {response.status_code}")
                if processing:
                    samples.append(latency * 1000)
                time.sleep(max(0.0, sent + HEALTH_POLL_SECONDS - time.perf_counter()))
            print(f"  job {jobs}: {len(samples)} samples so far", flush=True)
    foreign = CpuMeter.foreign(before, bench.meter.snapshot())
    share = foreign / (time.perf_counter() - wall_started)
    server.wait_idle()
    return HealthResult(samples, jobs, share, size, steps)


# --- report --------------------------------------------------------------------------------------------


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def report(args: argparse.Namespace, results: list[SizeResult], health: HealthResult | None) -> bool:
    """Print the tables; True when every target is met."""
    ok = True
    print(
        f"\n=== server vs direct: seed {args.seed}, {SAMPLER}/{SCHEDULER}, cfg {CFG_SCALE}, "
        f"{args.steps} steps, {args.threads} threads, median of {args.repeats} alternating runs ==="
    )
    follow = (
        "the WebSocket says 'completed'"
        if args.follow == "ws"
        else f"a poll sees 'completed' (GET job every {args.poll_ms:g} ms)"
    )
    print(f"server: POST text2img -> {follow}; in-job: the job's own time_elapsed")
    print("direct: generate_image + write_png_atomically in one process\n")
    rows = []
    for r in results:
        met = r.ratio <= RATIO_TARGET
        ok &= met
        rows.append(
            [
                f"{r.size}x{r.size}",
                f"{statistics.median(r.server):.3f}",
                f"{statistics.median(r.server_in_job):.3f}",
                f"{statistics.median(r.direct):.3f}",
                f"{(statistics.median(r.server) - statistics.median(r.direct)) * 1000:+.0f}",
                f"{r.ratio:.3f}",
                f"{r.cpu_ratio:.3f}",
                f"<= {RATIO_TARGET}",
                "ok" if met else "MISSED",
                f"{max(r.foreign):.2f}",
                f"{r.redone}/{r.disturbed_kept}",
                {True: "yes", False: "NO", None: "?"}[r.same_image],
            ]
        )
    print_table(
        [
            "size",
            "server s",
            "in-job s",
            "direct s",
            "diff ms",
            "ratio",
            "CPU ratio",
            "target",
            "result",
            "foreign CPU s",
            "redone/kept",
            "same pixels",
        ],
        rows,
    )
    print(
        "\nCPU ratio: CPU seconds of the server's processes (API + engine worker) for a job over those of "
        "the direct path (median of each); the target applies to the wall-clock ratio"
    )
    print(
        "\nforeign CPU: the most CPU other processes used during one kept server+direct pair; redone/kept: "
        f"pairs measured again because other processes used > {DISTURBED_CORE_SHARE:.0%} of a core, and "
        "disturbed pairs kept when --retries ran out"
    )
    if health is not None:
        met = health.percentile(99) < HEALTH_P99_TARGET_MS
        ok &= met
        print(
            f"\n=== GET /api/health while generating ({health.jobs} job(s) of {health.size}x{health.size}, "
            f"{health.steps} steps; polled every {HEALTH_POLL_SECONDS * 1000:.0f} ms; other processes used "
            f"{health.foreign_core_share:.0%} of a core meanwhile) ===\n"
        )
        print_table(
            ["samples", "p50 ms", "p90 ms", "p99 ms", "max ms", "target", "result"],
            [
                [
                    str(len(health.samples_ms)),
                    f"{health.percentile(50):.2f}",
                    f"{health.percentile(90):.2f}",
                    f"{health.percentile(99):.2f}",
                    f"{max(health.samples_ms):.2f}",
                    f"p99 < {HEALTH_P99_TARGET_MS:.0f}",
                    "ok" if met else "MISSED",
                ]
            ],
        )
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path per size")
    parser.add_argument(
        "--sizes", default="64,256", help="comma-separated square sizes in pixels (default 64,256)"
    )
    parser.add_argument("--steps", type=int, default=2, help="sampling steps (default 2)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--poll-ms",
        type=float,
        default=JOB_POLL_SECONDS * 1000,
        help="GET /api/queue/job/{id} interval while a server run is timed (default 20)",
    )
    parser.add_argument(
        "--follow",
        choices=("ws", "poll"),
        default="ws",
        help="how the server run learns the job completed: WebSocket message (default) or polling",
    )
    parser.add_argument("--threads", type=int, default=2, help="engine threads on both paths (default 2)")
    parser.add_argument(
        "--health-size", type=int, default=None, help="size of the job(s) health is measured during "
    )
    parser.add_argument("--health-samples", type=int, default=200, help="least health samples (default 200)")
    parser.add_argument("--no-health", action="store_true", help="skip the health latency benchmark")
    parser.add_argument("--data-dir", type=Path, help="server data folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (outputs, server log)")
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times a server/direct pair disturbed by other processes is measured again (default 2)",
    )
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=20.0,
        help="seconds to wait for an idle machine before each run (default 20)",
    )
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    args.size_list = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not args.size_list or args.repeats < 1 or args.steps < 1 or args.retries < 0:
        parser.error("need at least one size, --repeats >= 1, --steps >= 1 and --retries >= 0")
    if args.health_size is None:
        args.health_size = max(args.size_list)
    return args


def _exit_on_sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)  # unwinds through main's `finally`, which stops the server


def _wait_for_hashes(server_process: ServerProcess, timeout: float = 300) -> float:
    """A fresh server hashes its model files once (SHA-256 of gigabytes, in a thread at nice 19): wait
    for that to end, so that the timed runs compare the steady state, not the first minutes."""
    started = time.monotonic()
    with server_process.client() as client:
        while time.monotonic() - started < timeout:
            reply = client.post("/api/models/refresh")
            reply.raise_for_status()
            if reply.json()["hashes_pending"] == 0:
                break
            time.sleep(0.5)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="sdcpp-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    prepare_data_dir(data_dir, MODEL_NAME)
    model_path = data_dir / "models" / "checkpoints" / MODEL_NAME
    print(f"data folder {data_dir}; model {model_path} ({model_path.stat().st_size / 1e9:.1f} GB)")
    server_process = ServerProcess(data_dir, env={"STABLE_DIFFUSION_N_THREADS": str(args.threads)})
    server: ServerPath | None = None
    try:
        server_process.start()
        server = ServerPath(server_process, args.poll_ms / 1000, args.follow)
        print(f"server at {server_process.url} (log {server_process.log_path})")
        print(f"catalog hashed the model files in {_wait_for_hashes(server_process):.1f} s")
        direct = DirectEngine(model_path, args.threads, data_dir / "direct-outputs")
        print(f"direct engine loaded in {direct.load_seconds:.1f} s")
        bench = Bench(server, direct, CpuMeter(server_process), args)
        results = [bench_size(bench, size) for size in args.size_list]
        health = None if args.no_health else bench_health(bench)
        ok = report(args, results, health)
    finally:
        if server is not None:
            server.close()
        server_process.stop()
        if not args.keep and args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
