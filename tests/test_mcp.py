"""The MCP tools through the SDK's own client: over HTTP against forgebot serve's protocol on loopback,
and over stdio against `forgebot mcp`, on both platforms, with the agent API's rules."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from bot.app import ForgebotApp
from bot.forges.provider import Forges
from bot.http.server import HTTPProtocol
from handlers.agent_ops import NO_REPOSITORY
from tests.conftest import BOT, PRIVATE, REPO, SECRET, World
from tests.test_agents_access import forge_writes

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ("alice", "bob", "mallory")
READ_ONLY_TOOLS = ["list_claims", "list_ready_issues", "my_claims", "pull_request_review", "read_issue", "worktree_status"]
WRITING_TOOLS = ["claim_issue", "extend_claim", "push_worktree", "release_claim", "start_work"]


def token(login: str) -> str:
    return f"mcp-token-of-{login}-0123456789"


@contextlib.asynccontextmanager
async def serving(world: World, tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[ForgebotApp, str]]:
    """forgebot under uvicorn with forgebot serve's own protocol on a loopback port; its forge is the world's."""
    settings = world.bot_settings(tmp_path / "bot", agent_tokens=",".join(f"{a}:{token(a)}" for a in AGENTS), **overrides)
    app = ForgebotApp(settings, forges=Forges(settings, transport=httpx.ASGITransport(app=world.fake.app)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=HTTPProtocol, lifespan="on", log_level="warning", access_log=False))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    world.fake.deliver_webhooks(world.platform, target=app, secret=SECRET)
    try:
        yield app, f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    finally:
        world.fake.stop_webhooks()
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def connected(url: str, login: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {token(login)}"}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


async def call(client: Client, tool: str, **arguments: Any) -> tuple[bool, Any]:
    """(is_error, the structured result or the error's text)."""
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        return True, " ".join(getattr(c, "text", "") for c in result.content)
    structured = result.structured_content or {}
    return False, structured.get("result", structured)


async def test_an_agent_finds_reads_claims_extends_and_releases_over_http(world: World, tmp_path: Path) -> None:
    async with serving(world, tmp_path) as (app, url):
        blocker = await world.actor("alice").open_issue(REPO, "Lay the foundation")
        blocked = await world.actor("alice").open_issue(REPO, "Build the walls", body=f"Depends on #{blocker}")
        await app.wait_idle()
        async with connected(url, "alice") as client:
            listed = (await client.list_tools()).tools
            assert sorted(t.name for t in listed) == sorted(READ_ONLY_TOOLS + WRITING_TOOLS)
            assert {t.name for t in listed if t.annotations and t.annotations.read_only_hint} == set(READ_ONLY_TOOLS)

            failed, ready = await call(client, "list_ready_issues", repo=REPO)
            assert not failed and [i["number"] for i in ready] == [blocker]  # the blocked one waits

            failed, issue = await call(client, "read_issue", repo=REPO, number=blocked)
            assert not failed and issue["title"] == "Build the walls" and issue["blocked"] is True
            assert [(d["number"], d["state"]) for d in issue["depends_on"]] == [(blocker, "open")]
            failed, refused = await call(client, "claim_issue", repo=REPO, number=blocked)
            assert failed and f"blocked by #{blocker}" in refused

            failed, claimed = await call(client, "claim_issue", repo=REPO, number=blocker, duration="2h")
            assert not failed and claimed["holder"] == "alice"
            assert world.state().issue(blocker).assignees == ["alice"]
            failed, issue = await call(client, "read_issue", repo=REPO, number=blocker)
            assert issue["claim"]["holder"] == "alice"
            failed, extended = await call(client, "extend_claim", repo=REPO, number=blocker, duration="4h")
            assert not failed and "until" in extended["message"]
            failed, mine = await call(client, "my_claims")
            assert [(c["repo"], c["number"]) for c in mine] == [(REPO, blocker)]

        async with connected(url, "bob") as other:
            failed, taken = await call(other, "claim_issue", repo=REPO, number=blocker)
            assert failed and "claimed by @alice" in taken
            failed, held = await call(other, "list_claims", repo=REPO)
            assert [c["holder"] for c in held] == ["alice"]

        async with connected(url, "alice") as client:
            failed, _ = await call(client, "release_claim", repo=REPO, number=blocker)
            assert not failed
        assert await app.storage.claims.active_claim(world.platform, REPO, blocker) is None
        assert world.state().issue(blocker).assignees == []


async def test_a_login_that_cannot_read_a_private_repository_is_told_it_does_not_exist(
        world: World, tmp_path: Path, private_repo: str) -> None:
    held = await world.actor("alice").open_issue(private_repo, "Rotate the keys")
    async with serving(world, tmp_path) as (app, url):
        async with connected(url, "alice") as client:
            assert not (await call(client, "claim_issue", repo=private_repo, number=held))[0]
        world.fake.requests.clear()
        hidden = NO_REPOSITORY.format(repo=private_repo, login="mallory")
        async with connected(url, "mallory") as client:
            for tool, arguments in (("list_ready_issues", {}), ("list_claims", {}), ("read_issue", {"number": held}),
                                    ("claim_issue", {"number": held}), ("extend_claim", {"number": held}),
                                    ("release_claim", {"number": held})):
                failed, said = await call(client, tool, repo=private_repo, **arguments)
                assert failed and said.endswith(hidden), tool
                assert "Rotate" not in said and "alice" not in said
            assert await call(client, "my_claims") == (False, [])
        assert forge_writes(world) == []
        still = await app.storage.claims.active_claim(world.platform, private_repo, held)
        assert still is not None and still.holder == "alice"


async def test_without_a_known_bearer_token_the_endpoint_answers_401(world: World, tmp_path: Path) -> None:
    async with serving(world, tmp_path) as (_, url):
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        async with httpx.AsyncClient() as http:
            for headers in ({}, {"authorization": "Bearer not-a-token-of-anyone"}, {"authorization": f"Basic {token('alice')}"}):
                answer = await http.post(url, json=body, headers={"accept": "application/json, text/event-stream", **headers})
                assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"


async def test_read_only_mode_offers_only_the_read_only_tools(world: World, tmp_path: Path) -> None:
    number = await world.actor("alice").open_issue(REPO, "Fix")
    async with serving(world, tmp_path, mcp_read_only=True) as (app, url):
        async with connected(url, "alice") as client:
            assert sorted(t.name for t in (await client.list_tools()).tools) == READ_ONLY_TOOLS
            failed, said = await call(client, "claim_issue", repo=REPO, number=number)
            assert failed
        assert await app.storage.claims.active_claim(world.platform, REPO, number) is None


async def test_forgebot_mcp_serves_the_tools_over_stdio_as_its_login(world: World, tmp_path: Path) -> None:
    number = await world.actor("alice").open_issue(REPO, "Fix over stdio")
    world.fake.create_repo(PRIVATE, private=True)
    world.fake.set_permission(PRIVATE, BOT, "admin")
    async with world.fake.serve() as base_url:
        forge_env = ({"FORGEBOT_GITHUB_TOKEN": world.fake.token(BOT), "FORGEBOT_GITHUB_API_URL": f"{base_url}/api/v3"}
                     if world.platform == "github" else
                     {"FORGEBOT_GITEA_URL": base_url, "FORGEBOT_GITEA_TOKEN": world.fake.token(BOT)})
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("FORGEBOT_")}, **forge_env,
               "FORGEBOT_DATABASE": str(tmp_path / "bot.db"), "FORGEBOT_WEBHOOK_SECRETS": SECRET, "PYTHONPATH": str(ROOT)}

        def server(*flags: str) -> StdioServerParameters:
            return StdioServerParameters(command=sys.executable, args=["-m", "bot.cli", "mcp", *flags], env=env, cwd=str(ROOT))

        async with Client(server("--login", "alice")) as client:
            assert sorted(t.name for t in (await client.list_tools()).tools) == sorted(READ_ONLY_TOOLS + WRITING_TOOLS)
            failed, ready = await call(client, "list_ready_issues", repo=REPO)
            assert not failed and [i["title"] for i in ready] == ["Fix over stdio"]
            failed, claimed = await call(client, "claim_issue", repo=REPO, number=number)
            assert not failed and claimed["holder"] == "alice"
            failed, said = await call(client, "list_claims", repo=PRIVATE)  # alice has no access to it
            assert failed and said.endswith(NO_REPOSITORY.format(repo=PRIVATE, login="alice"))
        assert world.state().issue(number).assignees == ["alice"]

        async with Client(server("--login", "bob", "--read-only")) as client:
            assert sorted(t.name for t in (await client.list_tools()).tools) == READ_ONLY_TOOLS
            failed, mine = await call(client, "list_claims", repo=REPO)
            assert not failed and [c["holder"] for c in mine] == ["alice"]
    assert json.loads(json.dumps(mine))  # plain JSON all the way
