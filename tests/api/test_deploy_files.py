"""The deployment files: the systemd units in deploy/systemd are valid (`systemd-analyze verify`, no
warning) and start the program with a command line it accepts; the compose files in deploy/compose run
commands and settings the program has, with GPU reservations in compose's form; the Containerfile
runs as a user with a data volume and a health check. (No image is built here: CI reaches no
container registry; deploy/README.md records a build made with a local Debian base.)"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.server import free_port

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
INSTALLED_PROGRAM = "/opt/sdcpp-rest/venv/bin/sdcpp-rest"
HERE_PROGRAM = str(Path(sys.executable).parent / "sdcpp-rest")


def _units_here(tmp_path: Path) -> list[Path]:
    """The units with the program path of this checkout's environment (verify checks it exists);
    the worker template instantiated as @gpu1."""
    units = []
    for unit in sorted(UNITS.glob("*.service")):
        name = unit.name.replace("@.service", "@gpu1.service")
        copy = tmp_path / name
        copy.write_text(unit.read_text().replace(INSTALLED_PROGRAM, HERE_PROGRAM))
        units.append(copy)
    return units


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_every_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    units = _units_here(tmp_path)
    assert {u.name for u in units} == {"sdcpp-rest.service", "sdcpp-rest-worker@gpu1.service"}
    result = subprocess.run(
        ["systemd-analyze", "verify", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result.stderr


def test_every_units_command_line_is_accepted_by_the_program(tmp_path: Path) -> None:
    for unit in _units_here(tmp_path):
        [exec_start] = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
        command = shlex.split(exec_start.removeprefix("ExecStart=").replace("%i", "gpu1"))
        assert command[0] == HERE_PROGRAM
        parsed = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60, check=False)
        assert parsed.returncode == 0, f"{unit.name}: {parsed.stderr}"


def test_the_environment_file_names_only_settings_that_exist() -> None:
    names = _setting_names()
    for line in (UNITS / "sdcpp-rest.env").read_text().splitlines():
        assignment = line.lstrip("# ").split("=", 1)[0]
        if assignment.startswith("STABLE_DIFFUSION_"):
            assert assignment in names, f"{assignment} is not a setting"


# --- compose files and the Containerfile ---

COMPOSE = REPO / "deploy" / "compose"


def _compose(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((COMPOSE / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def _setting_names() -> set[str]:
    from sdcpp_rest.config import ENV_PREFIX, Settings

    return {f"{ENV_PREFIX}{field.upper()}" for field in Settings.model_fields}


@pytest.mark.parametrize("name", ["compose.yaml", "cluster.yaml"])
def test_compose_services_run_commands_and_settings_the_program_has(name: str) -> None:
    compose = _compose(name)
    settings = _setting_names()
    for service_name, service in compose["services"].items():
        if service.get("image", "").startswith("docker.io/library/postgres"):
            continue
        build = service.get("build")
        if build is not None:
            assert (COMPOSE / build["context"] / build["dockerfile"]).resolve() == REPO / "Containerfile"
        command = service["command"]
        parsed = subprocess.run(
            [HERE_PROGRAM, *command, "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        assert parsed.returncode == 0, f"{name} {service_name}: {parsed.stderr}"
        for variable in service.get("environment", {}):
            if variable.startswith("STABLE_DIFFUSION_"):
                assert variable in settings, f"{name} {service_name}: {variable} is not a setting"


def test_the_cluster_has_one_api_node_without_workers_and_gpu_workers_on_shared_folders() -> None:
    services = _compose("cluster.yaml")["services"]
    assert services["api"]["command"] == ["serve", "--no-workers"]
    assert services["worker"]["command"] == ["worker"]
    for role in ("api", "worker"):
        env = services[role]["environment"]
        assert env["STABLE_DIFFUSION_DATABASE_URL"].startswith("postgresql://")
        assert env["STABLE_DIFFUSION_MODELS_DIR"].startswith("/shared/")
        assert services[role]["depends_on"]["postgres"]["condition"] == "service_healthy"
    [device] = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == 1
    assert services["worker"]["healthcheck"] == {"disable": True}  # a worker serves no HTTP


def test_the_containerfile_runs_as_a_user_with_a_data_volume_a_health_check_and_the_engine_flags() -> None:
    text = (REPO / "Containerfile").read_text()
    assert "USER sdcpp" in text and "VOLUME /data" in text
    assert "STABLE_DIFFUSION_DATA_DIR=/data" in text
    assert "/api/health" in text.split("HEALTHCHECK", 1)[1]
    assert 'cuda) cmake_args="-DSD_CUDA=ON"' in text and 'vulkan) cmake_args="-DSD_VULKAN=ON"' in text
    ignored = (REPO / ".containerignore").read_text().split()
    assert {".venv", ".git", "data"} <= set(ignored)


def _unit_environment(path: Path) -> dict[str, str]:
    """The assignments an EnvironmentFile= sets (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_the_serve_unit_starts_the_server_with_its_environment_and_stops_on_its_signal(
    tmp_path: Path,
) -> None:
    [unit] = [u for u in _units_here(tmp_path) if u.name == "sdcpp-rest.service"]
    lines = unit.read_text().splitlines()
    [exec_start] = [line.removeprefix("ExecStart=") for line in lines if line.startswith("ExecStart=")]
    [kill_signal] = [line.removeprefix("KillSignal=") for line in lines if line.startswith("KillSignal=")]
    environment = _unit_environment(UNITS / "sdcpp-rest.env")
    assert environment["STABLE_DIFFUSION_DATA_DIR"] == "/var/lib/sdcpp-rest"  # the unit's StateDirectory
    # The one change: this test's folder and a free port instead of /var/lib/sdcpp-rest and 8080.
    port = free_port()
    environment |= {"STABLE_DIFFUSION_DATA_DIR": str(tmp_path / "state"), "STABLE_DIFFUSION_PORT": str(port)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABLE_DIFFUSION_")} | environment
    log = (tmp_path / "unit.log").open("wb")
    process = subprocess.Popen(
        shlex.split(exec_start), cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "unit.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "unit.log").read_text()
            time.sleep(0.2)
        stop = getattr(signal, kill_signal)
        process.send_signal(stop)
        # uvicorn shuts down, then re-raises the signal: systemd counts an exit by SIGTERM as clean.
        assert process.wait(timeout=90) in (0, -stop)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert (tmp_path / "state" / "sdcpp-rest.db").exists()
    logged = (tmp_path / "unit.log").read_text()
    assert f"database sqlite:///{tmp_path / 'state' / 'sdcpp-rest.db'}" in logged
    assert "Application shutdown complete" in logged  # drained, not killed


def _compose_config(name: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`podman-compose config`: the compose parser from PyPI interpolates variables, applies merge keys
    and defaults and prints the file it would run. Its start-up check of the podman binary meets a
    stand-in that prints a version (podman itself is not needed to parse, and CI may not have it)."""
    fake_podman = tmp_path / "podman"
    fake_podman.write_text('#!/bin/sh\necho "podman version 4.3.1"\n')
    fake_podman.chmod(0o755)
    program = Path(sys.executable).parent / "podman-compose"
    return subprocess.run(
        [str(program), "--podman-path", str(fake_podman), "-f", str(COMPOSE / name), "config"],
        cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["compose.yaml", "cluster.yaml"])
def test_a_compose_parser_accepts_the_files_with_the_example_environment(name: str, tmp_path: Path) -> None:
    example = _unit_environment(COMPOSE / "env.example")
    parsed = _compose_config(name, tmp_path, example)
    assert parsed.returncode == 0, parsed.stderr
    config = yaml.safe_load(parsed.stdout)
    assert "${" not in parsed.stdout  # every variable was interpolated
    for service in config["services"].values():
        for value in service.get("environment", {}).values():
            assert value != "", "a setting was left empty"
    if name == "cluster.yaml":
        env = config["services"]["api"]["environment"]
        assert env["STABLE_DIFFUSION_DATABASE_URL"] == (
            f"postgresql://sdcpp:{example['SDCPP_DB_PASSWORD']}@postgres:5432/sdcpp"
        )
        assert env["STABLE_DIFFUSION_JWT_SECRET"] == example["SDCPP_JWT_SECRET"]


def test_the_compose_files_refuse_to_start_without_their_secrets(tmp_path: Path) -> None:
    env = {k: "" for k in ("SDCPP_ADMIN_PASSWORD", "SDCPP_DB_PASSWORD", "SDCPP_JWT_SECRET")}
    parsed = _compose_config("cluster.yaml", tmp_path, env)
    assert parsed.returncode != 0
    assert "set SDCPP_" in parsed.stderr and "in .env" in parsed.stderr
