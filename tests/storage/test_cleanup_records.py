"""The cleanup contract, on SQLite and on PostgreSQL: the dashboard's rows and their journal of
deletions (committed before the push, so a kill at any moment leaves a row to settle), the
dashboard issue, and the closed pull requests read so far."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.forges.base import PullRecord
from bot.storage.base import Storage
from bot.storage.cleanup import Row, RowState
from bot.storage.open import open_storage
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

GH = "github"
REPO = "acme/widgets"
NOW = 2_000_000.0


def notice(branch: str, sha: str, why: str = "stale", committer: str = "alice", committed_at: float = 100.0) -> tuple[str, str, str, str, float]:
    return (branch, sha, why, committer, committed_at)


async def rows_by_branch(storage: Storage, repo: str = REPO) -> dict[str, Row]:
    return {r.branch: r for r in await storage.cleanup.open_rows(GH, repo)}


async def test_sync_notices_keeps_the_grace_of_unchanged_branches_and_restarts_it_for_moved_ones(storage: Storage) -> None:
    await storage.cleanup.sync_notices(GH, "Acme/Widgets", [notice("b", "s1"), notice("a", "s2", "merged", "bob", 50.0)], NOW)
    first = await storage.cleanup.open_rows(GH, REPO)
    assert [(r.branch, r.sha, r.why, r.committer, r.committed_at, r.state, r.tag, r.noticed_at, r.deleted_at) for r in first] == [
        ("a", "s2", "merged", "bob", 50.0, RowState.NOTICED, None, NOW, None),
        ("b", "s1", "stale", "alice", 100.0, RowState.NOTICED, None, NOW, None)]  # by branch
    await storage.cleanup.sync_notices(GH, REPO, [notice("a", "s2", "gone upstream"), notice("b", "s9"), notice("c", "s3")], NOW + 10)
    rows = await rows_by_branch(storage)
    assert rows["a"].id == first[0].id and rows["a"].noticed_at == NOW and rows["a"].why == "gone upstream"  # grace runs on
    assert rows["b"].sha == "s9" and rows["b"].noticed_at == NOW + 10  # pushed to: its notice starts again
    assert rows["c"].noticed_at == NOW + 10
    await storage.cleanup.sync_notices(GH, REPO, [notice("c", "s3")], NOW + 20)
    assert list(await rows_by_branch(storage)) == ["c"]  # no longer listed: off the dashboard
    assert await storage.cleanup.open_rows("gitea", REPO) == [] and await storage.cleanup.open_rows(GH, "acme/other") == []
    await storage.cleanup.sync_notices(GH, REPO, [], NOW + 30)
    assert await storage.cleanup.open_rows(GH, REPO) == []


async def test_a_deletion_is_journalled_then_finished_and_listed_latest_first(storage: Storage) -> None:
    await storage.cleanup.sync_notices(GH, REPO, [notice("x", "s1"), notice("y", "s2"), notice("z", "s3")], NOW)
    rows = await rows_by_branch(storage)
    await storage.cleanup.start_deleting(rows["x"].id, "archive/x/2027-01-01", NOW + 1)
    await storage.cleanup.start_deleting(rows["y"].id, None, NOW + 1)
    deleting = await rows_by_branch(storage)
    assert (deleting["x"].state, deleting["x"].tag) == (RowState.DELETING, "archive/x/2027-01-01")
    # A run meanwhile lists x again (at another sha): the row being deleted stays the only open one
    await storage.cleanup.sync_notices(GH, REPO, [notice("x", "s1-new"), notice("y", "s2"), notice("z", "s3")], NOW + 2)
    again = await rows_by_branch(storage)
    assert again["x"] == deleting["x"] and again["y"] == deleting["y"] and len(await storage.cleanup.open_rows(GH, REPO)) == 3
    await storage.cleanup.mark_deleted(rows["x"].id, NOW + 3)
    await storage.cleanup.mark_deleted(rows["y"].id, NOW + 4)
    assert list(await rows_by_branch(storage)) == ["z"]
    deleted = await storage.cleanup.deleted_rows(GH, "ACME/widgets")
    assert [(r.branch, r.state, r.tag, r.deleted_at) for r in deleted] == [
        ("y", RowState.DELETED, None, NOW + 4), ("x", RowState.DELETED, "archive/x/2027-01-01", NOW + 3)]
    assert [r.branch for r in await storage.cleanup.deleted_rows(GH, REPO, 1)] == ["y"]
    await storage.cleanup.drop(rows["x"].id)  # deleted rows are history: never dropped
    assert len(await storage.cleanup.deleted_rows(GH, REPO)) == 2
    # deleted again later: both deletions are kept, the latest first
    await storage.cleanup.sync_notices(GH, REPO, [notice("x", "s5")], NOW + 5)
    new_x = (await rows_by_branch(storage))["x"]
    await storage.cleanup.start_deleting(new_x.id, None, NOW + 6)
    await storage.cleanup.mark_deleted(new_x.id, NOW + 6)
    assert [(r.branch, r.sha) for r in await storage.cleanup.deleted_rows(GH, REPO)] == [("x", "s5"), ("y", "s2"), ("x", "s1")]


async def test_an_undone_deletion_goes_back_to_the_dashboard_with_or_without_a_new_grace(storage: Storage) -> None:
    await storage.cleanup.sync_notices(GH, REPO, [notice("keep", "s1"), notice("refused", "s2"), notice("moved", "s3")], NOW)
    rows = await rows_by_branch(storage)
    for row in rows.values():
        await storage.cleanup.start_deleting(row.id, f"archive/{row.branch}", NOW + 1)
    await storage.cleanup.back_to_noticed(rows["keep"].id, NOW + 2)  # the push never landed: still due
    await storage.cleanup.notice_again(rows["refused"].id, NOW + 2)  # the forge refused: grace starts over
    await storage.cleanup.drop(rows["moved"].id)  # it moved: evaluated afresh
    after = await rows_by_branch(storage)
    assert (after["keep"].state, after["keep"].tag, after["keep"].noticed_at) == (RowState.NOTICED, None, NOW)
    assert (after["refused"].state, after["refused"].tag, after["refused"].noticed_at) == (RowState.NOTICED, None, NOW + 2)
    assert "moved" not in after and await storage.cleanup.deleted_rows(GH, REPO) == []


async def test_restored_branches_leave_the_deleted_list(storage: Storage) -> None:
    await storage.cleanup.sync_notices(GH, REPO, [notice("feat", "s1"), notice("other", "s2")], NOW)
    for row in await storage.cleanup.open_rows(GH, REPO):
        await storage.cleanup.start_deleting(row.id, None, NOW)
        await storage.cleanup.mark_deleted(row.id, NOW + 1)
    await storage.cleanup.mark_restored(GH, "Acme/Widgets", "feat", NOW + 2)
    await storage.cleanup.mark_restored("gitea", REPO, "other", NOW + 2)  # another platform's: nothing
    assert [r.branch for r in await storage.cleanup.deleted_rows(GH, REPO)] == ["other"]
    assert await storage.cleanup.open_rows(GH, REPO) == []


async def test_a_push_ends_the_notice_of_a_branch_at_another_head_only(storage: Storage) -> None:
    await storage.cleanup.sync_notices(GH, REPO, [notice("a", "s1"), notice("b", "s2")], NOW)
    assert await storage.cleanup.drop_moved(GH, REPO, "a", "s1") == 0  # pushed to where it was noticed
    assert await storage.cleanup.drop_moved(GH, "ACME/WIDGETS", "a", "s9") == 1
    assert await storage.cleanup.drop_moved(GH, REPO, "a", "s9") == 0
    b = (await rows_by_branch(storage))["b"]
    await storage.cleanup.start_deleting(b.id, None, NOW)
    assert await storage.cleanup.drop_moved(GH, REPO, "b", "s9") == 0  # a deletion under way is settled by the next run
    assert list(await rows_by_branch(storage)) == ["b"]


async def test_the_dashboard_issue_is_remembered_per_repository(storage: Storage) -> None:
    assert await storage.cleanup.dashboard(GH, REPO) is None
    await storage.cleanup.save_dashboard(GH, "Acme/Widgets", 12, "body one", NOW)
    assert await storage.cleanup.dashboard(GH, REPO) == (12, "body one")
    await storage.cleanup.save_dashboard(GH, REPO, 14, "body two", NOW + 1)
    assert await storage.cleanup.dashboard(GH, "acme/WIDGETS") == (14, "body two")
    assert await storage.cleanup.dashboard("gitea", REPO) is None


def pull(number: int, head: str, sha: str, *, merged: bool = True, closed: int | None = 10, updated: int | None = 10,
         author: str | None = "alice") -> PullRecord:
    at = lambda day: None if day is None else datetime(2027, 1, day, tzinfo=UTC)  # noqa: E731
    return PullRecord(number, "closed", head, sha, merged, author, at(closed), at(updated))


async def test_closed_pulls_are_saved_by_number_and_read_back_latest_per_head(storage: Storage) -> None:
    assert await storage.cleanup.pulls_watermark(GH, REPO) is None and await storage.cleanup.closed_pulls(GH, REPO) == {}
    await storage.cleanup.save_pulls(GH, REPO, [])
    await storage.cleanup.save_pulls(GH, "Acme/Widgets", [
        pull(1, "feat", "a1", closed=5, updated=5), pull(2, "feat", "a2", merged=False, closed=7, updated=8),
        pull(3, "fix", "b1", closed=None, updated=None, author=None)])
    assert await storage.cleanup.pulls_watermark(GH, REPO) == datetime(2027, 1, 8, tzinfo=UTC)
    closed = await storage.cleanup.closed_pulls(GH, "ACME/widgets")
    assert closed == {"feat": pull(2, "feat", "a2", merged=False, closed=7, updated=8),
                      "fix": pull(3, "fix", "b1", closed=None, updated=None, author=None)}
    await storage.cleanup.save_pulls(GH, REPO, [pull(1, "feat", "a1-rebased", closed=9, updated=9)])  # read again: updated
    closed = await storage.cleanup.closed_pulls(GH, REPO)
    assert closed["feat"] == pull(1, "feat", "a1-rebased", closed=9, updated=9)
    assert await storage.cleanup.pulls_watermark(GH, REPO) == datetime(2027, 1, 9, tzinfo=UTC)
    assert await storage.cleanup.closed_pulls("gitea", REPO) == {} and await storage.cleanup.pulls_watermark("gitea", REPO) is None


async def test_a_journalled_deletion_survives_the_process(tmp_path: Path, database_settings: dict[str, Any]) -> None:
    """What kill -9 after `start_deleting` leaves: a committed `deleting` row, seen by the next process."""
    settings = make_settings(tmp_path, **database_settings)
    first = open_storage(settings)
    await first.start()
    await first.cleanup.sync_notices(GH, REPO, [notice("gone", "s1")], NOW)
    [row] = await first.cleanup.open_rows(GH, REPO)
    await first.cleanup.start_deleting(row.id, "archive/gone/2027-01-01", NOW + 1)
    await first.stop()
    second = open_storage(settings)
    await second.start()
    try:
        [left] = await second.cleanup.open_rows(GH, REPO)
        assert (left.id, left.state, left.tag) == (row.id, RowState.DELETING, "archive/gone/2027-01-01")
    finally:
        await second.stop()


async def test_postgres_runs_of_one_repository_at_three_replicas_leave_one_open_row_per_branch(postgres_url: str, tmp_path: Path) -> None:
    replicas = [open_storage(make_settings(tmp_path, database_url=postgres_url, replica_id=f"r{i}", database_pool_size=3))
                for i in range(3)]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        lists = [[notice(f"b{n}", f"s{n}-{i % 2}") for n in range(20)] for i in range(9)]
        await asyncio.gather(*(replicas[i % 3].cleanup.sync_notices(GH, REPO, lists[i], NOW + i) for i in range(9)))
        rows = await replicas[0].cleanup.open_rows(GH, REPO)
        assert sorted(r.branch for r in rows) == sorted(f"b{n}" for n in range(20))  # one each, none lost
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
