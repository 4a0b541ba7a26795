"""The deliveries kind on both backends: storing (once per delivery id), reading, outcomes, pruning,
and on PostgreSQL the lease that lets several replicas share the inbox."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bot.http.webhooks import Delivery
from bot.storage.base import Storage
from bot.storage.deliveries import DEAD, DONE, IGNORED, PENDING, RUNNING
from bot.storage.open import open_storage
from tests.conftest import PLATFORMS, REFERENCE, make_settings

pytestmark = pytest.mark.anyio

COMMENTS = {p: json.loads((REFERENCE / f"{p}-webhooks" / "issue_comment.created.json").read_text()) for p in PLATFORMS}
NOW = 1_800_000_000.0


def comment(delivery_id: str, issue: int = 1, text: str = "hello", platform: str = "github") -> Delivery:
    payload = copy.deepcopy(COMMENTS[platform])
    payload["issue"]["number"] = issue
    payload["comment"]["body"] = text
    event_type = "issue_comment" if platform == "gitea" else None
    return Delivery(platform, delivery_id, "issue_comment", event_type, "application/json", json.dumps(payload).encode())


def garbage(delivery_id: str) -> Delivery:
    return Delivery("github", delivery_id, "issue_comment", None, "application/json", b"{not json")


async def statuses(storage: Storage) -> dict[str, tuple[str, int]]:
    return {row.delivery_id: (row.status, row.attempts) for row in await storage.deliveries.listing(False, 1000)}


# -- storing ---------------------------------------------------------------------------------------


async def test_a_delivery_is_stored_once_and_reads_back_as_received(storage: Storage) -> None:
    sent = comment("d-1", text="Ship it " * 100)  # long enough to be stored compressed
    row_id = await storage.deliveries.insert(sent, NOW)
    assert row_id is not None
    assert await storage.deliveries.insert(sent, NOW + 1) is None  # the platform redelivered it
    [row] = await storage.deliveries.find("d-1")
    assert (row.id, row.platform, row.status, row.attempts, row.received_at) == (row_id, "github", PENDING, 0, NOW)
    assert row.body_encoding == "lz4" and row.original_body() == sent.body
    assert await storage.deliveries.by_row_id(row_id) == row
    assert await storage.deliveries.find("d-1", "gitea") == []


async def test_a_batch_stores_each_new_delivery_once_and_says_which_were_known(storage: Storage) -> None:
    first = await storage.deliveries.insert(comment("known"), NOW)
    ids = await storage.deliveries.insert_many(
        [(comment("a"), NOW), (comment("known"), NOW), (comment("b"), NOW), (comment("a"), NOW), (comment("a", platform="gitea"), NOW)]
    )
    assert ids[1] is None and ids[3] is None  # stored before, and a second copy in the same batch
    new = [ids[0], ids[2], ids[4]]
    assert all(isinstance(i, int) for i in new) and len(set(new)) == 3 and first not in new
    assert ids[0] < ids[2] < ids[4]  # type: ignore[operator]  # arrival order
    assert sorted((await storage.deliveries.counts()).items()) == [(PENDING, 4)]
    assert {r.platform for r in await storage.deliveries.find("a")} == {"github", "gitea"}


async def test_insert_soon_calls_back_after_the_commit_with_the_id_or_none(storage: Storage) -> None:
    answers: list[tuple[Any, Any]] = []
    done = asyncio.Event()

    def then(row_id: Any, error: BaseException | None) -> None:
        answers.append((row_id, error))
        if len(answers) == 3:
            done.set()

    for name in ("s-1", "s-2", "s-1"):
        storage.deliveries.insert_soon(comment(name), NOW, then)
    await asyncio.wait_for(done.wait(), 10)
    assert [error for _, error in answers] == [None, None, None]
    assert sorted(row_id is None for row_id, _ in answers) == [False, False, True]
    for row_id, _ in answers:  # committed before the callback: visible to anyone now
        if row_id is not None:
            assert (await storage.deliveries.by_row_id(row_id)) is not None


async def test_insert_soon_on_a_stopped_database_reports_the_error(tmp_path: Path, database_settings: dict[str, Any]) -> None:
    stopped = open_storage(make_settings(tmp_path, **database_settings))
    await stopped.start()
    await stopped.stop()
    answers: list[Any] = []
    stopped.deliveries.insert_soon(comment("late"), NOW, lambda row_id, error: answers.append((row_id, error)))
    [(row_id, error)] = answers
    assert row_id is None and "not running" in str(error)


# -- outcomes and listings ---------------------------------------------------------------------------


async def test_attempts_retries_and_outcomes_are_recorded(storage: Storage) -> None:
    d = storage.deliveries
    ok, flaky, dead, unwanted = [await d.insert(comment(n, issue=i), NOW) for i, n in enumerate(("ok", "flaky", "dead", "unwanted"))]
    assert ok and flaky and dead and unwanted
    assert await d.last_open_id() == unwanted and await d.open_count() == 4
    assert [r.delivery_id for r in await d.open_after(ok, 10)] == ["flaky", "dead", "unwanted"]
    assert await d.start_attempt(ok, "created", "acme/widgets", "github:acme/widgets#0") == 1
    await d.finish(ok, DONE, NOW + 1)
    assert await d.start_attempt(flaky, "created", "acme/widgets", None) == 1
    await d.retry_later(flaky, NOW + 60, "RuntimeError: no")
    assert await d.start_attempt(flaky, "created", "acme/widgets", None) == 2
    await d.retry_later(flaky, NOW + 120, "RateLimited: wait", counted=False)  # a rate limit's attempt does not count
    await d.start_attempt(dead, "created", None, None)
    await d.finish(dead, DEAD, NOW + 2, "RuntimeError: gave up")
    await d.finish_ignored([(unwanted, "created", "acme/widgets", "github:acme/widgets#3")], NOW + 3)

    rows = {r.delivery_id: r for r in await d.listing(False, 10)}
    assert [r.delivery_id for r in await d.listing(False, 10)] == ["unwanted", "dead", "flaky", "ok"]  # newest first
    assert (rows["ok"].status, rows["ok"].finished_at, rows["ok"].full_event) == (DONE, NOW + 1, "issue_comment.created")
    assert (rows["flaky"].status, rows["flaky"].attempts, rows["flaky"].next_attempt_at) == (PENDING, 1, NOW + 120)
    assert rows["flaky"].last_error == "RateLimited: wait"
    assert (rows["dead"].status, rows["dead"].last_error) == (DEAD, "RuntimeError: gave up")
    assert (rows["unwanted"].status, rows["unwanted"].repo) == (IGNORED, "acme/widgets")
    assert [r.delivery_id for r in await d.listing(True, 10)] == ["dead", "flaky"]  # dead letters and waiting retries
    assert await d.counts() == {DONE: 1, PENDING: 1, DEAD: 1, IGNORED: 1}
    assert await d.open_count() == 1 and await d.last_open_id() == flaky

    await d.requeue(dead, NOW + 10)
    [again] = await d.find("dead")
    assert (again.status, again.attempts, again.finished_at, again.replayed_at) == (PENDING, 0, None, NOW + 10)
    await d.mark_replayed(ok, NOW + 20)
    assert (await d.find("ok"))[0].replayed_at == NOW + 20
    await d.beat(NOW)  # the readiness probe's write
    await d.beat(NOW + 1)


async def test_pruning_forgets_old_finished_rows_in_chunks_and_keeps_the_newest(storage: Storage) -> None:
    d = storage.deliveries
    ids = await d.insert_many([(comment(f"p-{n}", issue=n), NOW) for n in range(12)])
    for row_id in ids[:9]:
        assert row_id is not None
        await d.finish(row_id, DONE, NOW)
    assert ids[9] and ids[10] and ids[11]
    await d.finish(ids[9], DEAD, NOW, "old dead letter")  # dead letters are kept longer
    await d.finish(ids[11], DONE, NOW)  # the newest row, finished: it stays
    removed, after, chunks = 0, 0, 0
    cursor: int | None = 0
    while cursor is not None:
        count, cursor = await d.prune_chunk(NOW + 10, NOW - 10, cursor, limit=4)
        removed += count
        chunks += 1
        after = cursor or after
    assert removed == 9 and chunks >= 3  # 9 rows in chunks of at most 4
    assert sorted(r.delivery_id for r in await d.listing(False, 100)) == ["p-10", "p-11", "p-9"]
    count, _ = await d.prune_chunk(NOW + 10, NOW + 10, 0)
    assert count == 1  # the dead letter once past its own, longer retention; still the newest stays
    assert sorted(r.delivery_id for r in await d.listing(False, 100)) == ["p-10", "p-11"]


# -- leases (PostgreSQL) -----------------------------------------------------------------------------


@pytest.fixture
async def replicas(tmp_path: Path, postgres_url: str) -> Any:
    """Two started PostgreSQL storages on one database, as two replicas see it."""
    made = [open_storage(make_settings(tmp_path, database_url=postgres_url, replica_id=name)) for name in ("one", "two")]
    for storage in made:
        await storage.start()
    yield made
    for storage in made:
        await storage.stop()


async def test_postgres_stores_the_subject_at_intake_and_gives_a_malformed_payload_its_own(replicas: Any) -> None:
    one, _ = replicas
    await one.deliveries.insert_many([(comment("c-1", issue=7), NOW), (garbage("bad-1"), NOW),
                                      (comment("c-2", issue=7, platform="gitea"), NOW)])
    subjects = {r.delivery_id: (r.subject, r.action, r.repo) for r in await one.deliveries.listing(False, 10)}
    subject, action, repo = subjects["c-1"]
    assert repo and (subject, action) == (f"github:{repo}#7", "created")
    assert subjects["bad-1"] == ("malformed:github:bad-1", None, None)
    assert subjects["c-2"][0].startswith("gitea:") and subjects["c-2"][0].endswith("#7")


async def test_a_lease_takes_subjects_in_order_one_delivery_at_a_time(replicas: Any) -> None:
    one, two = replicas
    await one.deliveries.insert_many([(comment("a1", issue=1), NOW), (comment("a2", issue=1), NOW), (comment("b1", issue=2), NOW)])
    first = await one.deliveries.lease("one", NOW, NOW + 30)
    second = await two.deliveries.lease("two", NOW, NOW + 30)
    assert (first.delivery_id, first.status, first.attempts) == ("a1", RUNNING, 1)
    assert second.delivery_id == "b1"  # a2 waits behind a1, whichever replica asks
    assert await one.deliveries.lease("one", NOW, NOW + 30) is None
    await one.deliveries.retry_later(first.id, NOW + 60, "RuntimeError: later")
    assert await two.deliveries.lease("two", NOW + 1, NOW + 31) is None  # a1 waits for its retry and a2 behind it
    again = await two.deliveries.lease("two", NOW + 61, NOW + 91)
    assert (again.delivery_id, again.attempts) == ("a1", 2)
    await two.deliveries.finish(again.id, DONE, NOW + 62)
    nxt = await one.deliveries.lease("one", NOW + 62, NOW + 92)
    assert nxt.delivery_id == "a2"


async def test_concurrent_leases_from_two_replicas_never_take_one_subject_twice(replicas: Any) -> None:
    one, two = replicas
    await one.deliveries.insert_many([(comment(f"d-{s}-{n}", issue=s), NOW) for n in range(5) for s in range(10)])
    taken = await asyncio.gather(*(storage.deliveries.lease(storage.replica, NOW, NOW + 30)
                                   for _ in range(15) for storage in (one, two)))
    leased = [row for row in taken if row is not None]
    subjects = [row.subject for row in leased]
    assert len(leased) == 10 and len(set(subjects)) == 10  # one per subject, the first of each
    assert all(row.delivery_id.endswith("-0") for row in leased)
    assert {row.delivery_id for row in leased} == {f"d-{s}-0" for s in range(10)}


async def test_a_lease_that_ends_is_taken_over_and_renewal_tells_who_holds_it(replicas: Any) -> None:
    one, two = replicas
    row_id = await one.deliveries.insert(comment("x"), NOW)
    held = await one.deliveries.lease("one", NOW, NOW + 30)
    assert held.id == row_id
    assert await two.deliveries.lease("two", NOW + 29, NOW + 59) is None  # still one's
    assert await one.deliveries.renew([row_id], "one", NOW + 40) == {row_id}
    assert await two.deliveries.lease("two", NOW + 35, NOW + 65) is None  # renewed
    taken = await two.deliveries.lease("two", NOW + 41, NOW + 71)  # one stopped renewing: it died
    assert (taken.id, taken.attempts) == (row_id, 2)
    assert await one.deliveries.renew([row_id], "one", NOW + 80) == set()  # one learns it lost it
    await two.deliveries.release([row_id], "two")
    back = await one.deliveries.lease("one", NOW + 42, NOW + 72)  # given back at shutdown: free at once
    assert back.id == row_id


async def test_a_delivery_handed_over_waits_for_a_replica_with_what_it_needs(replicas: Any) -> None:
    one, two = replicas
    await one.deliveries.insert_many([(comment("w1", issue=4), NOW), (comment("w2", issue=4), NOW), (comment("o1", issue=5), NOW)])
    held = await one.deliveries.lease("one", NOW, NOW + 30, frozenset())
    assert held.delivery_id == "w1"
    assert await one.deliveries.hand_over(held.id, "one", "worktrees")
    assert await two.deliveries.hand_over(held.id, "two", "worktrees") is False  # not two's to give
    other = await one.deliveries.lease("one", NOW, NOW + 30, frozenset())
    assert other.delivery_id == "o1"  # w1 is not for one, and w2 stays behind it
    assert await one.deliveries.lease("one", NOW, NOW + 30, frozenset()) is None
    host = await two.deliveries.lease("two", NOW, NOW + 30, frozenset({"worktrees"}))
    assert (host.delivery_id, host.attempts) == ("w1", 1)  # the hand-over did not count an attempt


async def test_a_large_delivery_is_stored_whole_with_its_subject(storage: Storage) -> None:
    sent = comment("big-1", issue=12, text="x" * (2 * 1024 * 1024))  # decoded off the event loop on PostgreSQL
    row_id = await storage.deliveries.insert(sent, NOW)
    row = await storage.deliveries.by_row_id(row_id)
    assert row is not None and row.original_body() == sent.body
    if storage.backend == "postgresql":
        assert row.subject is not None and row.subject.endswith("#12")
