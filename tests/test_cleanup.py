"""Stale-branch cleanup end to end on both platforms: real clients, the emulator on loopback, real git."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.cleanup.plan import Kind
from bot.forges.base import BranchProtection
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


async def test_notice_then_after_grace_archive_delete_and_restore(world: World, tmp_path: Path) -> None:
    from bot.cleanup.restore import restore

    now = time.time()
    unique = await branch(world, "old-work")
    await branch(world, "merged")
    await world.actor("alice").merge_pr(REPO, await world.actor("alice").open_pr(REPO, "merged"), "merge")
    async with cleanup_world(world, tmp_path) as cw:
        first = await cw.run("apply", now + 100 * DAY)
        assert {c.branch: c.kind for c in first.pending} == {"merged": Kind.NOTICE, "old-work": Kind.NOTICE}
        assert first.results == [] and "old-work" in cw.branches()  # nothing goes before its grace
        dashboard = world.state().issue(first.dashboard or 0)
        assert dashboard.title == "Stale branches" and "<!-- forgebot:cleanup-dashboard -->" in dashboard.body
        assert dashboard.body.count("@alice") == 1 and "`old-work`" in dashboard.body  # mentioned once, both listed

        # A week later, still not due; after the grace, both go: old-work archived first.
        assert (await cw.run("apply", now + 105 * DAY)).results == []
        done = await cw.run("apply", now + 108 * DAY)
        assert sorted((r.change.branch, r.outcome) for r in done.results) == [("merged", "deleted"), ("old-work", "deleted")]
        assert "old-work" not in cw.branches() and "merged" not in cw.branches()
        day = time.strftime("%Y-%m-%d", time.gmtime(now + 108 * DAY))
        assert cw.tags() == {f"archive/old-work/{day}": unique}  # merged had nothing main lacks: no tag
        body = world.state().issue(first.dashboard or 0).body
        assert f"restore: `forgebot cleanup restore {REPO} old-work`" in body and f"archived to `archive/old-work/{day}`" in body
        [number] = [i.number for i in world.state().issues.values() if i.title == "Stale branches"]  # edited, not a second

        restored = await restore(world.client, cw.store, cw.root, REPO, "old-work")
        assert restored.ok and cw.branches()["old-work"] == unique
        again = await restore(world.client, cw.store, cw.root, REPO, "old-work")
        assert not again.ok and "exists" in again.message


async def test_a_branch_pushed_between_plan_and_apply_survives(world: World, tmp_path: Path) -> None:
    from bot.cleanup import records
    from bot.cleanup.apply import apply
    from bot.cleanup.plan import due
    from bot.cleanup.runner import check_rulesets, observe
    from config.repo import CleanupOptions

    now = time.time()
    await branch(world, "old-work")
    async with cleanup_world(world, tmp_path) as cw:
        await cw.run("report", now + 100 * DAY)
        config = CleanupOptions(mode="apply")
        clock = lambda: now + 110 * DAY  # noqa: E731
        observed, mirror, access = await observe(world.client, cw.store, cw.root, REPO, settle=True, now=clock(), clock=clock)
        [change] = due(await check_rulesets(world.client, REPO, config, observed))
        pushed = await world.actor("alice").push(REPO, "old-work", {"more.txt": "still working"}, "more")  # meanwhile
        rows = {r.branch: r for r in await cw.store.run(records.open_rows, world.platform, REPO)}
        [result] = await apply(cw.store, mirror, access, world.platform, REPO, [change], rows, clock=clock)
        assert result.outcome == "moved"
        assert cw.branches()["old-work"] == pushed and cw.tags() == {}  # kept, and no tag without its deletion
        assert await cw.store.run(records.open_rows, world.platform, REPO) == []  # off the dashboard: evaluated afresh


async def test_the_cap_holds_and_the_oldest_notices_go_first(world: World, tmp_path: Path) -> None:
    now = time.time()
    for n in range(5):
        await branch(world, f"old-{n}")
    async with cleanup_world(world, tmp_path) as cw:
        await cw.run("report", now + 100 * DAY)
        run = await cw.run("apply", now + 110 * DAY, max_per_run=2)
        assert len([r for r in run.results if r.outcome == "deleted"]) == 2
        assert sorted(b for b in cw.branches() if b.startswith("old-")) == ["old-2", "old-3", "old-4"]
        assert [c.kind for c in run.changes if c.branch == "old-4"] == [Kind.DEFER]
        second = await cw.run("apply", now + 110 * DAY + 60, max_per_run=2)
        assert len(second.results) == 2 and len([b for b in cw.branches() if b.startswith("old-")]) == 1


async def test_a_dry_run_writes_nothing(world: World, tmp_path: Path) -> None:
    now = time.time()
    await branch(world, "old-work")
    async with cleanup_world(world, tmp_path) as cw:
        await cw.run("report", now + 100 * DAY)
        since = len(world.fake.requests)
        run = await cw.run("plan", now + 110 * DAY)
        assert [c.kind for c in run.pending] == [Kind.ARCHIVE]
        assert cw.writes(since) == [] and "old-work" in cw.branches()
        assert cw.api_calls(since) <= 8


async def test_protect_and_a_push_take_a_branch_off_the_dashboard(world: World, tmp_path: Path) -> None:
    now = time.time()
    await branch(world, "old-a")
    old_b = await branch(world, "old-b")
    async with cleanup_world(world, tmp_path) as cw:
        first = await cw.run("report", now + 100 * DAY)
        assert "`old-a`" in world.state().issue(first.dashboard or 0).body
        assert f"`old-b` ({old_b[:7]})" in world.state().issue(first.dashboard or 0).body
        pushed = await world.actor("alice").push(REPO, "old-b", {"new.txt": "x"}, "revived")
        second = await cw.run("report", now + 106 * DAY, protect=["old-a"])
        body = world.state().issue(first.dashboard or 0).body
        assert "`old-a`" not in body and old_b[:7] not in body
        assert [c.kind for c in second.changes if c.branch == "old-a"] == [Kind.SKIP]
        # The emulator's commit dates are today's, so the pushed head still looks stale at this
        # clock: it is listed again at its new head, with a grace that starts over.
        [revived] = [c for c in second.changes if c.branch == "old-b"]
        assert revived.kind is Kind.NOTICE and revived.sha == pushed and revived.due_at == now + 113 * DAY
        third = await cw.run("apply", now + 108 * DAY, protect=["old-a"], mode="apply")
        assert third.results == [] and {"old-a", "old-b"} <= set(cw.branches())


async def test_pattern_protection_keeps_due_branches_rulesets_on_github_glob_rules_on_gitea(world: World, tmp_path: Path) -> None:
    now = time.time()
    for name in ("release/1", "release/2", "old-work"):
        await branch(world, name)
    async with cleanup_world(world, tmp_path) as cw:
        await cw.run("report", now + 100 * DAY)
        if world.platform == "github":
            from tests.fakeforge.gh_rules import Ruleset

            world.state().rulesets.append(Ruleset(1, "releases", include=("refs/heads/release/**",)))
        else:
            await world.client.set_protection(REPO, BranchProtection("release/*"))
        since = len(world.fake.requests)
        run = await cw.run("apply", now + 110 * DAY)
        kinds = {c.branch: (c.kind, c.why) for c in run.changes}
        reason = "a ruleset applies to it" if world.platform == "github" else "protected on the platform"
        assert kinds["release/1"] == kinds["release/2"] == (Kind.SKIP, reason)
        assert [r.change.branch for r in run.results] == ["old-work"]
        assert {"release/1", "release/2"} <= set(cw.branches())
        asked = [r.path for r in world.fake.requests[since:] if "/rules/branches/" in r.path]
        assert len(asked) == (3 if world.platform == "github" else 0)  # only the due branches, never every branch


async def test_branches_of_live_worktrees_and_active_claims_are_never_touched(world: World, tmp_path: Path) -> None:
    from bot import claims, worktrees

    now = time.time()
    for name in ("issue-1-fix", "issue-2-old", "old-work"):
        await branch(world, name)
    async with cleanup_world(world, tmp_path) as cw:
        p = world.platform
        await cw.store.run(worktrees.reserve, p, REPO, 1, "issue-1-fix", "main", str(tmp_path / "wt1"), "alice", now, 20, 200, "")
        row = await cw.store.run(worktrees.reserve, p, REPO, 2, "issue-2-old", "main", str(tmp_path / "wt2"), "alice", now, 20, 200, "")
        await cw.store.run(worktrees.mark, row.worktree.id, worktrees.State.REMOVED, now)  # worktree gone, claim still held
        await cw.store.run(claims.claim, p, REPO, 2, "alice", now, now + 365 * DAY, 5)
        run = await cw.run("plan", now + 100 * DAY)
        kinds = {c.branch: (c.kind, c.why) for c in run.changes}
        assert kinds["issue-1-fix"] == kinds["issue-2-old"] == (Kind.SKIP, "a live worktree or claim uses it")
        assert kinds["old-work"][0] is Kind.NOTICE


async def test_without_notify_there_is_no_dashboard_but_the_grace_still_holds(world: World, tmp_path: Path) -> None:
    now = time.time()
    await branch(world, "old-work")
    async with cleanup_world(world, tmp_path) as cw:
        first = await cw.run("apply", now + 100 * DAY, notify=False)
        assert first.dashboard is None and not [i for i in world.state().issues.values() if i.title == "Stale branches"]
        assert (await cw.run("apply", now + 103 * DAY, notify=False)).results == []
        assert [r.outcome for r in (await cw.run("apply", now + 108 * DAY, notify=False)).results] == ["deleted"]
        assert "old-work" not in cw.branches() and len(cw.tags()) == 1


async def test_ruleset_reads_through_the_clients(world: World) -> None:
    """GitHub answers the active rules for any branch name; evaluate-mode rulesets and exclusions
    do not apply. Gitea has no rulesets: both reads answer 'none' without a request."""
    from tests.fakeforge.gh_rules import Ruleset

    assert await world.client.has_rulesets(REPO) is False
    world.state().rulesets.extend([
        Ruleset(1, "releases", include=("refs/heads/release/**",), exclude=("refs/heads/release/tmp-*",), rules=("deletion", "update")),
        Ruleset(2, "default", include=("~DEFAULT_BRANCH",), rules=("non_fast_forward",)),
        Ruleset(3, "trial", include=("~ALL",), enforcement="evaluate"),
    ])
    since = len(world.fake.requests)
    expected = {
        "release/1.0": ("deletion", "update"), "release/a/b": ("deletion", "update"), "release/tmp-x": (),
        "main": ("non_fast_forward",), "feature": (), "not-there-yet": (),
    }
    if world.platform == "github":
        assert await world.client.has_rulesets(REPO) is True
        assert {b: await world.client.branch_rules(REPO, b) for b in expected} == expected
    else:
        assert await world.client.has_rulesets(REPO) is False
        assert {b: await world.client.branch_rules(REPO, b) for b in expected} == {b: () for b in expected}
        assert len(world.fake.requests) == since
