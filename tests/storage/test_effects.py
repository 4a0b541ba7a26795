"""Effect keys: the contract on both backends; one key recorded once across replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.storage.base import Storage
from tests.storage.replicas import execute, replicas

pytestmark = pytest.mark.anyio


async def test_a_key_is_recorded_once_and_keeps_its_first_detail(storage: Storage) -> None:
    effects = storage.effects
    assert not await effects.seen("comment:1") and await effects.detail("comment:1") is None
    assert await effects.record("comment:1", "d-1", 10.0, {"comment": 42, "url": "https://x/1"})
    assert not await effects.record("comment:1", "d-2", 11.0, {"comment": 43})
    assert await effects.seen("comment:1")
    assert await effects.detail("comment:1") == {"comment": 42, "url": "https://x/1"}
    assert await effects.record("label:1", None, 12.0, {})
    assert await effects.detail("label:1") == {}
    assert await execute(storage, "SELECT key, delivery_id, created_at FROM effects ORDER BY key") == [
        ("comment:1", "d-1", 10.0), ("label:1", None, 12.0),
    ]


async def test_prune_forgets_the_oldest_keys_a_chunk_at_a_time(storage: Storage) -> None:
    for n in range(7):
        await storage.effects.record(f"old-{n}", None, 100.0 + n, {})
    for n in range(3):
        await storage.effects.record(f"young-{n}", None, 1000.0 + n, {})
    assert await storage.effects.prune(500.0, limit=4) == 4
    assert await storage.effects.prune(500.0, limit=4) == 3
    assert await storage.effects.prune(500.0, limit=4) == 0
    left = await execute(storage, "SELECT key FROM effects ORDER BY key")
    assert left == [("young-0",), ("young-1",), ("young-2",)]
    assert not await storage.effects.seen("old-6") and await storage.effects.seen("young-2")


async def test_concurrent_records_of_one_key_in_one_process_make_one_true(storage: Storage) -> None:
    results = await asyncio.gather(*(storage.effects.record("once", f"d-{n}", 1.0, {"n": n}) for n in range(20)))
    assert results.count(True) == 1


async def test_concurrent_records_of_one_key_at_five_replicas_make_one_true(postgres_url: str, tmp_path: Path) -> None:
    async with replicas(tmp_path, postgres_url, 5) as storages:
        results = await asyncio.gather(*(
            storages[n % 5].effects.record("comment:acme/w#1", f"d-{n}", 1.0, {"by": n}) for n in range(50)
        ))
        winner = results.index(True)
        assert await storages[3].effects.detail("comment:acme/w#1") == {"by": winner}
        assert await execute(storages[0], "SELECT count(*) FROM effects") == [(1,)]
    assert results.count(True) == 1
