"""Issue 17: what a security review of the running server found about identities, sessions, logs and
what a guest learns: forged proxy headers (finding 1), credentials in the log (4), the login
limiter's memory (5), the refresh race (7), locking a user out (8), the database's permissions (9),
redirects to the request's Host (10), API keys after a password change (11), model names told to
guests (12). Real server processes; loopback source addresses (127.0.0.x) stand for distinct
clients, 127.0.0.9 for a reverse proxy."""

from __future__ import annotations

import base64
import json
import stat
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.api.security_support import (
    ADMIN,
    ADMIN_PASSWORD,
    PROXY_SOURCE,
    USERS,
    bearer,
    cli,
    client_from,
    login,
    uniform_png,
)
from tests.server import ServerProcess

LIMIT = 5
LIMITED_ENV = {
    "STABLE_DIFFUSION_AUTH_METHOD": "jwt",
    "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
    "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "STABLE_DIFFUSION_TRUSTED_PROXIES": PROXY_SOURCE,
    "STABLE_DIFFUSION_LOGIN_ATTEMPTS_PER_MINUTE": str(LIMIT),
    # /metrics needs a token or a user with auth on; a scrape token leaves the login limiter alone.
    "STABLE_DIFFUSION_METRICS_TOKEN": "scrape-token",
}


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """For the login-limit tests: each uses source addresses of its own, so they do not interfere."""
    data_dir = tmp_path_factory.mktemp("limited")
    added = cli(data_dir, "users", "add", "bob", "--password-stdin", stdin=USERS["bob"] + "\n")
    assert added.returncode == 0, added.stderr
    server = ServerProcess(data_dir, env=LIMITED_ENV).start()
    yield server
    server.stop()


def _login_status(client: httpx.Client, username: str, password: str, **headers: str) -> int:
    reply = client.post("/api/auth/login", json={"username": username, "password": password}, headers=headers)
    return reply.status_code


# --- finding 1: forged proxy headers ---


def test_forged_proxy_headers_do_not_make_a_local_process_admin(guarded_server: ServerProcess) -> None:
    forged = {"X-Unix-User": "root", "X-Forwarded-For": "10.0.0.5"}
    with client_from(guarded_server) as client:
        me = client.get("/api/auth/me", headers=forged)
        assert me.status_code == 401 and me.json()["error"]["code"] == "INVALID_CREDENTIALS", me.text
        assert client.post("/api/system/restart", headers=forged).status_code == 401
        other_forms = {"X-Unix-User": "root", "Forwarded": "for=10.0.0.5", "X-Real-IP": "10.0.0.5"}
        assert client.get("/api/auth/me", headers=other_forms).status_code == 401
    listed = cli(guarded_server.data_dir, "users", "list", "--json")
    assert "root" not in {user["username"] for user in json.loads(listed.stdout)}
    # The real trusted proxy, a connection from its address, may still name the user it vouches for.
    with client_from(guarded_server, PROXY_SOURCE) as proxy:
        me = proxy.get("/api/auth/me", headers={"X-Unix-User": "nobody", "X-Forwarded-For": "203.0.113.7"})
        assert me.status_code == 200, me.text
        assert (me.json()["user"]["username"], me.json()["user"]["role"]) == ("nobody", "user")


def test_rotating_forwarded_for_does_not_escape_the_login_limit(limited_server: ServerProcess) -> None:
    """From 127.0.0.1, whose X-Forwarded-For uvicorn used to believe: a new address and a new user
    name on every attempt escaped both the per-address and the per-user limit."""
    with client_from(limited_server) as client:
        statuses = [
            _login_status(client, f"rotator-{i}", "wrong-password", **{"X-Forwarded-For": f"198.51.100.{i}"})
            for i in range(LIMIT + 2)
        ]
    assert statuses == [401] * LIMIT + [429, 429], statuses


def test_a_trusted_proxy_names_the_client_the_limit_counts(limited_server: ServerProcess) -> None:
    with client_from(limited_server, PROXY_SOURCE) as proxy:
        for _ in range(LIMIT):
            assert _login_status(proxy, "dave", "wrong-password", **{"X-Forwarded-For": "203.0.113.7"}) == 401
        assert _login_status(proxy, "dave", "wrong-password", **{"X-Forwarded-For": "203.0.113.7"}) == 429
        # A hop the client wrote itself, left of what the proxy appended, changes nothing.
        spoofed = {"X-Forwarded-For": "192.0.2.1, 203.0.113.7"}
        assert _login_status(proxy, "dave", "wrong-password", **spoofed) == 429
        # Another client behind the same proxy is not held back by the first one.
        assert _login_status(proxy, "erin", "wrong-password", **{"X-Forwarded-For": "203.0.113.8"}) == 401


# --- finding 8: nobody can lock a user out; finding 5: the limiter's memory ---


def test_a_user_cannot_be_locked_out_by_someone_else(limited_server: ServerProcess) -> None:
    with client_from(limited_server, "127.0.0.2") as attacker:
        statuses = [_login_status(attacker, ADMIN, "wrong-password") for _ in range(LIMIT + 1)]
        assert statuses == [401] * LIMIT + [429], statuses
        assert _login_status(attacker, ADMIN, ADMIN_PASSWORD) == 429  # this source failed
        assert _login_status(attacker, "bob", USERS["bob"]) == 429  # and guesses at no one else
    with client_from(limited_server, "127.0.0.3") as owner:
        assert _login_status(owner, ADMIN, ADMIN_PASSWORD) == 200  # a source that has not failed
    with client_from(limited_server, "127.0.0.4") as other:
        # While the user is under attack, a source that failed for it waits after one failure...
        assert _login_status(other, ADMIN, "wrong-password") == 401
        assert _login_status(other, ADMIN, ADMIN_PASSWORD) == 429
        # ...for that user only.
        assert _login_status(other, "bob", USERS["bob"]) == 200


def _limiter_entries(server: ServerProcess) -> float:
    for line in httpx.get(
        f"{server.url}/metrics", headers={"Authorization": "Bearer scrape-token"}
    ).text.splitlines():
        if line.startswith("sdcpp_rest_login_limiter_entries "):
            return float(line.split()[1])
    raise AssertionError("no sdcpp_rest_login_limiter_entries in /metrics")


def test_refused_logins_do_not_grow_the_limiter(limited_server: ServerProcess) -> None:
    """Every 429 used to add an entry that was never removed (2,000 names: ~2 MB). Now a check never
    creates one, expired ones go, and there are at most 10,000 (tests/unit/test_login_limiter.py)."""
    with client_from(limited_server, "127.0.0.5") as client:
        for _ in range(LIMIT):
            assert _login_status(client, "frank", "wrong-password") == 401
        after_failures = _limiter_entries(limited_server)
        statuses = {_login_status(client, f"name-{i}-{'x' * 100}", "wrong-password") for i in range(300)}
        assert statuses == {429}
        # (<=: entries of other tests may expire meanwhile; 300 new ones would show)
        assert _limiter_entries(limited_server) <= after_failures


# --- finding 7: a token is refreshed once ---


def test_a_token_is_refreshed_once_even_in_parallel(guarded_server: ServerProcess) -> None:
    parallel = 8

    def refresh(token: str, start: threading.Barrier) -> httpx.Response:
        with guarded_server.client() as client:
            client.get("/api/health")  # the connection is open before the race starts
            start.wait()
            return client.post("/api/auth/refresh", headers=bearer(token))

    for _ in range(3):  # a race: several rounds
        token = login(guarded_server, "bob", USERS["bob"])
        start = threading.Barrier(parallel)
        with ThreadPoolExecutor(parallel) as pool:
            replies = list(pool.map(refresh, [token] * parallel, [start] * parallel))
        fresh = [reply.json()["token"] for reply in replies if reply.status_code == 200]
        assert len(fresh) == 1, [reply.status_code for reply in replies]
        refused = [reply for reply in replies if reply.status_code != 200]
        assert {(r.status_code, r.json()["error"]["code"]) for r in refused} == {(401, "INVALID_CREDENTIALS")}
        with guarded_server.client() as client:
            assert client.get("/api/auth/me", headers=bearer(fresh[0])).status_code == 200
            assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401


# --- finding 11: API keys and password changes ---


def _new_key(server: ServerProcess, token: str) -> str:
    with server.client() as client:
        created = client.post("/api/auth/keys", json={"name": "k"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def _key_works(server: ServerProcess, key: str) -> bool:
    return httpx.get(f"{server.url}/api/auth/me", headers={"X-API-Key": key}).status_code == 200


def test_a_password_change_revokes_api_keys_and_keys_can_be_revoked_at_once(
    guarded_server: ServerProcess,
) -> None:
    data_dir = guarded_server.data_dir
    carol = login(guarded_server, "carol", USERS["carol"])
    key = _new_key(guarded_server, carol)
    changed = cli(data_dir, "users", "passwd", "carol", "--password-stdin", stdin="carol-new-pass-2\n")
    assert changed.returncode == 0 and "1 API key(s) revoked" in changed.stdout, changed
    assert not _key_works(guarded_server, key)
    carol = login(guarded_server, "carol", "carol-new-pass-2")
    kept = _new_key(guarded_server, carol)
    routine = cli(
        data_dir, "users", "passwd", "carol", "--password-stdin", "--keep-keys", stdin="carol-pass-3\n"
    )
    assert routine.returncode == 0, routine.stderr
    assert _key_works(guarded_server, kept)
    carol = login(guarded_server, "carol", "carol-pass-3")
    second = _new_key(guarded_server, carol)
    carol_id = httpx.get(f"{guarded_server.url}/api/auth/me", headers=bearer(carol)).json()["user"]["id"]
    bob = login(guarded_server, "bob", USERS["bob"])
    with guarded_server.client() as client:
        refused = client.delete("/api/auth/keys", params={"user_id": carol_id}, headers=bearer(bob))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
        own = client.delete("/api/auth/keys", params={"user_id": carol_id}, headers=bearer(carol))
        assert own.status_code == 200 and own.json()["revoked"] == 2, own.text
        assert not _key_works(guarded_server, kept) and not _key_works(guarded_server, second)
        last = _new_key(guarded_server, carol)
        admin = bearer(login(guarded_server, ADMIN, ADMIN_PASSWORD))
        by_admin = client.delete("/api/auth/keys", params={"user_id": carol_id}, headers=admin)
        assert by_admin.status_code == 200 and by_admin.json()["revoked"] == 1
        assert not _key_works(guarded_server, last)
        unknown = client.delete("/api/auth/keys", params={"user_id": str(uuid.uuid4())}, headers=admin)
        assert unknown.status_code == 404
    newest = _new_key(guarded_server, carol)
    revoked = cli(data_dir, "keys", "revoke-all", "carol")
    assert revoked.returncode == 0 and "revoked 1 API key(s) of carol" in revoked.stdout, revoked
    assert not _key_works(guarded_server, newest)
    # The admins' users API does what `users passwd` does.
    with guarded_server.client() as client:
        routine_key = _new_key(guarded_server, carol)
        body = {"password": "carol-pass-4", "keep_api_keys": True}
        assert client.patch(f"/api/users/{carol_id}", json=body, headers=admin).status_code == 200
        assert _key_works(guarded_server, routine_key)
        changed_by_admin = client.patch(
            f"/api/users/{carol_id}", json={"password": "carol-pass-5"}, headers=admin
        )
        assert changed_by_admin.status_code == 200, changed_by_admin.text
        assert "1 API key(s) revoked" in changed_by_admin.json()["message"]
        assert not _key_works(guarded_server, routine_key)


# --- finding 12: guests learn no model names; finding 10: no redirect to the request's Host ---


def test_guests_learn_no_model_names_from_validate(guarded_server: ServerProcess) -> None:
    small = base64.b64encode(uniform_png(64, "RGB")).decode()
    with guarded_server.client() as guest:
        known = guest.post("/api/validate", json={"prompt": "x", "model_name": "sd15.safetensors"}).json()
        unknown = guest.post("/api/validate", json={"prompt": "x", "model_name": "nope.safetensors"}).json()
        unnamed = guest.post("/api/validate", json={"prompt": "x"}).json()
        upscale = guest.post(
            "/api/validate", params={"mode": "upscale"}, json={"image": small, "upscaler": "nope.pth"}
        ).json()
    for reply in (known, unknown, unnamed, upscale):
        assert reply["valid"] is True and reply["errors"] == [], reply
        assert reply["warnings"] == ["model and file names are checked only for authenticated callers"]
    known["normalized"].pop("model_name")
    unknown["normalized"].pop("model_name")
    assert known == unknown  # nothing tells whether a model exists
    assert unnamed["normalized"]["model_name"] is None and "sd15" not in json.dumps(unnamed)
    assert upscale["normalized"]["image"] == "<image 64x64>"  # images are still checked
    user = bearer(login(guarded_server, "bob", USERS["bob"]))
    with guarded_server.client() as client:
        full = client.post("/api/validate", json={"prompt": "x"}, headers=user).json()
        missing = client.post(
            "/api/validate", json={"prompt": "x", "model_name": "nope"}, headers=user
        ).json()
    assert full["normalized"]["model_name"] == "sd15.safetensors" and full["warnings"] == []
    assert missing["errors"][0]["code"] == "MODEL_NOT_FOUND"


def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_host_header(guarded_server: ServerProcess) -> None:
    paths = (f"/api/queue/job/{uuid.uuid4()}/output/image_0.png/", "/api/health/", "/api/auth/login/")
    with guarded_server.client() as client:
        for path in paths:
            reply = client.get(path, headers={"Host": "evil.example"})
            assert reply.status_code == 404 and "location" not in reply.headers, (path, reply.headers)
            assert reply.json()["error"]["code"] == "NOT_FOUND"


# --- finding 4: credentials never in the log, verbose included ---


def test_credentials_are_redacted_wherever_they_travel(guarded_server: ServerProcess) -> None:
    """The guarded server logs at debug level: uvicorn's access log, every WebSocket handshake header
    and frame. Credentials go through headers, subprotocols, query strings and bodies."""
    token = login(guarded_server, "bob", USERS["bob"])  # a body with a password; a reply with a token
    key = _new_key(guarded_server, token)
    ws_url = guarded_server.url.replace("http://", "ws://") + "/ws"
    with guarded_server.client() as client:
        client.get("/api/auth/me", headers=bearer(token))
        client.get("/api/auth/me", headers={"X-API-Key": key})
        client.get("/api/auth/me", params={"token": token, "api_key": key})
        client.post("/api/auth/login", data={"username": "bob", "password": USERS["bob"]})  # a form body
    handshakes: list[dict[str, object]] = [
        {"subprotocols": [Subprotocol("bearer"), Subprotocol(token)]},
        {"subprotocols": [Subprotocol("api-key"), Subprotocol(key)]},
        {"additional_headers": {"Authorization": f"Bearer {token}", "X-API-Key": key}},
    ]
    for options in handshakes:
        with ws_connect(ws_url, **options) as ws:
            ws.recv(timeout=10)
    for query in (f"?token={token}", f"?api_key={key}"):
        with ws_connect(ws_url + query) as ws:
            ws.recv(timeout=10)
            # A client may put anything in a message; its frames are logged at debug level.
            ws.send(json.dumps({"type": "ping", "password": USERS["bob"], "token": token, "key": key}))
            ws.recv(timeout=10)
    refreshed = httpx.post(f"{guarded_server.url}/api/auth/refresh", headers=bearer(token)).json()["token"]
    log = guarded_server.log_tail(10_000_000)
    secrets = {
        "token": token,
        "refreshed token": refreshed,
        "API key secret": key.split("_", 2)[2],
        "password": USERS["bob"],
        "admin password": ADMIN_PASSWORD,
    }
    assert "sec-websocket-protocol: bearer, [REDACTED]" in log  # it was logged, redacted
    leaked = [name for name, secret in secrets.items() if secret in log]
    assert leaked == [], leaked


# --- finding 9: the database and its folder are their owner's only ---


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_the_data_folder_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # not there yet: the server creates it
    server = ServerProcess(tmp_path, args=["--data-dir", str(data_dir)]).start()
    try:
        assert _mode(data_dir) == 0o700
        for name in ("sdcpp-rest.db", "sdcpp-rest.db-wal", "sdcpp-rest.db-shm", "jwt_secret"):
            assert _mode(data_dir / name) == 0o600, name
    finally:
        server.stop()
    # The admin commands create the same way, and tighten a database an earlier version left 0644.
    cli_dir = tmp_path / "cli-data"
    assert cli(cli_dir, "users", "list").returncode == 0
    assert (_mode(cli_dir), _mode(cli_dir / "sdcpp-rest.db")) == (0o700, 0o600)
    (cli_dir / "sdcpp-rest.db").chmod(0o644)
    assert cli(cli_dir, "users", "list").returncode == 0
    assert _mode(cli_dir / "sdcpp-rest.db") == 0o600
