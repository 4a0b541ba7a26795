"""The agent API shows a login only what the forge would show it: a private repository its login
cannot read is answered 404, like one that does not exist, before anything is read or written."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from handlers.agents import NO_REPOSITORY
from tests.conftest import BOT, REPO, World
from tests.test_agents_api import agents

pytestmark = pytest.mark.anyio


def forge_writes(world: World) -> list[str]:
    return [f"{r.method} {r.path}" for r in world.fake.requests if r.method != "GET"]


async def test_a_login_without_access_to_a_private_repository_gets_404_from_every_endpoint(
        world: World, bot_factory: Any, private_repo: str) -> None:
    held = await world.actor("alice").open_issue(private_repo, "Rotate the keys")
    free = await world.actor("alice").open_issue(private_repo, "Secret plans")
    async with agents(world, bot_factory) as (app, call):
        assert (await call("POST", "alice", private_repo, f"issues/{held}/claim")).status_code == 200
        world.fake.requests.clear()

        unknown = NO_REPOSITORY.format(repo="acme/nothing", login="mallory")
        assert (await call("GET", "mallory", "acme/nothing", "ready")).json() == {"error": unknown}
        hidden = {"error": NO_REPOSITORY.format(repo=private_repo, login="mallory")}
        for method, path in (("GET", "ready"), ("GET", "claims"), ("GET", f"issues/{held}"), ("POST", f"issues/{free}/claim"),
                             ("POST", f"issues/{held}/extend"), ("POST", f"issues/{held}/release"),
                             ("POST", f"issues/{held}/claim"), ("POST", f"issues/{free}/start"),
                             ("POST", f"issues/{held}/push"), ("GET", "worktrees")):
            answer = await call(method, "mallory", private_repo, path, json={"duration": "2h"} if method == "POST" else None)
            assert (answer.status_code, answer.json()) == (404, hidden), path
            assert "Secret plans" not in answer.text and "alice" not in answer.text

        assert forge_writes(world) == []  # no assignment asked for, no label, no comment

        assert world.state(private_repo).issue(free).assignees == []
        assert await app.storage.claims.active_claim(world.platform, private_repo, free) is None
        still = await app.storage.claims.active_claim(world.platform, private_repo, held)
        assert still is not None and still.holder == "alice"


async def test_a_login_that_can_read_a_private_repository_still_uses_the_api(
        world: World, bot_factory: Any, private_repo: str) -> None:
    number = await world.actor("alice").open_issue(private_repo, "Rotate the keys")
    async with agents(world, bot_factory) as (app, call):
        ready = await call("GET", "bob", private_repo, "ready")
        assert ready.status_code == 200 and [i["title"] for i in ready.json()] == ["Rotate the keys"]

        assert (await call("POST", "alice", private_repo, f"issues/{number}/claim")).status_code == 200
        listed = await call("GET", "bob", private_repo, "claims")
        assert listed.status_code == 200 and [c["holder"] for c in listed.json()] == ["alice"]
        taken = await call("POST", "bob", private_repo, f"issues/{number}/claim")
        assert taken.status_code == 409 and "claimed by @alice" in taken.json()["error"]
        assert (await call("POST", "alice", private_repo, f"issues/{number}/extend", json={"duration": "2h"})).status_code == 200
        assert (await call("POST", "alice", private_repo, f"issues/{number}/release")).status_code == 200
        assert await app.storage.claims.active_claim(world.platform, private_repo, number) is None


async def test_everyone_reads_a_public_repository(world: World, bot_factory: Any) -> None:
    await world.actor("alice").open_issue(REPO, "Open to all")
    async with agents(world, bot_factory) as (_, call):
        ready = await call("GET", "mallory", REPO, "ready")  # mallory is no collaborator of acme/widgets
        assert ready.status_code == 200 and [i["title"] for i in ready.json()] == ["Open to all"]


@pytest.mark.parametrize("path", ["%2E%2E/widgets", "acme/%2E%2E", "acme/wid%20gets"])
async def test_a_name_no_repository_can_have_is_no_repository_and_never_reaches_the_forge(
        world: World, bot_factory: Any, path: str) -> None:
    async with agents(world, bot_factory) as (_, call):
        world.fake.requests.clear()
        answer = await call("GET", "alice", path, "ready")
        assert answer.status_code == 404 and answer.json()["error"].startswith("there is no repository ")
        assert world.fake.requests == []


async def test_where_the_bot_may_not_ask_who_reads_the_repository_the_answer_is_404_and_one_warning(
        world: World, bot_factory: Any, private_repo: str, caplog: pytest.LogCaptureFixture) -> None:
    """GitHub shows levels only to a bot with push access, Gitea only to a repository admin: one
    level below that, agents get 404 and the log has one line per request saying what to give the bot."""
    below, needed = ("triage", "write") if world.platform == "github" else ("write", "admin")
    world.fake.set_permission(private_repo, BOT, below)
    await world.actor("alice").open_issue(private_repo, "Rotate the keys")
    async with agents(world, bot_factory) as (_, call):
        caplog.clear()
        ready = await call("GET", "bob", private_repo, "ready")  # bob reads acme/vault
        assert (ready.status_code, ready.json()) == (404, {"error": NO_REPOSITORY.format(repo=private_repo, login="bob")})
        [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert warning.repo == private_repo and f"give forgebot {needed} access to {private_repo}" in warning.error
        world.fake.set_permission(private_repo, BOT, needed)
        ready = await call("GET", "bob", private_repo, "ready")
        assert ready.status_code == 200 and [i["title"] for i in ready.json()] == ["Rotate the keys"]
