"""The authentication service: who is this request, login/refresh/logout, API keys, users."""

from __future__ import annotations

import hashlib
import hmac
import logging
import pwd
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sdcpp_rest.auth.pam_login import pam_authenticate, unix_groups
from sdcpp_rest.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from sdcpp_rest.auth.permissions import LOCAL_ADMIN, Principal, Role
from sdcpp_rest.auth.proxies import TrustedProxies, parse_networks
from sdcpp_rest.auth.ratelimit import LoginRateLimiter
from sdcpp_rest.auth.store import ApiKeyRecord, UserExists, UserRecord, UserStore
from sdcpp_rest.auth.tokens import TokenCodec, TokenInvalid
from sdcpp_rest.config import Settings
from sdcpp_rest.errors import ApiError, ErrorCode, InvalidParameters

log = logging.getLogger(__name__)

API_KEY_PREFIX = "sdk"
# uvicorn reports a Unix-socket peer as this host prefix plus its uid (see unix_peer.py).
UNIX_PEER_PREFIX = "unix-peer:"
# HTTP Basic clients (AUTOMATIC1111's) send the password with every request, progress polls included,
# and checking a password hash costs a large part of a CPU second: a verified one is trusted this long.
BASIC_CACHE_SECONDS = 300.0
BASIC_CACHE_ENTRIES = 1024


class AuthFailed(ApiError):
    code, status_code = ErrorCode.INVALID_CREDENTIALS, 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": "Bearer"}


class TokenAlreadyRefreshed(AuthFailed):
    def __init__(self) -> None:
        super().__init__("this token has already been refreshed or revoked; log in again")


class UserNotFound(ApiError):
    code, status_code = ErrorCode.NOT_FOUND, 404


class LoginRateLimited(ApiError):
    code, status_code = ErrorCode.RATE_LIMITED, 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class RequestCredentials:
    """What a request presents; gathered by the HTTP layer so this service knows no HTTP.
    `peer_host` is the connection's real peer, never an address taken from a header."""

    bearer_token: str | None
    api_key: str | None
    unix_user: str | None
    peer_host: str | None
    forwarded_for: str | None = None  # X-Forwarded-For, believed only from a trusted proxy

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], peer_host: str | None) -> RequestCredentials:
        authorization = headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        return cls(
            bearer_token=value.strip() if scheme.lower() == "bearer" and value.strip() else None,
            api_key=headers.get("x-api-key") or None,
            unix_user=headers.get("x-unix-user") or None,
            peer_host=peer_host,
            forwarded_for=headers.get("x-forwarded-for") or None,
        )

    @property
    def peer_uid(self) -> int | None:
        if self.peer_host and self.peer_host.startswith(UNIX_PEER_PREFIX):
            return int(self.peer_host.removeprefix(UNIX_PEER_PREFIX))
        return None


def _hash_key_secret(secret: str) -> str:
    # API key secrets are 256-bit random: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


class AuthService:
    def __init__(self, settings: Settings, users: UserStore, codec: TokenCodec) -> None:
        self._settings = settings
        self.users = users
        self._codec = codec
        self._limiter = LoginRateLimiter(settings.login_attempts_per_minute)
        self.methods = settings.auth_methods
        self._trusted_proxies = TrustedProxies(parse_networks(settings.trusted_proxies))
        self._admin_groups = {g.strip() for g in settings.pam_admin_groups.split(",") if g.strip()}
        # sha256(username, password) -> (user id, the password hash it was checked against, until when)
        self._basic_verified: dict[str, tuple[str, str | None, float]] = {}
        self._basic_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return "none" not in self.methods

    @property
    def tokens_enabled(self) -> bool:
        """Whether /api/auth/login issues tokens (and so bearer tokens are accepted): jwt and pam log in
        with a password, unix without one for the peer of the Unix socket."""
        return bool({"jwt", "pam", "unix"} & self.methods)

    def user_by_id(self, user_id: str) -> UserRecord:
        """The user with this id; UserNotFound (404) otherwise (the user routes and key revocation)."""
        user = self.users.get_user(user_id)
        if user is None:
            raise UserNotFound(f"no user with id {user_id}")
        return user

    def ensure_first_admin(self) -> None:
        settings = self._settings
        if (
            settings.admin_username
            and settings.admin_password
            and not self.users.find_user(settings.admin_username)
        ):
            self.users.add_user(
                settings.admin_username,
                Role.ADMIN,
                hash_password(settings.admin_password.get_secret_value()),
                "local",
            )
            log.info("created the first admin user from settings")
        if self.enabled and not self.users.has_admin():
            # A first start with authentication on and nobody able to manage it: say how to get in.
            log.warning(
                "authentication is on and no admin user exists: create one with "
                "`sdcpp-rest users add NAME --role admin` (it reads this server's configuration), or set "
                "STABLE_DIFFUSION_ADMIN_USERNAME and STABLE_DIFFUSION_ADMIN_PASSWORD and restart"
            )

    # --- who is this request ---
    def authenticate(self, credentials: RequestCredentials) -> Principal | None:
        """The principal, None for a guest; AuthFailed when a credential is presented but wrong."""
        if not self.enabled:
            return LOCAL_ADMIN
        if credentials.bearer_token is not None:
            if not self.tokens_enabled:
                raise AuthFailed("bearer tokens are not enabled on this server")
            return self._from_token(credentials.bearer_token)
        if credentials.api_key is not None:
            if "api_key" not in self.methods:
                raise AuthFailed("API keys are not enabled on this server")
            return self._from_api_key(credentials.api_key, credentials)
        if "unix" in self.methods:
            return self._from_unix(credentials)
        return None

    def authenticate_basic(self, username: str, password: str, credentials: RequestCredentials) -> Principal:
        """HTTP Basic, as AUTOMATIC1111's clients send it: an API key as the password, or the username
        and password of a user who may log in with one. Failures count like failed logins."""
        if not self.enabled:
            return LOCAL_ADMIN
        if password.startswith(f"{API_KEY_PREFIX}_"):
            if "api_key" not in self.methods:
                raise AuthFailed("API keys are not enabled on this server")
            return self._from_api_key(password, credentials)
        if not {"jwt", "pam"} & self.methods:
            raise AuthFailed("passwords are not accepted here: send an API key as the Basic password")
        # The limiter decides before the cache of verified passwords: a source held back for guessing
        # must not learn which of its guesses was right (issue 27, finding 3).
        source = self._source(credentials)
        self._admit(username, source)
        cache_key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        cached = self._cached_basic(cache_key)
        if cached is not None:
            return self._principal(cached, "basic")
        user = self._checked_password(username, password, credentials, source)
        with self._basic_lock:
            if len(self._basic_verified) >= BASIC_CACHE_ENTRIES:
                self._basic_verified.clear()
            expires = time.monotonic() + BASIC_CACHE_SECONDS
            self._basic_verified[cache_key] = (user.id, user.password_hash, expires)
        return self._principal(user, "basic")

    def _cached_basic(self, cache_key: str) -> UserRecord | None:
        """The user of a recently verified username and password, if it still holds: unexpired, the user
        enabled and their password unchanged since (a new password ends the trust at once)."""
        with self._basic_lock:
            entry = self._basic_verified.get(cache_key)
        if entry is None or entry[2] < time.monotonic():
            return None
        user = self.users.get_user(entry[0])
        if user is None or not user.enabled or user.password_hash != entry[1]:
            with self._basic_lock:
                self._basic_verified.pop(cache_key, None)
            return None
        return user

    def _principal(self, user: UserRecord, method: str, **token: object) -> Principal:
        return Principal(user_id=user.id, username=user.username, role=user.role, method=method, **token)  # type: ignore[arg-type]

    def _from_token(self, token: str) -> Principal:
        try:
            claims = self._codec.verify(token)
        except TokenInvalid:
            raise AuthFailed("the token is invalid or expired; log in again") from None
        user = self.users.get_user(claims.user_id)
        if (
            user is None
            or not user.enabled
            or claims.issued_at < user.tokens_valid_after
            or self.users.is_token_revoked(claims.jti)
        ):
            raise AuthFailed("the token has been revoked; log in again")
        return self._principal(user, "jwt", token_id=claims.jti, token_expires_at=claims.expires_at)

    def _from_api_key(self, presented: str, credentials: RequestCredentials) -> Principal:
        """The key's user. A source held back by the limiter is refused before its key is looked at,
        and a key that does not exist or whose secret is wrong (a guess) counts as a failed login of
        its source, by the key id it names. A revoked or expired key with the right secret is no guess
        and does not count: a forgotten client must not lock its address out."""
        prefix, _, rest = presented.partition("_")
        key_id, _, secret = rest.partition("_")
        source, limited_name = self._source(credentials), f"api-key:{key_id[:64]}"
        self._admit(limited_name, source)
        key = self.users.get_key(key_id) if prefix == API_KEY_PREFIX and key_id and secret else None
        expected = key.secret_hash if key else _hash_key_secret("no such key")
        matches = hmac.compare_digest(expected, _hash_key_secret(secret))  # constant time
        if key is None or not matches:
            self._limiter.record_failure(limited_name, source)
            raise AuthFailed("the API key is invalid, revoked or expired")
        if key.revoked or (key.expires_at and key.expires_at < time.time()):
            raise AuthFailed("the API key is invalid, revoked or expired")
        user = self.users.get_user(key.user_id)
        if user is None or not user.enabled:
            raise AuthFailed("the API key's user is disabled")
        self.users.touch_key(key.id)
        return self._principal(user, "api_key")

    def _from_unix(self, credentials: RequestCredentials) -> Principal | None:
        uid = credentials.peer_uid
        peer_name = _username_of(uid) if uid is not None else None
        claimed = credentials.unix_user
        if claimed is not None:
            from_trusted_proxy = credentials.peer_host in self._trusted_proxies
            if claimed != peer_name and not from_trusted_proxy:
                raise AuthFailed(
                    "X-Unix-User is accepted only over the Unix socket for the connecting user, "
                    "or from a trusted proxy"
                )
            name = claimed
        elif peer_name is not None:
            name = peer_name
        else:
            return None
        user = self._find_or_create_system_user(name, "unix")
        if not user.enabled:
            raise AuthFailed(f"user {name} is disabled")
        return self._principal(user, "unix")

    def _find_or_create_system_user(self, username: str, source: str) -> UserRecord:
        user = self.users.find_user(username)
        if user is not None:
            return user
        role = Role(self._settings.default_role)
        if _uid_of(username) == 0 or unix_groups(username) & self._admin_groups:
            role = Role.ADMIN
        try:
            return self.users.add_user(username, role, None, source)
        except UserExists:  # created by a concurrent request
            found = self.users.find_user(username)
            assert found is not None
            return found

    # --- sessions ---
    def login(
        self, username: str, password: str | None, credentials: RequestCredentials
    ) -> tuple[str, Principal]:
        if not self.tokens_enabled:
            raise InvalidParameters("login is not available: enable jwt, pam or unix in auth_method")
        user = self._limited_check(username, password, credentials)
        self.users.touch_login(user.id)
        token, claims = self._codec.issue(user.id)
        return token, self._principal(user, "jwt", token_id=claims.jti, token_expires_at=claims.expires_at)

    def _limited_check(
        self, username: str, password: str | None, credentials: RequestCredentials
    ) -> UserRecord:
        """The user whose password this is, within the failed-login limits (auth/ratelimit.py)."""
        source = self._source(credentials)
        self._admit(username, source)
        return self._checked_password(username, password, credentials, source)

    def _source(self, credentials: RequestCredentials) -> str:
        return self.client_address(credentials) or "unknown"

    def _admit(self, username: str, source: str) -> None:
        """The limiter's decision, taken before any credential is looked at (LoginRateLimited)."""
        wait = self._limiter.retry_after(username, source)
        if wait:
            raise LoginRateLimited(wait)

    def _checked_password(
        self, username: str, password: str | None, credentials: RequestCredentials, source: str
    ) -> UserRecord:
        """The user whose password this is; a failure is counted against `source`."""
        user = self._check_password(username, password, credentials)
        if user is None or not user.enabled:
            self._limiter.record_failure(username, source)
            raise AuthFailed("invalid username or password")
        self._limiter.record_success(username, source)
        return user

    def _check_password(
        self, username: str, password: str | None, credentials: RequestCredentials
    ) -> UserRecord | None:
        user = self.users.find_user(username)
        if password is None:
            # Unix login without a password: only the connecting user over the Unix socket.
            uid = credentials.peer_uid
            if "unix" in self.methods and uid is not None and _username_of(uid) == username:
                return self._find_or_create_system_user(username, "unix")
            return None
        if user is not None and user.password_hash:
            return user if verify_password(user.password_hash, password) else None
        verify_password(None, password)  # same cost whether or not the user exists
        if "pam" in self.methods and pam_authenticate(username, password, self._settings.pam_service):
            return self._find_or_create_system_user(username, "pam")
        return None

    def client_address(self, credentials: RequestCredentials) -> str | None:
        """The address login limits count against: the peer, or the client a trusted proxy names."""
        return self._trusted_proxies.client_address(credentials.peer_host, credentials.forwarded_for)

    @property
    def tracked_login_failures(self) -> int:
        """Entries the failed-login limiter holds now (bounded; see auth/ratelimit.py)."""
        return len(self._limiter)

    def refresh(self, principal: Principal) -> str:
        """A token is refreshed once: revoking the old one is a conditional insert, and only the
        request whose insert succeeded issues the new token (parallel refreshes get 401)."""
        if principal.user_id is None or principal.token_id is None:
            raise InvalidParameters("refresh needs a bearer token")
        if not self.users.revoke_token(principal.token_id, principal.token_expires_at or time.time()):
            raise TokenAlreadyRefreshed()
        token, _ = self._codec.issue(principal.user_id)
        return token

    def logout(self, principal: Principal) -> None:
        if principal.token_id is not None:
            self.users.revoke_token(principal.token_id, principal.token_expires_at or time.time())

    # --- API keys ---
    def create_key(self, user_id: str, name: str, expires_in_days: int | None) -> tuple[str, ApiKeyRecord]:
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        expires_at = time.time() + expires_in_days * 86400 if expires_in_days else None
        record = self.users.add_key(key_id, user_id, name, _hash_key_secret(secret), expires_at)
        return f"{API_KEY_PREFIX}_{key_id}_{secret}", record

    # --- users (command line and admin) ---
    def add_user(self, username: str, password: str, role: Role) -> UserRecord:
        check_password_strength(password)
        return self.users.add_user(username, role, hash_password(password), "local")

    def set_password(self, user: UserRecord, password: str, *, revoke_keys: bool = True) -> int:
        """A new password revokes the user's tokens and, unless told otherwise, their API keys: a
        password change is often the answer to a compromise, and whoever had the password could have
        created keys with it. Returns how many keys were revoked."""
        check_password_strength(password)
        self.users.update_user(user.id, revoke_tokens=True, password_hash=hash_password(password))
        return self.users.revoke_keys_of(user.id) if revoke_keys else 0


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidParameters(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def _username_of(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _uid_of(username: str) -> int | None:
    try:
        return pwd.getpwnam(username).pw_uid
    except KeyError:
        return None
