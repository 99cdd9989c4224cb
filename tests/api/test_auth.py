"""Authentication and authorization against a real server: JWT, API keys, roles, ownership, abuse."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from PIL import Image, PngImagePlugin
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.server import ServerProcess, prepare_data_dir

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USERS = {"bob": "bob-password-1", "carol": "carol-password-1"}
AUTH_ENV = {
    "STABLE_DIFFUSION_AUTH_METHOD": "jwt,api_key",
    "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
    "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "STABLE_DIFFUSION_LOGIN_ATTEMPTS_PER_MINUTE": "5",
}

# The spec's public endpoints; everything else needs authentication.
PUBLIC = {
    ("GET", "/api/health"),
    ("GET", "/api/status"),
    ("GET", "/api/version"),
    ("GET", "/api/image/download"),
    ("POST", "/api/validate"),
    ("POST", "/api/png-info"),
    ("POST", "/api/auth/login"),
}
# The output routes are no longer public with auth on (issue 27 finding 1): the owner, an admin, or a
# signed link (tests/api/test_output_access.py).
# /metrics is no longer public with auth on (issue 27 finding 8: its labels name models): system:read,
# which the user role has, or the metrics token.
# Needs more than the user role (models:manage, system:manage, users:manage).
ADMIN_ONLY_PREFIXES = (
    "/api/models/{",
    "/api/models/refresh",
    "/api/models/download",
    "/api/models/upload",
    "/api/models/trash",
    "/api/models/sets",
    "/api/system/restart",
    "/api/users",
)
ADMIN_ONLY_EXCEPTIONS = {
    ("GET", "/api/models/{model_id}"),
    ("GET", "/api/models/types"),
    ("GET", "/api/models/sets"),
    # A model's preview image: whoever may list the models may see it.
    ("GET", "/api/models/{model_id}/preview"),
}
# /api/styles and its routes (issue 23) are the user role's: listing like the model listing, one's own
# styles with generate rights. Their admin-only part is a flag (`shared`), which the route table cannot
# see: test_styles_are_shared_by_admins_and_owned_by_users checks it.
# Called only as guest and user: as admin they would stop the server under the test.
NOT_AS_ADMIN = {("POST", "/api/system/restart")}


def cli(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdcpp_rest.cli.main", *args, "--data-dir", str(data_dir)],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("auth-server"))
    for name, password in USERS.items():
        result = cli(
            data_dir, "users", "add", name, "--role", "user", "--password-stdin", stdin=password + "\n"
        )
        assert result.returncode == 0, result.stderr
    server = ServerProcess(data_dir, env=AUTH_ENV).start()
    yield server
    server.stop()


def login(server: ServerProcess, username: str, password: str) -> str:
    response = httpx.post(f"{server.url}/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_validate_me_refresh_logout_round_trip(auth_server: ServerProcess) -> None:
    token = login(auth_server, "bob", USERS["bob"])
    with auth_server.client() as client:
        me = client.get("/api/auth/me", headers=bearer(token)).json()["user"]
        assert me["username"] == "bob" and me["role"] == "user"
        assert "generate" in me["permissions"] and "queue:manage_all" not in me["permissions"]
        assert client.get("/api/auth/validate", headers=bearer(token)).json()["valid"] is True
        refreshed = client.post("/api/auth/refresh", headers=bearer(token)).json()["token"]
        old = client.get("/api/auth/me", headers=bearer(token))
        assert old.status_code == 401 and old.json()["error"]["code"] == "INVALID_CREDENTIALS"
        assert client.get("/api/auth/me", headers=bearer(refreshed)).status_code == 200
        assert client.post("/api/auth/logout", headers=bearer(refreshed)).status_code == 200
        assert client.get("/api/auth/me", headers=bearer(refreshed)).status_code == 401


def test_logged_out_token_stays_dead_after_restart(tmp_path: Path) -> None:
    data_dir = prepare_data_dir(tmp_path)
    server = ServerProcess(data_dir, env=AUTH_ENV).start()
    token = login(server, ADMIN, ADMIN_PASSWORD)
    alive = login(server, ADMIN, ADMIN_PASSWORD)
    assert httpx.post(f"{server.url}/api/auth/logout", headers=bearer(token)).status_code == 200
    server.stop()
    restarted = ServerProcess(data_dir, env=AUTH_ENV).start()
    try:
        assert httpx.get(f"{restarted.url}/api/auth/me", headers=bearer(token)).status_code == 401
        assert httpx.get(f"{restarted.url}/api/auth/me", headers=bearer(alive)).status_code == 200
    finally:
        restarted.stop()


def test_tampered_expired_and_foreign_tokens_are_refused(auth_server: ServerProcess) -> None:
    token = login(auth_server, "bob", USERS["bob"])
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    secret = (auth_server.data_dir / "jwt_secret").read_text().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="sdcpp-rest")
    expired = jwt.encode({**claims, "iat": time.time() - 7200, "exp": time.time() - 3600}, secret, "HS256")
    foreign = jwt.encode({**claims}, "some other secret", "HS256")
    unsigned = jwt.encode({**claims}, None, algorithm="none") if hasattr(jwt, "encode") else ""
    for bad in (tampered, expired, foreign, unsigned, "garbage"):
        response = httpx.get(f"{auth_server.url}/api/auth/me", headers=bearer(bad))
        assert response.status_code == 401, bad
        assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_password_change_and_disable_revoke_tokens(auth_server: ServerProcess) -> None:
    token = login(auth_server, "carol", USERS["carol"])
    result = cli(
        auth_server.data_dir, "users", "passwd", "carol", "--password-stdin", stdin="carol-new-pass-2\n"
    )
    assert result.returncode == 0, result.stderr
    assert httpx.get(f"{auth_server.url}/api/auth/me", headers=bearer(token)).status_code == 401
    fresh = login(auth_server, "carol", "carol-new-pass-2")
    assert cli(auth_server.data_dir, "users", "disable", "carol").returncode == 0
    assert httpx.get(f"{auth_server.url}/api/auth/me", headers=bearer(fresh)).status_code == 401
    refused = httpx.post(
        f"{auth_server.url}/api/auth/login", json={"username": "carol", "password": "carol-new-pass-2"}
    )
    assert refused.status_code == 401
    assert cli(auth_server.data_dir, "users", "enable", "carol").returncode == 0
    login(auth_server, "carol", "carol-new-pass-2")
    cli(auth_server.data_dir, "users", "passwd", "carol", "--password-stdin", stdin=USERS["carol"] + "\n")


def test_api_key_create_use_list_revoke(auth_server: ServerProcess) -> None:
    token = login(auth_server, "bob", USERS["bob"])
    with auth_server.client() as client:
        created = client.post("/api/auth/keys", json={"name": "laptop"}, headers=bearer(token))
        assert created.status_code == 201
        key = created.json()["key"]
        assert client.get("/api/auth/me", headers={"X-API-Key": key}).json()["user"]["username"] == "bob"
        listed = client.get("/api/auth/keys", headers=bearer(token)).json()["keys"]
        assert [k["name"] for k in listed] == ["laptop"] and key not in str(listed)
        assert (
            client.delete(f"/api/auth/keys/{created.json()['id']}", headers=bearer(token)).status_code == 200
        )
        revoked = client.get("/api/auth/me", headers={"X-API-Key": key})
        assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "INVALID_CREDENTIALS"
        assert client.get("/api/auth/me", headers={"X-API-Key": key[:-3] + "xyz"}).status_code == 401
    # Keys are stored hashed: the secret is nowhere in the database file.
    assert key.split("_", 2)[2].encode() not in (auth_server.data_dir / "sdcpp-rest.db").read_bytes()


def _keys_for(server: ServerProcess) -> dict[str, dict[str, str]]:
    """API-key headers for a user and the admin (keys, so that calling /logout revokes nothing)."""
    headers: dict[str, dict[str, str]] = {"guest": {}}
    for name, password in (("user", USERS["bob"]), ("admin", ADMIN_PASSWORD)):
        username = "bob" if name == "user" else ADMIN
        token = login(server, username, password)
        key = httpx.post(f"{server.url}/api/auth/keys", json={"name": f"table-{name}"}, headers=bearer(token))
        headers[name] = {"X-API-Key": key.json()["key"]}
    return headers


def test_every_route_answers_guest_user_and_admin_as_the_spec_says(auth_server: ServerProcess) -> None:
    """The route list comes from the server's own OpenAPI document: a new route cannot be forgotten."""
    headers = _keys_for(auth_server)
    paths = httpx.get(f"{auth_server.url}/openapi.json").json()["paths"]
    checked = 0
    with auth_server.client() as client:
        for path, operations in paths.items():
            for method in operations:
                method = method.upper()
                route = (method, path)
                url = path.format(
                    job_id=uuid.uuid4(),
                    filename="image_0.png",
                    model_id="nothing",
                    key_id="nokey",
                    user_id="nouser",
                    name="noset",
                    entry_id="noentry",
                )
                admin_only = path.startswith(ADMIN_ONLY_PREFIXES) and route not in ADMIN_ONLY_EXCEPTIONS
                for role in ("guest", "user", "admin"):
                    if role == "admin" and route in NOT_AS_ADMIN:
                        continue
                    status = client.request(method, url, headers=headers[role], json={}).status_code
                    if route in PUBLIC:
                        assert status not in (401, 403), (role, route, status)
                    elif role == "guest":
                        assert status == 401, (role, route, status)
                    elif role == "user" and admin_only:
                        assert status == 403, (role, route, status)
                    else:
                        assert status not in (401, 403), (role, route, status)
                    checked += 1
    assert checked > 40


def _png_with_parameters(width: int, height: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a guest's cat\nSteps: 3, Sampler: Euler, CFG scale: 7, Seed: 9, Size: 64x64")
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_png_info_is_public_within_the_guest_limits(auth_server: ServerProcess) -> None:
    small = base64.b64encode(_png_with_parameters(64, 64)).decode()
    # Over the guest's 1 MiB pixels (cheap to send: one grey colour compresses well).
    large = base64.b64encode(_png_with_parameters(1100, 1000)).decode()
    user = bearer(login(auth_server, "bob", USERS["bob"]))
    with auth_server.client() as client:
        guest_reply = client.post("/api/png-info", json={"image": small})
        assert guest_reply.status_code == 200, guest_reply.text
        assert guest_reply.json()["parameters"]["prompt"] == "a guest's cat"
        too_many_pixels = client.post("/api/png-info", json={"image": large})
        assert too_many_pixels.status_code == 400, too_many_pixels.text
        assert "limit for guests" in too_many_pixels.json()["error"]["message"]
        assert client.post("/api/png-info", json={"image": large}, headers=user).status_code == 200
        big_body = {"image": small + "=" * (1024 * 1024)}
        too_long = client.post("/api/png-info", json=big_body)
        assert too_long.status_code == 413 and too_long.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        # A caller who may generate has max_request_bytes: the body is read (and its image refused).
        user_long = client.post("/api/png-info", json=big_body, headers=user)
        assert user_long.status_code == 400, user_long.text


def test_users_see_and_cancel_only_their_own_jobs(auth_server: ServerProcess) -> None:
    bob = bearer(login(auth_server, "bob", USERS["bob"]))
    carol = bearer(login(auth_server, "carol", USERS["carol"]))
    admin = bearer(login(auth_server, ADMIN, ADMIN_PASSWORD))
    body = {"prompt": "mine", "width": 64, "height": 64, "steps": 1}
    with auth_server.client() as client:
        blocker = client.post("/api/generate/text2img", json={**body, "steps": 8}, headers=admin).json()[
            "job_id"
        ]
        bobs = client.post("/api/generate/text2img", json=body, headers=bob).json()["job_id"]
        carols = client.post("/api/generate/text2img", json=body, headers=carol).json()["job_id"]
        assert client.get(f"/api/queue/job/{bobs}", headers=carol).status_code == 404
        assert client.post("/api/queue/cancel", json={"job_id": bobs}, headers=carol).status_code == 404
        carol_view = {
            job["id"] for job in client.get("/api/queue/status", headers=carol).json()["queue"]["jobs"]
        }
        assert carols in carol_view and bobs not in carol_view and blocker not in carol_view
        admin_view = {
            job["id"] for job in client.get("/api/queue/status", headers=admin).json()["queue"]["jobs"]
        }
        assert {bobs, carols, blocker} <= admin_view
        cleared = client.post("/api/queue/clear", headers=carol).json()["cleared"]
        assert cleared == 1
        assert client.get(f"/api/queue/job/{bobs}", headers=bob).json()["status"] in (
            "queued",
            "processing",
            "completed",
        )
        assert client.get(f"/api/queue/job/{carols}", headers=carol).json()["status"] == "cancelled"
        assert client.post("/api/queue/cancel", json={"job_id": bobs}, headers=admin).status_code in (
            200,
            409,
        )
        client.post("/api/queue/cancel", json={"job_id": blocker}, headers=admin)


def test_failed_logins_are_rate_limited_and_do_not_reveal_usernames(tmp_path: Path) -> None:
    # A server of its own: the per-address limit would lock the other tests out of logging in.
    server = ServerProcess(tmp_path, env=AUTH_ENV).start()
    try:
        _check_rate_limit(server)
    finally:
        server.stop()


def _check_rate_limit(server: ServerProcess) -> None:
    url = f"{server.url}/api/auth/login"
    unknown = httpx.post(url, json={"username": "nobody-here", "password": "wrong-password"})
    wrong = httpx.post(url, json={"username": ADMIN, "password": "wrong-password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["error"]["message"] == wrong.json()["error"]["message"]
    statuses = [httpx.post(url, json={"username": ADMIN, "password": "wrong"}).status_code for _ in range(6)]
    assert statuses[-1] == 429
    limited = httpx.post(url, json={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.json()["error"]["code"] == "RATE_LIMITED"


def test_no_credential_appears_in_the_log(auth_server: ServerProcess) -> None:
    token = login(auth_server, "bob", USERS["bob"])
    httpx.get(f"{auth_server.url}/api/auth/me?token={token}", headers=bearer(token))
    log = auth_server.log_path.read_text()
    assert token not in log and USERS["bob"] not in log and ADMIN_PASSWORD not in log


def _ws_messages_until_quiet(ws: ClientConnection, quiet_seconds: float = 1.5) -> list[str]:
    """Every message the client has been sent, read until none arrives for `quiet_seconds`."""
    messages: list[str] = []
    while True:
        try:
            messages.append(str(ws.recv(timeout=quiet_seconds)))
        except TimeoutError:
            return messages


def test_websocket_clients_see_only_their_own_jobs(auth_server: ServerProcess) -> None:
    bob_token = login(auth_server, "bob", USERS["bob"])
    carol_token = login(auth_server, "carol", USERS["carol"])
    admin_token = login(auth_server, ADMIN, ADMIN_PASSWORD)
    admin_key = httpx.post(
        f"{auth_server.url}/api/auth/keys", json={"name": "ws"}, headers=bearer(admin_token)
    ).json()["key"]
    url = auth_server.url.replace("http://", "ws://") + "/ws"
    # Three ways to carry credentials: subprotocol token, query token, subprotocol API key.
    with (
        ws_connect(url, subprotocols=[Subprotocol("bearer"), Subprotocol(bob_token)]) as bob_ws,
        ws_connect(f"{url}?token={carol_token}") as carol_ws,
        ws_connect(
            f"{url}?scope=all", subprotocols=[Subprotocol("api-key"), Subprotocol(admin_key)]
        ) as admin_ws,
    ):
        assert bob_ws.subprotocol == "bearer" and admin_ws.subprotocol == "api-key"
        # Carol asks for Bob's job by id before it exists and after: neither gives her anything.
        with auth_server.client() as client:
            body = {"prompt": "bob's secret picture", "width": 64, "height": 64, "steps": 2}
            bobs = client.post("/api/generate/text2img", json=body, headers=bearer(bob_token)).json()[
                "job_id"
            ]
            carol_ws.send(json.dumps({"type": "subscribe", "job_id": bobs}))
            for ws in (admin_ws, bob_ws):
                finals = [
                    m
                    for m in map(json.loads, _ws_messages_until_final(ws, bobs))
                    if m["type"] == "job_update" and m["data"]["job_id"] == bobs
                ]
                assert finals[-1]["data"]["status"] == "completed"
        carol_saw = _ws_messages_until_quiet(carol_ws)
        assert any(json.loads(m)["type"] == "queue_update" for m in carol_saw)  # she is connected
        assert not [m for m in carol_saw if bobs in m or "secret" in m]


def _ws_messages_until_final(ws: ClientConnection, job_id: str, timeout: float = 120) -> list[str]:
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = str(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        messages.append(text)
        message = json.loads(text)
        if message["type"] == "job_update" and message["data"]["job_id"] == job_id:
            if message["data"]["status"] in ("completed", "failed", "cancelled"):
                return messages
    raise AssertionError(f"no final status for {job_id}")


def test_websocket_with_a_wrong_subprotocol_token_is_closed_with_the_reason(
    auth_server: ServerProcess,
) -> None:
    url = auth_server.url.replace("http://", "ws://") + "/ws"
    with ws_connect(url, subprotocols=[Subprotocol("bearer"), Subprotocol("not.a.token")]) as ws:
        assert ws.subprotocol == "bearer"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_styles_are_shared_by_admins_and_owned_by_users(auth_server: ServerProcess) -> None:
    """Issue 23: reading styles is like reading models, making one's own needs generate rights,
    shared ones are an admin's; users see the shared and their own, admins every style; a user's own
    style of a shared style's name is the one their requests apply."""
    bob = bearer(login(auth_server, "bob", USERS["bob"]))
    carol = bearer(login(auth_server, "carol", USERS["carol"]))
    admin = bearer(login(auth_server, ADMIN, ADMIN_PASSWORD))
    tag = uuid.uuid4().hex[:6]
    mood, mine = f"mood-{tag}", f"mine-{tag}"
    with auth_server.client() as client:
        refused = client.post("/api/styles", json={"name": mood, "prompt": "x", "shared": True}, headers=bob)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
        shared = {"name": mood, "prompt": "{prompt}, shared", "shared": True}
        assert client.post("/api/styles", json=shared, headers=admin).status_code == 201
        own = {"name": mood, "prompt": "{prompt}, bob's"}
        assert client.post("/api/styles", json=own, headers=bob).status_code == 201
        assert client.post("/api/styles", json={"name": mine, "prompt": "b"}, headers=bob).status_code == 201
        assert client.delete(f"/api/styles/{mood}", params={"shared": True}, headers=carol).status_code == 403

        def listed(headers: dict[str, str]) -> set[tuple[str, bool, bool]]:
            styles = client.get("/api/styles", headers=headers).json()["styles"]
            return {(s["name"], s["shared"], s["usable"]) for s in styles if s["name"].endswith(tag)}

        assert listed(bob) == {(mood, True, False), (mood, False, True), (mine, False, True)}
        assert listed(carol) == {(mood, True, True)}
        assert listed(admin) == {(mood, True, True), (mood, False, False), (mine, False, False)}

        def applied(headers: dict[str, str], styles: list[str]) -> httpx.Response:
            body = {"prompt": "a", "width": 64, "height": 64, "steps": 1, "styles": styles}
            return client.post("/api/validate", json=body, headers=headers)

        assert applied(bob, [mood]).json()["normalized"]["prompt"] == "a, bob's"
        assert applied(carol, [mood]).json()["normalized"]["prompt"] == "a, shared"
        carols_view = applied(carol, [mine]).json()
        assert not carols_view["valid"] and carols_view["errors"][0]["field"] == "styles.0"
