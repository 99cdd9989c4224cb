"""Which TOML config files a process reads: the same rule for `serve`, `worker` and every CLI command.

An explicit file (`--config FILE`, else `STABLE_DIFFUSION_CONFIG`) is the only one read. Without one,
the standard places are read in order, a later one overriding an earlier one's keys: the system file
`/etc/sdcpp-rest.toml` (what the systemd units and a packaged install use), then the user's file
`$XDG_CONFIG_HOME/sdcpp-rest/config.toml` (`~/.config/...`). This is why an admin command run from
another folder opens the server's database instead of making a new `./data` of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CONFIG_ENV = "STABLE_DIFFUSION_CONFIG"
SYSTEM_CONFIG_FILE = Path("/etc/sdcpp-rest.toml")
APP_FOLDER_NAME = "sdcpp-rest"


def user_config_folder(environ: Mapping[str, str] | None = None) -> Path:
    """The user's config folder for sdcpp-rest (XDG rule): also where `sdcpp-rest login` keeps tokens."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / APP_FOLDER_NAME


def user_config_file(environ: Mapping[str, str] | None = None) -> Path:
    return user_config_folder(environ) / "config.toml"


def config_files(
    explicit: Path | None,
    environ: Mapping[str, str] | None = None,
    system_file: Path = SYSTEM_CONFIG_FILE,
) -> list[Path]:
    """The config files to read, lowest priority first. An explicit file need not exist yet: reading it
    reports the missing file; the standard places count only where a file is."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return [explicit]
    if env.get(CONFIG_ENV):
        return [Path(env[CONFIG_ENV])]
    return [path for path in (system_file, user_config_file(env)) if path.is_file()]
