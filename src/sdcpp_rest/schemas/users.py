"""Wire schemas of user management (/api/users): requests and replies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# auth.permissions.Role's values (schemas sit below auth, so they are spelled out here).
RoleName = Literal["user", "admin"]


class UserCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(..., min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(..., max_length=1024, description="At least 8 characters.")
    role: RoleName = "user"


class UserUpdateRequest(BaseModel):
    """Only the fields given change."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = Field(None, description="false disables the user and revokes their tokens.")
    role: RoleName | None = Field(None, description="A new role (revokes the user's tokens).")
    password: str | None = Field(
        None, max_length=1024, description="A new password (revokes their tokens and API keys)."
    )
    keep_api_keys: bool = Field(
        False, description="With a new password: keep the user's API keys (a routine change, no compromise)."
    )


class UserPublic(BaseModel):
    id: str
    username: str
    role: RoleName
    source: str = Field(description="local (password here), pam or unix (first seen through them).")
    enabled: bool
    created_at: int = Field(description="Unix seconds.")
    last_login_at: int | None = Field(description="Unix seconds.")


class UsersReply(BaseModel):
    users: list[UserPublic]


class UserReply(BaseModel):
    user: UserPublic
    message: str
