"""Claims in the store: the decisions, without any platform (dependencies: tests/storage/test_dependencies.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import claims
from bot.claims import ClaimOutcome
from bot.storage.sqlite.engine import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db")
    yield s
    s.close()


def test_claim_renew_held_and_cap(store: Store) -> None:
    granted = store.run_sync(claims.claim, "github", "Acme/W", 1, "alice", 0.0, 100.0, 2)
    assert granted.outcome is ClaimOutcome.GRANTED and granted.claim.repo == "acme/w"
    held = store.run_sync(claims.claim, "github", "acme/w", 1, "bob", 1.0, 101.0, 2)
    assert held.outcome is ClaimOutcome.HELD and held.claim.holder == "alice"
    renewed = store.run_sync(claims.claim, "github", "acme/w", 1, "ALICE", 2.0, 200.0, 2)
    assert renewed.outcome is ClaimOutcome.RENEWED and renewed.claim.expires_at == 200.0
    assert store.run_sync(claims.claim, "github", "acme/w", 2, "alice", 3.0, 300.0, 2).outcome is ClaimOutcome.GRANTED
    capped = store.run_sync(claims.claim, "github", "acme/w", 3, "alice", 4.0, 400.0, 2)
    assert capped.outcome is ClaimOutcome.CAPPED and capped.held_by_claimant == 2
    assert store.run_sync(claims.claim, "gitea", "acme/w", 3, "alice", 4.0, 400.0, 2).outcome is ClaimOutcome.GRANTED


def test_withdraw_ends_that_claim_only_while_it_is_active(store: Store) -> None:
    first = store.run_sync(claims.claim, "github", "a/b", 1, "alice", 0.0, 10.0, 3).claim
    store.run_sync(claims.withdraw, first.id, 1.0, "unassignable")
    assert store.run_sync(claims.active_claim, "github", "a/b", 1) is None
    second = store.run_sync(claims.claim, "github", "a/b", 1, "bob", 2.0, 20.0, 3).claim
    store.run_sync(claims.withdraw, first.id, 3.0, "unassignable")  # a late repeat leaves bob's alone
    assert store.run_sync(claims.active_claim, "github", "a/b", 1) == second


def test_release_expiry_and_the_one_active_claim_index(store: Store) -> None:
    import sqlite3

    store.run_sync(claims.claim, "github", "a/b", 1, "alice", 0.0, 10.0, 3)
    with pytest.raises(sqlite3.IntegrityError):
        store.run_sync(lambda c: c.execute("INSERT INTO claims (platform, repo, number, holder, claimed_at, expires_at) VALUES ('github', 'a/b', 1, 'x', 0, 1)"))
    assert [c.number for c in store.run_sync(claims.expired, 10.0)] == [1]
    released = store.run_sync(claims.release, "github", "a/b", 1, 11.0, "expired")
    assert released is not None and released.holder == "alice"
    assert store.run_sync(claims.active_claim, "github", "a/b", 1) is None
    assert store.run_sync(claims.claim, "github", "a/b", 1, "bob", 12.0, 20.0, 3).outcome is ClaimOutcome.GRANTED


@pytest.mark.anyio
async def test_fifty_concurrent_claims_make_one_holder(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    await store.start()
    try:
        results = await asyncio.gather(
            *(store.run(claims.claim, "github", "a/b", 7, f"user{n}", 0.0, 100.0, 3) for n in range(50))
        )
    finally:
        await store.stop()
    outcomes = [r.outcome for r in results]
    assert outcomes.count(ClaimOutcome.GRANTED) == 1 and outcomes.count(ClaimOutcome.HELD) == 49
    holder = next(r.claim.holder for r in results if r.outcome is ClaimOutcome.GRANTED)
    assert {r.claim.holder for r in results} == {holder}
