"""Worktrees through the SDK's MCP client (start_work, worktree_status, push_worktree) and on the
status page, on both platforms, with the agent API's rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, World
from tests.test_mcp import call, connected, serving
from tests.test_status import VIEWER, text

pytestmark = pytest.mark.anyio


def commit(path: Path, home: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    (path / "agent.txt").write_text("done")
    subprocess.run(["git", "-C", str(path), "add", "agent.txt"], env=env, check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "agent work"], env=env, check=True)


async def test_an_agent_starts_reads_and_pushes_a_worktree_over_mcp(world: World, tmp_path: Path) -> None:
    world.state().private = True  # mallory, who has no access, must not see it
    number = await world.actor("bob").open_issue(REPO, "Agent task")
    async with world.fake.serve():
        async with serving(world, tmp_path, git_root=tmp_path / "git", git_min_free="1", viewer_tokens=VIEWER) as (app, url):
            async with connected(url, "alice") as client:
                failed, started = await call(client, "start_work", repo=REPO, number=number)
                assert not failed, started
                branch = f"issue-{number}-agent-task"
                assert started["branch"] == branch and started["holder"] == "alice" and Path(started["path"]).is_dir()
                failed, status = await call(client, "worktree_status", repo=REPO, number=number)
                assert not failed and status["branch"] == branch and status["lease_until"] > 0

            async with connected(url, "bob") as client:
                failed, said = await call(client, "push_worktree", repo=REPO, number=number)
                assert failed and "only they push it" in said
            async with connected(url, "mallory") as client:
                failed, said = await call(client, "worktree_status", repo=REPO, number=number)
                assert failed and said.endswith(f"there is no repository {REPO} that @mallory can read")

            commit(Path(started["path"]), tmp_path)
            async with connected(url, "alice") as client:
                failed, pushed = await call(client, "push_worktree", repo=REPO, number=number)
                assert not failed and pushed["branch"] == branch
            assert world.state().git.branches()[branch] == pushed["sha"]

            base = url.removesuffix("/mcp")
            async with httpx.AsyncClient(base_url=base) as http:
                await http.post("/status/signin", data={"token": VIEWER}, headers={"origin": base})
                shown = text((await http.get("/status")).text)
            section = shown[shown.index("Worktrees"):shown.index("Ready to start")]
            assert f"#{number} {branch} @alice" in section
