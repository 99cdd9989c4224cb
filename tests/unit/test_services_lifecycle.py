"""Stopping the services (shutdown, or the old half of a restart) releases what they hold."""

from __future__ import annotations

from pathlib import Path

from sdcpp_rest.config import load_settings
from sdcpp_rest.container import build_services, start_services, stop_services
from sdcpp_rest.jobs.records import JobStatus


def test_stopping_services_closes_their_database_connections(tmp_path: Path) -> None:
    settings = load_settings(overrides={"data_dir": tmp_path, "max_concurrent_generations": 1})
    services = build_services(settings)
    start_services(services)  # a real engine worker process; no model is loaded
    services.store.list_jobs((JobStatus.QUEUED,))  # the real SQLite file, through the pool
    pool = services.database.pool
    assert pool.checkedin() >= 1
    stop_services(services)
    assert pool.checkedin() == 0 and pool.checkedout() == 0
