"""Fault injection: the next N matching requests get a canned error (and/or a delay)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

_SEGMENT = re.compile(r"\{[^}/]+\}")


def _compile(path: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if path is None or isinstance(path, re.Pattern):
        return path
    if path.startswith("^"):
        return re.compile(path)
    # A path template: "{name}" matches one segment, the rest is literal.
    parts = _SEGMENT.split(path)
    holes = ["[^/]+"] * (len(parts) - 1)
    pattern = "".join(re.escape(p) + (holes[i] if i < len(holes) else "") for i, p in enumerate(parts))
    return re.compile(f"^{pattern}$")


@dataclass
class Fault:
    method: str | None
    pattern: re.Pattern[str] | None
    status: int | None
    times: int | None  # None: every matching request
    retry_after: int | None = None
    body: Any = None
    latency: float = 0.0
    platform: str | None = None
    rate_limited: bool = False
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, platform: str, method: str, path: str) -> bool:
        if self.exhausted:
            return False
        if self.platform is not None and self.platform != platform:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.pattern is None or bool(self.pattern.search(path))


@dataclass
class Faults:
    """`forge.faults`: paths are relative to the API root (e.g. "/repos/{owner}/{repo}/labels")."""

    items: list[Fault] = field(default_factory=list)
    # How a fault's latency is spent; a test may swap in one that records the delay instead.
    sleep: Callable[[float], Awaitable[Any]] = anyio.sleep

    def add(self, method: str | None = None, path: str | re.Pattern[str] | None = None, *,
            status: int | None = 500, times: int | None = 1, retry_after: int | None = None,
            body: Any = None, latency: float = 0.0, platform: str | None = None,
            rate_limited: bool | None = None) -> Fault:
        """Registers a fault; `status=None` with `latency` only delays matching requests.

        A 403 without `retry_after` is GitHub's primary rate-limit answer (`x-ratelimit-remaining:
        0`) unless `rate_limited=False`; with `retry_after` it is a secondary rate limit.
        """
        if rate_limited is None:
            rate_limited = status == 403 and retry_after is None
        fault = Fault(method, _compile(path), status, times, retry_after, body, latency, platform,
                      rate_limited)
        self.items.append(fault)
        return fault

    def match(self, platform: str, method: str, path: str) -> Fault | None:
        for fault in self.items:
            if fault.matches(platform, method, path):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        self.items.clear()
