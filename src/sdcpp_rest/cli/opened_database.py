"""The line an admin command prints about the database it opened, so a command run against the wrong
installation (another folder's `./data`, a missing `--config`) is seen at once instead of silently
creating a second database the server never reads."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from sdcpp_rest.config import Settings
from sdcpp_rest.config_files import config_files


def has_schema(engine: sa.Engine) -> bool:
    """Whether the database was set up by a server before (migrations recorded)."""
    return sa.inspect(engine).has_table("alembic_version")


def sources_line(settings: Settings, config_file: Path | None) -> str:
    """Which database and which config files: logged by `serve` and `worker` at start, printed by admin
    commands (a password in the database URL is hidden)."""
    assert settings.database_url is not None
    shown = sa.make_url(settings.database_url).render_as_string(hide_password=True)
    files = config_files(config_file)
    source = ", ".join(str(path) for path in files) if files else "no config file (defaults and environment)"
    return f"database {shown} (configuration: {source})"


def database_notice(settings: Settings, config_file: Path | None, existed_before: bool) -> str:
    """One or two lines for stderr: which database, from which config, and a warning when it is new."""
    lines = [f"sdcpp-rest: {sources_line(settings, config_file)}"]
    if not existed_before:
        lines.append(
            "sdcpp-rest: that database was empty and has been set up now: if a server is running "
            "elsewhere, pass its --config or --data-dir (or put its settings in /etc/sdcpp-rest.toml)"
        )
    return "\n".join(lines) + "\n"
