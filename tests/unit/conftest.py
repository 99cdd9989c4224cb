"""Fixtures of the unit tests that need the job database: each runs twice, on a real SQLite file of
its own and on a real PostgreSQL database (one per test run, emptied before each test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sdcpp_rest.jobs.params import JobMode, Text2ImgParams
from sdcpp_rest.jobs.records import NewJob
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.database import create_database_engine, migrate
from tests.postgres import PostgresUnavailable, create_database, drop_database, empty_tables


def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'jobs.db'}"


@pytest.fixture(scope="session")
def postgres_run_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test run (each xdist process makes its own),
    migrated once; dropped at the end. Skipped, with the reason, only when no server answers."""
    try:
        url = create_database()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    created = create_database_engine(url)
    migrate(created)
    created.dispose()
    yield url
    drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database of either kind (the test id says which)."""
    if request.param == "sqlite":
        url = database_url(tmp_path)
        created = create_database_engine(url)
        migrate(created)
        created.dispose()
        return url
    shared: str = request.getfixturevalue("postgres_run_database")
    emptied = create_database_engine(shared)
    empty_tables(emptied)
    emptied.dispose()
    return shared


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    created = create_database_engine(db_url)
    yield created
    created.dispose()


@pytest.fixture
def store(engine: Engine) -> SqlJobStore:
    return SqlJobStore(engine)


def text2img_job(
    job_id: str,
    *,
    owner: str | None = None,
    model_name: str = "sd15.safetensors",
    prompt: str = "p",
    seed: int = 1,
    total_steps: int = 1,
    width: int = 64,
    height: int = 64,
) -> NewJob:
    """A text2img job as the planner would store it (typed parameters)."""
    params = Text2ImgParams(
        prompt=prompt, model_name=model_name, seed=seed, n_threads=1, width=width, height=height
    )
    return NewJob(job_id, JobMode.TEXT2IMG, owner, model_name, prompt, seed, total_steps, params)
