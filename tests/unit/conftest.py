"""Fixtures of the unit tests that need the job database: a real SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sdcpp_rest.jobs.params import JobMode, Text2ImgParams
from sdcpp_rest.jobs.records import NewJob
from sdcpp_rest.jobs.store import SqlJobStore
from sdcpp_rest.storage.database import create_database_engine, migrate


def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'jobs.db'}"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    created = create_database_engine(database_url(tmp_path))
    migrate(created)
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
