"""Named leases: one holder at a time, until an expiry it renews (the scheduler's leader, the
worktree host); and the scheduled runs already taken, so a job never runs twice for one fire time.

A lease is how replicas sharing a database agree on who does what only one of them may do,
without a cluster of their own (River and Oban elect their leader the same way). The holder
renews it well before it ends; a holder that dies stops renewing, and another replica takes the
lease once `until` has passed: leadership moves within one lease length.

Times are seconds since the epoch, given by the caller (`now`): every replica reads its own
clock, so clocks are assumed to agree to well within a lease length (NTP does far better).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds lease `name`, since when (the holder's first acquisition, kept across its
    renewals), and until when it is theirs unless renewed."""

    name: str
    holder: str
    until: float
    since: float

    def held_by(self, holder: str, now: float, margin: float = 0.0) -> bool:
        """Whether `holder` holds it at `now` with at least `margin` seconds left."""
        return self.holder == holder and self.until - now > margin


class Leases(Protocol):
    async def acquire(self, name: str, holder: str, ttl: float, now: float) -> Lease:
        """Take lease `name` for `holder` until `now + ttl` if it is free, expired (`until` before
        `now`) or already `holder`'s (a renewal: `since` is kept), in one atomic step: of
        replicas racing for a free lease exactly one gets it. Returns the lease in force
        afterwards, whoever holds it (the caller compares `holder`)."""
        ...

    async def release(self, name: str, holder: str) -> bool:
        """End `holder`'s lease now, so another replica can take it at once; False when the lease
        is not `holder`'s (never ends someone else's)."""
        ...

    async def current(self, name: str) -> Lease | None:
        """The lease as recorded (possibly expired: compare `until`), None if never taken."""
        ...

    async def all(self) -> list[Lease]:
        """Every recorded lease, by name."""
        ...

    async def take_run(self, job: str, fire_at: float, holder: str, now: float, apart: float = 0.0) -> bool:
        """Record that `holder` runs scheduled job `job` for fire time `fire_at`; True only if the
        last run recorded for `job` was for an earlier fire time, at least `apart` seconds earlier
        (atomically: of replicas racing for one fire time, exactly one gets True). One row per
        job, so the record stays bounded."""
        ...

    async def last_run(self, job: str) -> float | None:
        """The latest fire time a run of `job` was recorded for, by any replica; None if none."""
        ...
