"""Fixtures of the unit tests that need the job database: a real SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

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
