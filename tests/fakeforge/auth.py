"""Who is calling: personal tokens, GitHub App JWTs and installation tokens, and rate limits."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from .common import ApiError
from .state import App, Installation, Token

if TYPE_CHECKING:
    from .forge import FakeForge

JWT_MAX_LIFETIME = 600  # GitHub refuses an `exp` more than 10 minutes ahead


@dataclass
class Identity:
    kind: str  # anonymous | user | installation | app
    login: str | None = None
    token: Token | None = None
    app: App | None = None
    installation: Installation | None = None

    @property
    def rate_key(self) -> str:
        if self.token is not None:
            return self.token.value
        if self.app is not None:
            return f"app:{self.app.id}"
        return "anonymous"


@dataclass
class Bucket:
    limit: int
    remaining: int
    reset: int

    @property
    def used(self) -> int:
        return self.limit - self.remaining


def credentials(headers: dict[str, str]) -> tuple[str, str] | None:
    """(scheme, secret) from the Authorization header; basic auth yields its password."""
    value = headers.get("authorization", "").strip()
    if not value:
        return None
    scheme, _, secret = value.partition(" ")
    scheme, secret = scheme.lower(), secret.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(secret, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ("basic", "")
        return ("basic", decoded.partition(":")[2])
    return (scheme, secret)


def token_identity(forge: FakeForge, secret: str) -> Identity | None:
    token = forge.state.tokens.get(secret)
    if token is None:
        return None
    if token.expires_at is not None and forge.clock() >= token.expires_at:
        return None
    if token.kind == "installation":
        inst = forge.state.installations.get(token.installation_id or -1)
        if inst is None:
            return None
        return Identity("installation", token.login, token, forge.state.apps[inst.app_id], inst)
    return Identity("user", token.login, token)


def jwt_identity(forge: FakeForge, encoded: str) -> Identity:
    """Verifies an App JWT (RS256, `iss` = app id) against the emulator's clock."""
    try:
        claims = jwt.decode(encoded, options={"verify_signature": False})
        app = forge.state.apps.get(int(claims.get("iss", -1)))
        if app is None:
            raise ApiError(401, "A JSON web token could not be decoded")
        claims = jwt.decode(encoded, app.public_key, algorithms=["RS256"],
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "require": ["iat", "exp", "iss"]})
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise ApiError(401, "A JSON web token could not be decoded") from exc
    now = forge.clock()
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, (int, float)) or exp <= now:
        raise ApiError(401, "'Expiration time' claim ('exp') must be a numeric value representing "
                            "the future time at which the assertion expires")
    if exp > now + JWT_MAX_LIFETIME + 1:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
    if not isinstance(iat, (int, float)) or iat > now + 60:
        raise ApiError(401, "'Issued at' claim ('iat') must be an Integer representing the time "
                            "that the assertion was issued")
    return Identity("app", None, app=app)


def authenticate(forge: FakeForge, platform: str, headers: dict[str, str], jwt_route: bool) -> Identity:
    creds = credentials(headers)
    if creds is None:
        if jwt_route:
            raise ApiError(401, "A JSON web token could not be decoded")
        return Identity("anonymous")
    scheme, secret = creds
    if platform == "github" and scheme == "bearer" and secret.count(".") == 2:
        identity = jwt_identity(forge, secret)
        if not jwt_route:
            raise ApiError(403, "Resource not accessible by integration")
        return identity
    if scheme not in ("token", "bearer", "basic"):
        raise ApiError(401, "Bad credentials" if platform == "github" else "user does not exist")
    found = token_identity(forge, secret)
    if found is None:
        raise ApiError(401, "Bad credentials" if platform == "github" else "user does not exist")
    if jwt_route:
        raise ApiError(401, "A JSON web token could not be decoded")
    return found


class RateLimiter:
    """GitHub's primary rate limit, one bucket per token, windows on the emulator's clock."""

    def __init__(self, forge: FakeForge, limit: int, anonymous_limit: int = 60, window: int = 3600) -> None:
        self.forge = forge
        self.limit = limit
        self.anonymous_limit = anonymous_limit
        self.window = window
        self.buckets: dict[str, Bucket] = {}

    def bucket(self, key: str) -> Bucket:
        now = int(self.forge.clock())
        b = self.buckets.get(key)
        if b is None or now >= b.reset:
            limit = self.anonymous_limit if key == "anonymous" else self.limit
            b = self.buckets[key] = Bucket(limit, limit, now + self.window)
        return b

    def headers(self, b: Bucket) -> dict[str, str]:
        return {"x-ratelimit-limit": str(b.limit), "x-ratelimit-remaining": str(b.remaining),
                "x-ratelimit-used": str(b.used), "x-ratelimit-reset": str(b.reset),
                "x-ratelimit-resource": "core"}

    def exceeded_message(self, identity: Identity) -> str:
        if identity.installation is not None:
            return f"API rate limit exceeded for installation ID {identity.installation.id}."
        if identity.login is not None:
            user: Any = self.forge.state.user(identity.login)
            return f"API rate limit exceeded for user ID {user.id if user else 0}."
        return "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit.)"
