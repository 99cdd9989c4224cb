"""A real sdcpp-rest server process on a free port, for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.test_models import sd15_model

TERMINAL = ("completed", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def link_or_copy(source: Path, target: Path) -> Path:
    """Hard link the cached model into a test's models folder (a symlink would also be followed, but a
    test deleting the model would then delete a link, not the model); copy when the cache is on another
    file system."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    return target


def prepare_data_dir(data_dir: Path, model_name: str = "sd15.safetensors") -> Path:
    """A data folder whose models/checkpoints holds the random-weight SD1.5 model."""
    link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / model_name)
    return data_dir


class ServerProcess:
    """`sdcpp-rest serve` as a child process; stop() ends it, kill9() simulates a crash.

    `memory_limit_bytes` caps the address space of the server and of the engine workers it starts
    (`prlimit --as`, inherited by children): a test of a memory attack then fails with the server's
    MemoryError instead of exhausting the shared machine. The API process alone takes about 0.9 GB of
    address space; generating with the SD1.5 test model about 2.8 GB in its worker."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        memory_limit_bytes: int | None = None,
        python: str | None = None,
    ):
        self.data_dir = data_dir
        self._memory_limit = memory_limit_bytes
        # Another environment's interpreter (the packaging test's fresh venv); default: this one.
        self._python = python or sys.executable
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        self._env = env or {}
        self._args = args or []
        # With --socket the server listens on that Unix socket only.
        self.uds = self._args[self._args.index("--socket") + 1] if "--socket" in self._args else None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        env = {
            **os.environ,
            "STABLE_DIFFUSION_N_THREADS": os.environ.get("SDCPP_REST_TEST_THREADS", "1"),
            # A stop waits this long for a running job (default 60 s): keep tests that stop mid-job quick.
            "STABLE_DIFFUSION_RESTART_GRACE_SECONDS": "5",
            **self._idle_unload(),
            **self._env,
        }
        ceiling = ["prlimit", f"--as={self._memory_limit}", "--"] if self._memory_limit else []
        command = [
            *ceiling,
            self._python,
            "-m",
            "sdcpp_rest.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self._args,
        ]
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with self.client() as probe:
                    if probe.get("/api/health", timeout=1).status_code == 200:
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log_tail()}")

    @staticmethod
    def _idle_unload() -> dict[str, str]:
        """Under pytest, a server's worker frees its model after a while without a job. The suite keeps
        several session-scoped servers per test process (shared, compat, modes, split, guarded, ...):
        each loaded worker holds about 2.2 GB, and together they filled the machine's memory until the
        page cache thrashed and jobs stalled for minutes. An idle one now holds about 0.1 GB; the next
        job loads the model again (a few seconds). Benchmarks (no pytest) keep their models loaded."""
        if "PYTEST_VERSION" not in os.environ:
            return {}
        seconds = os.environ.get("SDCPP_REST_TEST_IDLE_UNLOAD", "30")
        return {"STABLE_DIFFUSION_MODEL_IDLE_UNLOAD_SECONDS": seconds}

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def worker_pids(self) -> list[int]:
        """PIDs of the engine worker processes (children started by multiprocessing's spawn)."""
        assert self.process is not None
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid and b"spawn_main" in cmdline:
                pids.append(int(entry.name))
        return pids

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._log.close()

    # --- small client helpers ---
    def client(self) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=self.uds) if self.uds else None
        return httpx.Client(base_url=self.url, timeout=30, transport=transport)

    def submit(self, client: httpx.Client, **body: Any) -> str:
        payload = {"prompt": "a test", "width": 64, "height": 64, "steps": 1, **body}
        response = client.post("/api/generate/text2img", json=payload)
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def wait_for(
        self, client: httpx.Client, job_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 180
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                job = client.get(f"/api/queue/job/{job_id}").json()
            except httpx.TimeoutException as exc:
                # One slow status poll on a loaded 2-core machine is not what a test checks: poll again
                # until the deadline, and say so in the failure if the job never gets there.
                job = {"last_poll": f"timed out: {exc!r}"}
                continue
            if job.get("status") in statuses:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not reach {statuses}: {job}\n{self.log_tail()}")
