"""The worktrees contract, on SQLite and on PostgreSQL: one live worktree per issue and per
branch, reservations that never pass a limit (also arriving at several replicas at once), and
every read and write the start, push and retire paths use."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.storage.base import Storage
from bot.storage.open import open_storage
from bot.storage.worktrees import State, Worktree
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

GH = "github"
REPO = "acme/widgets"
NOW = 1_000_000.0


async def sql(storage: Storage, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement of the test's own (`?` placeholders) and return its rows, on either backend."""
    if storage.backend == "postgresql":
        async with storage.engine.transaction() as conn:
            cursor = await conn.execute(query.replace("?", "%s"), params)
            return [tuple(r) for r in await cursor.fetchall()] if cursor.description else []
    return await storage.engine.run(lambda conn: [tuple(r) for r in conn.execute(query, params).fetchall()])  # type: ignore[no-any-return]


async def reserve(storage: Storage, number: int, branch: str | None = None, *, repo: str = REPO, platform: str = GH,
                  per_repo: int = 20, total: int = 200, holder: str = "alice", now: float = NOW) -> Any:
    return await storage.worktrees.reserve(platform, repo, number, branch or f"issue-{number}", "main", f"/wt/{repo}/{number}",
                                           holder, now, per_repo, total, f"key-{number}")


def is_integrity_error(exc: BaseException) -> bool:
    return any(k.__name__ == "IntegrityError" for k in type(exc).__mro__)


async def test_a_reservation_is_a_creating_row_and_a_second_one_returns_it(storage: Storage) -> None:
    first = await reserve(storage, 7, "issue-7-fix", repo="Acme/Widgets")
    row = first.worktree
    assert first.refused == "" and isinstance(row, Worktree)
    assert (row.platform, row.repo, row.number, row.branch, row.base, row.path, row.holder) == (
        GH, REPO, 7, "issue-7-fix", "main", "/wt/Acme/Widgets/7", "alice")
    assert row.state is State.CREATING and row.sha == "" and row.pull_number is None and row.answer_key == "key-7"
    assert row.created_at == row.updated_at == NOW
    again = await reserve(storage, 7, "another-name", holder="bob", now=NOW + 5)
    assert again.worktree == row  # the live one, unchanged: never a second row for an issue
    assert await storage.worktrees.live(GH, "ACME/widgets", 7) == row
    assert await storage.worktrees.live("gitea", REPO, 7) is None
    assert await storage.worktrees.live(GH, REPO, 8) is None


async def test_the_per_repository_and_per_host_limits_refuse_and_removed_rows_do_not_count(storage: Storage) -> None:
    for number in (1, 2):
        assert (await reserve(storage, number, per_repo=2)).worktree is not None
    refused = await reserve(storage, 3, per_repo=2)
    assert refused.worktree is None
    assert refused.refused == "this repository has 2 worktrees already, the most `worktrees.max_per_repo` allows"
    assert await storage.worktrees.over_limit(GH, REPO, 2, 200) == refused.refused
    assert await storage.worktrees.over_limit(GH, "acme/other", 2, 200) == ""
    host = await reserve(storage, 1, repo="acme/other", total=2)
    assert host.worktree is None and host.refused == "the bot's host has 2 worktrees already, the most FORGEBOT_WORKTREES_MAX allows"
    assert await storage.worktrees.over_limit("gitea", "x/y", 5, 2) == host.refused
    # The existing worktree of an issue is returned whatever the limits say
    assert (await reserve(storage, 1, per_repo=0, total=0)).worktree is not None
    first = await storage.worktrees.live(GH, REPO, 1)
    assert first is not None
    await storage.worktrees.mark(first.id, State.REMOVED, NOW + 1)
    assert await storage.worktrees.over_limit(GH, REPO, 2, 200) == ""
    assert (await reserve(storage, 3, per_repo=2)).worktree is not None


async def test_a_branch_another_issue_had_is_refused_and_an_issue_reuses_its_own(storage: Storage) -> None:
    first = (await reserve(storage, 1, "shared")).worktree
    assert first is not None
    taken = await reserve(storage, 2, "shared")
    assert taken.worktree is None and taken.refused == "branch shared belongs to another issue"
    await storage.worktrees.mark(first.id, State.REMOVED, NOW + 1)
    assert (await reserve(storage, 2, "shared")).refused == "branch shared belongs to another issue"  # removed: still issue 1's
    assert await storage.worktrees.branches_in_use(GH, "ACME/WIDGETS") == {"shared"}
    assert await storage.worktrees.branches_in_use("gitea", REPO) == set()
    assert await storage.worktrees.last_branch(GH, REPO, 1) == "shared"
    assert await storage.worktrees.last_branch(GH, REPO, 2) is None
    second = (await reserve(storage, 1, "shared", now=NOW + 2)).worktree
    assert second is not None and second.id != first.id and second.branch == "shared"
    assert await storage.worktrees.branch_history(GH, REPO, 1, "shared", second.id)  # the earlier row had it
    assert await storage.worktrees.branch_history(GH, REPO, 1, "shared", first.id)  # and the later one, seen from the first
    assert not await storage.worktrees.branch_history(GH, REPO, 1, "other", second.id)
    assert not await storage.worktrees.branch_history(GH, REPO, 9, "shared", second.id)


async def test_mark_sets_the_state_and_keeps_what_it_is_not_given(storage: Storage) -> None:
    row = (await reserve(storage, 4)).worktree
    assert row is not None
    await storage.worktrees.mark(row.id, State.CREATING, NOW + 1, sha="abc123")
    await storage.worktrees.mark(row.id, State.READY, NOW + 2, note="ready", pull_number=12)
    ready = await storage.worktrees.live(GH, REPO, 4)
    assert ready is not None
    assert (ready.state, ready.sha, ready.note, ready.pull_number, ready.updated_at) == (State.READY, "abc123", "ready", 12, NOW + 2)
    await storage.worktrees.mark(row.id, State.KEPT, NOW + 3, note="kept: dirty")
    kept = await storage.worktrees.live(GH, REPO, 4)
    assert kept is not None and (kept.state, kept.sha, kept.note, kept.pull_number) == (State.KEPT, "abc123", "kept: dirty", 12)
    assert await sql(storage, "SELECT removed_at FROM worktrees WHERE id = ?", row.id) == [(None,)]
    await storage.worktrees.mark(row.id, State.REMOVED, NOW + 4)
    assert await storage.worktrees.live(GH, REPO, 4) is None
    assert await sql(storage, "SELECT state, removed_at FROM worktrees WHERE id = ?", row.id) == [("removed", NOW + 4)]


async def test_lookups_by_path_branch_and_state_see_live_rows_only(storage: Storage) -> None:
    a = (await reserve(storage, 2, "b-two")).worktree
    b = (await reserve(storage, 1, "b-one", repo="acme/zeta")).worktree
    c = (await reserve(storage, 3, "g-three", platform="gitea")).worktree
    assert a and b and c
    await storage.worktrees.mark(a.id, State.READY, NOW + 1)
    assert [w.id for w in await storage.worktrees.all_live()] == [c.id, a.id, b.id]  # by platform, repo, number
    assert [w.id for w in await storage.worktrees.all_live(GH)] == [a.id, b.id]
    assert [w.id for w in await storage.worktrees.all_live(None, "ACME/ZETA")] == [b.id]
    assert [w.id for w in await storage.worktrees.all_live(GH, REPO)] == [a.id]
    assert [w.id for w in await storage.worktrees.creating()] == [b.id, c.id]  # oldest first
    assert await storage.worktrees.by_path(a.path) == await storage.worktrees.live(GH, REPO, 2)
    assert await storage.worktrees.by_path("/nowhere") is None
    found = await storage.worktrees.by_branch(GH, "Acme/Zeta", "b-one")
    assert found is not None and found.id == b.id
    assert await storage.worktrees.by_branch("gitea", "acme/zeta", "b-one") is None
    await storage.worktrees.mark(b.id, State.REMOVED, NOW + 2)
    assert await storage.worktrees.by_branch(GH, "acme/zeta", "b-one") is None
    assert await storage.worktrees.by_path(b.path) is None
    assert [w.id for w in await storage.worktrees.all_live()] == [c.id, a.id]


async def test_holder_and_branch_change_and_the_indexes_keep_one_live_row_per_issue_and_branch(storage: Storage) -> None:
    a = (await reserve(storage, 1, "one")).worktree
    b = (await reserve(storage, 2, "two")).worktree
    assert a and b
    await storage.worktrees.set_holder(a.id, "bob", NOW + 1)
    await storage.worktrees.rename_branch(a.id, "one-2", NOW + 2)
    moved = await storage.worktrees.live(GH, REPO, 1)
    assert moved is not None and (moved.holder, moved.branch, moved.updated_at) == ("bob", "one-2", NOW + 2)
    with pytest.raises(Exception) as caught:
        await storage.worktrees.rename_branch(b.id, "one-2", NOW + 3)  # issue 1's live branch
    assert is_integrity_error(caught.value)
    assert (await storage.worktrees.live(GH, REPO, 2)).branch == "two"  # type: ignore[union-attr]
    with pytest.raises(Exception) as caught:
        await sql(storage, "INSERT INTO worktrees (platform, repo, number, branch, base, path, holder, state, created_at, updated_at) "
                           "VALUES (?, ?, 1, 'elsewhere', 'main', '/x', 'carol', 'ready', 0, 0)", GH, REPO)
    assert is_integrity_error(caught.value)
    assert len(await storage.worktrees.all_live(GH, REPO)) == 2


async def test_claim_end_says_why_the_last_claim_ended(storage: Storage) -> None:
    def claim(number: int, active: int, reason: str | None) -> Any:
        return sql(storage, "INSERT INTO claims (platform, repo, number, holder, claimed_at, expires_at, released_at, release_reason, active) "
                            "VALUES (?, ?, ?, 'alice', 1, 2, ?, ?, ?)", GH, REPO, number, None if active else 3.0, reason, active)

    assert await storage.worktrees.claim_end(GH, REPO, 1) is None  # never claimed
    await claim(1, 0, "expired")
    assert await storage.worktrees.claim_end(GH, "Acme/Widgets", 1) == "expired"
    await claim(1, 1, None)
    assert await storage.worktrees.claim_end(GH, REPO, 1) is None  # claimed again
    await claim(2, 0, None)
    assert await storage.worktrees.claim_end(GH, REPO, 2) == "released"  # no reason recorded
    await claim(3, 0, "expired")
    await claim(3, 0, "unclaimed")
    assert await storage.worktrees.claim_end(GH, REPO, 3) == "unclaimed"  # the latest claim's
    assert await storage.worktrees.claim_end("gitea", REPO, 3) is None


async def test_concurrent_reservations_on_one_storage_stop_at_the_limit(storage: Storage) -> None:
    results = await asyncio.gather(*(reserve(storage, n, per_repo=4) for n in range(1, 11)))
    assert sum(r.worktree is not None for r in results) == 4
    assert {r.refused for r in results if r.worktree is None} == {
        "this repository has 4 worktrees already, the most `worktrees.max_per_repo` allows"}
    assert len(await storage.worktrees.all_live(GH, REPO)) == 4


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> Any:
    """Three Storage objects (three replicas' pools) on one PostgreSQL database."""
    started = [open_storage(make_settings(tmp_path, database_url=postgres_url, replica_id=f"r{i}", database_pool_size=4))
               for i in range(3)]
    await asyncio.gather(*(s.start() for s in started))
    try:
        yield started
    finally:
        await asyncio.gather(*(s.stop() for s in started))


async def test_postgres_reservations_at_three_replicas_at_once_never_pass_the_repository_limit(replicas: list[Storage]) -> None:
    results = await asyncio.gather(*(reserve(replicas[n % 3], n, per_repo=4) for n in range(1, 11)))
    made = [r.worktree for r in results if r.worktree is not None]
    assert len(made) == 4 and len({w.id for w in made}) == 4
    assert all("the most `worktrees.max_per_repo` allows" in r.refused for r in results if r.worktree is None)
    assert len(await replicas[0].worktrees.all_live(GH, REPO)) == 4


async def test_postgres_reservations_at_three_replicas_never_pass_the_host_limit_across_repositories(replicas: list[Storage]) -> None:
    results = await asyncio.gather(*(reserve(replicas[n % 3], 1, repo=f"acme/r{n}", total=3) for n in range(12)))
    assert sum(r.worktree is not None for r in results) == 3
    assert len(await replicas[1].worktrees.all_live()) == 3


async def test_postgres_one_issue_started_at_three_replicas_at_once_gets_one_row(replicas: list[Storage]) -> None:
    results = await asyncio.gather(*(reserve(replicas[n % 3], 5, holder=f"user{n}") for n in range(9)))
    ids = {r.worktree.id for r in results if r.worktree is not None}
    assert len(ids) == 1 and all(r.worktree is not None for r in results)
    assert len(await replicas[2].worktrees.all_live()) == 1


async def test_postgres_one_branch_asked_for_by_several_issues_at_several_replicas_goes_to_one(replicas: list[Storage]) -> None:
    results = await asyncio.gather(*(reserve(replicas[n % 3], n, "shared-name") for n in range(1, 10)))
    made = [r.worktree for r in results if r.worktree is not None]
    assert len(made) == 1 and made[0].branch == "shared-name"
    assert {r.refused for r in results if r.worktree is None} == {"branch shared-name belongs to another issue"}
