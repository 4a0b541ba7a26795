"""The load of `make bench-scale`'s processing and failover parts: the forge emulator holding
`/label bug` comments whose deliveries are yet to be sent, answering every call after 50 ms, and
the sender that plays the load balancer."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from tests.support.replicas import AttributedForge, forge_env, post_delivery

SECRET = "bench-scale-secret"
REPO = "acme/widgets"
BOT = "forgebot"
FORGE_LATENCY = 0.05


class SlowForge:
    """The emulator with `/label bug` comments waiting to be delivered, answering after 50 ms."""

    def __init__(self, root: Path, issues: int, comments: int) -> None:
        from tests.fakeforge import FakeForge
        from tests.fakeforge import webhooks as fake_webhooks

        fake = FakeForge(root, rate_limit=1_000_000)
        fake.add_user(BOT)
        users = [f"user{n:02}" for n in range(10)]
        for login in users:
            fake.add_user(login)
        repo = fake.create_repo(REPO)
        fake.set_permission(REPO, BOT, "admin")
        for login in users:
            fake.set_permission(REPO, login, "write")
        fake.ops.create_label(repo, "acme", "bug", "d73a4a", "")
        numbers = [fake.ops.create_issue(repo, users[n % 10], f"Task {n}").number for n in range(issues)]
        fake.outbox.clear()
        fake.deliver_webhooks("github", "http://127.0.0.1:9/unused", SECRET)
        target = fake.targets["github"]
        self.by_issue: dict[int, list[Any]] = {n: [] for n in numbers}
        self.comment_ids: list[int] = []
        for k in range(comments):
            number = numbers[k % issues]
            comment = fake.ops.add_comment(repo, repo.issue(number), users[k % 10], "/label bug")
            self.comment_ids.append(comment.id)
            changes = list(fake.outbox)
            fake.outbox.clear()
            self.by_issue[number] += [d for change in changes for d in fake_webhooks.build(fake, target, change)]
        fake.stop_webhooks()
        fake.api_events = False  # the bot's own changes deliver nothing
        fake.faults.add(status=None, latency=FORGE_LATENCY, times=None)
        self.fake = fake
        self.forge = AttributedForge(fake.app)
        fake.app = self.forge

    @property
    def delivery_ids(self) -> list[str]:
        return [d.id for ds in self.by_issue.values() for d in ds]

    def duplicated_effects(self) -> int:
        """Comments with more than one reaction of the bot's, and bot replies (none is expected)."""
        repo = self.fake.repo(REPO)
        doubled = sum(1 for c in self.comment_ids if sum(r.user == BOT for r in repo.comments[c].reactions) > 1)
        return doubled + sum(1 for c in repo.comments.values() if c.user == BOT)

    def missing_effects(self) -> int:
        repo = self.fake.repo(REPO)
        return sum(1 for c in self.comment_ids if not any(r.user == BOT for r in repo.comments[c].reactions))


async def send_all(replicas: list[Any], forge: SlowForge) -> None:
    """Each issue's deliveries in order, the issues side by side, round-robin over the replicas;
    what a replica does not acknowledge goes to the next (bounded)."""
    import httpx

    turn = itertools.count()
    async with httpx.AsyncClient(timeout=30.0) as client:

        async def one_issue(deliveries: list[Any]) -> None:
            for delivery in deliveries:
                for _ in range(len(replicas) * 5):
                    live = [r for r in replicas if r.alive]
                    if 200 <= await post_delivery(client, live[next(turn) % len(live)], delivery) < 300:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError(f"no replica acknowledged {delivery.id}")

        await asyncio.gather(*(one_issue(ds) for ds in forge.by_issue.values()))


def slow_forge_env(forge: SlowForge, forge_url: str) -> Any:
    def per_replica(name: str) -> dict[str, str]:
        token = forge.fake.new_token(BOT)
        forge.forge.add(name, token)
        return forge_env("github", forge_url, token)

    return per_replica
