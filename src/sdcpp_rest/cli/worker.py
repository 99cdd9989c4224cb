"""`sdcpp-rest worker`: engine workers without the HTTP API, on a shared PostgreSQL database.

The process builds the same services as `serve` from the same settings (database URL, models and
output folders, max_concurrent_generations, threads) and starts only what runs jobs: the worker
slots (which claim the jobs whose checkpoint this machine has), the lease reaper and the heartbeat
that lists its workers in the workers table, and the inbox that runs the model loads, unloads and
restarts the API nodes ask of it (ops/command_inbox.py). SIGTERM or SIGINT stop it the way they stop
`serve`: no new job, a running one may finish within restart_grace_seconds, then it is requeued.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from sdcpp_rest.config import Settings

log = logging.getLogger(__name__)


class WorkerNeedsSharedDatabase(Exception):
    """A worker beside API nodes needs a database they all reach (PostgreSQL), not a SQLite file."""


def add_worker_parser(subparsers: argparse._SubParsersAction) -> None:
    worker = subparsers.add_parser("worker", help="run engine workers only (no HTTP API), on PostgreSQL")
    worker.add_argument("--config", type=Path, help="TOML config file (also STABLE_DIFFUSION_CONFIG)")
    worker.add_argument("--models-dir", type=Path, help="models folder (STABLE_DIFFUSION_MODELS_DIR)")
    worker.add_argument("--output-dir", type=Path, help="outputs folder, shared with the API nodes")
    worker.add_argument("--data-dir", type=Path, help="state folder (STABLE_DIFFUSION_DATA_DIR)")
    worker.add_argument("--max-concurrent-generations", help="engine worker processes (a number, or auto)")
    worker.add_argument("--node-name", help="this machine's name in the workers table (default: host name)")
    worker.add_argument("--verbose", action="store_true", default=None, help="debug logging")


def worker_overrides(args: argparse.Namespace) -> dict[str, object]:
    workers = args.max_concurrent_generations
    return {
        "models_dir": args.models_dir,
        "output_dir": args.output_dir,
        "data_dir": args.data_dir,
        "max_concurrent_generations": workers if workers in (None, "auto") else int(workers),
        "node_name": args.node_name,
        "verbose": args.verbose,
        "run_workers": True,
    }


def run_worker(
    settings: Settings,
    stop: threading.Event | None = None,
    reload_settings: Callable[[], Settings] | None = None,
) -> None:
    """Run until `stop` is set or SIGTERM/SIGINT arrives. `reload_settings` re-reads the configuration
    when another node asks this process to restart (POST /api/system/restart on an API node)."""
    from sdcpp_rest.container import (
        ServicesHolder,
        build_services,
        recover_at_start,
        start_worker_services,
        stop_services,
    )
    from sdcpp_rest.ops.command_inbox import CommandInbox
    from sdcpp_rest.ops.restart import SHUTDOWN_WAIT_SLACK_SECONDS
    from sdcpp_rest.storage.database import driver_url

    assert settings.database_url is not None
    if not driver_url(settings.database_url).startswith("postgresql"):
        raise WorkerNeedsSharedDatabase(
            "sdcpp-rest worker needs a PostgreSQL database_url shared with the API nodes "
            "(STABLE_DIFFUSION_DATABASE_URL=postgresql://...); with SQLite run `sdcpp-rest serve`"
        )
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping the worker", signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    holder = ServicesHolder(build_services(settings), start=start_worker_services)
    first = holder.current
    restarter = holder.restarter(reload_settings)
    inbox = CommandInbox(lambda: holder.current, restarter.request)
    report = recover_at_start(first)
    if report.requeued or report.failed:
        log.warning("expired claims: %d job(s) requeued, %d failed", len(report.requeued), len(report.failed))
    start_worker_services(first)
    inbox.start()
    log.info(
        "sdcpp-rest worker: %d engine worker(s) (models: %s, outputs: %s)",
        len(first.scheduler.workers()),
        settings.models_path,
        settings.output_path,
    )
    stop.wait()
    log.info("stopping: no new jobs; a running job that does not finish in time is requeued")
    inbox.stop()
    restarter.wait(holder.current.settings.restart_grace_seconds + SHUTDOWN_WAIT_SLACK_SECONDS)
    stop_services(holder.current)
