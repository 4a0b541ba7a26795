"""Keeping background loops alive: a loop that dies of an exception is logged and started again.

Meant for bugs, not for expected failures (those are handled where they happen): a loop that
died would otherwise leave its work undone with nothing said. While a loop waits to start
again, `down` says which and why, for readiness probes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


class Supervisor:
    def __init__(self, logger: logging.Logger, restart_seconds: float) -> None:
        self.logger = logger
        self.restart_seconds = restart_seconds
        self.down: dict[str, str] = {}  # loop name -> why it died, while it waits to start again

    async def keep_running(self, name: str, loop: Callable[[], Awaitable[None]], stopping: Callable[[], bool]) -> None:
        """Run `loop` until it returns or `stopping()`; if it raises, log why and start it again.
        Cancelling ends it: CancelledError is not an Exception."""
        while not stopping():
            try:
                await loop()
                return
            except Exception as exc:
                self.down[name] = f"{type(exc).__name__}: {exc}"
                self.logger.exception("%s died; restarting it in %gs", name, self.restart_seconds)
                await asyncio.sleep(self.restart_seconds)
                self.down.pop(name, None)
                self.logger.warning("%s restarted", name)

    def problems(self, tasks: list[asyncio.Task[None]]) -> list[str]:
        """Why the loops in `tasks` are not all at work (for /readyz); empty while they are."""
        found = [f"{name} died ({why}); restarting" for name, why in self.down.items()]
        if not tasks or any(t.done() for t in tasks):
            found.append("workers are not running")
        return found
