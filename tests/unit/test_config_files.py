"""Where the configuration comes from: an explicit file, else /etc/sdcpp-rest.toml then the user's
config folder; the CLI's admin commands open the server's database through the same rule and say
which one they opened (the first-run surprise of issue 22: a `users add` from another folder made an
admin in a new ./data that the server never saw)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdcpp_rest.config import load_settings
from sdcpp_rest.config_files import config_files, user_config_file


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("STABLE_DIFFUSION_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def _user_config(tmp_path: Path, text: str) -> Path:
    path = user_config_file({"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_standard_places_are_read_system_first_and_the_user_file_overrides(tmp_path: Path) -> None:
    system = tmp_path / "etc-sdcpp-rest.toml"
    system.write_text('port = 9001\nhost = "127.0.0.1"\n', encoding="utf-8")
    user = _user_config(tmp_path, "port = 9002\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert config_files(None, env, system_file=system) == [system, user]
    assert config_files(None, env, system_file=tmp_path / "absent.toml") == [user]


def test_an_explicit_file_or_the_environment_replaces_the_standard_places(tmp_path: Path) -> None:
    system = tmp_path / "system.toml"
    system.write_text("port = 9001\n", encoding="utf-8")
    explicit = tmp_path / "explicit.toml"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "STABLE_DIFFUSION_CONFIG": str(tmp_path / "env.toml")}
    assert config_files(explicit, env, system_file=system) == [explicit]
    assert config_files(None, env, system_file=system) == [tmp_path / "env.toml"]


def test_load_settings_reads_the_user_config_file_without_flags(tmp_path: Path) -> None:
    _user_config(tmp_path, f'data_dir = "{tmp_path / "server-data"}"\nport = 9123\n')
    settings = load_settings()
    assert settings.port == 9123
    assert settings.data_dir == (tmp_path / "server-data").resolve()


def _cli(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def test_an_admin_command_from_another_folder_opens_the_configured_database_and_says_so(
    tmp_path: Path,
) -> None:
    server_data = tmp_path / "server-data"
    config = _user_config(tmp_path, f'data_dir = "{server_data}"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    added = _cli(
        elsewhere, "users", "add", "carol", "--role", "admin", "--password-stdin", stdin="s3cret-pass\n"
    )
    assert added.returncode == 0, added.stderr
    assert f"database sqlite:///{server_data / 'sdcpp-rest.db'}" in added.stderr
    assert str(config) in added.stderr
    assert not (elsewhere / "data").exists()

    listed = _cli(tmp_path / "elsewhere", "users", "list")
    assert "carol" in listed.stdout
    assert "was empty and has been set up now" not in listed.stderr  # the second run finds the schema


def test_an_admin_command_that_sets_up_a_new_database_warns(tmp_path: Path) -> None:
    result = _cli(tmp_path, "users", "list")
    assert result.returncode == 0, result.stderr
    assert "no config file" in result.stderr
    assert "was empty and has been set up now" in result.stderr
    assert "--config" in result.stderr
