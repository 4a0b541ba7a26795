"""Stale-branch cleanup end to end on both platforms: real clients, the emulator on loopback, real git."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.cleanup.plan import Kind
from bot.forges.base import BranchProtection, MergeMethod
from tests.conftest import REPO, World
from tests.support.cleanup import DAY, branch, cleanup_world

pytestmark = pytest.mark.anyio


async def test_plan_sorts_every_kind_of_branch(world: World, tmp_path: Path) -> None:
    now = time.time()
    await branch(world, "merged")
    await world.actor("alice").merge_pr(REPO, await world.actor("alice").open_pr(REPO, "merged"), "merge")
    await branch(world, "rebased", "r1.txt", "r2.txt")
    await world.actor("alice").push(REPO, "main", {"elsewhere.txt": "x"}, "main moves on")
    await world.actor("alice").merge_pr(REPO, await world.actor("alice").open_pr(REPO, "rebased"), "rebase")
    await branch(world, "squashed", "a.txt", "b.txt")
    pr = await world.actor("alice").open_pr(REPO, "squashed")
    await world.actor("alice").merge_pr(REPO, pr, "squash")
    await branch(world, "abandoned")
    closed = await world.actor("alice").open_pr(REPO, "abandoned")
    await world.actor("alice").close_issue(REPO, closed)
    await branch(world, "old-work")
    await branch(world, "open-pr")
    await world.actor("alice").open_pr(REPO, "open-pr")
    await branch(world, "release-1")
    await world.client.set_protection(REPO, BranchProtection("release-1"))
    await branch(world, "keep/this")
    await branch(world, "archive/x")
    async with cleanup_world(world, tmp_path) as cw:
        recent = await cw.run("plan", now + 3600, protect=["keep/*"])
        kinds = {c.branch: (c.kind, c.why) for c in recent.changes}
        assert kinds["merged"] == (Kind.NOTICE, "merged into main")
        assert kinds["rebased"] == (Kind.NOTICE, "rebase-merged into main")
        assert kinds["squashed"] == (Kind.NOTICE, "squash-merged into main")
        assert kinds["release-1"] == (Kind.SKIP, "protected on the platform")
        assert kinds["open-pr"] == (Kind.SKIP, "the head of an open pull request")
        assert kinds["keep/this"] == (Kind.SKIP, "matches cleanup.protect")
        assert kinds["archive/x"] == (Kind.SKIP, "an archive branch")
        assert "old-work" not in kinds and "abandoned" not in kinds  # recent
        later = await cw.run("plan", now + 20 * DAY, protect=["keep/*"])
        kinds = {c.branch: (c.kind, c.why) for c in later.changes}
        assert kinds["abandoned"][0] is Kind.NOTICE and f"#{closed} was closed unmerged" in kinds["abandoned"][1]
        assert "old-work" not in kinds
        stale = await cw.run("plan", now + 100 * DAY, protect=["keep/*"])
        kinds = {c.branch: (c.kind, c.why) for c in stale.changes}
        assert kinds["old-work"][0] is Kind.NOTICE and kinds["old-work"][1].startswith("no commit since")
        assert "main" not in kinds
