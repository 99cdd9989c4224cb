"""`sdcpp-rest login` / `logout` against a real server with auth_method jwt: the client commands get
in with the kept token, the token file is private, logout revokes the token on the server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.security_support import USERS, admin_server, bearer
from tests.server import ServerProcess


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = admin_server(tmp_path_factory.mktemp("login") / "data")
    yield server
    server.stop()


def _cli(
    server: ServerProcess, config_home: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDCPP_REST_")}
    env.update({"SDCPP_REST_URL": server.url, "XDG_CONFIG_HOME": str(config_home)})
    return subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_login_keeps_a_private_token_that_the_client_commands_use_and_logout_revokes_it(
    jwt_server: ServerProcess, tmp_path: Path
) -> None:
    refused = _cli(jwt_server, tmp_path, "queue")
    assert refused.returncode == 2 and "AUTH_REQUIRED" in refused.stderr
    assert "sdcpp-rest login" in refused.stderr

    logged_in = _cli(
        jwt_server, tmp_path, "login", "--username", "bob", "--password-stdin", stdin=USERS["bob"] + "\n"
    )
    assert logged_in.returncode == 0, logged_in.stderr
    tokens_file = tmp_path / "sdcpp-rest" / "tokens.json"
    assert str(tokens_file) in logged_in.stdout
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(tokens_file.parent.stat().st_mode) == 0o700
    token = json.loads(tokens_file.read_text())[jwt_server.url]

    queue = _cli(jwt_server, tmp_path, "queue", "--json")
    assert queue.returncode == 0, queue.stderr
    assert "jobs" in json.loads(queue.stdout) or "queue" in json.loads(queue.stdout)

    logged_out = _cli(jwt_server, tmp_path, "logout")
    assert logged_out.returncode == 0 and "revoked" in logged_out.stdout
    assert jwt_server.url not in json.loads(tokens_file.read_text())
    with httpx.Client(base_url=jwt_server.url, timeout=30) as client:
        assert client.get("/api/auth/validate", headers=bearer(token)).status_code == 401
    assert _cli(jwt_server, tmp_path, "queue").returncode == 2


def test_a_wrong_password_stores_nothing_and_says_why(jwt_server: ServerProcess, tmp_path: Path) -> None:
    result = _cli(jwt_server, tmp_path, "login", "--username", "bob", "--password-stdin", stdin="not-it\n")
    assert result.returncode == 2
    assert "INVALID_CREDENTIALS" in result.stderr and "sdcpp-rest login" not in result.stderr
    assert not (tmp_path / "sdcpp-rest" / "tokens.json").exists()


def test_a_kept_token_is_never_sent_to_another_server(jwt_server: ServerProcess, tmp_path: Path) -> None:
    folder = tmp_path / "sdcpp-rest"
    folder.mkdir(mode=0o700)
    (folder / "tokens.json").write_text(json.dumps({"http://127.0.0.1:1": "kept-for-another-server"}))
    result = _cli(jwt_server, tmp_path, "queue")
    assert result.returncode == 2 and "AUTH_REQUIRED" in result.stderr
