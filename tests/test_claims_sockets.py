"""Fifty `/claim`s at once over fifty sockets to a real `forgebot serve`, on both platforms.

The fifty-claim tests in test_claims.py run in-process, and the emulator delivers the comments
one after another. Here the emulator only builds the fifty deliveries (as its platform signs
them); the test opens fifty connections to a `forgebot serve` process first, then writes the
fifty requests together, so they arrive at the same time. The bot acts on the emulator, which
listens on another loopback port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from bot.storage.sqlite import claims as claim_jobs
from bot.storage.sqlite.engine import Store
from tests.conftest import BOT, REPO, SECRET, World
from tests.fakeforge import webhooks as fake_webhooks
from tests.fakeforge.server import LoggedRequest
from tests.test_claims import bot_comments

pytestmark = [pytest.mark.slow, pytest.mark.anyio]
ROOT = Path(__file__).resolve().parents[1]
CLAIMANTS = [f"agent{n:02}" for n in range(50)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(world: World, forge_url: str, port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEBOT_")}
    env |= {"FORGEBOT_DATABASE": str(tmp_path / "bot.db"), "FORGEBOT_WEBHOOK_SECRETS": SECRET, "FORGEBOT_LOG_LEVEL": "warning"}
    if world.platform == "github":
        env |= {"FORGEBOT_GITHUB_TOKEN": world.fake.token(BOT), "FORGEBOT_GITHUB_API_URL": f"{forge_url}/api/v3"}
    else:
        env |= {"FORGEBOT_GITEA_URL": forge_url, "FORGEBOT_GITEA_TOKEN": world.fake.token(BOT)}
    with (tmp_path / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
        )


async def listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    while True:
        if proc.poll() is not None:
            raise RuntimeError("forgebot serve exited before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


async def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(proc.wait, 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        await asyncio.to_thread(proc.wait, 10)
        raise


def request(delivery: fake_webhooks.Delivery, port: int) -> bytes:
    path = f"/webhooks/{delivery.platform}"
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(delivery.body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in delivery.headers.items() if name.lower() not in ("content-length", "host")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + delivery.body


def finished(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM deliveries WHERE event = 'issue_comment' AND status IN ('done', 'ignored', 'dead')"
        ).fetchone()
        return int(count)
    finally:
        conn.close()


async def test_fifty_claims_arriving_together_over_fifty_sockets_give_one_holder(world: World, tmp_path: Path) -> None:
    for login in CLAIMANTS:
        world.fake.add_user(login)
        world.fake.set_permission(REPO, login, "write")
    number = await world.actor("bob").open_issue(REPO, "Contended over sockets")
    # The comments are made without delivering their webhooks: the test sends those itself.
    world.fake.api_events = "queue"  # and the bot's own changes stay undelivered too
    world.fake.outbox.clear()
    repo = world.state()
    for login in CLAIMANTS:
        world.fake.ops.add_comment(repo, repo.issue(number), login, "/claim")
    changes = list(world.fake.outbox)
    world.fake.outbox.clear()

    with anyio.fail_after(180):
        async with world.fake.serve() as forge_url:
            port = free_port()
            proc = serve(world, forge_url, port, tmp_path)
            try:
                await listening(port, proc)
                world.fake.deliver_webhooks(world.platform, f"http://127.0.0.1:{port}/webhooks/{world.platform}", SECRET)
                target = world.fake.targets[world.platform]
                deliveries = [d for change in changes for d in fake_webhooks.build(world.fake, target, change)]
                assert len(deliveries) == 50 and {d.event for d in deliveries} == {"issue_comment"}

                connections = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in deliveries))
                for (_, writer), delivery in zip(connections, deliveries):
                    writer.write(request(delivery, port))
                await asyncio.gather(*(writer.drain() for _, writer in connections))
                answers = await asyncio.gather(*(reader.read() for reader, _ in connections))
                for _, writer in connections:
                    writer.close()
                assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [b"HTTP/1.1 202 Accepted"] * 50

                while finished(tmp_path / "bot.db") < 50:
                    await asyncio.sleep(0.1)
            finally:
                await stop(proc)

    issue = world.state().issue(number)
    assert len(issue.assignees) == 1 and world.label_names(number) == ["status/claimed"]
    holder = issue.assignees[0]
    replies = bot_comments(world, number)
    granted = [r for r in replies if f"claimed by @{holder} until" not in r]
    assert len(replies) == 50 and len(granted) == 1  # one claim comment, 49 refusals naming the holder
    assert len([r for r in world.fake.requests if assigns(r, number)]) == 1  # one assignment asked for
    store = Store(tmp_path / "bot.db")
    active = store.run_sync(claim_jobs.active_claims, world.platform, REPO)
    statuses = store.run_sync(
        lambda conn: [tuple(r) for r in conn.execute("SELECT DISTINCT status FROM deliveries WHERE event = 'issue_comment'")]
    )
    store.close()
    assert [c.holder for c in active] == [holder]
    assert statuses == [("done",)]


def assigns(request: LoggedRequest, number: int) -> bool:
    """A request of the bot's that assigns someone to the issue: GitHub has an endpoint for it,
    Gitea sets the whole list with a PATCH of the issue."""
    if request.user != BOT:
        return False
    if request.platform == "github":
        return request.method == "POST" and request.path.endswith(f"/issues/{number}/assignees")
    body = request.json if isinstance(request.json, dict) else {}
    return request.method == "PATCH" and request.path.endswith(f"/issues/{number}") and bool(body.get("assignees"))
