"""Stale-branch cleanup end to end on both platforms: real clients, the emulator on loopback, real git."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cleanup.plan import Kind
from bot.cleanup.runner import run_cleanup
from bot.forges.base import BranchProtection
from bot.git.mirror import GitRoot
from config.repo import CleanupOptions
from tests.conftest import BOT, REPO, World
from tests.fakeforge.gitrepo import Ident
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

        restored = await restore(world.client, cw.storage, cw.root, REPO, "old-work")
        assert restored.ok and cw.branches()["old-work"] == unique
        again = await restore(world.client, cw.storage, cw.root, REPO, "old-work")
        assert not again.ok and "exists" in again.message


async def test_a_branch_pushed_between_plan_and_apply_survives(world: World, tmp_path: Path) -> None:
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
        observed, mirror, access = await observe(world.client, cw.storage, cw.root, REPO, settle=True, now=clock(), clock=clock)
        [change] = due(await check_rulesets(world.client, REPO, config, observed))
        pushed = await world.actor("alice").push(REPO, "old-work", {"more.txt": "still working"}, "more")  # meanwhile
        rows = {r.branch: r for r in await cw.storage.cleanup.open_rows(world.platform, REPO)}
        [result] = await apply(cw.storage, mirror, access, world.platform, REPO, [change], rows, clock=clock)
        assert result.outcome == "moved"
        assert cw.branches()["old-work"] == pushed and cw.tags() == {}  # kept, and no tag without its deletion
        assert await cw.storage.cleanup.open_rows(world.platform, REPO) == []  # off the dashboard: evaluated afresh


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
    from bot.storage.worktrees import State

    now = time.time()
    for name in ("issue-1-fix", "issue-2-old", "old-work"):
        await branch(world, name)
    async with cleanup_world(world, tmp_path) as cw:
        p = world.platform
        await cw.storage.worktrees.reserve(p, REPO, 1, "issue-1-fix", "main", str(tmp_path / "wt1"), "alice", now, 20, 200, "")
        row = await cw.storage.worktrees.reserve(p, REPO, 2, "issue-2-old", "main", str(tmp_path / "wt2"), "alice", now, 20, 200, "")
        await cw.storage.worktrees.mark(row.worktree.id, State.REMOVED, now)  # worktree gone, claim still held
        await cw.storage.claims.claim(p, REPO, 2, "alice", now, now + 365 * DAY, 5)
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


def mentions(markdown: str) -> list[str]:
    """The @logins a forge would notify for `markdown`: CommonMark code spans (a run of n backticks
    up to the next run of exactly n) are literal; elsewhere '@login' after a non-word character."""
    import re

    text, rest = [], markdown
    while (opening := re.search(r"`+", rest)) is not None:
        text.append(rest[:opening.start()])
        after = rest[opening.end():]
        closing = next((m for m in re.finditer(r"`+", after) if len(m.group()) == len(opening.group())), None)
        if closing is None:  # no closing run: the backticks are plain text
            text.append(opening.group())
            rest = after
            continue
        rest = after[closing.end():]
    text.append(rest)
    return re.findall(r"(?:^|(?<=[^\w`]))@([A-Za-z0-9][A-Za-z0-9-]*)", " ".join(text))


async def test_names_from_the_forge_cannot_mass_mention_or_break_the_restore_line(world: World, tmp_path: Path) -> None:
    """Branch and committer names are whatever someone pushed: git allows '`', '@', ',', ';' and
    '$' in them. The dashboard mentions each real last committer once and no one else, and its
    restore lines are safe to paste into a shell."""
    import shlex

    now = time.time()
    git = world.state().git
    main = git.resolve("main") or ""
    made = {
        "loud": Ident("Mallory @dave @erin @frank", "mallory@example.com", int(now)),
        "at-name": Ident("@gina", "gina@example.com", int(now)),
        "x`@hank,@ivy,@jack`": Ident("Mallory", "mallory@example.com", int(now)),
        "noreply": Ident("Alice A.", "7+alice@users.noreply.github.com", int(now)),
        "spoofed": Ident("Eve", "1+kim,@lee@users.noreply.github.com", int(now)),
        "x;touch${IFS}pwned": Ident("Alice A.", "7+alice@users.noreply.github.com", int(now)),
    }
    for name, who in made.items():
        git.update_ref(f"refs/heads/{name}", git.commit_files(main, {f"{len(name)}.txt": name}, "work", who))
    async with cleanup_world(world, tmp_path) as cw:
        first = await cw.run("report", now + 100 * DAY)
        body = world.state().issue(first.dashboard or 0).body
        assert mentions(body) == ["alice"]  # the noreply login, once; names and branch names mention no one
        assert "Mallory @dave @erin @frank" in body and "x`@hank,@ivy,@jack`" in body  # shown, as code
        done = await cw.run("apply", now + 108 * DAY, mode="apply")
        assert len([r for r in done.results if r.outcome == "deleted"]) == len(made)
        body = world.state().issue(first.dashboard or 0).body
        assert mentions(body) == []
        line = next(ln for ln in body.split("\n") if "pwned" in ln)
        command = line.split("restore: `", 1)[1].split("`", 1)[0]
        assert shlex.split(command) == ["forgebot", "cleanup", "restore", REPO, "x;touch${IFS}pwned"]


async def test_gitea_rules_match_as_gitea_matches_them(world: World, tmp_path: Path) -> None:
    """Gitea compares a plain rule name without case and reads `{a,b}` in a glob as a choice
    (models/git/protected_branch.go); on GitHub the same branches are protected by name. Either
    way they are never touched, and the unprotected branch still goes."""
    now = time.time()
    for name in ("hotfix/1", "release/2", "keep-me", "old-work"):
        await branch(world, name)
    rules = ("{release,hotfix}/*", "Keep-Me") if world.platform == "gitea" else ("hotfix/1", "release/2", "keep-me")
    for rule in rules:
        await world.client.set_protection(REPO, BranchProtection(rule))
    async with cleanup_world(world, tmp_path) as cw:
        await cw.run("report", now + 100 * DAY)
        run = await cw.run("apply", now + 110 * DAY, mode="apply")
        kinds = {c.branch: (c.kind, c.why) for c in run.changes}
        assert kinds["hotfix/1"] == kinds["release/2"] == kinds["keep-me"] == (Kind.SKIP, "protected on the platform")
        assert [(r.change.branch, r.outcome) for r in run.results] == [("old-work", "deleted")]
        assert {"hotfix/1", "release/2", "keep-me"} <= set(cw.branches())


async def test_an_open_pull_requests_head_is_kept_whatever_the_case_of_the_repository_name(world: World, tmp_path: Path) -> None:
    """Both forges compare repository names without case, and answer with the canonical one in a
    pull request's head: `forgebot cleanup apply ACME/WIDGETS` must still see the open head."""
    from bot.cleanup.runner import run_cleanup
    from config.repo import CleanupOptions

    now = time.time()
    await branch(world, "open-pr")
    await world.actor("alice").open_pr(REPO, "open-pr")
    await branch(world, "old-work")
    config = CleanupOptions(mode="apply")
    async with cleanup_world(world, tmp_path) as cw:
        for at in (now + 100 * DAY, now + 110 * DAY):
            run = await run_cleanup(world.client, cw.storage, cw.root, REPO.upper(), config, mode="apply", bot_login=None,
                                    clock=lambda: at)  # noqa: B023
        assert [(c.kind, c.why) for c in run.changes if c.branch == "open-pr"] == [(Kind.SKIP, "the head of an open pull request")]
        assert "open-pr" in cw.branches() and "old-work" not in cw.branches()


async def test_hostile_branch_names_are_archived_and_deleted_exactly(world: World, tmp_path: Path) -> None:
    """Names from the forge go to git only inside refspecs and leases, never as an argument of
    their own: a name like an option, unicode, or 190 bytes is archived and deleted like any
    other, and nothing else is touched."""
    now = time.time()
    git = world.state().git
    main = git.resolve("main") or ""
    names = ["-delete", "--force", "--exec=touch", "ünïcödé/ブランチ", "x" * 190, "a.b/c@d"]
    shas = {}
    for n, name in enumerate(names):
        shas[name] = git.commit_files(main, {f"f{n}.txt": name}, "work", Ident("Alice", "alice@example.com", int(now)))
        git.update_ref(f"refs/heads/{name}", shas[name])
    async with cleanup_world(world, tmp_path) as cw:
        await cw.run("report", now + 100 * DAY)
        run = await cw.run("apply", now + 110 * DAY, mode="apply", max_per_run=50)
        assert sorted((r.change.branch, r.outcome) for r in run.results) == sorted((name, "deleted") for name in names)
        day = time.strftime("%Y-%m-%d", time.gmtime(now + 110 * DAY))
        assert cw.tags() == {f"archive/{name}/{day}": shas[name] for name in names}
        assert set(cw.branches()) == {"main"}


async def test_spoofed_noreply_addresses_page_no_more_than_twenty_people(world: World, tmp_path: Path) -> None:
    """Anyone who can push can write `N+login@users.noreply.github.com` as their address: 30
    branches with 30 such logins mention 20 people (the oldest branches first) and name the rest."""
    now = time.time()
    git = world.state().git
    main = git.resolve("main") or ""
    for n in range(30):
        who = Ident("Eve", f"{n}+user{n:02d}@users.noreply.github.com", int(now))
        git.update_ref(f"refs/heads/spam-{n:02d}", git.commit_files(main, {f"s{n}.txt": str(n)}, "work", who))
    async with cleanup_world(world, tmp_path) as cw:
        run = await cw.run("report", now + 100 * DAY)
        body = world.state().issue(run.dashboard or 0).body
        assert mentions(body) == [f"user{n:02d}" for n in range(20)]
        assert all(f"`user{n:02d}`" in body for n in range(20, 30))


async def test_a_deleted_dashboard_is_made_again(world: World, tmp_path: Path) -> None:
    """An admin may delete the dashboard issue: the next run opens a new one instead of failing."""
    now = time.time()
    await branch(world, "old-a")
    async with cleanup_world(world, tmp_path) as cw:
        first = await cw.run("report", now + 100 * DAY)
        del world.state().issues[first.dashboard or 0]  # deleted on the forge
        await branch(world, "old-b")
        second = await cw.run("report", now + 101 * DAY, stale_after="1s")
        assert second.dashboard not in (None, first.dashboard)
        body = world.state().issue(second.dashboard or 0).body
        assert "`old-a`" in body and "`old-b`" in body


async def test_restore_brings_back_the_latest_deletion_not_an_older_archive(world: World, tmp_path: Path) -> None:
    """Archived and deleted, restored, worked on and merged, deleted again (nothing to archive):
    restore brings back the head of the last deletion, not the older archive's."""
    from bot.cleanup.restore import restore

    now = time.time()
    first = await branch(world, "feat")
    async with cleanup_world(world, tmp_path) as cw:
        await cw.run("report", now + 100 * DAY)
        assert [r.outcome for r in (await cw.run("apply", now + 110 * DAY, mode="apply")).results] == ["deleted"]
        assert (await restore(world.client, cw.storage, cw.root, REPO, "feat")).sha == first
        git = world.state().git
        later = git.commit_files(first, {"more.txt": "more"}, "more work", Ident("Alice", "alice@example.com", int(now)))
        git.update_ref("refs/heads/feat", later)
        git.update_ref("refs/heads/main", git.commit_files(later, {"after.txt": "x"}, "merged", Ident("A", "a@x", int(now))))
        await cw.run("report", now + 120 * DAY)
        done = await cw.run("apply", now + 130 * DAY, mode="apply")
        assert [(r.change.kind, r.outcome) for r in done.results] == [(Kind.DELETE, "deleted")]  # all in main: no tag
        again = await restore(world.client, cw.storage, cw.root, REPO, "feat")
        assert again.ok and cw.branches()["feat"] == later


async def test_a_branch_the_forge_refuses_to_delete_does_not_take_every_later_runs_budget(world: World, tmp_path: Path) -> None:
    """The server refuses one deletion (here git itself: a tag `archive/blocked/<day>/x` leaves no
    room for the tag `archive/blocked/<day>`). That branch is listed again with a new grace, so
    it does not stand first in every later run and hold `max_per_run` for ever."""
    now = time.time()
    blocked = await branch(world, "blocked")
    for name in ("old-1", "old-2"):
        await branch(world, name)
    day = time.strftime("%Y-%m-%d", time.gmtime(now + 110 * DAY))
    world.state().git.update_ref(f"refs/tags/archive/blocked/{day}/x", blocked)
    async with cleanup_world(world, tmp_path) as cw:
        await cw.run("report", now + 100 * DAY)
        first = await cw.run("apply", now + 110 * DAY, mode="apply", max_per_run=1)
        assert [(r.change.branch, r.outcome) for r in first.results] == [("blocked", "refused")]
        assert "remote rejected" in first.results[0].detail
        second = await cw.run("apply", now + 110 * DAY + 3600, mode="apply", max_per_run=1)
        assert [(r.change.branch, r.outcome) for r in second.results] == [("old-1", "deleted")]
        assert [c.kind for c in second.changes if c.branch == "blocked"] == [Kind.WAIT]
        assert "blocked" in cw.branches()


async def test_the_status_page_lists_the_branches_scheduled_for_cleanup(world: World, bot_factory: Any, tmp_path: Path) -> None:
    from tests.test_status import sign_in, status_site, text

    await branch(world, "old-idea")
    await branch(world, "keep-this")
    later = time.time() + 100 * DAY  # both branches' last commits are 100 days old by then
    async with world.fake.serve():
        async with status_site(world, bot_factory, git_root=tmp_path / "git") as (app, http):
            root = GitRoot(app.settings.git_root.resolve())
            root.prepare()
            await run_cleanup(world.client, app.storage, root, REPO, CleanupOptions(protect=["keep-*"]), mode="report",
                              bot_login=BOT, clock=lambda: later)
            await sign_in(http)
            shown = text((await http.get("/status")).text)
    section = shown[shown.index("Branches scheduled for cleanup"):]
    due = datetime.fromtimestamp(later + 7 * DAY, UTC).strftime("%Y-%m-%d")
    assert "old-idea" in section and due in section  # listed now, due after the 7 days of grace
    assert "keep-this" not in section
