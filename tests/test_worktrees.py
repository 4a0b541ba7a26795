"""/start end to end on both platforms: claim, branch on the forge, worktree on the host, one answer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.storage.worktrees import State
from tests.conftest import REPO, World, db_rows
from tests.support.worktrees import bot_comments, bot_on_served_forge, wait_for_comment

pytestmark = pytest.mark.anyio

PATH_RE = re.compile(r"Worktree on the bot's host: `([^`]+)`")


async def test_start_claims_makes_the_branch_and_the_worktree_and_answers_once(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix the widget!")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/start")
        await app.wait_idle()
        assert any("preparing (first use of this repository)" in c for c in bot_comments(world, number))
        reply = await wait_for_comment(world, number, "Started: branch")
        branch = f"issue-{number}-fix-the-widget"
        assert f"branch `{branch}` from `main`" in reply and "forgebot push" in reply
        [only] = bot_comments(world, number)  # the 'preparing' comment was edited, not a second one
        path = Path(PATH_RE.search(only).group(1))  # type: ignore[union-attr]
        assert (path / "README.md").read_text() == "# widgets\n"
        sha = world.state().git.branches()[branch]
        assert sha == world.state().git.branches()["main"] and f"`{sha[:7]}`" in reply
        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        assert held is not None and held.holder == "alice"
        assert world.state().issue(number).assignees == ["alice"]

        # Again by the holder: the same worktree, no second branch.
        await world.actor("alice").comment(REPO, number, "/start")
        await app.wait_idle()
        second = bot_comments(world, number)[-1]
        assert PATH_RE.search(second).group(1) == str(path)  # type: ignore[union-attr]
        assert [b for b in world.state().git.branches() if b.startswith(f"issue-{number}")] == [branch]
        assert db_rows(app, "SELECT count(*) FROM worktrees")[0][0] == 1


async def test_start_is_refused_while_someone_else_holds_the_issue(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/claim")
        await app.wait_idle()
        await world.actor("carol").comment(REPO, number, "/start")
        await app.wait_idle()
        assert "claimed by @alice" in bot_comments(world, number)[-1]
        assert await app.storage.worktrees.all_live() == []
        assert not any(b.startswith(f"issue-{number}") for b in world.state().git.branches())


async def test_start_from_a_named_base_and_a_label_prefix(world: World, bot_factory: Any, tmp_path: Path) -> None:
    release = await world.actor("alice").push(REPO, "release", {"r.txt": "r"})
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "worktrees:\n  prefixes: {bug: fix/}\n  base_for: {hotfix: release}\n"})
    await world.actor("alice").create_label(REPO, "bug")
    number = await world.actor("bob").open_issue(REPO, "Crash on start", labels=["bug"])
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/start release")
        reply = await wait_for_comment(world, number, "Started: branch")
        assert f"branch `fix/{number}-crash-on-start` from `release` at `{release[:7]}`" in reply
        assert world.state().git.branches()[f"fix/{number}-crash-on-start"] == release
        await app.wait_idle()


@pytest.mark.parametrize("argument", ["--upload-pack=touch /tmp/x", "../../etc", "refs/heads/main", "main:refs/x", "nope"])
async def test_a_bad_base_is_one_clear_line_and_changes_nothing_on_disk(world: World, bot_factory: Any, tmp_path: Path, argument: str) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, f'/start "{argument}"')
        await app.wait_idle()
        await wait_for_comment(world, number, "not" if argument != "nope" else "no branch")
        assert not (tmp_path / "git" / "worktrees").exists() or not any((tmp_path / "git" / "worktrees").rglob("README.md"))
        assert not any(b.startswith(f"issue-{number}") for b in world.state().git.branches())
        await app.wait_idle()


async def test_a_taken_branch_name_gets_a_suffix(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    other = await world.actor("alice").push(REPO, f"issue-{number}-fix", {"x.txt": "someone else's"})
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/start")
        reply = await wait_for_comment(world, number, "Started: branch")
        assert f"`issue-{number}-fix-2`" in reply
        assert world.state().git.branches()[f"issue-{number}-fix"] == other  # left alone
        await app.wait_idle()


async def started(world: World, app: Any, number: int, login: str = "alice") -> Path:
    await world.actor(login).comment(REPO, number, "/start")
    reply = await wait_for_comment(world, number, "Started: branch")
    await app.wait_idle()
    return Path(PATH_RE.search(reply).group(1))  # type: ignore[union-attr]


async def git(path: Path, *args: str) -> str:
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "HOME": str(path), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    return subprocess.run(["git", "-C", str(path), *args], env=env, check=True, capture_output=True, text=True).stdout


async def test_closing_the_issue_removes_a_clean_worktree(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        path = await started(world, app, number)
        await world.actor("alice").close_issue(REPO, number)
        await app.wait_idle()
        assert not path.exists()
        assert await app.storage.worktrees.all_live() == []
        assert f"issue-{number}-fix" in world.state().git.branches()  # the forge keeps the branch


async def test_a_dirty_worktree_survives_its_issue_closing_and_says_why(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        path = await started(world, app, number)
        (path / "wip.txt").write_text("not committed yet")
        await world.actor("alice").close_issue(REPO, number)
        await app.wait_idle()
        assert (path / "wip.txt").read_text() == "not committed yet"
        [row] = await app.storage.worktrees.all_live()
        assert row.state is State.KEPT and "uncommitted changes (wip.txt)" in row.note
        assert "was not removed" in bot_comments(world, number)[-1]
        assert await app.scheduler.run_job("worktrees-sweep")  # the sweep keeps it too, and says nothing more
        assert (path / "wip.txt").exists() and len([c for c in bot_comments(world, number) if "was not removed" in c]) == 1


async def test_unpushed_commits_are_archived_before_removal_and_can_be_restored(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        path = await started(world, app, number)
        (path / "done.txt").write_text("finished work")
        await git(path, "add", "done.txt")
        await git(path, "commit", "-qm", "the work")
        head = (await git(path, "rev-parse", "HEAD")).strip()
        await world.actor("alice").unassign(REPO, number, "alice")  # the claim lets go (as /unclaim does)
        await app.storage.claims.release(world.platform, REPO, number, 0.0, "unclaimed")
        await world.actor("alice").close_issue(REPO, number)
        await app.wait_idle()
        assert not path.exists()
        tags = {name: sha for name, sha in world.state().git.refs("refs/tags/").items() if name.startswith("archive/")}
        [(tag, sha)] = tags.items()
        assert tag.startswith(f"archive/issue-{number}-fix/") and sha == head
        assert "`" + tag + "`" in bot_comments(world, number)[-1]
        restored = world.state().git.read_blob(sha, "done.txt")
        assert restored == b"finished work"


async def test_a_merged_pull_request_removes_the_worktree(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        path = await started(world, app, number)
        branch = f"issue-{number}-fix"
        await world.actor("alice").push(REPO, branch, {"fix.txt": "fixed"})
        pr = await world.actor("alice").open_pr(REPO, branch, title="Fix", body="for the widget")
        await world.actor("alice").merge_pr(REPO, pr)
        await app.wait_idle()
        assert not path.exists() and await app.storage.worktrees.all_live() == []


async def test_the_sweep_removes_what_a_lost_webhook_left_behind(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        path = await started(world, app, number)
        world.fake.stop_webhooks()
        await world.actor("alice").close_issue(REPO, number)
        assert path.exists()
        assert await app.scheduler.run_job("worktrees-sweep")
        assert not path.exists()


async def test_a_draft_pull_request_starts_with_an_empty_commit_and_copies_the_issue(world: World, bot_factory: Any, tmp_path: Path) -> None:
    from bot.forges.base import Milestone

    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "worktrees:\n  draft_pr: true\n"})
    await world.actor("alice").create_label(REPO, "bug")
    number = await world.actor("bob").open_issue(REPO, "Draft me", labels=["bug"])
    milestone = await world.client.create_milestone(REPO, Milestone("v1"))
    await world.client.set_milestone(REPO, number, milestone.id)
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/start")
        reply = await wait_for_comment(world, number, "Draft pull request: #")
        await app.wait_idle()
        branch = f"issue-{number}-draft-me"
        [pull] = [p for p in await world.client.list_pulls(REPO, head=branch) if p.head_ref == branch]
        assert f"Draft pull request: #{pull.number}" in reply
        assert f"Closes #{number}" in pull.body and pull.assignees == ("alice",) and "bug" in pull.labels
        if world.platform == "github":
            assert pull.draft and pull.title == f"Start #{number}: Draft me"
        else:  # Gitea's API has no draft flag: the WIP: prefix is its draft marker
            assert pull.title == f"WIP: Start #{number}: Draft me"
        assert (await world.client.get_issue(REPO, pull.number)).milestone == "v1"
        git = world.state().git
        tip = git.commit(git.branches()[branch])
        assert tip.message == f"Start #{number}: Draft me" and tip.parents == [git.branches()["main"]]
        assert tip.tree == git.commit(git.branches()["main"]).tree  # empty: no change
        [row] = await app.storage.worktrees.all_live()
        assert row.pull_number == pull.number and row.sha == tip.sha


async def test_help_lists_start(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Help")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/forgebot help")
        await app.wait_idle()
        assert "/start [BASE]" in bot_comments(world, number)[-1]


async def test_a_kept_worktree_is_not_handed_to_someone_else(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        path = await started(world, app, number)
        (path / "mine.txt").write_text("alice's unfinished work")
        await world.actor("alice").comment(REPO, number, "/unclaim")
        await app.wait_idle()
        [row] = await app.storage.worktrees.all_live()
        assert row.state is State.KEPT
        await world.actor("carol").comment(REPO, number, "/start")
        await app.wait_idle()
        assert "@alice's worktree of this issue still has uncommitted changes" in bot_comments(world, number)[-1]
        assert (path / "mine.txt").exists() and await app.storage.claims.active_claim(world.platform, REPO, number) is None
        await world.actor("alice").comment(REPO, number, "/start")  # the holder comes back: hers again, in use
        await app.wait_idle()
        [row] = await app.storage.worktrees.all_live()
        assert row.state is State.READY and row.holder == "alice" and row.note == ""
