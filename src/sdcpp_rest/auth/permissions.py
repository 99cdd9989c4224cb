"""Roles, the permissions they grant, and the principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    GENERATE = "generate"
    QUEUE_READ = "queue:read"
    QUEUE_MANAGE_OWN = "queue:manage_own"
    QUEUE_MANAGE_ALL = "queue:manage_all"
    MODELS_READ = "models:read"
    MODELS_MANAGE = "models:manage"
    SYSTEM_READ = "system:read"
    SYSTEM_MANAGE = "system:manage"
    USERS_MANAGE = "users:manage"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.USER: frozenset(
        {
            Permission.GENERATE,
            Permission.QUEUE_READ,
            Permission.QUEUE_MANAGE_OWN,
            Permission.MODELS_READ,
            Permission.SYSTEM_READ,
        }
    ),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as. `user_id` is None only for the built-in local admin of auth_method=none."""

    user_id: str | None
    username: str
    role: Role
    method: str  # none, jwt, api_key, unix, pam, basic (HTTP Basic of the compat APIs)
    token_id: str | None = None  # the JWT's jti, so logout/refresh can revoke exactly this token
    token_expires_at: float | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def job_owner_filter(self) -> str | None:
        """None (every job) for admins, else the user's own id."""
        return None if self.can(Permission.QUEUE_MANAGE_ALL) else self.user_id

    def public(self) -> dict[str, object]:
        return {
            "id": self.user_id or "local-admin",
            "username": self.username,
            "role": self.role.value,
            "permissions": sorted(p.value for p in self.permissions),
        }


LOCAL_ADMIN = Principal(user_id=None, username="local-admin", role=Role.ADMIN, method="none")
