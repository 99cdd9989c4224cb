"""The Alembic migrations on real SQLite files and a real PostgreSQL: a database the first release
wrote is upgraded with its rows intact, a fresh one reaches exactly the schema of storage/tables.py
(the guard that a table change comes with a migration), and concurrent or repeated start-ups are safe.

PostgreSQL must run on 127.0.0.1:5432 with trust auth for user postgres (or set
SDCPP_REST_TEST_POSTGRES_URL to a server URL without a database); these tests fail, not skip, without it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from sdcpp_rest.auth.passwords import verify_password
from sdcpp_rest.auth.permissions import Role
from sdcpp_rest.auth.store import UserStore
from sdcpp_rest.catalog.store import ModelHashStore
from sdcpp_rest.engine.protocol import JobTimings
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.params import Text2ImgParams
from sdcpp_rest.jobs.records import JobStatus
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.database import create_database_engine, migrate
from sdcpp_rest.storage.migrations import alembic_config
from sdcpp_rest.storage.tables import metadata
from tests.unit.conftest import text2img_job

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

# Written by the first release's own code (7bf49a1): see tests/fixtures/README.md.
RELEASE1_DB = Path(__file__).resolve().parents[1] / "fixtures" / "release1.sqlite"
COMPLETED_ID = "00000000-0000-4000-8000-000000000001"
FAILED_ID = "00000000-0000-4000-8000-000000000002"
QUEUED_ID = "00000000-0000-4000-8000-000000000003"
MODEL_PATH = "/models/checkpoints/sd15.safetensors"

POSTGRES_SERVER = os.environ.get(
    "SDCPP_REST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


# --- helpers ---


def sqlite_engine(path: Path) -> Engine:
    return create_database_engine(f"sqlite:///{path}")


def release1_copy(tmp_path: Path) -> Path:
    target = tmp_path / "jobs.db"
    shutil.copyfile(RELEASE1_DB, target)
    return target


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def revisions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def assert_at_head_with_new_schema(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    assert revisions(engine) == [HEAD]
    assert not inspector.has_table("schema_version")
    indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes("jobs")}
    assert indexes["ix_jobs_status_seq"] == ["status", "seq"]
    assert schema_differences(engine) == []


def assert_first_release_rows(engine: Engine) -> None:
    """The rows tests/fixtures/release1.sqlite holds, read through today's stores; then the queue
    still works: a new job gets the next seq, and the claim takes the old queued job first."""
    jobs = SqlJobStore(engine)
    completed, failed, queued = (jobs.get(job_id) for job_id in (COMPLETED_ID, FAILED_ID, QUEUED_ID))
    assert completed is not None and failed is not None and queued is not None
    assert completed.status is JobStatus.COMPLETED
    assert completed.outputs == ["image_0.png", "image_1.png"]
    assert completed.timings == JobTimings(3.0, 0.25, 10.0, 1.5, 4_000_000_000)
    assert (completed.mode, completed.current_step, completed.total_steps) == ("text2img", 40, 40)
    assert completed.step_seconds == 0.5
    # The stored request body, as the release's submit_text2img wrote it.
    expected = {"prompt": "a completed cat", "width": 512, "steps": 20, "batch_count": 2, "seed": 42}
    expected |= {"sampling_method": "euler_a", "model_name": "sd15.safetensors", "n_threads": -1}
    # Read into today's typed parameters: a row without params_version is version 1.
    assert isinstance(completed.params, Text2ImgParams) and completed.params.params_version == 1
    stored = completed.params.model_dump()
    assert {key: stored[key] for key in expected} == expected
    # A code this release does not have reads as INTERNAL_ERROR (jobs/rows.py); the message stays.
    assert (failed.status, failed.error_code) == (JobStatus.FAILED, ErrorCode.INTERNAL_ERROR)
    assert failed.error == "the engine ran out of memory"
    assert (queued.status, queued.attempts, queued.prompt, queued.seed) == (
        JobStatus.QUEUED,
        0,
        "a queued bird",
        42,
    )
    assert [job.id for job in jobs.list_jobs()] == [QUEUED_ID, FAILED_ID, COMPLETED_ID]
    assert [job.id for job in jobs.list_jobs([JobStatus.QUEUED])] == [QUEUED_ID]

    users = UserStore(engine)
    alice = users.find_user("alice")
    assert alice is not None
    assert (alice.role, alice.source, alice.enabled) == (Role.ADMIN, "local", True)
    assert verify_password(alice.password_hash, "release-one-password")
    assert completed.owner == alice.id
    key = users.get_key("0123456789ab")
    assert key is not None
    assert (key.user_id, key.name, key.revoked) == (alice.id, "ci key", False)
    assert key.secret_hash == hashlib.sha256(b"release-one-key-secret").hexdigest()
    assert users.is_token_revoked("0f" * 16)

    hashes = ModelHashStore(engine).all()
    assert list(hashes) == [MODEL_PATH]
    assert (hashes[MODEL_PATH].sha256, hashes[MODEL_PATH].size) == ("ab" * 32, 2_132_625_894)

    added = jobs.add(text2img_job(str(uuid.uuid4()), prompt="new", total_steps=4))
    assert added.seq == 4
    claimed = jobs.claim_next("worker-after-upgrade")
    assert claimed is not None and claimed.id == QUEUED_ID


def _migrate_in_a_process(url: str, barrier: Barrier) -> None:
    engine = create_database_engine(url)
    try:
        barrier.wait(timeout=60)
        migrate(engine)
    finally:
        engine.dispose()


def migrate_concurrently(url: str, processes: int = 3) -> list[int | None]:
    """Start-ups racing: separate processes (Alembic's op/context proxies are process-global) released
    together by a barrier, each running migrate() on the same database. Their exit codes."""
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes)
    workers = [spawn.Process(target=_migrate_in_a_process, args=(url, barrier)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return [worker.exitcode for worker in workers]


# --- SQLite ---


def test_first_release_sqlite_database_is_upgraded_in_place_with_its_rows(tmp_path: Path) -> None:
    engine = sqlite_engine(release1_copy(tmp_path))
    try:
        assert sa.inspect(engine).get_table_names() == sorted(
            ["api_keys", "jobs", "model_hashes", "revoked_tokens", "schema_version", "users"]
        )
        migrate(engine)

        assert_at_head_with_new_schema(engine)
        assert_first_release_rows(engine)
    finally:
        engine.dispose()


def test_first_release_database_without_the_catalog_table_gets_it(tmp_path: Path) -> None:
    """The first release's admin commands (users, keys) ran its migrate() but never made model_hashes;
    only its server did. Such a database is completed before it is stamped 0001."""
    engine = sqlite_engine(release1_copy(tmp_path))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE model_hashes"))

        migrate(engine)

        assert_at_head_with_new_schema(engine)
        assert ModelHashStore(engine).all() == {}
    finally:
        engine.dispose()


def test_fresh_sqlite_database_gets_exactly_the_schema_of_tables_py(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "db" / "fresh.db")
    try:
        migrate(engine)

        assert_at_head_with_new_schema(engine)
        assert set(sa.inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}
    finally:
        engine.dispose()


def test_migrate_at_head_changes_nothing(tmp_path: Path) -> None:
    engine = sqlite_engine(release1_copy(tmp_path))
    try:
        migrate(engine)
        with engine.connect() as conn:
            before = sorted(conn.execute(sa.text("SELECT sql FROM sqlite_master")).scalars(), key=str)

        migrate(engine)
        migrate(engine)

        with engine.connect() as conn:
            after = sorted(conn.execute(sa.text("SELECT sql FROM sqlite_master")).scalars(), key=str)
        assert after == before
        assert revisions(engine) == [HEAD]
        assert_first_release_rows(engine)
    finally:
        engine.dispose()


def test_downgrade_to_0001_restores_the_first_release_schema_and_migrate_upgrades_again(
    tmp_path: Path,
) -> None:
    engine = sqlite_engine(release1_copy(tmp_path))
    try:
        migrate(engine)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version FROM schema_version")).scalars().all() == [1]
        assert "ix_jobs_status_seq" not in {index["name"] for index in sa.inspect(engine).get_indexes("jobs")}

        migrate(engine)

        assert_at_head_with_new_schema(engine)
    finally:
        engine.dispose()


def test_database_from_a_newer_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "jobs.db")
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))

        with pytest.raises(
            RuntimeError, match="revision 9999, which this version of sdcpp-rest does not know"
        ):
            migrate(engine)
    finally:
        engine.dispose()


def squat_the_new_index_name(engine: Engine) -> None:
    # Tables and indexes share one namespace: 0002 then fails after it dropped schema_version.
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE ix_jobs_status_seq (x INTEGER)"))


def assert_still_first_release(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    assert not inspector.has_table("alembic_version")
    assert "ix_jobs_status_seq" not in {index["name"] for index in inspector.get_indexes("jobs")}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM schema_version")).scalars().all() == [1]


def test_failed_sqlite_upgrade_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    engine = sqlite_engine(release1_copy(tmp_path))
    try:
        squat_the_new_index_name(engine)

        with pytest.raises(sa.exc.OperationalError, match="ix_jobs_status_seq"):
            migrate(engine)

        assert_still_first_release(engine)
    finally:
        engine.dispose()


def test_opening_a_new_database_waits_for_another_start_up_holding_its_lock(tmp_path: Path) -> None:
    """SQLite answers the switch to WAL with "database is locked" at once, without waiting, while
    another connection holds a lock: a process starting beside one that is creating the schema
    failed (seen in CI as one of three concurrent start-ups exiting 1). Now it waits for the lock."""
    path = tmp_path / "jobs.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE being_created (id INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO being_created VALUES (1)")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    engine = create_database_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM being_created").scalar() == 1
    finally:
        release.join()
        engine.dispose()
        other.close()


@pytest.mark.parametrize("start", ["fresh", "release1"])
def test_concurrent_sqlite_start_ups_upgrade_once(tmp_path: Path, start: str) -> None:
    path = release1_copy(tmp_path) if start == "release1" else tmp_path / "jobs.db"

    assert migrate_concurrently(f"sqlite:///{path}") == [0, 0, 0]

    engine = sqlite_engine(path)
    try:
        assert_at_head_with_new_schema(engine)
        if start == "release1":
            assert_first_release_rows(engine)
    finally:
        engine.dispose()


# --- PostgreSQL ---


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, uniquely named PostgreSQL database for one test, dropped afterwards."""
    admin = sa.create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    name = f"sdcpp_rest_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_SERVER} ({exc.orig}); these tests need it: start "
            "it (pg_ctlcluster --skip-systemctl-redirect <version> main start) or set "
            "SDCPP_REST_TEST_POSTGRES_URL",
            pytrace=False,
        )
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Engine]:
    engine = create_database_engine(postgres_url)
    yield engine
    engine.dispose()


def make_first_release_postgres_database(engine: Engine, tmp_path: Path) -> None:
    """What the first release left on PostgreSQL: revision 0001's tables without alembic_version, and
    the rows of tests/fixtures/release1.sqlite (written by that release) copied in."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(sa.text("DROP TABLE alembic_version"))
    source = sqlite_engine(release1_copy(tmp_path))  # opening it writes WAL files: not in the checkout
    try:
        release1 = sa.MetaData()
        release1.reflect(source)
        with source.connect() as reading, engine.begin() as writing:
            for table in release1.sorted_tables:
                if table.name == "schema_version":
                    continue  # 0001 wrote its one row already
                rows = [dict(row._mapping) for row in reading.execute(sa.select(table))]
                writing.execute(sa.Table(table.name, sa.MetaData(), autoload_with=writing).insert(), rows)
            # Rows inserted with their seq leave the serial behind; the release's inserts advanced it.
            writing.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('jobs', 'seq'), MAX(seq)) FROM jobs")
            )
    finally:
        source.dispose()


def test_first_release_postgres_database_is_upgraded_in_place_with_its_rows(
    postgres: Engine, tmp_path: Path
) -> None:
    make_first_release_postgres_database(postgres, tmp_path)
    assert not sa.inspect(postgres).has_table("alembic_version")

    migrate(postgres)

    assert_at_head_with_new_schema(postgres)
    assert_first_release_rows(postgres)


def test_failed_postgres_upgrade_leaves_the_database_as_it_was(postgres: Engine, tmp_path: Path) -> None:
    make_first_release_postgres_database(postgres, tmp_path)
    squat_the_new_index_name(postgres)

    with pytest.raises(sa.exc.ProgrammingError, match="ix_jobs_status_seq"):
        migrate(postgres)

    assert_still_first_release(postgres)


def test_fresh_postgres_database_gets_exactly_the_schema_of_tables_py(postgres: Engine) -> None:
    migrate(postgres)
    migrate(postgres)

    assert_at_head_with_new_schema(postgres)
    assert set(sa.inspect(postgres).get_table_names()) == set(metadata.tables) | {"alembic_version"}


def test_concurrent_postgres_start_ups_upgrade_once(postgres_url: str) -> None:
    assert migrate_concurrently(postgres_url) == [0, 0, 0]

    engine = create_database_engine(postgres_url)
    try:
        assert_at_head_with_new_schema(engine)
    finally:
        engine.dispose()
