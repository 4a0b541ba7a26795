"""The store: group commit, isolation of failing jobs, batched inserts, durability modes, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.storage.sqlite import deliveries
from bot.http.webhooks import Delivery
from bot.storage.sqlite.engine import Store, StoreClosed, batch, migrate
from bot.storage.sqlite.migrations import MIGRATIONS


def _delivery(n: int, platform: str = "github") -> Delivery:
    return Delivery(platform, f"d-{n}", "issue_comment", None, "application/json", b"{}")


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.anyio
@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_concurrent_jobs_share_commits(tmp_path: Path, synchronous: str) -> None:
    store = Store(tmp_path / "db", synchronous=synchronous)
    await store.start()
    try:
        ids = await asyncio.gather(*(store.run(deliveries.insert, _delivery(n), 0.0) for n in range(200)))
    finally:
        await store.stop()
    assert sorted(ids) == list(range(1, 201))
    assert store.commits < 200  # grouped
    assert (store.fsyncs > 0) == (synchronous == "FULL")
    assert _count(tmp_path / "db") == 200


@pytest.mark.anyio
async def test_duplicates_inside_a_batch_and_against_the_table(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    await store.start()
    try:
        first = await store.run(deliveries.insert, _delivery(1), 0.0)
        results = await asyncio.gather(
            store.run(deliveries.insert, _delivery(1), 0.0),  # known
            store.run(deliveries.insert, _delivery(2), 0.0),
            store.run(deliveries.insert, _delivery(2), 0.0),  # same batch
            store.run(deliveries.insert, _delivery(2, "gitea"), 0.0),  # other platform: distinct
        )
    finally:
        await store.stop()
    assert first == 1
    assert results[0] is None and results[2] is None
    assert results[1] is not None and results[3] is not None and results[1] != results[3]
    assert _count(tmp_path / "db") == 3


def _bad_job(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO effects (key, created_at) VALUES ('half-done', 0)")
    raise RuntimeError("job failed halfway")


def _good_job(conn: sqlite3.Connection, key: str) -> str:
    conn.execute("INSERT INTO effects (key, created_at) VALUES (?, 0)", (key,))
    return key


@pytest.mark.anyio
async def test_a_failing_job_rolls_back_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    await store.start()
    try:
        results = await asyncio.gather(
            store.run(_good_job, "a"), store.run(_bad_job), store.run(_good_job, "b"), return_exceptions=True
        )
    finally:
        await store.stop()
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], RuntimeError)
    conn = sqlite3.connect(tmp_path / "db")
    keys = {row[0] for row in conn.execute("SELECT key FROM effects")}
    conn.close()
    assert keys == {"a", "b"}  # nothing of the failed job survived


def _many_that_breaks(conn: sqlite3.Connection, calls: list[tuple[object, ...]]) -> list[None]:
    raise ValueError("not a database error")


@batch(_many_that_breaks)
def _breaks(conn: sqlite3.Connection, n: int) -> None:
    _many_that_breaks(conn, [(n,)])


@pytest.mark.anyio
async def test_any_failure_fails_its_batch_and_the_writer_goes_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    await store.start()

    async def outcomes(*futures: asyncio.Future[object]) -> list[object]:
        # A dead writer would leave the futures waiting forever: bound the wait.
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), timeout=10)

    alone = await outcomes(*(store.run(_breaks, n) for n in range(3)))
    assert all(isinstance(r, ValueError) for r in alone)
    mixed = await outcomes(store.run(_good_job, "a"), store.run(_breaks, 9))
    assert mixed[0] == "a" and isinstance(mixed[1], ValueError)
    assert await outcomes(store.run(_good_job, "after")) == ["after"]  # the writer went on
    assert store.healthy
    await store.stop()


@pytest.mark.anyio
async def test_a_stopped_store_refuses_jobs_and_stop_drains_the_queue(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    with pytest.raises(StoreClosed):
        await store.run(_good_job, "early")
    await store.start()
    pending = [store.run(_good_job, f"k{n}") for n in range(50)]
    await store.stop()
    assert [await p for p in pending] == [f"k{n}" for n in range(50)]
    with pytest.raises(StoreClosed):
        await store.run(_good_job, "late")


def test_migrations_run_once_and_are_numbered(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db", isolation_level=None)
    assert migrate(conn) == [version for version, _ in MIGRATIONS]
    assert migrate(conn) == []
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    conn.close()
    assert versions == list(range(1, len(MIGRATIONS) + 1))  # numbered 1..N, in order, none skipped


def test_run_sync_rolls_back_on_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    with pytest.raises(RuntimeError):
        store.run_sync(_bad_job)
    assert store.run_sync(lambda conn: conn.execute("SELECT count(*) FROM effects").fetchone()[0]) == 0
    store.close()


async def _ticks_while(future: asyncio.Future[object], seconds: float) -> int:
    """How many 5 ms sleeps the loop completed in `seconds` (a blocked loop completes none)."""
    ticks = 0
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)
        ticks += 1
    assert not future.done()
    return ticks


@pytest.mark.anyio
async def test_a_write_lock_held_by_another_process_is_waited_for_without_blocking_the_loop(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    await store.start()
    other = sqlite3.connect(tmp_path / "db", isolation_level=None)  # a CLI command, say
    try:
        other.execute("BEGIN IMMEDIATE")
        waiting = store.run(_good_job, "after-the-lock")
        assert await _ticks_while(waiting, 0.2) >= 10  # the loop went on answering
        other.execute("COMMIT")
        assert await asyncio.wait_for(waiting, timeout=5) == "after-the-lock"
    finally:
        other.close()
        await store.stop()
    conn = sqlite3.connect(tmp_path / "db")
    assert [row[0] for row in conn.execute("SELECT key FROM effects")] == ["after-the-lock"]
    conn.close()


@pytest.mark.anyio
async def test_a_lock_held_past_the_patience_fails_the_jobs_and_the_store_goes_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", busy_patience=0.1)
    await store.start()
    other = sqlite3.connect(tmp_path / "db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await asyncio.wait_for(store.run(_good_job, "given-up"), timeout=5)
        other.execute("ROLLBACK")
        assert await store.run(_good_job, "later") == "later"
    finally:
        other.close()
        await store.stop()


@pytest.mark.anyio
@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_submitted_jobs_call_back_once_committed_and_a_failing_callback_harms_no_other(
    tmp_path: Path, synchronous: str
) -> None:
    store = Store(tmp_path / "db", synchronous=synchronous)
    told: list[tuple[int, object, object]] = []
    done = asyncio.Event()

    def then(n: int) -> Callable[[object, BaseException | None], None]:
        def called(result: object, error: BaseException | None) -> None:
            told.append((n, result, type(error).__name__ if error else None))
            if n == 1:
                raise RuntimeError("a caller's bug")
            if len(told) == 4:
                done.set()

        return called

    store.submit(deliveries.insert, _delivery(0), 0.0, then=then(0))  # not started: refused at once
    await store.start()
    try:
        for n in (1, 2, 3):  # 3 repeats 1's delivery id
            store.submit(deliveries.insert, _delivery(1 if n == 3 else n), 0.0, then=then(n))
        await asyncio.wait_for(done.wait(), timeout=10)
        assert await store.run(_good_job, "still-fine") == "still-fine"
    finally:
        await store.stop()
    assert told == [(0, None, "StoreClosed"), (1, 1, None), (2, 2, None), (3, None, None)]
    assert _count(tmp_path / "db") == 2


@pytest.mark.anyio
async def test_with_full_durability_a_duplicate_is_not_answered_before_its_original_is_on_disk(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", synchronous="FULL")
    await store.start()
    answered: dict[str, tuple[object, int]] = {}  # name -> (result, fsyncs done when it was answered)
    both = asyncio.Event()

    def then(name: str) -> Callable[[object, BaseException | None], None]:
        def called(result: object, error: BaseException | None) -> None:
            answered[name] = (result, store.fsyncs)
            if len(answered) == 2:
                both.set()

        return called

    try:
        store.submit(deliveries.insert, _delivery(1), 0.0, then=then("original"))
        # The redelivery comes in the next turn, while the original's commit is being synced.
        asyncio.get_running_loop().call_soon(
            lambda: store.submit(deliveries.insert, _delivery(1), 0.0, then=then("redelivery"))
        )
        await asyncio.wait_for(both.wait(), timeout=10)
    finally:
        await store.stop()
    assert answered["original"][0] == 1 and answered["redelivery"][0] is None  # a duplicate
    assert answered["redelivery"][1] >= 1  # ...answered only once the original was on disk


@pytest.mark.anyio
async def test_the_wal_stays_under_its_bound_through_a_flood_that_never_pauses(tmp_path: Path) -> None:
    import os
    import threading

    bound = 16 * 1024 * 1024
    store = Store(tmp_path / "db", max_wal_bytes=bound, checkpoint_interval=0.05)
    wal = Path(f"{tmp_path / 'db'}-wal")
    peak = 0
    flooding = True

    def watch() -> None:
        nonlocal peak
        while flooding:
            peak = max(peak, wal.stat().st_size if wal.exists() else 0)
            threading.Event().wait(0.002)

    await store.start()
    watcher = threading.Thread(target=watch)
    watcher.start()
    written, n, pruned_after = 0, 0, 0
    try:
        # Four times the bound of incompressible bodies, arriving without a pause, while earlier
        # rows are finished (draining) and forgotten (pruning), as during a long flood.
        while written < 4 * bound:
            batch = [store.run(deliveries.insert, Delivery("github", f"w-{n + i}", "ping", None, "application/json",
                                                            os.urandom(4000)), 1.0) for i in range(32)]
            ids = await asyncio.gather(*batch)
            await asyncio.gather(*(store.run(deliveries.finish, row_id, "done", 2.0) for row_id in ids[:16]))
            _, after = await store.run(deliveries.prune_chunk, 3.0, 3.0, pruned_after, 16)
            pruned_after = after or pruned_after
            n += 32
            written += 32 * 4000
    finally:
        flooding = False
        watcher.join()
        await store.stop()
    assert store.wal_restarts >= 1
    assert peak <= bound, f"the WAL reached {peak / 2**20:.1f} MiB, over its {bound / 2**20:.0f} MiB bound"
    assert _count(tmp_path / "db") < n  # pruning went on meanwhile


def test_the_database_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    import os
    import stat

    old_umask = os.umask(0o022)  # the usual umask, which would give 0644
    try:
        store = Store(tmp_path / "db")
        store.open()
        store.run_sync(deliveries.insert, _delivery(1), 0.0)
        modes = {name: stat.S_IMODE(os.stat(tmp_path / name).st_mode) for name in ("db", "db-wal", "db-shm")}
        store.close()
    finally:
        os.umask(old_umask)
    assert modes == {"db": 0o600, "db-wal": 0o600, "db-shm": 0o600}

    (tmp_path / "old.db").touch(mode=0o644)  # made by an earlier version: tightened on open
    os.chmod(tmp_path / "old.db", 0o644)
    old = Store(tmp_path / "old.db")
    old.open()
    old.close()
    assert stat.S_IMODE(os.stat(tmp_path / "old.db").st_mode) == 0o600


@pytest.mark.anyio
async def test_a_reader_keeping_the_wal_from_starting_over_makes_commits_wait_then_fail_not_the_disk_fill(tmp_path: Path) -> None:
    import os

    from bot.storage.sqlite.engine import StoreFull

    bound = 2 * 1024 * 1024
    store = Store(tmp_path / "db", max_wal_bytes=bound, checkpoint_interval=0.05, busy_patience=0.5)
    await store.start()
    reader = sqlite3.connect(tmp_path / "db", isolation_level=None)
    wal = Path(f"{tmp_path / 'db'}-wal")
    try:
        await store.run(deliveries.insert, _delivery(0), 0.0)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM deliveries").fetchone()  # a snapshot the WAL must keep
        failures: list[BaseException] = []
        peak = 0
        for n in range(1, 400):  # 4 MB of bodies, twice the bound
            try:
                await store.run(deliveries.insert, Delivery("github", f"r-{n}", "ping", None, "application/json",
                                                            os.urandom(10_000)), 0.0)
            except StoreFull as exc:
                failures.append(exc)
                break
            peak = max(peak, wal.stat().st_size)
        assert failures and peak <= bound  # refused (503 to a sender) rather than past the bound
        reader.execute("COMMIT")  # the reader moves on: the WAL starts over and commits go on
        assert await store.run(deliveries.insert, _delivery(10_000), 0.0) is not None
        assert wal.stat().st_size <= bound
    finally:
        reader.close()
        await store.stop()
