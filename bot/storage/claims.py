"""Claims with leases: who works on which issue, until when.

Guarantees, on every backend and with claims arriving at several replicas at once:
- at most one active claim per issue (a unique partial index is the last word);
- a claimant never holds more than `max_per_user` active claims on one platform, counted across
  all repositories (logins compared without case);
- the same request (a delivery id) coming again is GRANTED again, not RENEWED, so a retry after
  the platform failed answers as the first attempt would have.
Each method is one transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class ClaimOutcome(enum.StrEnum):
    GRANTED = "granted"
    RENEWED = "renewed"  # the holder claimed again
    HELD = "held"  # someone else holds it
    CAPPED = "capped"  # the claimant holds too many already


@dataclass(frozen=True)
class Claim:
    id: int
    platform: str
    repo: str
    number: int
    holder: str
    claimed_at: float
    expires_at: float


@dataclass(frozen=True)
class ClaimResult:
    outcome: ClaimOutcome
    claim: Claim | None  # the claim now in force: the claimant's, or the holder's
    held_by_claimant: int = 0


class Claims(Protocol):
    async def active_claim(self, platform: str, repo: str, number: int) -> Claim | None:
        """The issue's active claim, if any (repository names compared without case)."""
        ...

    async def claim(
        self, platform: str, repo: str, number: int, login: str, now: float, expires_at: float,
        max_per_user: int, request: str | None = None,
    ) -> ClaimResult:
        """Grant, renew or refuse, atomically. HELD names the holder's claim; CAPPED says how many
        the claimant holds. `request` names what asked (a delivery id): when that same request
        comes again its claim is GRANTED again (with the new expiry), not RENEWED."""
        ...

    async def release(self, platform: str, repo: str, number: int, now: float, reason: str) -> Claim | None:
        """End the issue's active claim, if any, with `reason`; return the claim that ended."""
        ...

    async def withdraw(self, claim_id: int, now: float, reason: str) -> None:
        """End one claim if it is still active (a claim the platform would not carry out); a late
        repeat leaves a newer claim of the same issue alone."""
        ...

    async def extend(self, claim_id: int, expires_at: float) -> None:
        """Move an active claim's expiry; nothing once it has ended."""
        ...

    async def active_claims(self, platform: str, repo: str | None = None) -> list[Claim]:
        """Active claims on a platform (or in one repository), oldest first."""
        ...

    async def expired(self, now: float, limit: int = 200) -> list[Claim]:
        """Up to `limit` active claims whose expiry is at or before `now`, soonest first."""
        ...

    async def last_end(self, platform: str, repo: str, number: int) -> str | None:
        """None while the issue is claimed (or was never claimed); else why its last claim ended
        ("expired", "released", ...)."""
        ...
