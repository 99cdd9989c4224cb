"""Real `sdcpp-rest worker` processes beside `serve --no-workers` API nodes on one throw-away
PostgreSQL database and one shared data folder (models and outputs), for the cluster tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from sdcpp_rest.storage.database import create_database_engine, migrate
from sdcpp_rest.storage.tables import jobs_table, workers_table
from tests.postgres import PostgresUnavailable, create_database, drop_database
from tests.server import ServerProcess

READY_SECONDS = 120  # a bound for a busy machine, never a timing claim


@contextmanager
def migrated_cluster_database() -> Iterator[str]:
    """A new database, migrated once before several processes start on it; its URL."""
    try:
        url = create_database("sdcpp_rest_cluster")
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    engine = create_database_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        drop_database(url)


def cluster_env(database_url: str, lease_seconds: float) -> dict[str, str]:
    return {
        "STABLE_DIFFUSION_DATABASE_URL": database_url,
        "STABLE_DIFFUSION_CLAIM_LEASE_SECONDS": str(lease_seconds),
        "STABLE_DIFFUSION_MAX_CONCURRENT_GENERATIONS": "1",
    }


def api_node(data_dir: Path, env: dict[str, str]) -> ServerProcess:
    return ServerProcess(data_dir, env=env, args=["--no-workers"]).start()


class WorkerProcess:
    """`sdcpp-rest worker` as a child process in its own session (kill9 takes its engine worker too)."""

    def __init__(self, data_dir: Path, env: dict[str, str], name: str, models_dir: Path | None = None):
        self.data_dir = data_dir
        self.name = name
        self.log_path = data_dir / f"worker-{name}.log"
        self._env = env
        self._models_dir = models_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def node(self) -> str:
        return f"{self.name}.{self.pid}"

    def start(self) -> WorkerProcess:
        env = {**os.environ, "STABLE_DIFFUSION_N_THREADS": "1", "STABLE_DIFFUSION_RESTART_GRACE_SECONDS": "5"}
        command = [sys.executable, "-m", "sdcpp_rest.cli.main", "worker", "--data-dir", str(self.data_dir)]
        command += ["--node-name", self.name]
        if self._models_dir is not None:
            command += ["--models-dir", str(self._models_dir)]
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**env, **self._env},
            start_new_session=True,
        )
        return self

    def wait_ready(self, database: sa.engine.Engine) -> None:
        """Until its engine worker is up and idle in the workers table."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}: {self.log_tail()}")
            with database.connect() as conn:
                statuses = conn.execute(
                    sa.select(workers_table.c.status).where(workers_table.c.node == self.node)
                ).scalars()
                if "idle" in list(statuses):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} did not become ready: {self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill9(self) -> None:
        """The machine dies: the worker and its engine process end at once."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGCONT)  # in case a test left it stopped
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._log.close()


def job_row(database: sa.engine.Engine, job_id: str) -> sa.Row[tuple[object, ...]]:
    with database.connect() as conn:
        row = conn.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).first()
    assert row is not None
    return row


def wait_for_row(
    database: sa.engine.Engine, job_id: str, condition: str, timeout: float = READY_SECONDS * 3
) -> sa.Row[tuple[object, ...]]:
    """Until the job's row satisfies `condition`: 'processing', 'completed', ... or 'sampling' (its
    worker reached a sampling step)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = job_row(database, job_id)
        if condition == "sampling" and row.status == "processing" and (row.current_step or 0) > 0:
            return row
        if row.status == condition:
            return row
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {condition}: {job_row(database, job_id)}")
