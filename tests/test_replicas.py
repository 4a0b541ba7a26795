"""Several `forgebot serve` replicas on one PostgreSQL database, as users run them behind a load
balancer: deliveries spread across them and each is processed once, in order per issue; a replica
killed with `kill -9` in the middle of a load loses nothing and doubles nothing; scheduled jobs run
once per interval and move to another replica when their leader dies; fifty `/claim`s arriving at
different replicas at once give one holder.

The replicas are real processes (tests/support/replicas.py); the forge emulator runs in the test's
event loop on another loopback port and sees which replica made each request (each has a token of
its own). The test plays the load balancer: it builds the forge's signed deliveries and POSTs them
round-robin, each issue's deliveries one after another, as the forge sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import BOT, REPO, SECRET, World
from tests.fakeforge import webhooks as fake_webhooks
from tests.support.replica_jobs import TICK, TICK_SECONDS
from tests.support.replicas import (
    AttributedForge,
    ForgeCall,
    Replica,
    Replicas,
    forge_env,
    lease_env,
    post_delivery,
    raw_request,
    wait_for,
)
from tests.test_claims import bot_comments

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

DELIVERY_LEASE = 3.0  # seconds: short, so that a killed replica's work comes back soon
LEADER_LEASE = 3.0
REACTION_RE = re.compile(r"/issues/comments/(\d+)/reactions$")
NOPE_RE = re.compile(r"`/label nope-(\d+)`")
STEPS = 10  # labels step-1 .. step-10


@dataclass
class Cluster:
    world: World
    replicas: Replicas
    forge: AttributedForge
    http: httpx.AsyncClient
    live: list[Replica]

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.replicas.rows(sql, *params)


@pytest.fixture
def cluster(world: World, postgres_url: str, tmp_path: Path) -> Callable[..., Any]:
    """`async with cluster(3, workers=4) as c:` serves the world's forge on loopback and starts
    replicas on one fresh PostgreSQL database; everything is stopped on the way out."""

    @contextlib.asynccontextmanager
    async def start(count: int, *, env: dict[str, str] | None = None) -> AsyncIterator[Cluster]:
        forge = AttributedForge(world.fake.app)
        world.fake.app = forge
        tokens: dict[str, str] = {}
        async with world.fake.serve() as forge_url:

            def per_replica(name: str) -> dict[str, str]:
                tokens[name] = world.fake.new_token(BOT)
                forge.add(name, tokens[name])
                return forge_env(world.platform, forge_url, tokens[name])

            shared = {"FORGEBOT_WEBHOOK_SECRETS": SECRET, **lease_env(delivery_seconds=DELIVERY_LEASE, leader_seconds=LEADER_LEASE)}
            replicas = Replicas(tmp_path / "replicas", postgres_url, env=shared | (env or {}), per_replica=per_replica)
            try:
                live = await replicas.start(count)
                async with httpx.AsyncClient(timeout=30.0) as http:
                    yield Cluster(world, replicas, forge, http, live)
            finally:
                await replicas.close()
                world.fake.app = forge.app

    return start


# -- the load: comments with commands, their deliveries built by the forge, sent by the test --------


@dataclass
class Load:
    issues: list[int]
    by_issue: dict[int, list[fake_webhooks.Delivery]]  # in the order the forge would send them
    comment_of: dict[int, tuple[int, int]]  # comment id -> (issue, k)

    @property
    def deliveries(self) -> list[fake_webhooks.Delivery]:
        return [d for n in self.issues for d in self.by_issue[n]]


def make_load(world: World, issues: int, per_issue: int, body: Callable[[int], str]) -> Load:
    """`issues` issues with `per_issue` comments each (comment k says `body(k)`), made on the forge
    without delivering their webhooks; the deliveries the forge would send for them, signed.
    The bot's own changes later deliver nothing (api_events off): the test sends every webhook."""
    fake = world.fake
    repo = world.state()
    for k in range(1, STEPS + 1):
        fake.ops.create_label(repo, "acme", f"step-{k}", "ededed", "")
    fake.outbox.clear()
    numbers = [fake.ops.create_issue(repo, "alice", f"Task {n}").number for n in range(issues)]
    fake.outbox.clear()
    fake.deliver_webhooks(world.platform, "http://127.0.0.1:9/unused", SECRET)  # a target to sign for
    target = fake.targets[world.platform]
    load = Load(numbers, {}, {})
    for number in numbers:
        load.by_issue[number] = []
        for k in range(1, per_issue + 1):
            comment = fake.ops.add_comment(repo, repo.issue(number), "alice", body(k))
            changes = list(fake.outbox)
            fake.outbox.clear()
            built = [d for change in changes for d in fake_webhooks.build(fake, target, change)]
            assert [d.event for d in built] == ["issue_comment"]
            load.by_issue[number] += built
            load.comment_of[comment.id] = (number, k)
    fake.stop_webhooks()
    fake.api_events = False
    return load


def label_step(k: int) -> str:
    """One label that exists (added) and one that does not (the reply says so): every comment
    leaves a label and a reply, both of which a duplicate run would show."""
    return f"/label step-{k}\n/label nope-{k}"


class Balancer:
    """Round-robin over the replicas; a delivery no replica answered (a dead one refuses, or reset
    the connection) goes to the next, as a load balancer's retry does. Bounded in tries."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.turn = itertools.count()
        self.acknowledged: dict[str, str] = {}  # delivery id -> the replica that answered 2xx
        self.refused: Counter[str] = Counter()

    async def send(self, delivery: fake_webhooks.Delivery) -> None:
        replicas = self.cluster.live
        for attempt in range(len(replicas) * 5):
            replica = replicas[next(self.turn) % len(replicas)]
            status = await post_delivery(self.cluster.http, replica, delivery)
            if 200 <= status < 300:
                self.acknowledged[delivery.id] = replica.name
                return
            self.refused[replica.name] += 1
            if attempt and attempt % len(replicas) == 0:
                await asyncio.sleep(0.2)
        raise AssertionError(f"no replica acknowledged delivery {delivery.id}")

    async def send_load(self, load: Load) -> None:
        """Every issue's deliveries one after another (the next once the last was answered), the
        issues side by side."""

        async def one_issue(number: int) -> None:
            for delivery in load.by_issue[number]:
                await self.send(delivery)

        await asyncio.gather(*(one_issue(n) for n in load.issues))


# -- reading what happened ------------------------------------------------------------------------


def finished(cluster: Cluster, delivery_ids: Sequence[str]) -> int:
    return int(cluster.rows(
        "SELECT count(*) FROM deliveries WHERE delivery_id = ANY(%s) AND status IN ('done', 'ignored', 'dead')",
        list(delivery_ids),
    )[0][0])


def delivery_rows(cluster: Cluster, delivery_ids: Sequence[str]) -> dict[str, tuple[str, int, float | None]]:
    """delivery id -> (status, attempts, finished_at)"""
    rows = cluster.rows("SELECT delivery_id, status, attempts, finished_at FROM deliveries WHERE delivery_id = ANY(%s)", list(delivery_ids))
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def reactions_by_comment(calls: list[ForgeCall]) -> list[tuple[int, ForgeCall]]:
    """The replicas' reaction requests (a command comment's last call), with the comment's id, in order."""
    found = []
    for call in calls:
        match = REACTION_RE.search(call.path)
        if call.method == "POST" and match and 200 <= call.status < 300:
            found.append((int(match.group(1)), call))
    return found


def assert_each_comment_acted_on_once(world: World, load: Load, per_issue: int) -> None:
    """What a user sees: per issue one reply per comment, in the comments' order, and every label;
    per comment one reaction of the bot's."""
    state = world.state()
    for number in load.issues:
        replies = bot_comments(world, number)
        steps = [int(m.group(1)) for body in replies for m in [NOPE_RE.search(body)] if m]
        assert steps == list(range(1, per_issue + 1)), f"issue #{number}: replies for comments {steps}"
        assert world.label_names(number) == sorted(f"step-{k}" for k in range(1, per_issue + 1))
    for comment_id in load.comment_of:
        bot_reactions = [r.content for r in state.comments[comment_id].reactions if r.user == BOT]
        assert bot_reactions == ["confused"], f"comment {comment_id}: the bot reacted {bot_reactions}"


def assert_order_per_issue(load: Load, reactions: list[tuple[int, ForgeCall]]) -> None:
    """The bot answered each issue's comments in the order they were made (a retry may answer
    one again, never an earlier one after a later)."""
    steps: dict[int, list[int]] = defaultdict(list)
    for comment_id, _ in reactions:
        if comment_id in load.comment_of:
            number, k = load.comment_of[comment_id]
            steps[number].append(k)
    for number in load.issues:
        assert steps[number] == sorted(steps[number]), f"issue #{number} answered out of order: {steps[number]}"
        assert set(steps[number]) == set(range(1, len(load.by_issue[number]) + 1))


# -- the tests ------------------------------------------------------------------------------------


async def test_deliveries_spread_across_three_replicas_each_processed_once_in_order(world: World, cluster: Any) -> None:
    load = make_load(world, issues=24, per_issue=5, body=label_step)
    # A forge answering after 20 ms keeps handlers busy long enough that no replica takes everything.
    world.fake.faults.add(status=None, latency=0.02, times=None)
    with anyio.fail_after(240):
        async with cluster(3) as c:
            balancer = Balancer(c)
            await balancer.send_load(load)
            ids = [d.id for d in load.deliveries]
            await wait_for(lambda: finished(c, ids) == len(ids), 120, "every delivery finished")
            rows = delivery_rows(c, ids)

    assert set(balancer.acknowledged) == set(ids) and not balancer.refused
    assert Counter(balancer.acknowledged.values()) == {"replica-1": 40, "replica-2": 40, "replica-3": 40}
    assert {status for status, _, _ in rows.values()} == {"done"}
    assert {attempts for _, attempts, _ in rows.values()} == {1}  # once each: no replica ran another's
    reactions = reactions_by_comment(c.forge.calls)
    answered_by = Counter(call.replica for comment_id, call in reactions if comment_id in load.comment_of)
    assert set(answered_by) == {"replica-1", "replica-2", "replica-3"}, answered_by  # each did some
    assert sum(answered_by.values()) == len(ids)  # one reaction request per comment, by one replica
    assert_order_per_issue(load, reactions)
    assert_each_comment_acted_on_once(world, load, per_issue=5)


async def test_a_replica_killed_in_the_middle_of_a_load_loses_nothing_and_doubles_nothing(world: World, cluster: Any) -> None:
    load = make_load(world, issues=30, per_issue=10, body=label_step)
    world.fake.faults.add(status=None, latency=0.05, times=None)  # handlers wait on a slow forge
    with anyio.fail_after(300):
        async with cluster(3) as c:
            balancer = Balancer(c)
            sending = asyncio.create_task(balancer.send_load(load))
            victim = c.live[1]

            def victim_holds_work() -> bool:
                held = c.rows("SELECT count(*) FROM deliveries WHERE status = 'running' AND lease_owner = %s", victim.name)
                return bool(held[0][0] >= 2)

            await wait_for(victim_holds_work, 60, f"{victim.name} holding leased deliveries", every=0.02)
            killed_at = c.replicas.kill(victim)
            c.live.remove(victim)
            held = c.rows(
                "SELECT delivery_id, lease_until FROM deliveries WHERE status = 'running' AND lease_owner = %s", victim.name
            )
            await sending
            ids = [d.id for d in load.deliveries]
            await wait_for(lambda: finished(c, ids) == len(ids), DELIVERY_LEASE + 150, "every acknowledged delivery finished")
            rows = delivery_rows(c, ids)

    assert set(balancer.acknowledged) == set(ids)  # the balancer moved refused deliveries on
    assert {status for status, _, _ in rows.values()} == {"done"}
    assert held, f"{victim.name} held no lease when it was killed"
    held_ids = {delivery_id for delivery_id, _ in held}
    # Leased work of the killed replica ran once more; nothing else ran twice.
    assert {rows[d][1] for d in held_ids} == {2}
    assert {attempts for d, (_, attempts, _) in rows.items() if d not in held_ids} == {1}
    # ... on another replica (the victim was dead), once its lease had ended.
    for delivery_id, lease_until in held:
        finished_at = rows[delivery_id][2]
        assert finished_at is not None and finished_at > killed_at and finished_at >= lease_until, (delivery_id, lease_until, finished_at)
    reactions = reactions_by_comment(c.forge.calls)
    assert_order_per_issue(load, reactions)
    assert_each_comment_acted_on_once(world, load, per_issue=10)


async def write_together(c: Cluster, deliveries: list[fake_webhooks.Delivery]) -> None:
    """One connection per delivery, round-robin over the replicas, all opened first and then
    written at once, so the deliveries arrive together; each must be answered 202."""
    targets = [c.live[n % len(c.live)] for n in range(len(deliveries))]
    connections = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", r.port) for r in targets))
    for (_, writer), delivery, replica in zip(connections, deliveries, targets):
        writer.write(raw_request(delivery, replica.port))
    await asyncio.gather(*(writer.drain() for _, writer in connections))
    answers = await asyncio.gather(*(reader.read() for reader, _ in connections))
    for _, writer in connections:
        writer.close()
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [b"HTTP/1.1 202 Accepted"] * len(deliveries)


def claim_deliveries(world: World, comments: list[tuple[Any, str]]) -> list[fake_webhooks.Delivery]:
    """`/claim` comments (issue, login) made on the forge; the deliveries it would send for them."""
    repo = world.state()
    world.fake.outbox.clear()
    for issue, login in comments:
        world.fake.ops.add_comment(repo, issue, login, "/claim")
    changes = list(world.fake.outbox)
    world.fake.outbox.clear()
    world.fake.api_events = False
    world.fake.deliver_webhooks(world.platform, "http://127.0.0.1:9/unused", SECRET)
    deliveries = [d for change in changes for d in fake_webhooks.build(world.fake, world.fake.targets[world.platform], change)]
    world.fake.stop_webhooks()
    assert len(deliveries) == len(comments)
    return deliveries


async def test_fifty_claims_at_three_replicas_at_once_give_one_holder(world: World, cluster: Any) -> None:
    claimants = [f"agent{n:02}" for n in range(50)]
    for login in claimants:
        world.fake.add_user(login)
        world.fake.set_permission(REPO, login, "write")
    issue = world.fake.ops.create_issue(world.state(), "bob", "Contended across replicas")
    deliveries = claim_deliveries(world, [(issue, login) for login in claimants])

    with anyio.fail_after(240):
        async with cluster(3) as c:
            await write_together(c, deliveries)
            ids = [d.id for d in deliveries]
            await wait_for(lambda: finished(c, ids) == 50, 120, "fifty claims processed")
            active = c.rows("SELECT holder FROM claims WHERE active = 1 AND platform = %s AND repo = %s AND number = %s",
                            world.platform, REPO, issue.number)
            statuses = c.rows("SELECT DISTINCT status FROM deliveries WHERE delivery_id = ANY(%s)", ids)

    state = world.state().issue(issue.number)
    assert len(state.assignees) == 1 and world.label_names(issue.number) == ["status/claimed"]
    holder = state.assignees[0]
    replies = bot_comments(world, issue.number)
    granted = [r for r in replies if f"claimed by @{holder} until" not in r]
    assert len(replies) == 50 and len(granted) == 1  # one claim comment, 49 refusals naming the holder
    assert [row[0] for row in active] == [holder]
    assert statuses == [("done",)]


async def test_one_user_claiming_thirty_issues_at_three_replicas_at_once_gets_the_cap(world: World, cluster: Any) -> None:
    """Claims of one user on different issues run side by side on different replicas (one issue's
    deliveries run one at a time, whichever replica takes them): the per-user cap (3) still holds."""
    world.fake.add_user("agent")
    world.fake.set_permission(REPO, "agent", "write")
    repo = world.state()
    issues = [world.fake.ops.create_issue(repo, "bob", f"Task {n}") for n in range(30)]
    deliveries = claim_deliveries(world, [(issue, "agent") for issue in issues])
    world.fake.faults.add(status=None, latency=0.02, times=None)  # every replica's workers get busy

    with anyio.fail_after(240):
        async with cluster(3) as c:
            await write_together(c, deliveries)
            ids = [d.id for d in deliveries]
            await wait_for(lambda: finished(c, ids) == 30, 120, "thirty claims processed")
            active = c.rows("SELECT number FROM claims WHERE active = 1 AND platform = %s AND repo = %s AND holder = %s",
                            world.platform, REPO, "agent")

    assigned = [i.number for i in issues if world.state().issue(i.number).assignees == ["agent"]]
    assert len(assigned) == 3 and sorted(row[0] for row in active) == sorted(assigned)
    assert sorted(n for n in (i.number for i in issues) if world.label_names(n) == ["status/claimed"]) == sorted(assigned)
    refused = [i.number for i in issues if i.number not in assigned]
    assert all(len(bot_comments(world, n)) == 1 for n in refused)  # each refusal said once
    deciders = Counter(call.replica for _, call in reactions_by_comment(c.forge.calls))
    assert len(deciders) >= 2, deciders  # decided side by side on several replicas


# -- scheduled jobs -------------------------------------------------------------------------------


def ticks(replicas: Replicas) -> list[tuple[float, str]]:
    """(when, which replica) of each run of the test job, in order."""
    found = []
    for (detail,) in replicas.rows("SELECT detail FROM activity WHERE kind = %s ORDER BY id", TICK):
        data = json.loads(detail)
        found.append((float(data["ran_at"]), str(data["replica"])))
    return found


@pytest.mark.parametrize("world", ["github"], indirect=True)
async def test_a_scheduled_job_runs_once_per_interval_and_moves_when_its_leader_dies(world: World, cluster: Any) -> None:
    window = 5 * TICK_SECONDS
    with anyio.fail_after(240):
        async with cluster(2, env={"FORGEBOT_EXTRA_HANDLERS": "tests.support.replica_jobs:router"}) as c:
            await wait_for(lambda: len(ticks(c.replicas)) >= 1, 30, "the job's first run")
            start = time.time()
            await asyncio.sleep(window)
            before = [t for t in ticks(c.replicas) if start <= t[0] < start + window]
            # Two replicas each running it would make about twice as many runs.
            assert 2 <= len(before) <= window / TICK_SECONDS + 1, before
            leader_name = ticks(c.replicas)[-1][1]
            leader = next(r for r in c.live if r.name == leader_name)
            survivor = next(r for r in c.live if r is not leader)
            killed_at = c.replicas.kill(leader)
            took = await wait_for(
                lambda: any(name == survivor.name and at > killed_at for at, name in ticks(c.replicas)),
                LEADER_LEASE + TICK_SECONDS + 60, f"{survivor.name} running the job after {leader.name} died",
            )
            resumed = time.time()
            await asyncio.sleep(window)
            after = [t for t in ticks(c.replicas) if resumed <= t[0] < resumed + window]

    # Within one lease (and the interval's next fire time), with a few seconds for a loaded machine.
    assert took <= LEADER_LEASE + TICK_SECONDS + 5, f"took over after {took:.1f} s"
    assert 2 <= len(after) <= window / TICK_SECONDS + 1 and {name for _, name in after} == {survivor.name}, after
