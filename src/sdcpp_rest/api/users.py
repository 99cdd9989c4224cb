"""User management over HTTP for administrators (the browser UI's Users page): list, create, and
change one user (enable or disable, role, password). The same operations as `sdcpp-rest users`,
through AuthService and its UserStore; every change revokes the user's tokens, as there, and a new
password their API keys too unless keep_api_keys."""

from __future__ import annotations

from fastapi import APIRouter

from sdcpp_rest.api.deps import AuthServiceDep, UsersManageDep
from sdcpp_rest.auth.permissions import Role
from sdcpp_rest.auth.store import UserExists, UserRecord
from sdcpp_rest.errors import ApiError, ErrorCode, InvalidParameters
from sdcpp_rest.schemas.users import UserCreateRequest, UserPublic, UserReply, UsersReply, UserUpdateRequest

router = APIRouter(prefix="/api/users", tags=["users"])


class UsernameTaken(ApiError):
    code, status_code = ErrorCode.INVALID_PARAMETERS, 409


def _public(user: UserRecord) -> UserPublic:
    return UserPublic.model_validate(user.public())


@router.get("", response_model=UsersReply, summary="Users (admin)")
def list_users(auth: AuthServiceDep, _: UsersManageDep) -> UsersReply:
    return UsersReply(users=[_public(user) for user in auth.users.list_users()])


@router.post("", response_model=UserReply, status_code=201, summary="Create a user with a password (admin)")
def create_user(body: UserCreateRequest, auth: AuthServiceDep, _: UsersManageDep) -> UserReply:
    try:
        user = auth.add_user(body.username, body.password, Role(body.role))
    except UserExists:
        raise UsernameTaken(f"username: '{body.username}' is taken", field="username") from None
    return UserReply(user=_public(user), message="User created")


@router.patch(
    "/{user_id}",
    response_model=UserReply,
    summary="Enable or disable a user, change their role or password (admin)",
)
def update_user(
    user_id: str, body: UserUpdateRequest, auth: AuthServiceDep, principal: UsersManageDep
) -> UserReply:
    user = auth.user_by_id(user_id)
    # An administrator locking themselves out (disabled, or no longer admin) needs the command line
    # to undo it: refuse, another admin can do it.
    if user.id == principal.user_id and (body.enabled is False or body.role not in (None, Role.ADMIN.value)):
        field = "enabled" if body.enabled is False else "role"
        raise InvalidParameters(f"{field}: you cannot disable or demote your own account", field=field)
    revoked_keys = 0
    if body.password is not None:
        revoked_keys = auth.set_password(user, body.password, revoke_keys=not body.keep_api_keys)
    changes: dict[str, object] = {}
    if body.role is not None and body.role != user.role:
        changes["role"] = body.role
    if body.enabled is not None and body.enabled != user.enabled:
        changes["enabled"] = body.enabled
    if changes:
        auth.users.update_user(user.id, revoke_tokens=True, **changes)
    message = f"User updated; {revoked_keys} API key(s) revoked" if revoked_keys else "User updated"
    return UserReply(user=_public(auth.user_by_id(user_id)), message=message)
