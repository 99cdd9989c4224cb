"""The README's "First image" examples, run as written against a real server and engine: the curl
commands with real curl, `sdcpp-rest models list` as the README spells it, and the sample reply in
its comment compared with the real one. The one liberty: the generation's size and steps are made
tiny (the README's 512x512 at 20 steps takes minutes on this CPU with the random-weight model); the
model name, prompt, URLs and everything else are the README's."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
README_URL = "http://localhost:8080"
PULLED_NAME = "v1-5-pruned-emaonly-fp16.safetensors"  # what the README's `models pull` saves


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.DOTALL)


def _commands(block: str) -> list[tuple[str, str | None]]:
    """(command, the `# -> reply` comment that follows it or None), continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", block)
    # A quoted JSON body may span lines: join lines until the quotes balance.
    lines: list[str] = []
    for line in joined.splitlines():
        if lines and lines[-1].count("'") % 2 == 1:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    commands: list[tuple[str, str | None]] = []
    for line in lines:
        if line.startswith("# -> ") and commands:
            commands[-1] = (commands[-1][0], line.removeprefix("# -> "))
        elif line.strip() and not line.startswith("#"):
            commands.append((line, None))
    return commands


def test_readme_examples_use_the_servers_default_port() -> None:
    for block in _code_blocks(README):
        for port in re.findall(r"(?:localhost|127\.0\.0\.1|HOST):(\d+)", block):
            assert port in {"8080", "5432"}, f"an example uses port {port}"


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("readme") / "data"
    link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / PULLED_NAME)
    server = ServerProcess(data_dir).start()
    yield server
    server.stop()


def _run(command: str, server: ServerProcess, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command.replace(README_URL, server.url), comments=True)
    env = {**os.environ, "SDCPP_REST_URL": server.url}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def _tiny(command: str) -> str:
    """The README's generation body with a tiny size and two steps (see the module docstring)."""
    body = re.search(r"-d '(.*)'", command)
    assert body is not None
    data = json.loads(body.group(1))
    data.update(width=64, height=64, steps=2)
    return command.replace(body.group(0), f"-d '{json.dumps(data)}'")


def test_the_first_image_examples_run_as_written(readme_server: ServerProcess, tmp_path: Path) -> None:
    blocks = _code_blocks(_section("First image"))
    models_block, curl_block = blocks[0], blocks[1]

    [pull, listing] = [command for command, _ in _commands(models_block)]
    assert PULLED_NAME in pull  # the name the curl example uses is the one the pull saves
    listed = _run(listing, readme_server, REPO)
    assert listed.returncode == 0, listed.stderr
    assert PULLED_NAME in listed.stdout

    commands = _commands(curl_block)
    submit, sample_reply = commands[0]
    assert sample_reply is not None
    assert f'"model_name": "{PULLED_NAME}"' in submit
    submitted = _run(_tiny(submit), readme_server, tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    reply = json.loads(submitted.stdout)
    expected = json.loads(sample_reply.replace('"<job id>"', '"JOB"').replace("...", "null"))
    assert set(expected) <= set(reply), f"the README shows keys the reply lacks: {set(expected) - set(reply)}"
    assert reply["status"] == expected["status"] and reply["position"] == expected["position"]
    job_id = reply["job_id"]

    deadline = time.monotonic() + 240
    with readme_server.client() as client:
        while client.get(f"/api/queue/job/{job_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline, "the README's job did not complete"
            time.sleep(0.5)

    for command, _ in commands[1:]:
        done = _run(command.replace("<job id>", job_id), readme_server, tmp_path)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        if " -o " not in command:
            assert json.loads(done.stdout)  # each answers the API's JSON
    with Image.open(tmp_path / "out.png") as image:
        assert image.size == (64, 64)
