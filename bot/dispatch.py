"""Runs the handlers for one event: used by the inbox's workers and by the CLI alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.context import Context
from bot.deliveries import DONE, IGNORED, DeliveryRow
from bot.events import Event

if TYPE_CHECKING:
    from bot.router import Router
    from bot.store import Store
    from config.settings import Settings


@dataclass(frozen=True, slots=True)
class Report:
    outcome: str  # done | ignored
    handlers: tuple[str, ...]
    context: Context


@dataclass
class Processor:
    settings: Settings
    store: Store
    router: Router
    clock: Callable[[], float] = time.time
    services: dict[str, Any] = field(default_factory=dict)

    def context(self, event: Event | None = None) -> Context:
        return Context(self.settings, self.store, self.router, event, self.clock, self.services)

    def wants(self, event: Event) -> bool:
        """Whether any handler would run for `event`."""
        return bool(self.router.handlers_for(event))

    async def run(self, event: Event) -> Report:
        """Dispatch `event`; an event no handler wants is `ignored`, not an error."""
        ctx = self.context(event)
        ran = await self.router.dispatch(event, ctx)
        return Report(DONE if ran else IGNORED, tuple(ran), ctx)

    async def __call__(self, row: DeliveryRow, event: Event) -> str:
        return (await self.run(event)).outcome
