"""`sdcpp-rest generate / queue / cancel` run as real processes against a real server and engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from PIL import Image

from sdcpp_rest.cli.client import output_paths
from sdcpp_rest.cli.display import describe_progress, format_queue
from tests.server import ServerProcess

SMALL = ["--width", "64", "--height", "64", "--steps", "1"]
CLI_TIMEOUT_SECONDS = 240


def cli_env(server: ServerProcess, url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDCPP_REST_")}
    return {**env, "SDCPP_REST_URL": url or server.url, **extra}


def run_cli(
    server: ServerProcess, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # Bytes, decoded by hand: text mode would turn the progress bar's \r into \n.
    done = subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", *args],
        env=env or cli_env(server),
        cwd=cwd,
        capture_output=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_generate_saves_the_image_to_the_output_file_and_shows_progress(
    server: ServerProcess, tmp_path: Path
) -> None:
    target = tmp_path / "out.png"
    result = run_cli(server, "generate", "a red apple", *SMALL, "--seed", "42", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(target)]
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == (64, 64)
    assert "queued" in result.stderr and "\r" in result.stderr
    assert "100%" in result.stderr and "step 1/1" in result.stderr


def test_generate_batch_writes_one_numbered_file_per_image(server: ServerProcess, tmp_path: Path) -> None:
    result = run_cli(
        server, "generate", "two pears", *SMALL, "--batch-count", "2", "-o", str(tmp_path / "o.png")
    )
    assert result.returncode == 0, result.stderr
    expected = [tmp_path / "o_0.png", tmp_path / "o_1.png"]
    assert result.stdout.splitlines() == [str(path) for path in expected]
    for path in expected:
        with Image.open(path) as image:
            assert image.size == (64, 64)


def test_generate_by_polling_saves_into_the_current_folder_by_job_id(
    server: ServerProcess, tmp_path: Path
) -> None:
    result = run_cli(server, "generate", "a plum", *SMALL, "--poll", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [saved] = result.stdout.splitlines()
    path = Path(saved)
    assert path.parent == tmp_path and path.name.endswith("_0.png")
    job_id = path.name.removesuffix("_0.png")
    assert uuid.UUID(job_id) and job_id in result.stderr
    with Image.open(path) as image:
        assert image.size == (64, 64)


class NoWebSocketProxy(BaseHTTPRequestHandler):
    """A reverse proxy that forwards plain HTTP but answers 404 to WebSocket upgrades, as some do."""

    upstream = ""
    seen: list[tuple[str, str | None, str | None]] = []

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        self.seen.append((self.path, self.headers.get("X-API-Key"), self.headers.get("Authorization")))
        if self.path.startswith("/ws"):
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {"Content-Type": self.headers.get("Content-Type") or "application/octet-stream"}
        reply = httpx.request(self.command, self.upstream + self.path, content=body, headers=headers)
        self.send_response(reply.status_code)
        self.send_header("Content-Type", reply.headers.get("Content-Type", "application/octet-stream"))
        self.send_header("Content-Length", str(len(reply.content)))
        self.end_headers()
        self.wfile.write(reply.content)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def no_websocket_proxy(
    server: ServerProcess,
) -> Iterator[tuple[str, list[tuple[str, str | None, str | None]]]]:
    seen: list[tuple[str, str | None, str | None]] = []
    handler = type("Handler", (NoWebSocketProxy,), {"upstream": server.url, "seen": seen})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{proxy.server_address[1]}", seen
    proxy.shutdown()
    proxy.server_close()
    thread.join()


def test_generate_falls_back_to_polling_when_the_websocket_is_refused_and_sends_credentials(
    server: ServerProcess,
    tmp_path: Path,
    no_websocket_proxy: tuple[str, list[tuple[str, str | None, str | None]]],
) -> None:
    url, seen = no_websocket_proxy
    env = cli_env(server, url, SDCPP_REST_API_KEY="key-1", SDCPP_REST_TOKEN="token-1")
    result = run_cli(server, "generate", "a fig", *SMALL, "-o", str(tmp_path / "fig.png"), env=env)
    assert result.returncode == 0, result.stderr
    assert "WebSocket unavailable" in result.stderr and "polling" in result.stderr
    assert result.stdout.splitlines() == [str(tmp_path / "fig.png")]
    paths = [path for path, _, _ in seen]
    assert paths[0] == "/api/generate/text2img" and paths[1].startswith("/ws?job_id=")
    assert any(path.startswith("/api/queue/job/") and "/output/" in path for path in paths)
    assert all(key == "key-1" and auth == "Bearer token-1" for _, key, auth in seen)


def test_generate_exits_1_when_the_job_is_cancelled(server: ServerProcess, client: httpx.Client) -> None:
    prompt = f"cancelled {uuid.uuid4().hex}"
    process = subprocess.Popen(
        [sys.executable, "-m", "sdcpp_rest.cli.main", "generate", prompt, "--width", "64", "--height", "64"]
        + ["--steps", "150"],
        env=cli_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        job_id = _job_with_prompt(client, prompt)
        server.wait_for(client, job_id, ("processing",), timeout=120)
        result = run_cli(server, "cancel", job_id)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert result.returncode == 0 and job_id in result.stdout, result.stderr
    assert process.returncode == 1, stderr
    assert f"job {job_id} was cancelled" in stderr.decode() and stdout == b""


def test_invalid_argument_exits_2_with_the_api_validation_message(
    server: ServerProcess, tmp_path: Path
) -> None:
    result = run_cli(server, "generate", "x", "--steps", "0", "-o", str(tmp_path / "never.png"))
    assert result.returncode == 2
    assert "VALIDATION_ERROR" in result.stderr and "steps" in result.stderr
    assert result.stdout == "" and not (tmp_path / "never.png").exists()


def test_missing_output_folder_is_refused_before_submitting(server: ServerProcess, tmp_path: Path) -> None:
    result = run_cli(server, "generate", "x", *SMALL, "-o", str(tmp_path / "nowhere" / "out.png"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_queue_lists_the_job_as_a_table_and_as_json(server: ServerProcess, client: httpx.Client) -> None:
    prompt = f"queue listing {uuid.uuid4().hex}"
    job_id = server.submit(client, prompt=prompt)
    # A wide terminal, whatever the test runner's COLUMNS says, so the prompt is not truncated.
    table = run_cli(server, "queue", env={**cli_env(server), "COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    [row] = [line for line in table.stdout.splitlines() if line.startswith(job_id)]
    assert prompt[:20] in row and row.split()[1] in {"queued", "processing", "completed"}
    raw = run_cli(server, "queue", "--json")
    assert raw.returncode == 0, raw.stderr
    assert job_id in [job["id"] for job in json.loads(raw.stdout)["queue"]["jobs"]]
    server.wait_for(client, job_id)


def test_cancel_of_an_unknown_job_reports_job_not_found(server: ServerProcess) -> None:
    job_id = str(uuid.uuid4())
    result = run_cli(server, "cancel", job_id)
    assert result.returncode == 2
    assert "JOB_NOT_FOUND" in result.stderr and job_id in result.stderr


def test_ctrl_c_exits_130_and_leaves_the_job_on_the_server(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    prompt = f"interrupted {uuid.uuid4().hex}"
    process = subprocess.Popen(
        [sys.executable, "-m", "sdcpp_rest.cli.main", "generate", prompt, "--width", "64", "--height", "64"]
        + ["--steps", "150", "-o", str(tmp_path / "never.png")],
        env=cli_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a suite started in the background by a non-interactive shell (`cmd &`)
        # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all.
        preexec_fn=_sigint_as_at_a_terminal,
    )
    try:
        job_id = _job_with_prompt(client, prompt)
        server.wait_for(client, job_id, ("processing",), timeout=120)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert f"sdcpp-rest cancel {job_id}" in stderr and "still processing" in stderr
    assert stdout == ""
    assert client.get(f"/api/queue/job/{job_id}").json()["status"] == "processing"

    assert client.post("/api/queue/cancel", json={"job_id": job_id}).status_code == 200


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _job_with_prompt(client: httpx.Client, prompt: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = client.get("/api/queue/status").json()["queue"]["jobs"]
        for job in jobs:
            if job["prompt"] == prompt:
                return str(job["id"])
        time.sleep(0.1)
    raise AssertionError(f"no job with prompt {prompt!r}")


# --- the pure parts, without a server ---


def test_progress_line_shows_phase_steps_percent_speed_and_eta() -> None:
    update = {
        "status": "processing",
        "phase": "sampling",
        "progress": 0.4,
        "current_step": 8,
        "total_steps": 20,
        "speed": 2.5,
        "time_remaining": 4800,
    }
    line = describe_progress(update)
    assert line.startswith("sampling") and "[########............]" in line
    assert " 40%" in line and "step 8/20" in line and "2.50 steps/s" in line and "ETA 0:05" in line
    slow = describe_progress({**update, "speed": 0.05, "time_remaining": 3_723_000})
    assert "20.0 s/step" in slow and "ETA 1:02:03" in slow
    assert describe_progress({"status": "queued", "position": 3}) == "queued (position 3)"


def test_output_paths_number_a_batch_and_default_to_job_id(tmp_path: Path) -> None:
    assert output_paths("j", 1, tmp_path / "a.png", batch=False) == [tmp_path / "a.png"]
    assert output_paths("j", 2, tmp_path / "a.png", batch=True) == [
        tmp_path / "a_0.png",
        tmp_path / "a_1.png",
    ]
    assert output_paths("j", 1, tmp_path / "a.png", batch=True) == [tmp_path / "a_0.png"]
    assert output_paths("j", 2, tmp_path, batch=True) == [tmp_path / "j_0.png", tmp_path / "j_1.png"]
    assert output_paths("j", 1, None, batch=False) == [Path.cwd() / "j_0.png"]


def test_queue_table_truncates_long_prompts_to_the_terminal_width() -> None:
    job = {"id": "abc", "status": "processing", "progress": 0.5, "current_step": 1, "total_steps": 2}
    queue = {"size": 0, "active_generations": 1, "jobs": [{**job, "prompt": "long\nprompt " * 40}]}
    lines = format_queue(queue, columns=80)
    assert lines[0] == "queued: 0, running: 1"
    assert lines[1].split() == ["ID", "STATUS", "PROGRESS", "PROMPT"]
    assert lines[2].startswith("abc  processing  50% 1/2") and lines[2].endswith("...")
    assert len(lines[2]) <= 80 and "\n" not in lines[2]
