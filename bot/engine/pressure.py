"""Intake pressure: background work steps aside while a flood of webhooks is arriving.

A missed acknowledgement loses a delivery for good (neither GitHub nor Gitea redelivers on its
own, and they give up after 10 s and 5 s), while a handler that runs a little later loses
nothing. So during a burst (many requests in the last few milliseconds, or many at once) the
inbox decodes only a few deliveries per turn and its workers take one step per turn: processing
keeps a small guaranteed share, and catches up at full speed once the burst is over. At ordinary
rates (tens of deliveries a second) nothing waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable

WINDOW = 0.02  # seconds per arrival-counting window
BUSY_ARRIVALS = 8  # arrivals in the last two windows (about 400/s) that make intake busy
BUSY_IN_FLIGHT = 8  # requests being handled at once that make intake busy
YIELD_SECONDS = 0.010  # how long background work steps aside per turn while intake is busy
BUSY_BATCH = 4  # deliveries decoded per turn while intake is busy: at most 400/s


class IntakePressure:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.in_flight = 0
        self._window_start = float("-inf")
        self._current = 0
        self._previous = 0

    def enter(self) -> None:
        self.in_flight += 1
        now = self.clock()
        elapsed = now - self._window_start
        if elapsed >= WINDOW:
            self._previous = self._current if elapsed < 2 * WINDOW else 0
            self._current = 0
            self._window_start = now
        self._current += 1

    def leave(self) -> None:
        self.in_flight -= 1

    @property
    def busy(self) -> bool:
        if self.in_flight >= BUSY_IN_FLIGHT:
            return True
        elapsed = self.clock() - self._window_start
        if elapsed >= 2 * WINDOW:
            return False
        recent = self._current + (self._previous if elapsed < WINDOW else 0)
        return recent >= BUSY_ARRIVALS
