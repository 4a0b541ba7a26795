"""Idempotency keys for effects on the platform, so a retried delivery never acts twice.

A key is recorded once: of any number of concurrent `record`s of one key, on any replicas,
exactly one returns True. Each method is one transaction.
"""

from __future__ import annotations

from typing import Any, Protocol

# Keys forgotten per transaction by `prune`: small, so webhooks arriving meanwhile never wait long.
PRUNE_CHUNK = 500


class Effects(Protocol):
    async def seen(self, key: str) -> bool:
        """True when the effect named `key` was recorded."""
        ...

    async def detail(self, key: str) -> dict[str, Any] | None:
        """What was recorded with `key`, or None when it has not happened."""
        ...

    async def record(self, key: str, delivery_id: str | None, now: float, detail: dict[str, Any]) -> bool:
        """Remember that the effect named `key` happened; False if it was already recorded (the
        first detail stays)."""
        ...

    async def prune(self, before: float, limit: int = PRUNE_CHUNK) -> int:
        """Forget up to `limit` of the oldest keys, those recorded before `before`; how many went.
        0 means nothing old is left at the front: call it until it returns 0."""
        ...
