"""Users, API keys and revoked tokens through AuthService on a real database (SQLite and PostgreSQL):
the same answers on both, including the two decisions the database makes (a unique user name, the
one refresh of a token)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sdcpp_rest.auth.permissions import Role
from sdcpp_rest.auth.service import AuthFailed, AuthService, RequestCredentials, TokenAlreadyRefreshed
from sdcpp_rest.auth.store import UserExists, UserStore
from sdcpp_rest.auth.tokens import TokenCodec
from sdcpp_rest.config import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def auth(engine: Engine, tmp_path: Path) -> AuthService:
    settings = Settings(data_dir=tmp_path, auth_method="jwt,api_key")
    return AuthService(settings, UserStore(engine), TokenCodec("x" * 32, 3600))


def bearer(token: str) -> RequestCredentials:
    return RequestCredentials(bearer_token=token, api_key=None, unix_user=None, peer_host="127.0.0.1")


def key_credentials(key: str) -> RequestCredentials:
    return RequestCredentials(bearer_token=None, api_key=key, unix_user=None, peer_host="127.0.0.1")


def test_a_user_name_is_taken_once(auth: AuthService) -> None:
    alice = auth.add_user("alice", PASSWORD, Role.USER)
    with pytest.raises(UserExists):
        auth.add_user("alice", PASSWORD, Role.ADMIN)
    # The failed insert left the store usable and the first row as it was.
    assert [user.username for user in auth.users.list_users()] == ["alice"]
    assert auth.users.get_user(alice.id) == alice
    assert not auth.users.has_admin()


def test_login_token_refreshes_once_under_parallel_requests(auth: AuthService) -> None:
    auth.add_user("bob", PASSWORD, Role.USER)
    token, _ = auth.login("bob", PASSWORD, bearer(""))
    principal = auth.authenticate(bearer(token))
    assert principal is not None and principal.username == "bob"
    results: list[str] = []
    refused: list[Exception] = []
    barrier = threading.Barrier(8)

    def refresh() -> None:
        barrier.wait()
        try:
            results.append(auth.refresh(principal))
        except TokenAlreadyRefreshed as exc:
            refused.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (len(results), len(refused)) == (1, 7)
    with pytest.raises(AuthFailed):
        auth.authenticate(bearer(token))  # the refreshed token is revoked
    renewed = auth.authenticate(bearer(results[0]))
    assert renewed is not None and renewed.username == "bob"


def test_api_keys_authenticate_until_revoked_and_a_new_password_revokes_the_rest(auth: AuthService) -> None:
    carol = auth.add_user("carol", PASSWORD, Role.USER)
    first, first_record = auth.create_key(carol.id, "laptop", None)
    second, _ = auth.create_key(carol.id, "ci", 30)
    token, _ = auth.login("carol", PASSWORD, bearer(""))
    principal = auth.authenticate(key_credentials(first))
    assert principal is not None and (principal.username, principal.method) == ("carol", "api_key")
    touched = auth.users.get_key(first_record.id)
    assert touched is not None and touched.last_used_at is not None

    assert auth.users.revoke_key(first_record.id)
    assert not auth.users.revoke_key(first_record.id)  # already revoked: nothing changed
    with pytest.raises(AuthFailed):
        auth.authenticate(key_credentials(first))
    assert auth.authenticate(key_credentials(second)) is not None

    user = auth.users.find_user("carol")
    assert user is not None
    assert auth.set_password(user, "another long password") == 1  # the one still active
    with pytest.raises(AuthFailed):
        auth.authenticate(key_credentials(second))
    with pytest.raises(AuthFailed):
        auth.authenticate(bearer(token))
    assert [key.revoked for key in auth.users.list_keys(carol.id)] == [True, True]
