"""How many engine workers run and how many threads each gets (settings only, no engine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdcpp_rest.config import ConfigError, load_settings

GB = 1024**3


def _settings(tmp_path: Path, **values: object):  # type: ignore[no-untyped-def]
    return load_settings(overrides={"data_dir": tmp_path, **values})


def test_threads_are_shared_among_the_workers_and_never_exceed_the_cores(tmp_path: Path) -> None:
    assert _settings(tmp_path).engine_threads_per_worker(workers=2, cpu_count=8) == 4
    assert _settings(tmp_path).engine_threads_per_worker(workers=3, cpu_count=2) == 1
    assert _settings(tmp_path, n_threads=2).engine_threads_per_worker(workers=1, cpu_count=8) == 2
    assert _settings(tmp_path, n_threads=16).engine_threads_per_worker(workers=2, cpu_count=8) == 4


def test_auto_runs_one_worker_per_core_while_the_memory_holds_the_model(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    auto = _settings(tmp_path, max_concurrent_generations="auto")
    assert auto.worker_count(model_bytes=1 * GB, available_bytes=1000 * GB) == min(cores, 64)
    assert auto.worker_count(model_bytes=2 * GB, available_bytes=3 * GB) == 1  # one loaded copy fits
    assert auto.worker_count(model_bytes=8 * GB, available_bytes=1 * GB) == 1  # at least one
    assert _settings(tmp_path, max_concurrent_generations=3).worker_count(model_bytes=GB) == 3


def test_a_worker_count_out_of_range_is_refused(tmp_path: Path) -> None:
    for value in (0, 65, "many"):
        with pytest.raises(ConfigError):
            _settings(tmp_path, max_concurrent_generations=value)
