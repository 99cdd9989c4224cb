"""`sdcpp-rest copy-db --to postgresql://...`: move an installation's data (by default the configured
database, the embedded SQLite file) into another database. Stop the server first."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sdcpp_rest.config import ConfigError, load_settings


def add_copy_db_parser(subparsers: argparse._SubParsersAction) -> None:
    copy = subparsers.add_parser(
        "copy-db", help="copy jobs, users, keys and model hashes into another (empty) database"
    )
    copy.add_argument("--to", required=True, dest="target", help="the target database URL (postgresql://...)")
    copy.add_argument("--from", dest="source", help="the source database URL (default: the configured one)")
    copy.add_argument("--config", type=Path, help="TOML config file naming the source")
    copy.add_argument("--data-dir", type=Path, help="data folder holding the source SQLite database")


def run_copy_db(args: argparse.Namespace) -> int:
    from sdcpp_rest.storage.copy import TargetNotEmpty, copy_database
    from sdcpp_rest.storage.database import create_database_engine

    try:
        settings = load_settings(args.config, {"data_dir": args.data_dir, "database_url": args.source})
    except ConfigError as exc:
        sys.stderr.write(f"sdcpp-rest: {exc}\n")
        return 2
    assert settings.database_url is not None
    source = create_database_engine(settings.database_url)
    target = create_database_engine(args.target)
    try:
        report = copy_database(source, target)
    except TargetNotEmpty as exc:
        sys.stderr.write(f"sdcpp-rest: {exc}; nothing was copied\n")
        return 1
    finally:
        source.dispose()
        target.dispose()
    counts = ", ".join(f"{table} {count}" for table, count in report.rows.items())
    sys.stdout.write(f"copied: {counts}\n")
    return 0
