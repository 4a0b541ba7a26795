"""Who an HTTP request acts as: an agent's bearer token names one platform login."""

from __future__ import annotations

import hmac

from config.settings import Settings


def agent_login(settings: Settings, authorization: str) -> str | None:
    """The login an `Authorization: Bearer TOKEN` header acts as, or None."""
    if not authorization.lower().startswith("bearer "):
        return None
    token = authorization[7:].strip().encode()
    found = None
    for known, login in settings.agent_logins().items():
        if hmac.compare_digest(token, known.encode()):  # check every one: no early exit to time
            found = login
    return found
