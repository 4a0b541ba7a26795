"""Worktree work reaches the replica that holds the worktree root: two apps on one PostgreSQL
database, one of them with FORGEBOT_WORKTREE_HOST off; what needs the root runs on the other,
whichever of them the webhook reached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.engine.context import Context
from bot.engine.leadership import WORKTREES
from bot.engine.router import Router
from bot.events import Event
from tests.conftest import REPO, World, eventually
from tests.test_inbox import comment
from tests.support.worktrees import bot_comments

pytestmark = pytest.mark.anyio


async def test_a_delivery_that_needs_the_worktree_root_runs_on_the_host_whichever_replica_received_it(
    harness_factory: Any, postgres_url: str, tmp_path: Path
) -> None:
    router = Router()

    @router.on("issue_comment", "created", needs=WORKTREES)
    async def touch_the_root(event: Event, ctx: Context) -> None:
        marks = ctx.settings.git_root / "marks"
        marks.mkdir(parents=True, exist_ok=True)
        (marks / event.delivery_id).write_text(ctx.storage.replica)

    shared = {"database_url": postgres_url, "router": router}
    async with harness_factory(replica_id="host", git_root=tmp_path / "host-git", **shared) as host:
        async with harness_factory(replica_id="other", git_root=tmp_path / "other-git", worktree_host=False, **shared) as other:
            assert host.app.capabilities() == {WORKTREES} and other.app.capabilities() == frozenset()
            for n in range(10):
                assert (await other.post_github(comment(n + 1, "hello"), "issue_comment", f"c-{n}")).status_code == 202
            await eventually(lambda: len(list((tmp_path / "host-git" / "marks").glob("c-*"))) == 10, 30)
            # A handler's mark is written before its delivery is finished: wait for the finish too.
            await eventually(lambda: host.rows("SELECT status, count(*) FROM deliveries GROUP BY status") == [("done", 10)], 30)
            attempts = host.rows("SELECT max(attempts) FROM deliveries")
    assert attempts == [(1,)]  # handed over without counting an attempt, then run once
    assert {p.read_text() for p in (tmp_path / "host-git" / "marks").iterdir()} == {"host"}
    assert not (tmp_path / "other-git" / "marks").exists()


async def test_a_start_sent_to_a_replica_without_the_worktree_root_ends_on_the_hosts(
    world: World, bot_factory: Any, postgres_url: str, tmp_path: Path
) -> None:
    numbers = [await world.actor("bob").open_issue(REPO, f"Task {n}") for n in range(3)]
    shared = {"database_url": postgres_url, "git_min_free": "1"}
    async with world.fake.serve():
        async with bot_factory(world, replica_id="host", git_root=tmp_path / "host-git", **shared):
            # Started last, the other replica is where the forge's webhooks go.
            async with bot_factory(world, replica_id="other", git_root=tmp_path / "other-git", worktree_host=False, **shared):
                for number in numbers:
                    await world.actor("alice").comment(REPO, number, "/start")
                for number in numbers:
                    await eventually(lambda n=number: any("Started" in c for c in bot_comments(world, n)), 60)
    for number in numbers:
        assert (tmp_path / "host-git" / "worktrees" / world.platform / "acme" / "widgets" / str(number)).is_dir()
    assert not (tmp_path / "other-git" / "worktrees").exists()
    branches = [b for b in world.state().git.branches() if b.startswith("issue-")]
    assert len(branches) == len(numbers)  # one start each, none twice


@pytest.mark.parametrize(
    ("body", "needs"),
    [("/claim", None), ("/start", WORKTREES), ("/forgebot start main", WORKTREES), ("/claim\n/start", WORKTREES), ("hi", None)],
)
def test_a_comment_needs_the_worktree_host_only_when_it_names_a_worktree_command(tmp_path: Path, body: str, needs: str | None) -> None:
    from bot.app import build_router
    from bot.events import normalize
    from tests.conftest import make_settings

    router = build_router(make_settings(tmp_path))
    event = normalize("github", "issue_comment", comment(7, body), delivery_id="d-1")
    assert router.needs(router.handlers_for(event)) == needs


def test_every_command_of_the_worktree_handlers_is_routed_to_the_host(tmp_path: Path) -> None:
    from bot.app import build_router
    from handlers.commands import WORKTREE_COMMANDS
    from tests.conftest import make_settings

    commands = build_router(make_settings(tmp_path)).commands
    assert {spec.name for spec in commands if spec.handler.__module__ == "handlers.worktrees"} == WORKTREE_COMMANDS


async def test_the_mcp_worktree_tools_refuse_on_a_replica_that_is_not_the_worktree_host(
    world: World, postgres_url: str, tmp_path: Path
) -> None:
    """An agent whose MCP call reached the wrong replica is told so, and no worktree, branch or
    claim is made on that replica's disk; the read-only tools still answer there."""
    from tests.test_mcp import call, connected, serving

    number = await world.actor("bob").open_issue(REPO, "Task")
    shared = {"database_url": postgres_url, "git_min_free": "1"}
    async with serving(world, tmp_path / "host", replica_id="host", git_root=tmp_path / "host-git", **shared):
        async with serving(world, tmp_path / "other", replica_id="other", git_root=tmp_path / "other-git",
                           worktree_host=False, **shared) as (_, url):
            async with connected(url, "alice") as client:
                refused, message = await call(client, "start_work", repo=REPO, number=number)
                pushed, push_message = await call(client, "push_worktree", repo=REPO, number=number)
                listed, claims = await call(client, "list_claims", repo=REPO)
    assert refused and "not the worktree host" in message
    assert pushed and "not the worktree host" in push_message
    assert not listed and claims == []
    assert not (tmp_path / "other-git" / "worktrees").exists()
    assert [b for b in world.state().git.branches() if b.startswith("issue-")] == []
