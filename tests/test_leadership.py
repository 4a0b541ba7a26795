"""One replica at a time: of replicas on one PostgreSQL database one leads and runs the scheduled
jobs, once per fire time; when it dies another takes over within one lease; when it stops it
hands over at once. Jobs that need the worktree root run on the worktree host only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from bot.engine.leadership import SCHEDULER, WORKTREES, Leadership
from bot.engine.router import Router
from bot.engine.scheduler import Scheduler, next_fire
from bot.storage.base import Storage
from bot.storage.open import open_storage
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

TTL = 1.5  # renewed every 0.5 s, acted on with 0.5 s left
INTERVAL = 0.2


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> AsyncIterator[list[Storage]]:
    """Two replicas' storages on one PostgreSQL database."""
    storages = [open_storage(make_settings(tmp_path, database_url=postgres_url, replica_id=f"r{n}")) for n in range(2)]
    for storage in storages:
        await storage.start()
    try:
        yield storages
    finally:
        for storage in storages:
            await storage.stop()


@pytest.fixture
async def storage(tmp_path: Path, database_settings: dict[str, Any]) -> AsyncIterator[Storage]:
    """One started Storage, on each backend in turn."""
    store = open_storage(make_settings(tmp_path, **database_settings, replica_id="replica-a"))
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


class Replica:
    """A replica's scheduling: its Leadership of the scheduler lease, and a Scheduler running one
    job that records (replica, when) for every run."""

    def __init__(self, storage: Storage, runs: list[tuple[str, float]], leadership: Any = None, every: float = INTERVAL) -> None:
        router = Router()

        @router.job("tick", every=every)
        async def tick(ctx: Any) -> None:
            runs.append((storage.replica, time.time()))

        self.leadership = leadership or Leadership(storage.leases, SCHEDULER, storage.replica, TTL)
        self.scheduler = Scheduler(router.jobs, settings=None, make_context=lambda: None,  # type: ignore[arg-type,return-value]
                                   leases=storage.leases, replica=storage.replica, leaderships={SCHEDULER: self.leadership})

    async def start(self) -> None:
        await self.leadership.start()
        await self.scheduler.start()

    async def stop(self, *, release: bool = True) -> None:
        await self.scheduler.stop()
        await self.leadership.stop(release=release)


class AlwaysLeads:
    """A replica that believes it leads whatever the database says: a stalled leader, late."""

    async def start(self) -> None: ...

    async def stop(self, *, release: bool = True) -> None: ...

    def leads(self) -> bool:
        return True


async def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def by(runs: list[tuple[str, float]], replica: str) -> list[float]:
    return [at for who, at in runs if who == replica]


async def test_of_two_replicas_one_leads_and_a_stopping_leader_hands_over_at_once(replicas: list[Storage]) -> None:
    a, b = (Leadership(s.leases, SCHEDULER, s.replica, TTL) for s in replicas)
    await a.start()
    await b.start()
    try:
        assert a.leads() and not b.leads()
        lease = await replicas[1].leases.current(SCHEDULER)
        assert lease is not None and lease.holder == "r0"
        await a.stop()  # released: b need not wait for the lease to run out
        released = time.monotonic()
        await wait_for(b.leads)
        assert time.monotonic() - released < TTL
        assert not a.leads()
    finally:
        await b.stop()
        await a.stop()


async def test_only_the_leader_runs_the_job_and_a_killed_leaders_next_fire_runs_elsewhere_within_a_lease(
    replicas: list[Storage],
) -> None:
    runs: list[tuple[str, float]] = []
    a, b = (Replica(s, runs) for s in replicas)
    await a.start()
    await b.start()
    try:
        await wait_for(lambda: len(by(runs, "r0")) >= 5)
        assert by(runs, "r1") == []  # the follower keeps the schedule but never runs it
        await a.stop(release=False)  # killed: no release, its lease runs out by itself
        killed = time.time()
        await wait_for(lambda: bool(by(runs, "r1")))
        # b takes the lease at its first renewal after it ran out, then runs the next fire.
        assert by(runs, "r1")[0] - killed <= TTL + b.leadership.renew_every + INTERVAL + 2.0
        await wait_for(lambda: len(by(runs, "r1")) >= 3)
        assert len(by(runs, "r0")) >= 5
    finally:
        await b.stop()
        await a.stop()
    times = sorted(at for _, at in runs)
    assert all(later - earlier >= INTERVAL / 2 - 0.01 for earlier, later in zip(times, times[1:], strict=False))


async def test_two_replicas_that_both_believe_they_lead_run_each_fire_time_once(replicas: list[Storage]) -> None:
    """Across a handover the old leader may not yet know it lost: the (job, fire time) record decides."""
    runs: list[tuple[str, float]] = []
    taken: list[float] = []
    stalled = [Replica(s, runs, leadership=AlwaysLeads()) for s in replicas]
    original = replicas[0].leases.take_run

    async def spy(job: str, fire_at: float, holder: str, now: float, apart: float = 0.0) -> bool:
        won = await original(job, fire_at, holder, now, apart)
        if won:
            taken.append(fire_at)
        return won

    for replica, storage in zip(stalled, replicas, strict=True):
        storage.leases.take_run = spy  # type: ignore[method-assign]
        replica.scheduler.leases = storage.leases
    for replica in stalled:
        await replica.start()
    try:
        await wait_for(lambda: len(runs) >= 12)
    finally:
        for replica in stalled:
            await replica.stop()
    assert len(taken) == len(set(taken)) == len(runs)  # one run per fire time taken
    assert {who for who, _ in runs} <= {"r0", "r1"}
    assert all(b - a >= INTERVAL / 2 for a, b in zip(taken, taken[1:], strict=False))


async def test_a_follower_keeps_the_leaders_schedule_so_a_successor_fires_where_it_would_have(replicas: list[Storage]) -> None:
    runs: list[tuple[str, float]] = []
    a = Replica(replicas[0], runs, every=0.3)
    await a.start()
    await asyncio.sleep(0.17)  # b starts out of phase with a
    b = Replica(replicas[1], runs, every=0.3)
    await b.start()
    try:
        await wait_for(lambda: len(runs) >= 3)
        last = await replicas[1].leases.last_run("tick")
        assert last is not None
        await asyncio.sleep(0.35)  # b has seen a run since, and follows its phase
        a_next, b_next = a.scheduler._next["tick"], b.scheduler._next["tick"]
        assert abs(a_next - b_next) < 0.01
    finally:
        await b.stop()
        await a.stop()


async def test_jobs_that_need_the_worktree_root_run_on_the_worktree_host_only(storage: Storage) -> None:
    ran: list[str] = []
    router = Router()

    @router.job("everywhere", every=INTERVAL)
    async def everywhere(ctx: Any) -> None:
        ran.append("everywhere")

    @router.job("sweep-worktrees", every=INTERVAL, lease=WORKTREES)
    async def sweep(ctx: Any) -> None:
        ran.append("sweep-worktrees")

    leader = Leadership(storage.leases, SCHEDULER, storage.replica, TTL)
    host = Leadership(storage.leases, WORKTREES, "another-replica", TTL)  # the host is someone else
    for leadership in (leader, host):
        await leadership.start()
    scheduler = Scheduler(router.jobs, settings=None, make_context=lambda: None,  # type: ignore[arg-type,return-value]
                          leases=storage.leases, replica=storage.replica, leaderships={SCHEDULER: leader})
    await scheduler.start()
    try:
        await wait_for(lambda: ran.count("everywhere") >= 3)
        assert "sweep-worktrees" not in ran
    finally:
        await scheduler.stop()
    hosting = Scheduler(router.jobs, settings=None, make_context=lambda: None,  # type: ignore[arg-type,return-value]
                        leases=storage.leases, replica="another-replica", leaderships={SCHEDULER: leader, WORKTREES: host})
    await hosting.start()
    try:
        await wait_for(lambda: "sweep-worktrees" in ran)
    finally:
        await hosting.stop()
        for leadership in (leader, host):
            await leadership.stop()


@pytest.mark.parametrize(
    ("base", "now", "expected"),
    [
        (100.0, 100.0, 110.0),  # just fired: the next one
        (100.0, 104.0, 110.0),
        (100.0, 110.0, 120.0),  # exactly on a fire time that is now: the one after
        (100.0, 135.5, 140.0),  # fires missed while a run took long are skipped, not caught up
        (100.0, 90.0, 110.0),  # a base in the future (a clock behind): still one interval after it
    ],
)
def test_the_next_fire_is_the_first_of_the_schedule_after_now(base: float, now: float, expected: float) -> None:
    assert next_fire(base, 10.0, now) == expected


async def test_on_sqlite_a_restarted_process_leads_at_once_despite_its_killed_former_self(tmp_path: Path) -> None:
    storage = open_storage(make_settings(tmp_path, replica_id="after-restart"))
    await storage.start()
    try:
        await storage.leases.acquire(SCHEDULER, "killed-process", 60.0, time.time())  # left by a kill -9
        leadership = Leadership(storage.leases, SCHEDULER, storage.replica, TTL, sole=True)
        await leadership.start()
        assert leadership.leads()
        await leadership.stop()
        assert await storage.leases.current(SCHEDULER) is None  # released on the way out
    finally:
        await storage.stop()


def test_the_jobs_that_use_the_git_root_run_on_the_worktree_host_and_the_rest_on_the_leader() -> None:
    from bot.app import build_router

    jobs = {job.name: job.lease for job in build_router(make_settings(Path("/nonexistent"))).jobs}
    assert {name for name, lease in jobs.items() if lease == WORKTREES} == {"worktrees-resume", "worktrees-sweep", "worktrees-check", "cleanup"}
    assert {lease for lease in jobs.values()} == {SCHEDULER, WORKTREES}
