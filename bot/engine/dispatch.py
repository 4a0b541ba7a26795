"""Runs the handlers for one event: used by the inbox's workers and by the CLI alike."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.context import Context
from bot.events import Event
from bot.forges.provider import NotConfigured
from bot.storage.deliveries import DONE, IGNORED, DeliveryRow

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.engine.router import Handler, Router
    from bot.engine.services import Services
    from bot.storage.base import Storage
    from config.settings import Settings


@dataclass(frozen=True, slots=True)
class Report:
    outcome: str  # done | ignored
    handlers: tuple[str, ...]
    context: Context
    skipped: tuple[str, ...] = ()


@dataclass
class Processor:
    settings: Settings
    storage: Storage
    router: Router
    services: Services
    clock: Callable[[], float] = time.time

    def context(self, event: Event | None = None) -> Context:
        return Context(self.settings, self.storage, self.router, self.services, event, self.clock)

    def select(self, event: Event) -> list[Handler]:
        """The handlers that take `event`; their `when` tests run here, once per delivery."""
        return self.router.handlers_for(event)

    def needs(self, selection: Sequence[Handler]) -> str | None:
        """What a replica must have to run the selected handlers (see `Router.on`), or None."""
        return self.router.needs(selection)

    async def run(self, event: Event, handlers: Sequence[Handler] | None = None) -> Report:
        """Run every matching handler in order (`handlers`, when already selected); an event no
        handler takes is `ignored`, not an error.

        A handler that needs a platform with no credentials configured is skipped (retrying
        cannot help); any other exception propagates, so the inbox retries the delivery.
        """
        ctx = self.context(event)
        ran, skipped = [], []
        for handler in self.select(event) if handlers is None else handlers:
            name = f"{handler.__module__}.{handler.__qualname__}"
            try:
                await handler(event, ctx)
            except NotConfigured as exc:
                logger.warning("handler skipped: %s", exc, extra={"handler": name, "delivery": event.delivery_id})
                skipped.append(f"{name}: {exc}")
            else:
                ran.append(name)
        return Report(DONE if ran else IGNORED, tuple(ran), ctx, tuple(skipped))

    async def __call__(self, row: DeliveryRow, event: Event, handlers: Sequence[Handler] | None = None) -> str:
        return (await self.run(event, handlers)).outcome
