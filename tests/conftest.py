"""Shared fixtures: a real server with the random-weight SD1.5 model, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess, prepare_data_dir


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that do not stop or crash it."""
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("shared-server"))
    process = ServerProcess(data_dir).start()
    yield process
    process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture
def own_data_dir(tmp_path: Path) -> Path:
    """A fresh data folder with the test model, for tests that start (and crash) their own server."""
    return prepare_data_dir(tmp_path)
