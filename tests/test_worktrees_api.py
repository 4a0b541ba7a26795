"""Worktrees over the agent API on both platforms: start, push, list, and the ready list."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, World
from tests.support.worktrees import bot_on_served_forge

pytestmark = pytest.mark.anyio


def token(login: str) -> str:
    return f"agent-token-of-{login}-0123456789"


@asynccontextmanager
async def api(world: World, bot_factory: Any, tmp_path: Path) -> AsyncIterator[Any]:
    tokens = ",".join(f"{login}:{token(login)}" for login in ("alice", "bob", "mallory"))
    async with bot_on_served_forge(world, bot_factory, tmp_path, agent_tokens=tokens) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot", timeout=60) as http:

            async def call(method: str, login: str, path: str, **kwargs: Any) -> httpx.Response:
                return await http.request(method, f"/api/repos/{REPO}/{path}", headers={"authorization": f"Bearer {token(login)}"}, **kwargs)

            yield call


async def test_an_agent_starts_pushes_and_lists(world: World, bot_factory: Any, tmp_path: Path) -> None:
    world.state().private = True  # mallory, who has no access, must not see its worktrees
    number = await world.actor("bob").open_issue(REPO, "Agent task")
    other = await world.actor("bob").open_issue(REPO, "Another")
    async with api(world, bot_factory, tmp_path) as call:
        answer = await call("POST", "alice", f"issues/{number}/start")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        branch = f"issue-{number}-agent-task"
        assert body["branch"] == branch and body["base"] == "main" and body["lease_until"] > 0
        assert body["sha"] == world.state().git.branches()["main"] and Path(body["path"]).is_dir()
        again = await call("POST", "alice", f"issues/{number}/start")
        assert again.json()["path"] == body["path"]

        refused = await call("POST", "bob", f"issues/{number}/start")  # held by alice
        assert refused.status_code == 409 and "claimed by @alice" in refused.json()["error"]

        path = Path(body["path"])
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
               "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
        (path / "agent.txt").write_text("done")
        subprocess.run(["git", "-C", str(path), "add", "agent.txt"], env=env, check=True)
        subprocess.run(["git", "-C", str(path), "commit", "-qm", "agent work"], env=env, check=True)
        assert (await call("POST", "bob", f"issues/{number}/push")).status_code == 409  # not bob's
        pushed = await call("POST", "alice", f"issues/{number}/push")
        assert pushed.status_code == 200, pushed.text
        assert world.state().git.branches()[branch] == pushed.json()["sha"] != body["sha"]

        listed = await call("GET", "alice", "worktrees")
        assert [w["number"] for w in listed.json()] == [number]
        assert (await call("GET", "mallory", "worktrees")).status_code == 404  # cannot see the repository
        ready = await call("GET", "alice", "ready")
        assert {i["number"]: i["worktree"] for i in ready.json()} == {other: None}


async def test_a_replica_that_is_not_the_worktree_host_refuses_start_and_push_with_503(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Agent task")
    tokens = f"alice:{token('alice')}"
    async with bot_on_served_forge(world, bot_factory, tmp_path, agent_tokens=tokens, worktree_host=False) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as http:
            for action in ("start", "push"):
                answer = await http.post(f"/api/repos/{REPO}/issues/{number}/{action}", headers={"authorization": f"Bearer {token('alice')}"})
                assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
                assert "not the worktree host (no replica is)" in answer.json()["error"]
            listed = await http.get(f"/api/repos/{REPO}/worktrees", headers={"authorization": f"Bearer {token('alice')}"})
            assert listed.status_code == 200 and listed.json() == []  # reading needs no worktree root
    assert not (tmp_path / "git" / "worktrees").exists()
    assert set(world.state().git.branches()) == {"main"}
