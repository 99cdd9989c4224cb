"""Settings precedence (defaults < TOML < STABLE_DIFFUSION_* env < command line) and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcpp_rest.config import ConfigError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No STABLE_DIFFUSION_* or RUST_LOG from the outer shell, and a cwd where `./data` is ours."""
    for name in list(os.environ):
        if name.startswith("STABLE_DIFFUSION_") or name == "RUST_LOG":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_line_naming(error: ConfigError, setting: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert setting in message


# --- defaults and derived paths ---


def test_defaults_apply_without_file_env_or_overrides(tmp_path: Path) -> None:
    settings = load_settings()

    assert settings.host == "0.0.0.0"
    assert settings.port == 8080
    assert settings.verbose is False
    assert settings.max_concurrent_generations == 1
    assert settings.max_job_attempts == 2


def test_data_dir_defaults_to_data_under_the_working_directory(tmp_path: Path) -> None:
    settings = load_settings()

    assert settings.data_dir == (tmp_path / "data").resolve()
    assert settings.data_dir.is_absolute()


def test_models_and_output_dirs_default_under_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"

    settings = load_settings(overrides={"data_dir": data_dir})

    assert settings.models_dir == data_dir.resolve() / "models"
    assert settings.output_dir == data_dir.resolve() / "outputs"
    assert settings.models_path == settings.models_dir
    assert settings.output_path == settings.output_dir


def test_database_url_defaults_to_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"

    settings = load_settings(overrides={"data_dir": data_dir})

    assert settings.database_url == f"sqlite:///{data_dir.resolve() / 'sdcpp-rest.db'}"


def test_explicit_models_output_and_database_settings_are_kept(tmp_path: Path) -> None:
    settings = load_settings(
        overrides={
            "data_dir": tmp_path / "state",
            "models_dir": tmp_path / "elsewhere" / "models",
            "output_dir": tmp_path / "pictures",
            "database_url": "postgresql://db.example/jobs",
        }
    )

    assert settings.models_dir == (tmp_path / "elsewhere" / "models").resolve()
    assert settings.output_dir == (tmp_path / "pictures").resolve()
    assert settings.database_url == "postgresql://db.example/jobs"


def test_derived_paths_follow_data_dir_set_in_the_toml_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "c.toml", f'data_dir = "{tmp_path / "from-file"}"\n')

    settings = load_settings(config)

    assert settings.models_dir == (tmp_path / "from-file" / "models").resolve()
    assert settings.database_url == f"sqlite:///{(tmp_path / 'from-file').resolve() / 'sdcpp-rest.db'}"


# --- precedence ---


def test_toml_file_overrides_defaults(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "c.toml", 'port = 9001\nhost = "127.0.0.1"\n')

    settings = load_settings(config)

    assert settings.port == 9001
    assert settings.host == "127.0.0.1"
    assert settings.max_concurrent_generations == 1  # untouched keys keep their defaults


def test_toml_group_tables_are_flattened(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path / "c.toml",
        "[server]\nport = 9002\nverbose = true\n"
        f'[storage]\ndata_dir = "{tmp_path / "grouped"}"\n'
        "[engine]\nmax_concurrent_generations = 3\nn_threads = 4\n",
    )

    settings = load_settings(config)

    assert settings.port == 9002
    assert settings.verbose is True
    assert settings.data_dir == (tmp_path / "grouped").resolve()
    assert settings.max_concurrent_generations == 3
    assert settings.n_threads == 4


def test_environment_overrides_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_toml(tmp_path / "c.toml", "[server]\nport = 9003\n")
    monkeypatch.setenv("STABLE_DIFFUSION_PORT", "9004")

    assert load_settings(config).port == 9004


def test_overrides_beat_environment_and_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_toml(tmp_path / "c.toml", "port = 9005\n")
    monkeypatch.setenv("STABLE_DIFFUSION_PORT", "9006")

    assert load_settings(config, {"port": 9007}).port == 9007


def test_none_overrides_fall_through_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI passes None for flags not given; those must not hide lower layers."""
    monkeypatch.setenv("STABLE_DIFFUSION_HOST", "10.0.0.1")

    settings = load_settings(overrides={"host": None, "port": None, "verbose": None})

    assert settings.host == "10.0.0.1"
    assert settings.port == 8080
    assert settings.verbose is False


def test_config_env_variable_names_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_toml(tmp_path / "from-env.toml", "port = 9008\n")
    monkeypatch.setenv("STABLE_DIFFUSION_CONFIG", str(config))

    assert load_settings().port == 9008


def test_explicit_config_file_wins_over_config_env_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STABLE_DIFFUSION_CONFIG", str(write_toml(tmp_path / "env.toml", "port = 9009\n")))
    explicit = write_toml(tmp_path / "explicit.toml", "port = 9010\n")

    assert load_settings(explicit).port == 9010


def test_rust_log_debug_turns_verbose_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUST_LOG", "debug")

    assert load_settings().verbose is True


def test_rust_log_info_leaves_verbose_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUST_LOG", "info")

    assert load_settings().verbose is False


def test_verbose_from_environment_is_parsed_as_bool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLE_DIFFUSION_VERBOSE", "true")

    assert load_settings().verbose is True


# --- invalid values ---


def test_out_of_range_port_override_raises_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides={"port": 70000})

    assert_one_line_naming(caught.value, "port")
    assert "STABLE_DIFFUSION_PORT" in str(caught.value)


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert load_settings(overrides={"trusted_proxies": "10.0.0.5, 192.168.0.0/16, ::1"}).trusted_proxies
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides={"trusted_proxies": "10.0.0.5,proxy.example"})

    assert_one_line_naming(caught.value, "trusted_proxies")


def test_non_numeric_port_from_environment_raises_one_line_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STABLE_DIFFUSION_PORT", "abc")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert_one_line_naming(caught.value, "port")


def test_out_of_range_value_in_toml_raises_config_error_naming_it(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "c.toml", "[engine]\nmax_concurrent_generations = 0\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(config)

    assert_one_line_naming(caught.value, "max_concurrent_generations")


def test_unknown_flat_key_in_toml_raises_config_error_naming_it(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "c.toml", "prot = 8081\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(config)

    assert_one_line_naming(caught.value, "prot")


def test_unknown_key_inside_a_toml_table_raises_config_error_naming_it(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "c.toml", "[server]\nport = 8081\nlisten_backlog = 5\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(config)

    assert_one_line_naming(caught.value, "listen_backlog")


def test_missing_config_file_raises_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError) as caught:
        load_settings(missing)

    assert_one_line_naming(caught.value, str(missing))


def test_malformed_toml_raises_config_error(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "c.toml", "port = = 1\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(config)

    assert_one_line_naming(caught.value, "not valid TOML")


def test_unknown_environment_variable_with_prefix_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLE_DIFFUSION_SOMETHING_ELSE", "1")

    assert isinstance(load_settings(), Settings)


# --- the real command ---


def test_cli_serve_with_invalid_port_exits_2_with_one_stderr_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABLE_DIFFUSION_") and k != "RUST_LOG"}

    completed = subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", "serve", "--port", "70000"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2
    assert len(lines) == 1, completed.stderr
    assert "port" in lines[0]
    assert "Traceback" not in completed.stderr
