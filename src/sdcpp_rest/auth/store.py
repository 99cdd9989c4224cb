"""Users, API keys and revoked tokens in the database (SQLAlchemy Core, same engine as the jobs)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sdcpp_rest.auth.permissions import Role
from sdcpp_rest.storage.tables import api_keys_table, revoked_tokens_table, users_table


@dataclass(frozen=True)
class UserRecord:
    id: str
    username: str
    role: Role
    password_hash: str | None
    source: str
    enabled: bool
    created_at: float
    last_login_at: float | None
    tokens_valid_after: float

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role.value,
            "source": self.source,
            "enabled": self.enabled,
            "created_at": int(self.created_at),
            "last_login_at": int(self.last_login_at) if self.last_login_at else None,
        }


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    user_id: str
    name: str
    secret_hash: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked: bool

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": int(self.created_at),
            "expires_at": int(self.expires_at) if self.expires_at else None,
            "last_used_at": int(self.last_used_at) if self.last_used_at else None,
            "revoked": self.revoked,
        }


def _user(row: sa.Row[Any]) -> UserRecord:
    m = row._mapping
    return UserRecord(
        id=m["id"],
        username=m["username"],
        role=Role(m["role"]),
        password_hash=m["password_hash"],
        source=m["source"],
        enabled=bool(m["enabled"]),
        created_at=m["created_at"],
        last_login_at=m["last_login_at"],
        tokens_valid_after=m["tokens_valid_after"] or 0.0,
    )


def _key(row: sa.Row[Any]) -> ApiKeyRecord:
    m = row._mapping
    return ApiKeyRecord(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        last_used_at=m["last_used_at"],
        revoked=bool(m["revoked"]),
    )


class UserExists(Exception):
    pass


class UserStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- users ---
    def add_user(self, username: str, role: Role, password_hash: str | None, source: str) -> UserRecord:
        user_id = str(uuid.uuid4())
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    users_table.insert().values(
                        id=user_id,
                        username=username,
                        role=role.value,
                        password_hash=password_hash,
                        source=source,
                        enabled=True,
                        created_at=time.time(),
                        tokens_valid_after=0.0,
                    )
                )
        except sa.exc.IntegrityError:
            raise UserExists(username) from None
        user = self.get_user(user_id)
        assert user is not None
        return user

    def get_user(self, user_id: str) -> UserRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(users_table).where(users_table.c.id == user_id)).first()
        return _user(row) if row else None

    def find_user(self, username: str) -> UserRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(users_table).where(users_table.c.username == username)).first()
        return _user(row) if row else None

    def list_users(self) -> list[UserRecord]:
        with self._engine.connect() as conn:
            return [_user(r) for r in conn.execute(sa.select(users_table).order_by(users_table.c.username))]

    def has_admin(self) -> bool:
        with self._engine.connect() as conn:
            query = sa.select(sa.func.count()).where(users_table.c.role == Role.ADMIN.value)
            return bool(conn.execute(query).scalar())

    def update_user(self, user_id: str, *, revoke_tokens: bool, **values: object) -> None:
        if revoke_tokens:
            values["tokens_valid_after"] = time.time()
        with self._engine.begin() as conn:
            conn.execute(users_table.update().where(users_table.c.id == user_id).values(**values))

    def touch_login(self, user_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                users_table.update().where(users_table.c.id == user_id).values(last_login_at=time.time())
            )

    # --- API keys ---
    def add_key(
        self, key_id: str, user_id: str, name: str, secret_hash: str, expires_at: float | None
    ) -> ApiKeyRecord:
        with self._engine.begin() as conn:
            conn.execute(
                api_keys_table.insert().values(
                    id=key_id,
                    user_id=user_id,
                    name=name,
                    secret_hash=secret_hash,
                    created_at=time.time(),
                    expires_at=expires_at,
                    revoked=False,
                )
            )
        key = self.get_key(key_id)
        assert key is not None
        return key

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys_table).where(api_keys_table.c.id == key_id)).first()
        return _key(row) if row else None

    def list_keys(self, user_id: str | None) -> list[ApiKeyRecord]:
        query = sa.select(api_keys_table).order_by(api_keys_table.c.created_at)
        if user_id is not None:
            query = query.where(api_keys_table.c.user_id == user_id)
        with self._engine.connect() as conn:
            return [_key(r) for r in conn.execute(query)]

    def revoke_key(self, key_id: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                api_keys_table.update()
                .where(api_keys_table.c.id == key_id, api_keys_table.c.revoked.is_(False))
                .values(revoked=True)
            )
        return result.rowcount == 1

    def revoke_keys_of(self, user_id: str) -> int:
        """Revoke every active key of a user at once; how many were revoked."""
        with self._engine.begin() as conn:
            result = conn.execute(
                api_keys_table.update()
                .where(api_keys_table.c.user_id == user_id, api_keys_table.c.revoked.is_(False))
                .values(revoked=True)
            )
        return int(result.rowcount)

    def touch_key(self, key_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                api_keys_table.update().where(api_keys_table.c.id == key_id).values(last_used_at=time.time())
            )

    # --- revoked tokens ---
    def revoke_token(self, jti: str, expires_at: float) -> bool:
        """Revoke a token; False when it already was. The insert on the primary key is the one
        atomic step that decides: of two concurrent calls, exactly one gets True."""
        try:
            with self._engine.begin() as conn:
                conn.execute(revoked_tokens_table.insert().values(jti=jti, expires_at=expires_at))
        except sa.exc.IntegrityError:
            return False
        # Expired tokens fail on their own; their revocation rows are no longer needed.
        with self._engine.begin() as conn:
            conn.execute(revoked_tokens_table.delete().where(revoked_tokens_table.c.expires_at < time.time()))
        return True

    def is_token_revoked(self, jti: str) -> bool:
        with self._engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(revoked_tokens_table.c.jti).where(revoked_tokens_table.c.jti == jti)
                ).first()
                is not None
            )
