"""Version information: the package version plus the git commit it was built from, when known."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from sdcpp_rest import __version__


@dataclass(frozen=True)
class VersionInfo:
    version: str
    type: str
    commit_short: str
    commit_full: str
    branch: str
    clean: bool
    build_time: str

    def as_public(self) -> dict[str, object]:
        return {
            "version": self.version,
            "type": self.type,
            "commit": {"short": self.commit_short, "full": self.commit_full},
            "branch": self.branch,
            "clean": self.clean,
            "build_time": self.build_time,
        }


def _git(source_dir: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(source_dir), *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _install_time() -> str:
    try:
        files = distribution("sdcpp-rest").files or []
        metadata = next((f for f in files if f.name == "METADATA"), None)
        if metadata is not None:
            stamp = Path(str(metadata.locate())).stat().st_mtime
            return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (PackageNotFoundError, OSError):
        pass
    return ""


def read_version_info() -> VersionInfo:
    """Read once at start-up (runs git): the checkout the package is installed from, if any."""
    source_dir = Path(__file__).resolve().parent
    full = _git(source_dir, "rev-parse", "HEAD") or ""
    branch = _git(source_dir, "rev-parse", "--abbrev-ref", "HEAD") or ""
    status = _git(source_dir, "status", "--porcelain", "--untracked-files=no")
    clean = status == "" if status is not None else True
    tagged = _git(source_dir, "describe", "--tags", "--exact-match") is not None
    return VersionInfo(
        version=__version__,
        type="release" if (tagged and clean) or not full else "development",
        commit_short=full[:7],
        commit_full=full,
        branch=branch,
        clean=clean,
        build_time=_install_time(),
    )
