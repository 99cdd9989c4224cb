"""Command line: `sdcpp-rest serve`, admin commands (cli_admin) and client commands (client_cli)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from sdcpp_rest import __version__
from sdcpp_rest.cli.admin import ADMIN_COMMANDS, add_admin_parsers, run_admin_command
from sdcpp_rest.cli.client import CLIENT_COMMANDS, add_client_parsers, run_client_command
from sdcpp_rest.cli.copy_db import add_copy_db_parser, run_copy_db
from sdcpp_rest.cli.login import LOGIN_COMMANDS, add_login_parsers, run_login_command
from sdcpp_rest.cli.models import MODELS_COMMAND, add_models_parser, run_models_command
from sdcpp_rest.cli.opened_database import sources_line
from sdcpp_rest.cli.worker import WorkerNeedsSharedDatabase, add_worker_parser, run_worker, worker_overrides
from sdcpp_rest.config import ConfigError, load_settings
from sdcpp_rest.monitoring.logs import configure_logging

logger = logging.getLogger(__name__)

WS_PING_INTERVAL_SECONDS = 20.0
WS_PING_TIMEOUT_SECONDS = 20.0


def _serve_parser(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--config", type=Path, help="TOML config file (also STABLE_DIFFUSION_CONFIG)")
    serve.add_argument("--host", help="listen address (STABLE_DIFFUSION_HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (STABLE_DIFFUSION_PORT, default 8080)")
    serve.add_argument("--models-dir", type=Path, help="models folder (STABLE_DIFFUSION_MODELS_DIR)")
    serve.add_argument("--output-dir", type=Path, help="outputs folder (STABLE_DIFFUSION_OUTPUT_DIR)")
    serve.add_argument("--data-dir", type=Path, help="database and state folder (STABLE_DIFFUSION_DATA_DIR)")
    serve.add_argument(
        "--max-concurrent-generations", type=_workers, help="engine worker processes (a number, or auto)"
    )
    serve.add_argument(
        "--socket",
        type=Path,
        dest="unix_socket",
        help="listen on this Unix socket instead of TCP (STABLE_DIFFUSION_UNIX_SOCKET)",
    )
    serve.add_argument("--auth-method", help="none, or a comma list of jwt, api_key, unix, pam")
    serve.add_argument("--verbose", action="store_true", default=None, help="debug logging")
    serve.add_argument(
        "--no-workers",
        action="store_false",
        dest="run_workers",
        default=None,
        help="an API node: queue and serve, run no engine workers (`sdcpp-rest worker` runs them)",
    )


def _workers(value: str) -> int | str:
    return value if value == "auto" else int(value)


def serve(args: argparse.Namespace) -> int:
    overrides = {
        "host": args.host,
        "port": args.port,
        "models_dir": args.models_dir,
        "output_dir": args.output_dir,
        "data_dir": args.data_dir,
        "max_concurrent_generations": args.max_concurrent_generations,
        "verbose": args.verbose,
        "unix_socket": args.unix_socket,
        "auth_method": args.auth_method,
        "run_workers": args.run_workers,
    }
    try:
        settings = load_settings(args.config, overrides)
    except ConfigError as exc:
        print(f"sdcpp-rest: {exc}", file=sys.stderr)  # noqa: T201 - the one line an operator needs
        return 2
    configure_logging(settings.verbose, settings.log_format)
    logger.info("starting: %s", sources_line(settings, args.config))
    import uvicorn

    from sdcpp_rest.api.ws import WS_MAX_MESSAGE_BYTES
    from sdcpp_rest.app import create_app

    # A restart (POST /api/system/restart) reads the same config file and environment again; the
    # command-line flags keep their values.
    app = create_app(settings, reload_settings=lambda: load_settings(args.config, overrides))
    listen: dict[str, Any] = {"host": settings.host, "port": settings.port}
    if settings.unix_socket is not None:
        from sdcpp_rest.auth.unix_peer import PeerCredentialsProtocol, peer_credentials_ws_protocol

        # On a Unix socket the peer's uid is the identity (auth_method unix): protocols that read it,
        # for HTTP and for WebSocket connections.
        listen = {"uds": str(settings.unix_socket), "http": PeerCredentialsProtocol}
        ws_protocol = peer_credentials_ws_protocol()
        if ws_protocol is not None:
            listen["ws"] = ws_protocol
    uvicorn.run(
        app,
        **listen,
        log_level="debug" if settings.verbose else "info",
        log_config=None,  # uvicorn logs through our root handler, which redacts credentials
        access_log=settings.verbose,
        # uvicorn would otherwise believe X-Forwarded-For from loopback and put the address it names
        # in the request's client: anyone on the machine could then pose as a trusted proxy or dodge
        # the per-address login limit. The client is the real peer; auth/proxies.py reads
        # X-Forwarded-For only from the configured trusted_proxies.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
        # WebSocket keep-alive: a client that does not answer a ping within 20 s is disconnected.
        ws_ping_interval=WS_PING_INTERVAL_SECONDS,
        ws_ping_timeout=WS_PING_TIMEOUT_SECONDS,
        # WebSocket clients send messages of a few dozen bytes: a larger frame is refused (close code
        # 1009) from its header, before uvicorn reads and parses it on the event loop (default 16 MiB).
        ws_max_size=WS_MAX_MESSAGE_BYTES,
    )
    return 0


def worker(args: argparse.Namespace) -> int:
    overrides = worker_overrides(args)
    try:
        settings = load_settings(args.config, overrides)
    except (ConfigError, ValueError) as exc:
        print(f"sdcpp-rest: {exc}", file=sys.stderr)  # noqa: T201 - the one line an operator needs
        return 2
    configure_logging(settings.verbose, settings.log_format)
    logger.info("starting: %s", sources_line(settings, args.config))
    try:
        run_worker(settings, reload_settings=lambda: load_settings(args.config, overrides))
    except WorkerNeedsSharedDatabase as exc:
        print(f"sdcpp-rest: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sdcpp-rest", description="stable-diffusion.cpp REST server")
    parser.add_argument("--version", action="version", version=f"sdcpp-rest {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _serve_parser(subparsers)
    add_worker_parser(subparsers)
    add_copy_db_parser(subparsers)
    add_client_parsers(subparsers)
    add_admin_parsers(subparsers)
    add_models_parser(subparsers)
    add_login_parsers(subparsers)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "worker":
        return worker(args)
    if args.command == "copy-db":
        return run_copy_db(args)
    if args.command in ADMIN_COMMANDS:
        return run_admin_command(args)
    if args.command == MODELS_COMMAND:
        return run_models_command(args)
    if args.command in LOGIN_COMMANDS:
        return run_login_command(args)
    if args.command in CLIENT_COMMANDS:
        return run_client_command(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
