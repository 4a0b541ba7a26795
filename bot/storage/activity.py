"""The activity log: an append-only, hash-chained record of what the bot did.

Each row's hash covers its own fields (its id among them) and the previous row's hash, so
changing, removing or reordering any row breaks the chain from that row on; `verify` finds the
first such row. The database refuses UPDATE and DELETE (triggers in both schemas); the chain
catches edits made around them.

There is ONE chain, whichever replica appends: appends are serialized (SQLite has one writer;
PostgreSQL takes a transaction-scoped advisory lock on the chain), so ids are 1, 2, 3, ... in
chain order with no gap. The hashing and the walk below are shared by both backends, so a log
copied from one to the other verifies the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

GENESIS = "0" * 64

# The columns in the order the hash covers them, then the link and the hash itself.
HASHED = ("id", "at", "kind", "platform", "repo", "subject", "actor", "delivery_id", "detail")
COLUMNS = ", ".join((*HASHED, "prev_hash", "hash"))


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    detail: dict[str, Any]
    platform: str | None = None
    repo: str | None = None
    subject: str | None = None
    actor: str | None = None
    delivery_id: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int
    bad_id: int | None = None
    reason: str = ""


class Activity(Protocol):
    async def append(self, entry: Entry, now: float) -> str:
        """Append one entry as the next link of the one chain; return its hash. Atomic, and
        serialized with every other append on every replica."""
        ...

    async def verify(self) -> Verdict:
        """Walk the chain from the first row; stop at the first row that does not fit."""
        ...

    async def recent(self, *, limit: int, repo: str | None = None) -> list[dict[str, Any]]:
        """The newest `limit` entries (of one repository), newest first, detail decoded."""
        ...


def digest(prev_hash: str, fields: Sequence[Any]) -> str:
    canonical = json.dumps(list(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def next_link(last: tuple[int, str] | None, entry: Entry, now: float) -> tuple[list[Any], str, str]:
    """The row that follows `last` (its id and hash; None for an empty log): (fields, prev_hash,
    hash), fields in HASHED order."""
    row_id, prev_hash = (int(last[0]) + 1, last[1]) if last else (1, GENESIS)
    at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    detail = json.dumps(entry.detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    fields = [row_id, at, entry.kind, entry.platform, entry.repo, entry.subject, entry.actor, entry.delivery_id, detail]
    return fields, prev_hash, digest(prev_hash, fields)


class ChainWalk:
    """Rows (COLUMNS, in id order) checked link by link as they come, so a long log is never
    held whole: `step` each row until it returns False; `verdict` says how it ended."""

    def __init__(self) -> None:
        self._expected_prev = GENESIS
        self._count = 0
        self._broken: Verdict | None = None

    def step(self, row: Sequence[Any]) -> bool:
        """Check one row; False once the chain is broken (at this row)."""
        row_id, expected_id = int(row[0]), self._count + 1
        if row_id != expected_id:
            reason = f"row {expected_id} is missing (found {row_id} next)"
        elif row[9] != self._expected_prev:
            reason = f"row {row_id} does not point at the hash of row {row_id - 1}"
        elif digest(row[9], list(row[:9])) != row[10]:
            reason = f"row {row_id} was changed after it was written"
        else:
            self._expected_prev = row[10]
            self._count += 1
            return True
        self._broken = Verdict(False, self._count, row_id, reason)
        return False

    @property
    def verdict(self) -> Verdict:
        return self._broken or Verdict(True, self._count)


def walk(rows: Iterable[Sequence[Any]]) -> Verdict:
    """The verdict on a whole chain of rows."""
    chain = ChainWalk()
    for row in rows:
        if not chain.step(row):
            break
    return chain.verdict


def as_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A listed row (HASHED columns) with its detail decoded."""
    return dict(zip(HASHED, (*row[:8], json.loads(row[8])), strict=True))
