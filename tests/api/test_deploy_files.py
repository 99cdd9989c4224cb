"""The systemd units in deploy/systemd are valid (`systemd-analyze verify`, no warning) and start the
program with a command line it accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    from sdcpp_rest.config import ENV_PREFIX, Settings

    names = {f"{ENV_PREFIX}{field.upper()}" for field in Settings.model_fields}
    for line in (UNITS / "sdcpp-rest.env").read_text().splitlines():
        assignment = line.lstrip("# ").split("=", 1)[0]
        if assignment.startswith(ENV_PREFIX):
            assert assignment in names, f"{assignment} is not a setting"
