"""A throw-away PostgreSQL database and a shared data folder (models, outputs) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sdcpp_rest.storage.database import create_database_engine
from tests.cluster_processes import migrated_cluster_database
from tests.server import prepare_data_dir


@pytest.fixture
def cluster_db_url() -> Iterator[str]:
    with migrated_cluster_database() as url:
        yield url


@pytest.fixture
def cluster_db(cluster_db_url: str) -> Iterator[sa.engine.Engine]:
    engine = create_database_engine(cluster_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """What every node mounts (NFS in a real deployment): models/ and outputs/."""
    return prepare_data_dir(tmp_path / "shared")
