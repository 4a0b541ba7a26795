"""The agent HTTP API on both platforms: /claim's rules apply, and each refusal has its status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from tests.conftest import REPO, World

pytestmark = pytest.mark.anyio

AGENTS = ("alice", "bob", "mallory")  # write, read, no access at all


def token(login: str) -> str:
    return f"agent-token-of-{login}-0123456789"


@asynccontextmanager
async def agents(world: World, bot_factory: Any) -> AsyncIterator[tuple[Any, Any]]:
    """A running bot and a function `call(method, login, repo, path, **kwargs)` acting as that agent."""
    async with bot_factory(world, agent_tokens=",".join(f"{login}:{token(login)}" for login in AGENTS)) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as http:

            async def call(method: str, login: str, repo: str, path: str, **kwargs: Any) -> httpx.Response:
                headers = {"authorization": f"Bearer {token(login)}"}
                return await http.request(method, f"/api/repos/{repo}/{path}", headers=headers, **kwargs)

            yield app, call


@asynccontextmanager
async def agent_api(world: World, bot_factory: Any) -> AsyncIterator[tuple[Any, Any]]:
    """A running bot and a function `post(login, path, **kwargs)` acting as that agent on acme/widgets."""
    async with agents(world, bot_factory) as (app, call):

        async def post(login: str, path: str, **kwargs: Any) -> httpx.Response:
            return await call("POST", login, REPO, path, **kwargs)

        yield app, post


async def test_a_claim_over_http_follows_the_repositorys_claim_rules(world: World, bot_factory: Any) -> None:
    config = "commands:\n  claim:\n    level: write\n  extend:\n    enabled: false\n"
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with agent_api(world, bot_factory) as (app, post):
        refused = await post("bob", f"issues/{number}/claim")  # read access
        assert refused.status_code == 403 and "only write access and up may run /claim" in refused.json()["error"]
        assert world.state().issue(number).assignees == []
        assert await app.storage.claims.active_claim(world.platform, REPO, number) is None

        assert (await post("alice", f"issues/{number}/claim")).status_code == 200
        turned_off = await post("alice", f"issues/{number}/extend", json={"duration": "2h"})
        assert turned_off.status_code == 403 and "/extend is turned off in this repository" in turned_off.json()["error"]


async def test_pull_requests_cannot_be_claimed_over_http(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "feature", {"f.py": "1"})
    number = await world.actor("alice").open_pr(REPO, "feature", "main", "Feature")
    async with agent_api(world, bot_factory) as (app, post):
        refused = await post("alice", f"issues/{number}/claim")
        assert refused.status_code == 409 and "/claim works on issues only" in refused.json()["error"]
        assert world.state().issue(number).assignees == []
        assert await app.storage.claims.active_claim(world.platform, REPO, number) is None


async def test_each_kind_of_failure_has_its_own_status(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with agent_api(world, bot_factory) as (app, post):
        missing = await post("alice", "issues/999/claim")
        assert missing.status_code == 404  # not 502: retrying will not make it exist
        for body in (b"not json", b"[1, 2]", b"null"):
            bad_body = await post("alice", f"issues/{number}/claim", content=body)
            assert bad_body.status_code == 400 and "must be a JSON object" in bad_body.json()["error"]
        for duration, said in (("soon", "'soon' is not a duration"), ("30d", "claims last at most 7d here")):
            bad = await post("alice", f"issues/{number}/claim", json={"duration": duration})
            assert bad.status_code == 400 and said in bad.json()["error"]
        assert await app.storage.claims.active_claim(world.platform, REPO, number) is None

        if world.platform == "github":  # GitHub assigns only collaborators; Gitea anyone who can read (test_claims)
            unassignable = await post("mallory", f"issues/{number}/claim")  # a reader, not a collaborator
            assert unassignable.status_code == 409 and "would not assign @mallory" in unassignable.json()["error"]
            assert await app.storage.claims.active_claim(world.platform, REPO, number) is None

        assert (await post("alice", f"issues/{number}/claim", json={"duration": "2h"})).status_code == 200
        taken = await post("bob", f"issues/{number}/claim")
        assert taken.status_code == 409 and "claimed by @alice" in taken.json()["error"]
        assert (await post("bob", f"issues/{number}/release")).status_code == 409


async def test_a_claim_over_http_reads_the_issue_once(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with agent_api(world, bot_factory) as (app, post):
        world.fake.requests.clear()
        assert (await post("alice", f"issues/{number}/claim")).status_code == 200
        reads = [r for r in world.fake.requests if r.method == "GET" and (r.route or r.path).endswith(("/issues/{number}", "/issues/{index}"))]
        assert len(reads) == (2 if world.platform == "gitea" else 1)  # Gitea assigns by rewriting the issue's list


async def test_an_issue_reads_with_its_dependencies_and_claim_and_a_login_lists_its_own_claims(
        world: World, bot_factory: Any) -> None:
    async with agents(world, bot_factory) as (app, call):
        base = await world.actor("alice").open_issue(REPO, "Lay the foundation")
        walls = await world.actor("alice").open_issue(REPO, "Build the walls", body=f"Depends on #{base}")
        await app.wait_idle()
        assert (await call("POST", "alice", REPO, f"issues/{base}/claim")).status_code == 200

        read = (await call("GET", "bob", REPO, f"issues/{walls}")).json()
        assert read["title"] == "Build the walls" and read["blocked"] is True and read["claim"] is None
        assert [(d["repo"], d["number"], d["state"]) for d in read["depends_on"]] == [(REPO, base, "open")]
        assert (await call("GET", "bob", REPO, f"issues/{base}")).json()["claim"]["holder"] == "alice"

        headers = {"authorization": f"Bearer {token('alice')}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as http:
            mine = await http.get("/api/claims/mine", headers=headers)
            assert [(c["repo"], c["number"], c["holder"]) for c in mine.json()] == [(REPO, base, "alice")]
            assert (await http.get("/api/claims/mine", headers={"authorization": f"Bearer {token('bob')}"})).json() == []
            assert (await http.get("/api/claims/mine")).status_code == 401
