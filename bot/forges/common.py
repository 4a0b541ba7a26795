"""What both forge clients share: status -> error mapping, retry timing, write pacing, parsing."""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from bot.forges.base import Conflict, ForgeError, Invalid, Issue, NotFound, PermissionDenied, PullRecord, Unavailable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
K = TypeVar("K")
V = TypeVar("V")

LINK_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
HEX_COLOR_RE = re.compile(r"^#?([0-9a-fA-F]{6})$")


class IssueStateMixin:
    """edit_issue, close_issue and reopen_issue, for a client whose `_patch_issue` sends the
    platform's issue PATCH (the two platforms differ only in that call)."""

    async def get_issue(self, repo: str, number: int) -> Issue:
        raise NotImplementedError

    async def _patch_issue(self, repo: str, number: int, changes: dict[str, Any]) -> Issue:
        raise NotImplementedError

    async def edit_issue(self, repo: str, number: int, *, title: str | None = None, body: str | None = None) -> Issue:
        changes = {k: v for k, v in (("title", title), ("body", body)) if v is not None}
        if not changes:
            return await self.get_issue(repo, number)
        return await self._patch_issue(repo, number, changes)

    async def set_milestone(self, repo: str, number: int, milestone_id: int | None) -> Issue:
        """Both platforms take the milestone's id (GitHub's number) in the issue PATCH; None clears it."""
        return await self._patch_issue(repo, number, {"milestone": milestone_id})

    async def close_issue(self, repo: str, number: int) -> Issue:
        return await self._patch_issue(repo, number, {"state": "closed"})

    async def reopen_issue(self, repo: str, number: int) -> Issue:
        return await self._patch_issue(repo, number, {"state": "open"})


def error_for(status: int, message: str, platform: str, details: tuple[str, ...] = ()) -> ForgeError:
    """The one table from HTTP status to the protocol's errors."""
    kind: type[ForgeError]
    if status == 404:
        kind = NotFound
    elif status in (401, 403):
        kind = PermissionDenied
    elif status in (409, 412):
        kind = Conflict
    elif status in (400, 405, 422):
        kind = Invalid
    elif status >= 500 or status == 429:
        kind = Unavailable
    else:
        kind = ForgeError
    return kind(message=message or f"HTTP {status}", status=status, platform=platform, details=details)


def backoff_delay(retry: int, base: float, cap: float) -> float:
    """Seconds before retry number `retry` (0 for the first): exponential up to `cap`, half of it
    fixed and half random, so that many clients retrying at once spread out."""
    ceiling = min(cap, base * 2.0 ** min(max(0, retry), 64))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass
class Backoff:
    """Exponential backoff with jitter for retryable failures; clock and sleep are injectable."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 30.0
    sleep: Sleep = asyncio.sleep

    def delay(self, attempt: int) -> float:
        return backoff_delay(attempt, self.base, self.cap)


@dataclass
class WritePacer:
    """Spaces mutating calls at least `interval` seconds apart (GitHub asks for about 1 s)."""

    interval: float = 0.0
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    _next_at: float = field(default=0.0, init=False)
    _lock: asyncio.Lock | None = field(default=None, init=False)

    async def wait_turn(self) -> None:
        if self.interval <= 0:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            wait = self._next_at - self.clock()
            if wait > 0:
                await self.sleep(wait)
            self._next_at = max(self.clock(), self._next_at) + self.interval


class BoundedCache(MutableMapping[K, V]):
    """A least-recently-used mapping of bounded size (for conditional-request caches)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        value = self._items[key]
        self._items.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def next_link(header: str | None) -> str | None:
    """The rel="next" URL of a Link header, if any."""
    if not header:
        return None
    match = LINK_NEXT_RE.search(header)
    return match.group(1) if match else None


def normalize_color(color: str) -> str:
    """Six lowercase hex digits without '#', as both platforms return them."""
    match = HEX_COLOR_RE.match(color.strip())
    if not match:
        raise Invalid(f"{color!r} is not a colour like 'd73a4a' or '#d73a4a'")
    return match.group(1).lower()


def parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_date(value: Any) -> date | None:
    moment = parse_time(value)
    return moment.date() if moment else None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A retry-after header as seconds from `now`: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = http_date(value)
    return None if when is None else max(0.0, when - now)


def http_date(value: str | None) -> float | None:
    """An HTTP Date header as epoch seconds, or None when it is missing or not a date."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def pull_record(data: dict[str, Any]) -> PullRecord:
    """Either platform's pull request JSON, as branch cleanup needs it (GitHub's listing has no
    `merged`, only `merged_at`; Gitea has both)."""
    head = data.get("head") or {}
    return PullRecord(
        number=int(data["number"]), state=str(data.get("state") or ""), head_ref=str(head.get("ref") or ""),
        head_sha=str(head.get("sha") or ""), merged=bool(data.get("merged") or data.get("merged_at")),
        author=(data.get("user") or {}).get("login"), closed_at=parse_time(data.get("closed_at")),
        updated_at=parse_time(data.get("updated_at")),
    )


def reached(records: list[PullRecord], since: datetime | None) -> bool:
    """A newest-first listing has come back to what was read before."""
    last = records[-1].updated_at if records else None
    return since is not None and last is not None and last <= since
