"""Issue 27, finding 3: the failed-login limiter decides before any credential is looked at, on every
path that takes a secret: HTTP Basic (whose verified passwords are cached), login, API keys. Before
the fix a cached Basic password answered 200 to a source held back for guessing, so an attacker
learned which of its guesses was right. A real server process; loopback source addresses
(127.0.0.x) stand for distinct clients."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.api.security_support import ADMIN, ADMIN_PASSWORD, USERS, admin_server, client_from, login
from tests.server import ServerProcess, prepare_data_dir

LIMIT = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("limiter-first"))
    limits = {
        "STABLE_DIFFUSION_AUTH_METHOD": "jwt,api_key",
        "STABLE_DIFFUSION_LOGIN_ATTEMPTS_PER_MINUTE": str(LIMIT),
    }
    process = admin_server(data_dir, limits)
    yield process
    process.stop()


def _basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_a_cached_basic_password_does_not_pass_the_limiter(server: ServerProcess) -> None:
    right, wrong = _basic("bob", USERS["bob"]), _basic("bob", "wrong-password")
    with client_from(server, "127.0.0.21") as attacker:
        # The right password has been used recently (by bob, or by a lucky guess): it is cached.
        assert attacker.get("/sdapi/v1/options", headers=right).status_code == 200
        statuses = [attacker.get("/sdapi/v1/options", headers=wrong).status_code for _ in range(LIMIT + 1)]
        assert statuses == [401] * LIMIT + [429], statuses
        held = attacker.get("/sdapi/v1/options", headers=right)
        assert held.status_code == 429, held.text  # was 200: the guess that was right stood out
        assert int(held.headers["retry-after"]) > 0
        # Every path answers the same to this source: login and another user's Basic password too.
        assert (
            attacker.post("/api/auth/login", json={"username": "bob", "password": USERS["bob"]}).status_code
            == 429
        )
        assert attacker.get("/sdapi/v1/options", headers=_basic(ADMIN, ADMIN_PASSWORD)).status_code == 429
    with client_from(server, "127.0.0.22") as owner:  # a source that has not failed gets in
        assert owner.get("/sdapi/v1/options", headers=right).status_code == 200


def test_wrong_api_keys_count_and_the_limiter_decides_first(server: ServerProcess) -> None:
    token = login(server, "bob", USERS["bob"])
    with server.client() as client:
        created = client.post(
            "/api/auth/keys", json={"name": "k"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201, created.text
    key = str(created.json()["key"])
    with client_from(server, "127.0.0.23") as guesser:
        assert guesser.get("/api/auth/me", headers={"X-API-Key": key}).status_code == 200
        statuses = [
            guesser.get("/api/auth/me", headers={"X-API-Key": f"sdk_guess{i}_secret"}).status_code
            for i in range(LIMIT + 1)
        ]
        assert statuses == [401] * LIMIT + [429], statuses
        assert guesser.get("/api/auth/me", headers={"X-API-Key": key}).status_code == 429
        assert guesser.get("/sdapi/v1/options", headers=_basic("x", key)).status_code == 429  # a key in Basic
    with client_from(server, "127.0.0.24") as other:
        assert other.get("/api/auth/me", headers={"X-API-Key": key}).status_code == 200
