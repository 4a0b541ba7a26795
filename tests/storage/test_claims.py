"""Claims: the contract on both backends, and its guarantees with claims at several replicas at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.storage.base import Storage
from bot.storage.claims import ClaimOutcome
from tests.storage.replicas import execute, replicas

pytestmark = pytest.mark.anyio


async def test_grant_hold_renew_and_the_cap_per_platform(storage: Storage) -> None:
    claims = storage.claims
    granted = await claims.claim("github", "Acme/W", 1, "alice", 0.0, 100.0, 2)
    assert granted.outcome is ClaimOutcome.GRANTED and granted.held_by_claimant == 1
    assert granted.claim is not None and granted.claim.repo == "acme/w" and granted.claim.holder == "alice"
    held = await claims.claim("github", "acme/w", 1, "bob", 1.0, 101.0, 2)
    assert held.outcome is ClaimOutcome.HELD and held.claim == granted.claim
    renewed = await claims.claim("github", "acme/w", 1, "ALICE", 2.0, 200.0, 2)
    assert renewed.outcome is ClaimOutcome.RENEWED and renewed.claim is not None
    assert (renewed.claim.id, renewed.claim.expires_at, renewed.claim.claimed_at) == (granted.claim.id, 200.0, 0.0)
    assert (await claims.active_claim("github", "ACME/w", 1)) == renewed.claim
    second = await claims.claim("github", "other/repo", 2, "Alice", 3.0, 300.0, 2)  # the cap spans repositories
    assert second.outcome is ClaimOutcome.GRANTED and second.held_by_claimant == 2
    capped = await claims.claim("github", "acme/w", 3, "alice", 4.0, 400.0, 2)
    assert capped.outcome is ClaimOutcome.CAPPED and capped.held_by_claimant == 2 and capped.claim is None
    assert await claims.active_claim("github", "acme/w", 3) is None
    other_platform = await claims.claim("gitea", "acme/w", 3, "alice", 4.0, 400.0, 2)
    assert other_platform.outcome is ClaimOutcome.GRANTED and other_platform.held_by_claimant == 1


async def test_the_same_request_again_is_granted_again_not_renewed(storage: Storage) -> None:
    first = await storage.claims.claim("github", "a/b", 1, "alice", 0.0, 100.0, 3, "delivery-1")
    retried = await storage.claims.claim("github", "a/b", 1, "alice", 5.0, 150.0, 3, "delivery-1")
    assert first.outcome is ClaimOutcome.GRANTED and retried.outcome is ClaimOutcome.GRANTED
    assert retried.claim is not None and first.claim is not None
    assert retried.claim.id == first.claim.id and retried.claim.expires_at == 150.0
    another = await storage.claims.claim("github", "a/b", 1, "alice", 6.0, 160.0, 3, "delivery-2")
    assert another.outcome is ClaimOutcome.RENEWED
    assert (await storage.claims.claim("github", "a/b", 1, "alice", 7.0, 170.0, 3)).outcome is ClaimOutcome.RENEWED


async def test_withdraw_ends_that_claim_only_while_it_is_active(storage: Storage) -> None:
    first = (await storage.claims.claim("github", "a/b", 1, "alice", 0.0, 10.0, 3)).claim
    assert first is not None
    await storage.claims.withdraw(first.id, 1.0, "unassignable")
    assert await storage.claims.active_claim("github", "a/b", 1) is None
    assert await storage.claims.last_end("github", "a/b", 1) == "unassignable"
    second = (await storage.claims.claim("github", "a/b", 1, "bob", 2.0, 20.0, 3)).claim
    await storage.claims.withdraw(first.id, 3.0, "unassignable")  # a late repeat leaves bob's alone
    assert await storage.claims.active_claim("github", "a/b", 1) == second


async def test_release_expiry_extend_and_how_the_last_claim_ended(storage: Storage) -> None:
    claims = storage.claims
    assert await claims.last_end("github", "a/b", 1) is None  # never claimed
    assert await claims.release("github", "a/b", 1, 0.0, "released") is None
    await claims.claim("github", "a/b", 1, "alice", 0.0, 10.0, 3)
    await claims.claim("github", "a/b", 2, "bob", 0.0, 5.0, 3)
    await claims.claim("github", "a/b", 3, "carol", 0.0, 50.0, 3)
    assert await claims.last_end("github", "A/B", 1) is None  # claimed now
    assert [c.number for c in await claims.expired(10.0)] == [2, 1]  # soonest first
    assert [c.number for c in await claims.expired(10.0, limit=1)] == [2]
    bob = await claims.active_claim("github", "a/b", 2)
    assert bob is not None
    await claims.extend(bob.id, 30.0)
    assert [c.number for c in await claims.expired(10.0)] == [1]
    released = await claims.release("github", "A/B", 1, 11.0, "expired")
    assert released is not None and released.holder == "alice" and released.number == 1
    assert await claims.active_claim("github", "a/b", 1) is None
    assert await claims.last_end("github", "a/b", 1) == "expired"
    await claims.extend(released.id, 99.0)  # an ended claim stays ended
    assert await claims.active_claim("github", "a/b", 1) is None
    regranted = await claims.claim("github", "a/b", 1, "bob", 12.0, 20.0, 3)
    assert regranted.outcome is ClaimOutcome.GRANTED and regranted.held_by_claimant == 2


async def test_active_claims_by_platform_and_repository_oldest_first(storage: Storage) -> None:
    await storage.claims.claim("github", "a/b", 2, "bob", 2.0, 20.0, 3)
    await storage.claims.claim("github", "a/b", 1, "alice", 1.0, 20.0, 3)
    await storage.claims.claim("github", "c/d", 1, "alice", 3.0, 20.0, 3)
    await storage.claims.claim("gitea", "a/b", 1, "alice", 0.5, 20.0, 3)
    assert [(c.repo, c.number) for c in await storage.claims.active_claims("github")] == [("a/b", 1), ("a/b", 2), ("c/d", 1)]
    assert [c.holder for c in await storage.claims.active_claims("github", "A/B")] == ["alice", "bob"]
    assert await storage.claims.active_claims("gitea", "c/d") == []


async def test_the_database_refuses_a_second_active_claim_of_an_issue(storage: Storage) -> None:
    await storage.claims.claim("github", "a/b", 1, "alice", 0.0, 10.0, 3)
    with pytest.raises(Exception, match="(?i)unique"):
        await execute(storage, "INSERT INTO claims (platform, repo, number, holder, claimed_at, expires_at) VALUES ('github', 'a/b', 1, 'x', 0, 1)")


async def test_fifty_concurrent_claims_of_one_issue_make_one_holder(storage: Storage) -> None:
    results = await asyncio.gather(*(storage.claims.claim("github", "a/b", 7, f"user{n}", 0.0, 100.0, 3) for n in range(50)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(ClaimOutcome.GRANTED) == 1 and outcomes.count(ClaimOutcome.HELD) == 49
    assert len({r.claim.holder for r in results if r.claim}) == 1


async def test_fifty_claims_of_one_issue_at_five_replicas_make_one_holder(postgres_url: str, tmp_path: Path) -> None:
    async with replicas(tmp_path, postgres_url, 5) as storages:
        results = await asyncio.gather(*(
            storages[n % 5].claims.claim("github", "a/b", 7, f"user{n}", 0.0, 100.0, 3) for n in range(50)
        ))
        rows = await execute(storages[0], "SELECT holder FROM claims WHERE active = 1")
    outcomes = [r.outcome for r in results]
    assert outcomes.count(ClaimOutcome.GRANTED) == 1 and outcomes.count(ClaimOutcome.HELD) == 49
    winner = next(r.claim for r in results if r.outcome is ClaimOutcome.GRANTED)
    assert winner is not None and rows == [(winner.holder,)]
    assert all(r.claim == winner for r in results)  # every refusal names the one holder


async def test_one_login_claiming_ten_issues_at_five_replicas_gets_the_cap(postgres_url: str, tmp_path: Path) -> None:
    async with replicas(tmp_path, postgres_url, 5) as storages:
        results = await asyncio.gather(*(
            # the same person under two spellings: the cap compares logins without case
            storages[n % 5].claims.claim("github", f"repo{n % 2}/x", n, "Alice" if n % 2 else "alice", 0.0, 100.0, 3)
            for n in range(10)
        ))
        held = await execute(storages[0], "SELECT count(*) FROM claims WHERE active = 1")
    outcomes = [r.outcome for r in results]
    assert outcomes.count(ClaimOutcome.GRANTED) == 3 and outcomes.count(ClaimOutcome.CAPPED) == 7
    assert held == [(3,)]
    assert sorted(r.held_by_claimant for r in results if r.outcome is ClaimOutcome.GRANTED) == [1, 2, 3]


async def test_a_retried_request_at_another_replica_is_granted_again(postgres_url: str, tmp_path: Path) -> None:
    async with replicas(tmp_path, postgres_url, 2) as (first, second):
        granted = await first.claims.claim("github", "a/b", 1, "alice", 0.0, 100.0, 3, "delivery-9")
        results = await asyncio.gather(*(
            s.claims.claim("github", "a/b", 1, "alice", 1.0, 200.0, 3, "delivery-9") for s in (first, second) * 3
        ))
    assert granted.outcome is ClaimOutcome.GRANTED and granted.claim is not None
    assert {r.outcome for r in results} == {ClaimOutcome.GRANTED}
    assert {r.claim.id for r in results if r.claim} == {granted.claim.id}
