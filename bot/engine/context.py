"""What a handler or job receives besides the event: storage, settings, clock, record keeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.events import Event
from bot.storage.activity import Entry

if TYPE_CHECKING:
    from bot.engine.router import Router
    from bot.engine.services import Services
    from bot.forges.base import Forge
    from bot.forges.provider import Forges
    from bot.storage.base import Storage
    from config.settings import Settings

Clock = Callable[[], float]


@dataclass
class Context:
    """Dependencies of one handler run or job run. Handlers reach everything through it;
    the database through `storage` (bot/storage/base.py).

    `event` is None for scheduled jobs. `services` holds what the whole process shares: the
    forge clients, metrics and caches (bot/engine/services.py).
    """

    settings: Settings
    storage: Storage
    router: Router
    services: Services
    event: Event | None = None
    clock: Clock = time.time
    recorded: list[Entry] = field(default_factory=list)

    @property
    def forges(self) -> Forges:
        return self.services.forges

    @property
    def forge(self) -> Forge:
        """The client for this event's platform (and, on GitHub, its App installation)."""
        if self.event is None:
            raise RuntimeError("a scheduled job has no event; use ctx.forges.get(platform)")
        return self.forges.for_event(self.event)

    async def record(
        self,
        kind: str,
        *,
        actor: str | None = None,
        platform: str | None = None,
        repo: str | None = None,
        subject: str | None = None,
        **detail: Any,
    ) -> None:
        """Append to the activity log; the event, if any, supplies platform, repo and subject."""
        event = self.event
        if event is not None:
            platform = platform or event.platform
            repo = repo or (event.repo.full_name if event.repo else None)
            subject = subject or event.subject
            actor = actor or (event.sender.login if event.sender else None)
        entry = Entry(
            kind=kind,
            detail=detail,
            platform=platform,
            repo=repo,
            subject=subject,
            actor=actor,
            delivery_id=(event.delivery_id or None) if event else None,
        )
        await self.storage.activity.append(entry, self.clock())
        self.recorded.append(entry)

    async def already_done(self, key: str) -> bool:
        """True when an effect with this idempotency key was recorded before."""
        return await self.storage.effects.seen(key)

    async def done_detail(self, key: str) -> dict[str, Any] | None:
        """What was recorded with an effect's key, or None when it has not happened."""
        return await self.storage.effects.detail(key)

    async def mark_done(self, key: str, **detail: Any) -> bool:
        """Record an effect's idempotency key; False when it was already there."""
        delivery = self.event.delivery_id if self.event else None
        return await self.storage.effects.record(key, delivery or None, self.clock(), detail)
