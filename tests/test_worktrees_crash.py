"""kill -9 of `forgebot serve` in the middle of a /start (mirror fetch, worktree add), then a restart:
the start completes exactly once and no half-made worktree stays registered. Both platforms."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BOT, REPO, SECRET, World
from tests.support.worktrees import bot_comments
from tests.test_serve import free_port, query, start

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def bot_env(world: World, base: str, root: Path) -> dict[str, str]:
    token = world.fake.token(BOT)
    env = {"FORGEBOT_GIT_ROOT": str(root), "FORGEBOT_GIT_MIN_FREE": "1", "FORGEBOT_LOG_LEVEL": "warning"}
    if world.platform == "github":
        return {**env, "FORGEBOT_GITHUB_TOKEN": token, "FORGEBOT_GITHUB_API_URL": f"{base}/api/v3"}
    return {**env, "FORGEBOT_GITEA_URL": base, "FORGEBOT_GITEA_TOKEN": token}


def git_processes_under(root: Path) -> list[str]:
    out = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in out if line.startswith("git") and str(root) in line]


async def wait_for(predicate: Any, timeout: float = 60.0, step: float = 0.002) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(step)


@pytest.mark.parametrize("moment", ["mirror fetch", "worktree add"])
async def test_kill_9_during_a_start_then_restart_completes_it_exactly_once(world: World, tmp_path: Path, moment: str) -> None:
    # Enough files that fetching and checking out take a noticeable while.
    await world.actor("alice").push(REPO, "main", {f"src/{i:04}.txt": os.urandom(3000).hex() for i in range(1500)})
    number = await world.actor("bob").open_issue(REPO, "Survive a crash")
    root = (tmp_path / "git").resolve()
    db = tmp_path / "forgebot.db"
    async with world.fake.serve() as base:
        port = free_port()
        env = bot_env(world, base, root)
        server = await asyncio.to_thread(start, tmp_path, port, **env)
        world.fake.deliver_webhooks(world.platform, target=f"http://127.0.0.1:{port}/webhooks/{world.platform}", secret=SECRET)
        try:
            await world.actor("alice").comment(REPO, number, "/start")
            mirror = root / "mirrors" / world.platform / "acme" / "widgets.git"
            scratch = mirror.with_name("widgets.git.new")
            worktree = root / "worktrees" / world.platform / "acme" / "widgets" / str(number)
            if moment == "mirror fetch":
                await wait_for(lambda: (scratch / "objects").exists() and bool(git_processes_under(root)))
            else:
                await wait_for(lambda: worktree.exists() and bool(git_processes_under(root)))
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            assert query(db, "SELECT state FROM worktrees") == [("creating",)]  # killed midway, as intended
            await wait_for(lambda: not git_processes_under(root), step=0.05)  # orphaned git finishes or dies
            server = await asyncio.to_thread(start, tmp_path, port, **env)
            await wait_for(lambda: query(db, "SELECT state FROM worktrees") == [("ready",)], timeout=120, step=0.05)
            await wait_for(lambda: any("Started: branch" in c for c in bot_comments(world, number)), step=0.05)
        finally:
            server.kill()
            server.wait()
            world.fake.stop_webhooks()
    starts = [c for c in bot_comments(world, number) if "Started: branch" in c or "preparing" in c]
    assert len(starts) == 1  # one answer
    branches = [b for b in world.state().git.branches() if b.startswith(f"issue-{number}")]
    assert branches == [f"issue-{number}-survive-a-crash"]  # one branch, no -2
    listed = subprocess.run(["git", "--git-dir", str(mirror), "worktree", "list", "--porcelain"], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}).stdout
    registered = [line for line in listed.splitlines() if line.startswith("worktree ") and not line.endswith(".git")]
    assert registered == [f"worktree {worktree}"] and "locked" not in listed
    assert not scratch.exists()
    assert len(list((worktree / "src").iterdir())) == 1500
