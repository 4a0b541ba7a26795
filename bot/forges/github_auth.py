"""GitHub App authentication: the App's JWT, installation tokens, and which installation serves a repo.

Nothing here talks HTTP. The client asks for a JWT, hands `InstallationTokens.get` a coroutine
that fetches a fresh token, and records installation ids it learns (from webhooks or lookups).
Times come from the injected clock, so expiry and refresh are testable without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bot.forges.common import Clock, parse_time

JWT_BACKDATE = 60  # GitHub's advice: issue 60 s in the past to absorb clock drift
JWT_LIFETIME = 540  # exp = now + 540, inside GitHub's 10-minute cap
JWT_REUSE = 420  # mint a new JWT after 7 minutes, well before it expires
TOKEN_REFRESH_MARGIN = 300  # replace an installation token 5 minutes before `expires_at`
TOKEN_FALLBACK_LIFETIME = 3600  # GitHub's documented lifetime, if a response lacks `expires_at`

TokenFetch = Callable[[int], Awaitable[dict[str, object]]]


def load_private_key(pem: str) -> RSAPrivateKey:
    """The App's RSA key; the error never repeats the key's text."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("the GitHub App private key is not an unencrypted PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("the GitHub App private key must be an RSA key (GitHub signs with RS256)")
    return key


class AppJWT:
    """The App's own bearer token, minted with the injected clock and reused for a few minutes."""

    def __init__(self, app_id: int, private_key: str, clock: Clock) -> None:
        self.app_id = app_id
        self._key = load_private_key(private_key)
        self._clock = clock
        self._current: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        now = int(self._clock())
        if self._current is None or now >= self._renew_at:
            claims = {"iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": str(self.app_id)}
            self._current = jwt.encode(claims, self._key, algorithm="RS256")
            self._renew_at = now + JWT_REUSE
        return self._current

    @property
    def current(self) -> str | None:
        return self._current


@dataclass(frozen=True, slots=True)
class CachedToken:
    token: str
    expires_at: float  # epoch seconds


class InstallationTokens:
    """One token per installation, fetched once (even when many tasks ask at the same moment)."""

    def __init__(self, clock: Clock, refresh_margin: float = TOKEN_REFRESH_MARGIN) -> None:
        self._clock = clock
        self._margin = refresh_margin
        self._tokens: dict[int, CachedToken] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def valid(self, installation_id: int) -> str | None:
        cached = self._tokens.get(installation_id)
        if cached is None or self._clock() >= cached.expires_at - self._margin:
            return None
        return cached.token

    async def get(self, installation_id: int, fetch: TokenFetch) -> str:
        token = self.valid(installation_id)
        if token is not None:
            return token
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            token = self.valid(installation_id)
            if token is not None:
                return token
            answer = await fetch(installation_id)
            token = str(answer["token"])
            expires = parse_time(answer.get("expires_at"))
            expires_at = expires.timestamp() if expires else self._clock() + TOKEN_FALLBACK_LIFETIME
            self._tokens[installation_id] = CachedToken(token, expires_at)
            return token

    def forget(self, installation_id: int) -> None:
        self._tokens.pop(installation_id, None)

    def secrets(self) -> list[str]:
        return [cached.token for cached in self._tokens.values()]


class AppAuth:
    """Everything a GitHub App client keeps: its JWT, its tokens, and repo -> installation."""

    def __init__(self, app_id: int, private_key: str, clock: Clock) -> None:
        self.jwt = AppJWT(app_id, private_key, clock)
        self.tokens = InstallationTokens(clock)
        self._installations: dict[str, int] = {}

    def remember(self, repo: str, installation_id: int) -> None:
        self._installations[repo.casefold()] = int(installation_id)

    def installation_of(self, repo: str) -> int | None:
        return self._installations.get(repo.casefold())

    def forget_installation(self, installation_id: int) -> None:
        """The installation is gone (uninstalled, suspended): drop its token and its repositories."""
        self.tokens.forget(installation_id)
        for repo in [r for r, i in self._installations.items() if i == installation_id]:
            del self._installations[repo]

    def secrets(self) -> list[str]:
        current = self.jwt.current
        return [*self.tokens.secrets(), *([current] if current else [])]
