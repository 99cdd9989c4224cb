"""sdcpp-rest: stable-diffusion.cpp behind a REST + WebSocket API with a durable job queue."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sdcpp-rest")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
