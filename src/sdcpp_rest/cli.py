"""Command line: `sdcpp-rest serve` (more subcommands join as features land)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sdcpp_rest import __version__
from sdcpp_rest.config import ConfigError, Settings, load_settings

WS_PING_INTERVAL_SECONDS = 20.0
WS_PING_TIMEOUT_SECONDS = 20.0


def _serve_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = subparsers.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--config", type=Path, help="TOML config file (also STABLE_DIFFUSION_CONFIG)")
    serve.add_argument("--host", help="listen address (STABLE_DIFFUSION_HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (STABLE_DIFFUSION_PORT, default 8080)")
    serve.add_argument("--models-dir", type=Path, help="models folder (STABLE_DIFFUSION_MODELS_DIR)")
    serve.add_argument("--output-dir", type=Path, help="outputs folder (STABLE_DIFFUSION_OUTPUT_DIR)")
    serve.add_argument("--data-dir", type=Path, help="database and state folder (STABLE_DIFFUSION_DATA_DIR)")
    serve.add_argument("--max-concurrent-generations", type=int, help="engine worker processes")
    serve.add_argument("--verbose", action="store_true", default=None, help="debug logging")


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.DEBUG if settings.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def serve(args: argparse.Namespace) -> int:
    overrides = {
        "host": args.host,
        "port": args.port,
        "models_dir": args.models_dir,
        "output_dir": args.output_dir,
        "data_dir": args.data_dir,
        "max_concurrent_generations": args.max_concurrent_generations,
        "verbose": args.verbose,
    }
    try:
        settings = load_settings(args.config, overrides)
    except ConfigError as exc:
        print(f"sdcpp-rest: {exc}", file=sys.stderr)  # noqa: T201 - the one line an operator needs
        return 2
    configure_logging(settings)
    import uvicorn

    from sdcpp_rest.app import create_app

    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="debug" if settings.verbose else "info",
        access_log=settings.verbose,
        timeout_graceful_shutdown=10,
        # WebSocket keep-alive: a client that does not answer a ping within 20 s is disconnected.
        ws_ping_interval=WS_PING_INTERVAL_SECONDS,
        ws_ping_timeout=WS_PING_TIMEOUT_SECONDS,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sdcpp-rest", description="stable-diffusion.cpp REST server")
    parser.add_argument("--version", action="version", version=f"sdcpp-rest {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _serve_parser(subparsers)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
