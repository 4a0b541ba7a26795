"""A pull request's review state as an MCP tool and as a status page section, on both platforms:
the same derivation as the review handler, what each pull request still needs, and who approved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PRIVATE, REPO, World
from tests.test_mcp import call, connected, serving
from tests.test_review import open_pull, setup
from tests.test_status import VIEWER, sign_in, status_site, text

pytestmark = pytest.mark.anyio


async def test_an_agent_reads_what_a_pull_request_still_needs(world: World, tmp_path: Path, private_repo: str) -> None:
    setup(world)
    async with serving(world, tmp_path) as (app, url):
        number = await open_pull(world)
        await app.wait_idle()
        async with connected(url, "alice") as client:
            failed, review = await call(client, "pull_request_review", repo=REPO, number=number)
            assert not failed and review["ready"] is False and review["status"] == "pending"
            assert review["missing"] == ["needs an approver for OWNERS", "needs /lgtm"]
            assert review["needs_approval_from"] == {"OWNERS": ["carol"]}

            await world.actor("dave").comment(REPO, number, "/lgtm")
            await world.actor("carol").comment(REPO, number, "/approve")
            await app.wait_idle()
            failed, review = await call(client, "pull_request_review", repo=REPO, number=number)
            assert review["ready"] is True and review["missing"] == [] and review["approvers"] == ["carol"]
            assert review["lgtm"] == ["dave"] and review["status_line"] == "ready to merge"

            failed, said = await call(client, "pull_request_review", repo=REPO, number=number + 100)
            assert failed and "404" in said  # no such pull request: what the platform says
        async with connected(url, "mallory") as client:
            failed, said = await call(client, "pull_request_review", repo=private_repo, number=1)
            assert failed and said.endswith(f"there is no repository {private_repo} that @mallory can read")


async def test_the_status_page_shows_each_pull_requests_review_state(world: World, bot_factory: Any) -> None:
    setup(world)
    async with status_site(world, bot_factory) as (app, http):
        number = await open_pull(world)
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        await sign_in(http, VIEWER)
        shown = text((await http.get("/status")).text)
        section = shown[shown.index("Pull requests under review"):shown.index("Last reconcile")]
        assert f"#{number} Feature @alice needs an approver for OWNERS" in section
        assert PRIVATE not in shown
