"""Shared pieces of the security tests: a server with every credential kind and a trusted proxy, a
client bound to a chosen loopback source address, and watchers of a server's health latency and
memory while bad requests run."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import httpx
import pytest
from PIL import Image

from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USERS = {"bob": "bob-password-1", "carol": "carol-password-1"}
# 127.0.0.9 is a real peer the tests can connect from (all of 127/8 is loopback on Linux): it plays
# the reverse proxy. 10.0.0.5 is a proxy no test can connect from: naming it in X-Forwarded-For
# must give nothing.
PROXY_SOURCE = "127.0.0.9"
GUARDED_ENV = {
    "STABLE_DIFFUSION_AUTH_METHOD": "jwt,api_key,unix",
    "STABLE_DIFFUSION_TRUSTED_PROXIES": f"10.0.0.5,{PROXY_SOURCE}",
    "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
    "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "STABLE_DIFFUSION_VERBOSE": "true",  # debug logging: what finding 4 leaked through
}


def cli(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", *args, "--data-dir", str(data_dir)],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def data_dir_with_model(root: Path) -> Path:
    data_dir = root / "data"
    link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / "sd15.safetensors")
    return data_dir


@pytest.fixture(scope="session")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Auth on with every credential kind, unix included, over TCP, with trusted proxies; verbose."""
    data_dir = data_dir_with_model(tmp_path_factory.mktemp("guarded"))
    for name, password in USERS.items():
        added = cli(data_dir, "users", "add", name, "--password-stdin", stdin=password + "\n")
        assert added.returncode == 0, added.stderr
    server = ServerProcess(data_dir, env=GUARDED_ENV).start()
    yield server
    server.stop()


def admin_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> ServerProcess:
    """A started server with JWT auth, the admin of the settings (ADMIN) and the plain user bob."""
    added = cli(data_dir, "users", "add", "bob", "--password-stdin", stdin=USERS["bob"] + "\n")
    assert added.returncode == 0, added.stderr
    env = {
        "STABLE_DIFFUSION_AUTH_METHOD": "jwt",
        "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
        "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STABLE_DIFFUSION_MAX_CONCURRENT_GENERATIONS": "1",
        **(extra_env or {}),
    }
    return ServerProcess(data_dir, env=env).start()


@contextmanager
def admin_client(server: ServerProcess, timeout: float = 120) -> Iterator[httpx.Client]:
    """A client logged in as ADMIN."""
    with httpx.Client(base_url=server.url, timeout=timeout) as client:
        client.headers.update(bearer(login(server, ADMIN, ADMIN_PASSWORD)))
        yield client


def client_from(server: ServerProcess, source: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from `source` (a loopback address)."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=server.url, timeout=60, transport=transport)


def login(server: ServerProcess, username: str, password: str) -> str:
    with server.client() as client:
        reply = client.post("/api/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def uniform_png(size: int, mode: str = "RGBA", color: int | tuple[int, ...] = 0) -> bytes:
    """A size x size PNG of one colour: tiny on the wire (zlib), size*size*4 bytes once decoded."""
    buffer = io.BytesIO()
    Image.new(mode, (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


class ServerWatch:
    """While open: the server's resident memory (sampled every 20 ms) and the latency of
    GET /api/health (one after another), from threads of their own."""

    def __init__(self, server: ServerProcess) -> None:
        assert server.process is not None
        self._server = server
        self._pid = server.process.pid
        self.baseline_mib = rss_mib(self._pid)
        self.peak_mib = self.baseline_mib
        self.health_seconds: list[float] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._sample), threading.Thread(target=self._probe)]

    def __enter__(self) -> ServerWatch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.baseline_mib

    @property
    def worst_health_seconds(self) -> float:
        return max(self.health_seconds, default=0.0)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mib = max(self.peak_mib, rss_mib(self._pid))

    def _probe(self) -> None:
        with self._server.client() as client:
            while not self._stop.is_set():
                started = time.monotonic()
                assert client.get("/api/health", timeout=120).status_code == 200
                self.health_seconds.append(time.monotonic() - started)
                self._stop.wait(0.05)

    def summary(self) -> str:
        return (
            f"memory {self.baseline_mib:.0f} -> peak {self.peak_mib:.0f} MiB, "
            f"health worst {self.worst_health_seconds:.2f} s over {len(self.health_seconds)} probes"
        )
