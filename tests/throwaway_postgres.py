"""A throw-away PostgreSQL server (initdb + pg_ctl under a temporary folder, on a free port) that a test
may stop and start again: the machine's shared server must never be restarted by a test.

As root the server runs as the `postgres` OS user (PostgreSQL refuses to run as root); otherwise as
the current user. ThrowawayUnavailable says why it cannot run here (no binaries, no such user), for
the test to skip with that reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.server import free_port

START_SECONDS = 60  # pg_ctl's wait bound on a busy machine, never a timing claim


class ThrowawayUnavailable(Exception):
    """The message says what is missing."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ThrowawayUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin"
    )


def _run_as() -> list[str]:
    """The prefix that runs a command as the user owning the cluster."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ThrowawayUnavailable(
            "running as root and there is no 'postgres' OS user to run a server"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ThrowawayUnavailable("running as root and runuser is missing")
    return [runuser, "-u", "postgres", "--"]


class ThrowawayPostgres:
    """One server in a temporary folder; `url` reaches its `postgres` database as user postgres."""

    def __init__(self) -> None:
        self._bin = _bin_dir()
        self._as = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="sdcpp-rest-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        if self._as:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _pg(self, tool: str, *args: str) -> None:
        command = [*self._as, str(self._bin / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_SECONDS * 2)
        if result.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}\n{log}")

    def create(self) -> ThrowawayPostgres:
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def start(self) -> None:
        # fsync off: a test's data need not survive a power cut, and the machine is shared.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            str(START_SECONDS),
            "start",
        )

    def stop(self) -> None:
        """A fast shutdown: every session is ended, as in a restart for an upgrade or a failover."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", str(START_SECONDS), "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)
