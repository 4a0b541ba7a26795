"""The leases contract on both backends: one holder at a time, renewal, takeover once expired,
release; and scheduled runs taken once per fire time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.base import Storage
from bot.storage.leases import Lease
from bot.storage.open import open_storage
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0
TTL = 15.0


async def test_a_free_lease_is_taken_and_read_back(storage: Storage) -> None:
    assert await storage.leases.current("scheduler") is None
    lease = await storage.leases.acquire("scheduler", "a", TTL, NOW)
    assert lease == Lease("scheduler", "a", NOW + TTL, NOW)
    assert await storage.leases.current("scheduler") == lease
    assert lease.held_by("a", NOW) and not lease.held_by("b", NOW)
    assert not lease.held_by("a", NOW + TTL - 1, margin=5)  # under the margin: no longer safe to act on


async def test_a_lease_in_force_stays_with_its_holder_and_is_renewed_only_by_it(storage: Storage) -> None:
    await storage.leases.acquire("scheduler", "a", TTL, NOW)
    refused = await storage.leases.acquire("scheduler", "b", TTL, NOW + 5)
    assert refused == Lease("scheduler", "a", NOW + TTL, NOW)  # the lease in force, still a's
    renewed = await storage.leases.acquire("scheduler", "a", TTL, NOW + 10)
    assert renewed == Lease("scheduler", "a", NOW + 10 + TTL, NOW)  # later `until`, same `since`
    assert (await storage.leases.acquire("scheduler", "b", TTL, NOW + TTL + 1)).holder == "a"  # renewed: still a's


async def test_an_expired_lease_is_taken_over_and_a_holder_that_stops_renewing_loses_it(storage: Storage) -> None:
    await storage.leases.acquire("scheduler", "a", TTL, NOW)
    at = NOW + TTL  # a renewed nothing: at `until` its lease has ended
    taken = await storage.leases.acquire("scheduler", "b", TTL, at)
    assert taken == Lease("scheduler", "b", at + TTL, at)
    late = await storage.leases.acquire("scheduler", "a", TTL, at + 1)  # a comes back: too late
    assert late.holder == "b"


async def test_release_ends_only_the_holders_own_lease(storage: Storage) -> None:
    await storage.leases.acquire("scheduler", "a", TTL, NOW)
    await storage.leases.acquire("worktrees", "b", TTL, NOW)
    assert await storage.leases.release("scheduler", "b") is False
    assert (await storage.leases.current("scheduler")).holder == "a"  # type: ignore[union-attr]
    assert await storage.leases.release("scheduler", "a") is True
    assert await storage.leases.current("scheduler") is None
    assert (await storage.leases.acquire("scheduler", "b", TTL, NOW + 1)).holder == "b"  # free at once
    assert [(lease.name, lease.holder) for lease in await storage.leases.all()] == [("scheduler", "b"), ("worktrees", "b")]


async def test_racing_holders_on_one_storage_leave_one_holder(storage: Storage) -> None:
    leases = await asyncio.gather(*(storage.leases.acquire("scheduler", f"r{n}", TTL, NOW) for n in range(20)))
    holders = {lease.holder for lease in leases}
    assert len(holders) == 1
    winner = holders.pop()
    assert [lease.holder for lease in leases].count(winner) == 20  # every caller was told the same holder


async def test_a_fire_time_is_taken_once_and_never_after_a_later_one(storage: Storage) -> None:
    assert await storage.leases.last_run("prune") is None
    assert await storage.leases.take_run("prune", NOW, "a", NOW) is True
    assert await storage.leases.take_run("prune", NOW, "b", NOW + 1) is False  # the same fire time
    assert await storage.leases.take_run("other", NOW, "b", NOW + 1) is True  # another job's own
    assert await storage.leases.take_run("prune", NOW + 60, "b", NOW + 60) is True
    assert await storage.leases.take_run("prune", NOW, "a", NOW + 61) is False  # an older one, late
    assert await storage.leases.last_run("prune") == NOW + 60


async def test_a_fire_time_too_close_to_the_last_run_is_refused(storage: Storage) -> None:
    """Replicas whose schedules are out of phase still run a job once per interval."""
    assert await storage.leases.take_run("prune", NOW, "a", NOW, apart=30) is True
    assert await storage.leases.take_run("prune", NOW + 3, "b", NOW + 3, apart=30) is False
    assert await storage.leases.take_run("prune", NOW + 30, "b", NOW + 30, apart=30) is True
    assert await storage.leases.last_run("prune") == NOW + 30


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> AsyncIterator[list[Storage]]:
    """Five Storages on one PostgreSQL database, as five replicas have."""
    storages = [open_storage(make_settings(tmp_path, database_url=postgres_url, replica_id=f"r{n}")) for n in range(5)]
    await asyncio.gather(*(s.start() for s in storages))
    try:
        yield storages
    finally:
        await asyncio.gather(*(s.stop() for s in storages))


async def test_replicas_racing_for_a_lease_on_postgres_leave_exactly_one_holder(replicas: list[Storage]) -> None:
    for round_ in range(10):  # a free lease, then an expired one, each time raced for by all
        at = NOW + round_ * (TTL + 1)
        leases = await asyncio.gather(*(
            s.leases.acquire("scheduler", f"{s.replica}-{k}", TTL, at) for s in replicas for k in range(4)
        ))
        holders = {lease.holder for lease in leases}
        assert len(holders) == 1, holders
        assert (await replicas[0].leases.current("scheduler")) == leases[0]


async def test_replicas_racing_for_one_fire_time_on_postgres_run_it_once(replicas: list[Storage]) -> None:
    for fire in range(10):
        taken = await asyncio.gather(*(
            s.leases.take_run("prune", NOW + fire * 60, s.replica, NOW + fire * 60) for s in replicas for _ in range(4)
        ))
        assert taken.count(True) == 1
