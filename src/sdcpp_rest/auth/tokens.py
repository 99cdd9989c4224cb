"""JWT (HS256) issue and verification, and the signing secret kept in the data folder."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt

ALGORITHM = "HS256"
SECRET_FILE = "jwt_secret"
SECRET_BYTES = 48
ISSUER = "sdcpp-rest"


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    jti: str
    issued_at: float
    expires_at: float


class TokenInvalid(Exception):
    """Expired, tampered, malformed or not ours."""


def load_or_create_secret(data_dir: Path) -> str:
    """A random secret created once with mode 0600, so no default secret ever signs tokens."""
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


class TokenCodec:
    def __init__(self, secret: str, lifetime_seconds: int) -> None:
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds

    def issue(self, user_id: str) -> tuple[str, TokenClaims]:
        now = time.time()
        claims = TokenClaims(
            user_id=user_id, jti=uuid.uuid4().hex, issued_at=now, expires_at=now + self.lifetime_seconds
        )
        token = jwt.encode(
            {"sub": user_id, "jti": claims.jti, "iat": now, "exp": claims.expires_at, "iss": ISSUER},
            self._secret,
            algorithm=ALGORITHM,
        )
        return token, claims

    def verify(self, token: str) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # never accept "none" or another algorithm from the header
                issuer=ISSUER,
                options={"require": ["sub", "jti", "iat", "exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenInvalid(str(exc)) from None
        return TokenClaims(
            user_id=str(payload["sub"]),
            jti=str(payload["jti"]),
            issued_at=float(payload["iat"]),
            expires_at=float(payload["exp"]),
        )
