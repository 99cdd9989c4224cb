"""Shared fixtures: a real server with the random-weight SD1.5 model, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess, prepare_data_dir

# The order the two test processes take files in (scripts/test: --dist loadfile with
# --no-loadscope-reorder, which keeps this order). xdist's own order puts files with many tests first:
# the few-test files that start, crash and restart servers for minutes came last, where one of them
# could run alone while the other process had nothing left. Longest first instead: the multi-process
# and engine files, then the server tests; the quick unit tests fill the end.
FILE_ORDER = ("tests/cluster/", "tests/engine/", "tests/api/", "tests/compat/", "tests/ui/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next((n for n, prefix in enumerate(FILE_ORDER) if path.startswith(prefix)), len(FILE_ORDER))

    items.sort(key=rank)  # stable: each file keeps its own order


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
