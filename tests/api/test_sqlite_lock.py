"""Issue 27, the SQLite side of "survive a database restart": another process holds the database file
locked (`BEGIN EXCLUSIVE`, as a backup tool or a `sqlite3` shell left in a transaction would) for
twice the server's busy timeout and past a job's lease. Writes during it answer 503 with Retry-After
(after the busy timeout: 10 s), reads go on (WAL), every loop lives through it and says so in one log
line, and every job accepted before and after the lock completes once. A real server on a real SQLite
file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.server import ServerProcess, prepare_data_dir

LEASE_SECONDS = 3.0


@contextmanager
def exclusive_lock(database: Path) -> Iterator[sqlite3.Connection]:
    """The database file write-locked by this test process until the block ends."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield connection
        connection.execute("COMMIT")
    finally:
        connection.close()


def lease_expiry(connection: sqlite3.Connection, job_id: str) -> float:
    row = connection.execute("SELECT lease_expires_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert row is not None and row[0] is not None, row
    return float(row[0])


def wait_worker_online(client: httpx.Client, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        workers = client.get("/api/status").json()["workers"]
        fresh = [w for w in workers if w["heartbeat_age_seconds"] < 3 * LEASE_SECONDS]
        if fresh and fresh[0]["status"] in ("idle", "busy"):
            return dict(fresh[0])
        assert time.monotonic() < deadline, f"the worker never showed online again: {workers}"
        time.sleep(0.2)


def test_a_locked_sqlite_file_answers_503_and_every_job_completes_once(tmp_path: Path) -> None:
    data_dir = prepare_data_dir(tmp_path)
    env = {"STABLE_DIFFUSION_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS)}
    server = ServerProcess(data_dir, env=env).start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            first = server.submit(client)
            assert server.wait_for(client, first)["status"] == "completed"
            # A longer job runs when the file is locked; another waits behind it.
            before = [server.submit(client, steps=6), server.submit(client)]
            server.wait_for(client, before[0], statuses=("processing",))

            with exclusive_lock(data_dir / "sdcpp-rest.db") as lock:
                # Each refused submit waited out the busy timeout: held for two of them, the lock
                # outlasts the busy timeout of every write the loops began meanwhile (the heartbeat
                # writes every lease/3 s), and the running job's lease.
                submitted = [
                    client.post("/api/generate/text2img", json={"prompt": "x", "steps": 1}) for _ in range(2)
                ]
                polled = client.get(f"/api/queue/job/{first}")
                queue = client.get("/api/queue/status")
                assert time.time() > lease_expiry(lock, before[0])

            after = [server.submit(client), server.submit(client)]
            for job_id in (*before, *after):
                done = server.wait_for(client, job_id)
                assert done["status"] == "completed", (done, server.log_tail())
            assert wait_worker_online(client)["worker_id"] == "w0"
    finally:
        server.stop()
    for refused in submitted:
        assert refused.status_code == 503, refused.text  # after the busy timeout, not a 500
        assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert int(refused.headers["Retry-After"]) > 0
    assert polled.status_code == 200 and queue.status_code == 200  # readers are not blocked (WAL)
    log = server.log_path.read_text(errors="replace")
    for job_id in (first, *before, *after):
        # Completed once: an interrupted run of the long job may be requeued by its lease, never
        # completed twice; one image.
        assert log.count(f"job {job_id} completed") == 1, log[-5000:]
        assert sorted(p.name for p in (data_dir / "outputs" / job_id).glob("image_*.png")) == ["image_0.png"]
    # The loops said the database was away, in one line each, with no traceback of an expected outage.
    assert "database unavailable (database is locked)" in log, log[-5000:]
    assert "Traceback" not in log, log[-8000:]
