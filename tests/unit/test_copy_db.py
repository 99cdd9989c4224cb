"""`sdcpp-rest copy-db`: a real SQLite installation (the first release's database, upgraded, plus
rows written through today's stores) moved into a real, throw-away PostgreSQL database by the real
command; the PostgreSQL side then serves the same users, keys, jobs and hashes, and the queue goes on."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcpp_rest.auth.passwords import verify_password
from sdcpp_rest.auth.store import UserStore
from sdcpp_rest.catalog.store import ModelHashStore
from sdcpp_rest.jobs.records import JobStatus
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.database import create_database_engine, migrate
from tests.postgres import PostgresUnavailable, create_database, drop_database
from tests.unit.conftest import text2img_job

RELEASE1_DB = Path(__file__).resolve().parents[1] / "fixtures" / "release1.sqlite"


@pytest.fixture
def target_url() -> Iterator[str]:
    try:
        url = create_database("sdcpp_rest_copy")
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    yield url
    drop_database(url)


def copy_db(data_dir: Path, target: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sdcpp_rest.cli.main", "copy-db", "--data-dir", str(data_dir)]
    return subprocess.run([*command, "--to", target], capture_output=True, text=True, timeout=300)


def test_an_sqlite_installation_moves_to_postgresql_whole(tmp_path: Path, target_url: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    source_file = data_dir / "sdcpp-rest.db"
    shutil.copyfile(RELEASE1_DB, source_file)  # users, a key, a revoked token, 3 jobs, a hash
    source = create_database_engine(f"sqlite:///{source_file}")
    migrate(source)
    jobs = SqlJobStore(source)
    running = jobs.claim_next("w0")  # the release's queued job, left processing by a stopped server
    assert running is not None
    added = jobs.add(text2img_job(str(uuid.uuid4()), prompt="queued on sqlite"))
    before = {job.id: job for job in jobs.list_jobs()}
    source.dispose()

    result = copy_db(data_dir, target_url)

    assert result.returncode == 0, result.stderr
    assert "jobs 4" in result.stdout and "users 1" in result.stdout
    target = create_database_engine(target_url)
    try:
        copied = SqlJobStore(target)
        after = {job.id: job for job in copied.list_jobs()}
        assert set(after) == set(before)
        for job_id, job in before.items():
            if job_id == running.id:
                # Processing on the old installation: queued again on the new one.
                assert (after[job_id].status, after[job_id].worker_id) == (JobStatus.QUEUED, None)
            else:
                assert after[job_id] == job
        alice = UserStore(target).find_user("alice")
        assert alice is not None and verify_password(alice.password_hash, "release-one-password")
        assert UserStore(target).get_key("0123456789ab") is not None
        assert UserStore(target).is_token_revoked("0f" * 16)
        assert len(ModelHashStore(target).all()) == 1
        # The queue goes on: FIFO as before, new jobs numbered after the copied ones.
        assert [job.id for job in copied.list_jobs([JobStatus.QUEUED])] == [added.id, running.id]
        newer = copied.add(text2img_job(str(uuid.uuid4()), prompt="queued on postgresql"))
        assert newer.seq == max(job.seq for job in before.values()) + 1
        first = copied.claim_next("w0")
        assert first is not None and first.id == running.id
    finally:
        target.dispose()

    again = copy_db(data_dir, target_url)  # a second copy would mix two installations
    assert again.returncode == 1 and "already has rows" in again.stderr
