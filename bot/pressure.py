"""Intake pressure: background work steps aside while webhooks are arriving.

A missed acknowledgement loses a delivery for good (neither GitHub nor Gitea redelivers on its
own, and they give up after 10 s and 5 s), while a handler that runs a little later loses
nothing. So while requests are in flight, or arrived moments ago, the inbox decodes only a few
deliveries per turn and each worker pauses briefly before its next step: processing keeps a
small guaranteed share during a burst and catches up at full speed once it is over.
"""

from __future__ import annotations

import time
from collections.abc import Callable

QUIET_AFTER = 0.005  # seconds without a request before intake counts as quiet
YIELD_SECONDS = 0.010  # how long background work steps aside per turn while intake is busy
BUSY_BATCH = 8  # deliveries decoded per turn while intake is busy: at most 800/s


class IntakePressure:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.in_flight = 0
        self._last_seen = float("-inf")

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        self._last_seen = self.clock()

    @property
    def busy(self) -> bool:
        return self.in_flight > 0 or self.clock() - self._last_seen < QUIET_AFTER
