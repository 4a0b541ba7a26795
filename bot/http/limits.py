"""What one unauthenticated client may hold of the server: open files, time, and memory.

Nothing here is a secret check: a sender is unknown until its whole body has arrived and its
signature matches. Until then it costs a file descriptor, a timer and the bytes of its body, and
each of those is bounded here (README, "Security notes"):

- connections: at most `cap`, below the open-file limit, so that SQLite, git and the forge
  clients always have descriptors left. At the cap a new connection closes the one that has
  waited longest for a request (an idle keep-alive connection or a client trickling its headers);
  when every connection is in the middle of a request, the new one is closed instead.
- bodies: every byte of a request body is counted from its headers until it is answered. Bodies
  over `LARGE_BODY` may together hold at most half of the budget, so a few large bodies never
  crowd out ordinary deliveries. A body that does not fit is answered 503 with Retry-After at
  once, before it is read: memory is what is under attack, and waiting would hold the
  connection without bound.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

logger = logging.getLogger(__name__)

# Descriptors kept back from the connection cap for everything else the process opens: the
# database and its WAL (two connections), git subprocesses' pipes, the forge clients' pools.
MIN_HEADROOM = 256
LARGE_BODY = 1024 * 1024
# At most one line a minute says the cap is being hit, with what it did since the last one.
CAP_LOG_INTERVAL = 60.0


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # a container may refuse; the cap follows what is in force
            logger.warning("could not raise the open-file limit", extra={"soft": soft, "hard": hard, "error": str(exc)})
    elif hard == resource.RLIM_INFINITY and soft != hard:
        soft = max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        except (ValueError, OSError):
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return int(soft)


# glibc's mallopt parameter for the size from which allocations are mapped on their own.
M_MMAP_THRESHOLD = -3


def map_large_buffers_apart() -> bool:
    """Have glibc map every allocation of LARGE_BODY or more on its own, so that freeing a large
    body's buffer gives its memory back to the system at once.

    By default glibc raises this threshold to the size of the largest mapped block freed (up to
    32 MiB), so after one 25 MiB body the next few-MiB bodies come from the heap, and the heap
    keeps their pages: measured, RSS stayed 30 MiB higher after 32 unsigned 5 MiB POSTs that
    followed 32 of 25 MiB. Setting the threshold turns that adjustment off. Elsewhere than glibc,
    nothing is done (False)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGE_BODY))
    except (OSError, AttributeError):
        return False


def open_file_limit() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap(open_files: int, configured: int | None = None) -> int:
    """The most client connections to hold open: below the open-file limit, with headroom."""
    headroom = max(MIN_HEADROOM, open_files // 10)
    ceiling = max(open_files - headroom, open_files // 2, 1)
    return ceiling if configured is None else min(configured, ceiling)


class Evictable(Protocol):
    def evict(self) -> None: ...


class ConnectionGuard:
    """Counts open connections and knows which of them wait for a request, oldest first."""

    def __init__(self, cap: int, open_files: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = cap
        self.open_files = open_files
        self.clock = clock
        self.open = 0
        # Insertion-ordered: the first key has waited longest. Membership changes twice per
        # request (out when its headers are complete, back in once it is answered).
        self.waiting: dict[Evictable, None] = {}
        self.evicted = 0
        self.refused = 0
        self._reported_at = float("-inf")
        self._evicted_reported = 0
        self._refused_reported = 0

    def admit(self, connection: Evictable) -> bool:
        """Count a new connection in, making room if need be; False means close it now."""
        if self.open >= self.cap:
            victim = next(iter(self.waiting), None)
            if victim is None:
                self.refused += 1
                self._report()
                return False
            del self.waiting[victim]
            victim.evict()
            self.evicted += 1
            self._report()
        self.open += 1
        self.waiting[connection] = None
        return True

    def leave(self, connection: Evictable) -> None:
        self.open -= 1
        self.waiting.pop(connection, None)

    def _report(self) -> None:
        now = self.clock()
        if now - self._reported_at < CAP_LOG_INTERVAL:
            return
        logger.warning(
            "connection cap reached: %d connections open (open-file limit %d); closing the longest-waiting idle"
            " connections, refusing new ones when none is idle",
            self.open, self.open_files,
            extra={
                "cap": self.cap,
                "evicted": self.evicted - self._evicted_reported,
                "refused": self.refused - self._refused_reported,
            },
        )
        self._reported_at = now
        self._evicted_reported, self._refused_reported = self.evicted, self.refused


class UnverifiedBudget:
    """Bytes of request bodies held before anyone knows who sent them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.large_limit = limit // 2
        self.held = 0
        self.large_held = 0
        self.refused = 0

    def grow(self, held: int, wanted: int) -> bool:
        """Let one body's share grow from `held` to `wanted` bytes; False when it does not fit."""
        extra = wanted - held
        large_extra = wanted - (held if held > LARGE_BODY else 0) if wanted > LARGE_BODY else 0
        if self.held + extra > self.limit or self.large_held + large_extra > self.large_limit:
            self.refused += 1
            return False
        self.held += extra
        self.large_held += large_extra
        return True

    def release(self, held: int) -> None:
        self.held -= held
        if held > LARGE_BODY:
            self.large_held -= held


class HeadBudget:
    """Bytes of request heads held across reads, before the head is complete, on all connections.

    A head that arrives whole in one read is never counted: every platform's webhook head does.
    One that arrives in pieces holds what httptools keeps of it (up to MAX_HEADER_BYTES and the
    read it began in, about 320 KiB) until it completes. Without a bound across connections,
    slow heads on every connection the cap allows would hold that many times over.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.refused = 0

    def grow(self, held: int, wanted: int) -> bool:
        """Let one connection's share grow from `held` to `wanted` bytes; False when it does not fit."""
        if wanted > held and self.held + wanted - held > self.limit:
            self.refused += 1
            return False
        self.held += wanted - held
        return True

    def release(self, held: int) -> None:
        self.held -= held


@dataclass
class ServeLimits:
    """What the HTTP protocol enforces; one per app, shared by all its connections."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    guard: ConnectionGuard = field(default_factory=lambda: ConnectionGuard(connection_cap(open_file_limit()), open_file_limit()))
    budget: UnverifiedBudget = field(default_factory=lambda: UnverifiedBudget(64 * 1024 * 1024))
    heads: HeadBudget = field(default_factory=lambda: HeadBudget(16 * 1024 * 1024))
