"""The activity log: append-only, hash-chained so any edit shows, one chain across replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.storage.activity import GENESIS, Entry
from bot.storage.base import Storage
from tests.storage.replicas import execute, replicas

pytestmark = pytest.mark.anyio


def _entry(i: int, repo: str = "o/r") -> Entry:
    return Entry("claim.granted", {"issue": i, "note": "é"}, "github", repo, f"{repo}#{i}", "alice", f"d-{i}")


async def _log(storage: Storage, n: int) -> list[str]:
    return [await storage.activity.append(_entry(i), 1_700_000_000.0 + i) for i in range(n)]


async def test_appends_make_one_chain_that_verifies(storage: Storage) -> None:
    assert (await storage.activity.verify()).ok and (await storage.activity.verify()).rows == 0
    hashes = await _log(storage, 5)
    verdict = await storage.activity.verify()
    assert (verdict.ok, verdict.rows, verdict.bad_id) == (True, 5, None)
    rows = await execute(storage, "SELECT id, prev_hash, hash FROM activity ORDER BY id")
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert [r[2] for r in rows] == hashes and len(set(hashes)) == 5
    assert [r[1] for r in rows] == [GENESIS, *hashes[:-1]]


async def test_the_database_refuses_updates_and_deletes(storage: Storage) -> None:
    await _log(storage, 2)
    with pytest.raises(Exception, match="append-only"):
        await execute(storage, "UPDATE activity SET actor = 'mallory' WHERE id = 1")
    with pytest.raises(Exception, match="append-only"):
        await execute(storage, "DELETE FROM activity WHERE id = 2")
    if storage.backend == "postgresql":  # SQLite has no TRUNCATE (its DELETE without WHERE is refused above)
        with pytest.raises(Exception, match="append-only"):
            await execute(storage, "TRUNCATE activity")
    assert (await storage.activity.verify()).ok and (await storage.activity.verify()).rows == 2


async def _without_triggers(storage: Storage) -> None:
    if storage.backend == "postgresql":
        await execute(storage, "ALTER TABLE activity DISABLE TRIGGER USER")
    else:
        await execute(storage, "DROP TRIGGER activity_no_update")
        await execute(storage, "DROP TRIGGER activity_no_delete")


@pytest.mark.parametrize(
    ("tamper", "bad_id", "reason", "good_rows"),
    [
        ("UPDATE activity SET detail = '{\"issue\":99}' WHERE id = 3", 3, "changed", 2),
        ("UPDATE activity SET actor = 'mallory' WHERE id = 5", 5, "changed", 4),
        ("DELETE FROM activity WHERE id = 2", 3, "missing", 1),
        ("UPDATE activity SET prev_hash = hash WHERE id = 4", 4, "does not point", 3),
    ],
)
async def test_edits_made_around_the_triggers_are_found_at_the_first_broken_row(
    storage: Storage, tamper: str, bad_id: int, reason: str, good_rows: int
) -> None:
    await _log(storage, 5)
    await _without_triggers(storage)
    await execute(storage, tamper)
    verdict = await storage.activity.verify()
    assert not verdict.ok
    assert verdict.bad_id == bad_id and reason in verdict.reason and verdict.rows == good_rows


async def test_recent_lists_newest_first_with_decoded_detail(storage: Storage) -> None:
    await _log(storage, 3)
    await storage.activity.append(_entry(9, repo="x/y"), 1_700_000_100.0)
    entries = await storage.activity.recent(limit=2)
    assert [e["id"] for e in entries] == [4, 3]
    assert entries[1]["detail"] == {"issue": 2, "note": "é"} and entries[1]["actor"] == "alice"
    assert entries[1]["at"] == "2023-11-14T22:13:22.000+00:00" and entries[1]["delivery_id"] == "d-2"
    assert [e["id"] for e in await storage.activity.recent(limit=10, repo="o/r")] == [3, 2, 1]
    assert [e["subject"] for e in await storage.activity.recent(limit=10, repo="x/y")] == ["x/y#9"]
    assert await storage.activity.recent(limit=10, repo="nobody/here") == []


async def test_concurrent_appends_in_one_process_stay_one_chain(storage: Storage) -> None:
    await asyncio.gather(*(storage.activity.append(_entry(i), 1_700_000_000.0 + i) for i in range(40)))
    verdict = await storage.activity.verify()
    assert (verdict.ok, verdict.rows) == (True, 40)


async def test_two_hundred_appends_from_four_replicas_make_one_chain(postgres_url: str, tmp_path: Path) -> None:
    async with replicas(tmp_path, postgres_url, 4) as storages:
        hashes = await asyncio.gather(*(
            storages[n % 4].activity.append(_entry(n), 1_700_000_000.0 + n) for n in range(200)
        ))
        verdict = await storages[2].activity.verify()
        ids = [row[0] for row in await execute(storages[0], "SELECT id FROM activity ORDER BY id")]
        issues = sorted(e["detail"]["issue"] for e in await storages[1].activity.recent(limit=500))
    assert (verdict.ok, verdict.rows) == (True, 200)
    assert ids == list(range(1, 201)) and len(set(hashes)) == 200
    assert issues == list(range(200))  # every append is in the chain, none twice
