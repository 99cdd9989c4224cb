"""User management over HTTP (/api/users, admin only) against a real server with auth on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server import ServerProcess, prepare_data_dir

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
AUTH_ENV = {
    "STABLE_DIFFUSION_AUTH_METHOD": "jwt,api_key",
    "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
    "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
}


@pytest.fixture(scope="module")
def users_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(prepare_data_dir(tmp_path_factory.mktemp("users-server")), env=AUTH_ENV).start()
    yield server
    server.stop()


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api/auth/login", json={"username": username, "password": password})


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(users_server: ServerProcess) -> Iterator[httpx.Client]:
    with users_server.client() as client:
        client.headers.update(_as(_login(client, ADMIN, ADMIN_PASSWORD).json()["token"]))
        yield client


def test_admin_creates_a_user_who_can_log_in(admin: httpx.Client) -> None:
    created = admin.post("/api/users", json={"username": "erin", "password": "erin-password-1"})
    assert created.status_code == 201, created.text
    user = created.json()["user"]
    assert user["username"] == "erin" and user["role"] == "user" and user["enabled"] is True
    assert "password" not in created.text and "hash" not in created.text
    listed = admin.get("/api/users").json()["users"]
    assert [u["username"] for u in listed] == sorted(u["username"] for u in listed)
    assert "erin" in {u["username"] for u in listed}
    assert _login(admin, "erin", "erin-password-1").status_code == 200


def test_a_taken_username_and_a_short_password_are_refused_with_their_field(admin: httpx.Client) -> None:
    admin.post("/api/users", json={"username": "frank", "password": "frank-password-1"})
    taken = admin.post("/api/users", json={"username": "frank", "password": "frank-password-2"})
    assert taken.status_code == 409
    assert taken.json()["error"]["message"].startswith("username")
    short = admin.post("/api/users", json={"username": "gina", "password": "short"})
    assert short.status_code == 400 and short.json()["error"]["message"].startswith("password")
    odd = admin.post("/api/users", json={"username": "has space", "password": "long-enough-1"})
    assert odd.status_code == 422 and odd.json()["error"]["message"].startswith("username")


def test_disable_role_and_password_changes_end_the_users_sessions(admin: httpx.Client) -> None:
    user_id = admin.post("/api/users", json={"username": "hank", "password": "hank-password-1"}).json()[
        "user"
    ]["id"]
    token = _login(admin, "hank", "hank-password-1").json()["token"]
    with httpx.Client(base_url=str(admin.base_url)) as hank:
        assert hank.get("/api/auth/me", headers=_as(token)).status_code == 200
        disabled = admin.patch(f"/api/users/{user_id}", json={"enabled": False})
        assert disabled.status_code == 200 and disabled.json()["user"]["enabled"] is False
        assert hank.get("/api/auth/me", headers=_as(token)).status_code == 401
        assert _login(hank, "hank", "hank-password-1").status_code == 401
        assert admin.patch(f"/api/users/{user_id}", json={"enabled": True}).status_code == 200
        token = _login(hank, "hank", "hank-password-1").json()["token"]
        promoted = admin.patch(f"/api/users/{user_id}", json={"role": "admin"})
        assert promoted.json()["user"]["role"] == "admin"
        assert hank.get("/api/auth/me", headers=_as(token)).status_code == 401
        assert admin.patch(f"/api/users/{user_id}", json={"password": "hank-password-2"}).status_code == 200
        assert _login(hank, "hank", "hank-password-1").status_code == 401
        assert _login(hank, "hank", "hank-password-2").status_code == 200


def test_an_admin_cannot_lock_themselves_out(admin: httpx.Client) -> None:
    me = admin.get("/api/auth/me").json()["user"]["id"]
    for change, field in (({"enabled": False}, "enabled"), ({"role": "user"}, "role")):
        refused = admin.patch(f"/api/users/{me}", json=change)
        assert refused.status_code == 400 and refused.json()["error"]["message"].startswith(field)
    assert admin.get("/api/auth/me").status_code == 200
    missing = admin.patch("/api/users/no-such-user", json={"enabled": False})
    assert missing.status_code == 404


def test_users_and_guests_are_refused(admin: httpx.Client, users_server: ServerProcess) -> None:
    admin.post("/api/users", json={"username": "ivy", "password": "ivy-password-1"})
    with users_server.client() as client:
        assert client.get("/api/users").status_code == 401
        token = _login(client, "ivy", "ivy-password-1").json()["token"]
        for method, path in (("GET", "/api/users"), ("POST", "/api/users"), ("PATCH", "/api/users/x")):
            answer = client.request(method, path, headers=_as(token), json={})
            assert answer.status_code == 403, (method, path, answer.text)
