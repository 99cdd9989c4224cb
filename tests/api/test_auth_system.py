"""PAM and Unix-socket identity against the machine's real PAM stack and real Unix sockets."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess, prepare_data_dir

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/sbin/useradd").exists(),
    reason="creating a real system user for PAM needs root and useradd",
)


@pytest.fixture
def system_user() -> Iterator[tuple[str, str, str]]:
    """A real system user with a password, in a fresh group; removed afterwards."""
    name = f"sdt{secrets.token_hex(3)}"
    group = f"{name}adm"
    password = f"Pw-{secrets.token_hex(8)}"
    subprocess.run(["groupadd", group], check=True)
    subprocess.run(["useradd", "-M", "-G", group, name], check=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    yield name, password, group
    subprocess.run(["userdel", name], check=False)
    subprocess.run(["groupdel", group], check=False)


@needs_root
def test_pam_login_creates_user_with_default_role(tmp_path: Path, system_user: tuple[str, str, str]) -> None:
    name, password, _group = system_user
    server = ServerProcess(tmp_path, env={"STABLE_DIFFUSION_AUTH_METHOD": "pam"}).start()
    try:
        with server.client() as client:
            wrong = client.post("/api/auth/login", json={"username": name, "password": "not-it"})
            assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "INVALID_CREDENTIALS"
            reply = client.post("/api/auth/login", json={"username": name, "password": password})
            assert reply.status_code == 200, reply.text
            assert reply.json()["user"]["role"] == "user"
            token = reply.json()["token"]
            me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["user"]
            assert me["username"] == name
    finally:
        server.stop()


@needs_root
def test_pam_group_membership_maps_to_admin(tmp_path: Path, system_user: tuple[str, str, str]) -> None:
    name, password, group = system_user
    env = {"STABLE_DIFFUSION_AUTH_METHOD": "pam", "STABLE_DIFFUSION_PAM_ADMIN_GROUPS": group}
    server = ServerProcess(tmp_path, env=env).start()
    try:
        with server.client() as client:
            reply = client.post("/api/auth/login", json={"username": name, "password": password})
            assert reply.status_code == 200 and reply.json()["user"]["role"] == "admin"
    finally:
        server.stop()


def test_forged_unix_user_header_over_tcp_is_refused(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, env={"STABLE_DIFFUSION_AUTH_METHOD": "unix"}).start()
    try:
        with server.client() as client:
            forged = client.get("/api/auth/me", headers={"X-Unix-User": "root"})
            assert forged.status_code == 401 and forged.json()["error"]["code"] == "INVALID_CREDENTIALS"
            assert client.get("/api/auth/me").status_code == 401  # no socket peer, no identity
    finally:
        server.stop()


def test_unix_socket_peer_is_the_identity(tmp_path: Path) -> None:
    # A folder every user may traverse, so that another user can reach the socket.
    socket_dir = Path(tempfile.mkdtemp(prefix="sdcpp-sock-"))
    socket_dir.chmod(0o755)
    socket_path = socket_dir / "sdcpp.sock"
    server = ServerProcess(
        tmp_path, env={"STABLE_DIFFUSION_AUTH_METHOD": "unix"}, args=["--socket", str(socket_path)]
    ).start()
    try:
        me_name = _current_user()
        with server.client() as client:
            me = client.get("/api/auth/me").json()["user"]
            assert me["username"] == me_name
            assert client.get("/api/auth/me", headers={"X-Unix-User": me_name}).status_code == 200
            other = "nobody" if me_name != "nobody" else "root"
            forged = client.get("/api/auth/me", headers={"X-Unix-User": other})
            assert forged.status_code == 401
            # Login without a password (the spec's Unix login) gives a token that then works.
            login = client.post("/api/auth/login", json={"username": me_name})
            assert login.status_code == 200, login.text
            token = {"Authorization": f"Bearer {login.json()['token']}"}
            assert client.get("/api/auth/me", headers=token).json()["user"]["username"] == me_name
            refused = client.post("/api/auth/login", json={"username": other})
            assert refused.status_code == 401
        # WebSocket connections over the socket are identified the same way (a guest would be closed).
        from websockets.sync.client import unix_connect

        with unix_connect(str(socket_path), uri="ws://localhost/ws") as ws:
            first = json.loads(ws.recv(timeout=10))
            assert first["type"] == "queue_update", first
        if os.geteuid() == 0:
            os.chmod(socket_path, 0o666)
            _check_as_nobody(socket_path)
    finally:
        server.stop()


def _current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _check_as_nobody(socket_path: Path) -> None:
    """Another real user connecting to the same socket is identified as that user, with the user role.
    A forked child drops to `nobody` and speaks HTTP on a plain socket (no exec: the test's Python may
    live where `nobody` cannot read)."""
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(socket_path))
                sock.sendall(b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
            os.write(write_end, reply)
        finally:
            os._exit(0)
    os.close(write_end)
    reply = b""
    while chunk := os.read(read_end, 65536):
        reply += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert (body["user"]["username"], body["user"]["role"]) == ("nobody", "user")


def test_guest_websocket_is_refused_when_auth_is_on(tmp_path: Path) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    server = ServerProcess(tmp_path, env={"STABLE_DIFFUSION_AUTH_METHOD": "jwt"}).start()
    try:
        with connect(server.url.replace("http://", "ws://") + "/ws") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert httpx.get(f"{server.url}/api/queue/status").status_code == 401
    finally:
        server.stop()


def test_cli_client_generates_over_the_unix_socket_as_the_peer(tmp_path: Path) -> None:
    """`sdcpp-rest generate --socket` needs no credentials with auth_method unix: HTTP and the
    WebSocket progress both go through the socket, where the peer's uid is the identity."""
    socket_path = Path(tempfile.mkdtemp(prefix="sdcpp-sock-")) / "sdcpp.sock"
    server = ServerProcess(
        prepare_data_dir(tmp_path / "data"),
        env={"STABLE_DIFFUSION_AUTH_METHOD": "unix"},
        args=["--socket", str(socket_path)],
    ).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDCPP_REST_")}
    try:
        target = tmp_path / "out.png"
        done = subprocess.run(
            [sys.executable, "-m", "sdcpp_rest.cli.main", "generate", "a test", "--socket", str(socket_path),
             "--width", "64", "--height", "64", "--steps", "1", "-o", str(target)],
            env=env, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (done.stderr, server.log_tail())
        assert target.read_bytes().startswith(b"\x89PNG")
        assert "100%" in done.stderr and "polling" not in done.stderr  # followed on the WebSocket
        listed = subprocess.run(
            [sys.executable, "-m", "sdcpp_rest.cli.main", "queue", "--json"],
            env={**env, "SDCPP_REST_SOCKET": str(socket_path)}, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        jobs = json.loads(listed.stdout)["queue"]["jobs"]
        assert [job["status"] for job in jobs] == ["completed"]
    finally:
        server.stop()
