"""Worktrees with the other features on both platforms: a pull request merged (squashed, its branch
deleted as `review.delete_branch` does), and names the config or the webhook bring."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.storage.worktrees import State
from tests.conftest import BOT, REPO, World
from tests.support.worktrees import bot_comments, bot_on_served_forge, wait_for_comment

pytestmark = pytest.mark.anyio

GIT_ENV = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}


async def start(world: World, app: Any, number: int, login: str = "alice") -> Any:
    """`/start` by `login`, answered and settled: the issue's live worktree row."""
    await world.actor(login).comment(REPO, number, "/start")
    await wait_for_comment(world, number, "Started: branch")
    await app.wait_idle()
    return await app.storage.worktrees.live(world.platform, REPO, number)


def commit(path: Path, name: str, text: str) -> str:
    """A commit in the worktree by a person's git, their own hooks and fsmonitor off."""
    git = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-C", str(path)]
    env = {**GIT_ENV, "HOME": str(path)}
    (path / name).write_text(text)
    for args in (["add", name], ["commit", "-qm", f"add {name}"]):
        subprocess.run([*git, *args], env=env, check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], env=env, check=True, capture_output=True, text=True).stdout.strip()


async def push_from(app: Any, world: World, number: int) -> None:
    """`forgebot push` for the worktree of issue `number`, as the CLI and the agent API do it."""
    from bot.repoconfig import config_in_force
    from handlers.worktree_push import push_worktree

    ctx = app.processor.context()
    row = await app.storage.worktrees.live(world.platform, REPO, number)
    await push_worktree(ctx, ctx.forges.get(world.platform), row, await config_in_force(ctx, world.platform, REPO))


def archive_tags(world: World) -> dict[str, str]:
    return {n: s for n, s in world.state().git.refs("refs/tags/").items() if n.startswith("archive/")}


async def test_a_squash_merged_pull_request_whose_branch_was_deleted_archives_nothing(
        world: World, bot_factory: Any, tmp_path: Path) -> None:
    """The pull request keeps the pushed commits on the forge: removal must not tag them again;
    only a commit made after the merged head is work the forge lacks."""
    number = await world.actor("bob").open_issue(REPO, "Squash me")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        row = await start(world, app, number)
        path = Path(row.path)
        commit(path, "work.txt", "the work")
        await push_from(app, world, number)
        pr = await world.actor("alice").open_pr(REPO, row.branch, title="Squash me", body=f"Closes #{number}")
        await app.wait_idle()
        world.fake.stop_webhooks()  # the sweep decides, after the branch is gone (as review.delete_branch leaves it)
        await world.actor("alice").merge_pr(REPO, pr, "squash")
        await world.actor("alice").delete_branch(REPO, row.branch)
        assert await app.scheduler.run_job("worktrees-sweep")
        assert not path.exists() and await app.storage.worktrees.all_live() == []
        assert archive_tags(world) == {}
        assert not any("are kept in" in c for c in bot_comments(world, number))


async def test_a_config_that_makes_an_invalid_branch_name_is_one_clear_answer(world: World, bot_factory: Any, tmp_path: Path) -> None:
    """Each part passes the config's checks, the whole name does not ('fix//7-x'): git's own rules
    are asked before anything is made, and nothing is left in `creating` for the resume job."""
    config = 'worktrees:\n  branch: "{prefix}/{number}-{slug}"\n  prefixes: {bug: "fix/"}\n'
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    await world.actor("alice").create_label(REPO, "bug")
    number = await world.actor("bob").open_issue(REPO, "Broken", labels=["bug"])
    branches = set(world.state().git.branches())
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/start")
        await app.wait_idle()
        [line] = [line for c in bot_comments(world, number) for line in c.splitlines() if line.startswith("- `/start`")]
        assert "`fix//" in line and "`worktrees.branch`" in line and ".forgebot.yml" in line
        assert await app.storage.worktrees.all_live() == []
        assert set(world.state().git.branches()) == branches
        assert not (tmp_path / "git" / "worktrees").exists() or not any((tmp_path / "git" / "worktrees").rglob("*.git"))


async def test_git_errors_name_the_git_command_not_its_options(tmp_path: Path) -> None:
    from bot.git.mirror import GitRoot
    from bot.git.runner import GitFailed, run_git

    root = GitRoot(tmp_path / "git")
    root.prepare()
    with pytest.raises(GitFailed) as failed:
        await run_git(["--git-dir", str(tmp_path / "missing.git"), "rev-parse", "HEAD"], env=root.env())
    assert str(failed.value).startswith("git rev-parse failed: ")


HOOKS = ("post-checkout", "reference-transaction", "pre-push", "pre-commit", "post-commit", "post-index-change", "pre-auto-gc")


async def test_no_hook_or_fsmonitor_runs_from_a_hostile_repository(world: World, bot_factory: Any, tmp_path: Path) -> None:
    """Content shaped like a git directory (hooks, a config with core.fsmonitor) and, worse, hooks
    and such a config planted in the mirror itself: neither /start, nor a push, nor the removal
    that inspects, archives and deletes ever runs one of them."""
    marker = tmp_path / "PWNED"
    script = f"#!/bin/sh\necho \"$0\" >> {marker}\n"
    hostile_config = f"[core]\n\tfsmonitor = {tmp_path}/hook.sh\n\thooksPath = .githooks\n"
    await world.actor("alice").push(REPO, "main", {
        ".githooks/post-checkout": script, "hooks/post-checkout": script, "config": hostile_config, "HEAD": "ref: refs/heads/main\n",
        "refs/heads/.keep": "", "objects/.keep": "", "nested.git/config": hostile_config, "nested.git/HEAD": "ref: refs/heads/main\n",
    })
    first = await world.actor("bob").open_issue(REPO, "One")
    second = await world.actor("bob").open_issue(REPO, "Two")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        row = await start(world, app, first)
        mirror = Path(subprocess.run(["git", "-C", row.path, "rev-parse", "--git-common-dir"], capture_output=True, text=True,
                                     check=True, env={**GIT_ENV, "HOME": str(tmp_path)}).stdout.strip())
        (tmp_path / "hook.sh").write_text(script)
        (tmp_path / "hook.sh").chmod(0o755)
        for hook in HOOKS:  # planted where git looks by default, and where a planted config points
            for where in (mirror / "hooks", Path(row.path) / ".githooks"):
                (where / hook).write_text(script)
                (where / hook).chmod(0o755)
        with (mirror / "config").open("a") as config:
            config.write(f"[core]\n\tfsmonitor = {tmp_path}/hook.sh\n\thooksPath = {mirror}/hooks\n")

        path = Path((await start(world, app, second)).path)  # fetch, branch, worktree add
        commit(path, "work.txt", "work")
        await push_from(app, world, second)  # status, push
        commit(path, "more.txt", "more")
        await world.actor("alice").close_issue(REPO, second)  # inspect, archive (a push), remove
        await app.wait_idle()
        assert not path.exists() and archive_tags(world)
        assert not marker.exists(), marker.read_text()


@pytest.mark.parametrize("limit", ["max_per_repo", "disk", "branch_name"])
async def test_a_refused_start_leaves_the_issue_unclaimed_and_unassigned(world: World, bot_factory: Any, tmp_path: Path, limit: str) -> None:
    """A /start refused for a limit, the disk or the config answers 'not done' and changes nothing:
    no claim, no assignee, no branch."""

    config = {"max_per_repo": "worktrees:\n  max_per_repo: 1\n",
              "disk": "claims: {}\n",
              "branch_name": 'worktrees:\n  branch: "{prefix}/{number}-{slug}"\n  branch_prefix: "fix/"\n'}[limit]
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    first = await world.actor("bob").open_issue(REPO, "One")
    second = await world.actor("bob").open_issue(REPO, "Two")
    overrides = {"git_min_free": "1000000T"} if limit == "disk" else {}
    async with bot_on_served_forge(world, bot_factory, tmp_path, **overrides) as app:
        if limit == "max_per_repo":
            await world.actor("alice").comment(REPO, first, "/start")
            await wait_for_comment(world, first, "Started: branch")
        await world.actor("carol").comment(REPO, second, "/start")
        await app.wait_idle()
        assert "- `/start`" in bot_comments(world, second)[-1]
        assert await app.storage.claims.active_claim(world.platform, REPO, second) is None
        assert world.state().issue(second).assignees == []
        assert not any(str(second) in b for b in world.state().git.branches())


async def test_a_repository_whose_name_starts_with_a_dot_gets_worktrees(world: World, bot_factory: Any, tmp_path: Path) -> None:
    """`.github` (GitHub's organization defaults) and `.profile` (Gitea's) are ordinary names on
    both platforms; only '.' and '..' can never be a repository."""
    dotted = "acme/.github"
    world.fake.create_repo(dotted, owner="alice")
    world.fake.set_permission(dotted, BOT, "admin")
    number = await world.actor("bob").open_issue(dotted, "Templates")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(dotted, number, "/start")
        await eventually_comment(world, dotted, number, "Started: branch")
        await app.wait_idle()
        row = await app.storage.worktrees.live(world.platform, dotted, number)
        assert Path(row.path).resolve().is_relative_to((tmp_path / "git").resolve()) and (Path(row.path) / "README.md").is_file()


async def eventually_comment(world: World, repo: str, number: int, text: str) -> None:
    from tests.conftest import eventually

    def seen() -> bool:
        state = world.state(repo)
        return any(text in state.comments[c].body for c in state.issue(number).comments if state.comments[c].user == BOT)

    await eventually(seen, 30.0)


def test_dot_and_dot_dot_are_never_a_path_component() -> None:
    from bot.git.mirror import BadRepoName, safe_component

    assert safe_component(".github") == ".github"
    for bad in (".", "..", "", "a/b", "-x", "a\\b", ".git"):
        with pytest.raises(BadRepoName):
            safe_component(bad)


async def test_concurrent_starts_over_the_agent_api_make_one_worktree_per_issue(world: World, bot_factory: Any, tmp_path: Path) -> None:
    """Three agent starts of one issue and one of each of four others, all at once on a cold
    mirror: every answer is 200, one branch and one worktree per issue, no git lock error."""
    import asyncio

    import httpx

    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "claims:\n  max_per_user: 10\n"})
    numbers = [await world.actor("bob").open_issue(REPO, "Same title") for _ in range(5)]
    before = set(world.state().git.branches())
    tokens = "alice:agent-token-of-alice-0123456789"
    async with bot_on_served_forge(world, bot_factory, tmp_path, agent_tokens=tokens) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot", timeout=120) as http:
            calls = [http.post(f"/api/repos/{REPO}/issues/{n}/start", headers={"authorization": "Bearer agent-token-of-alice-0123456789"})
                     for n in [numbers[0], numbers[0], *numbers, numbers[0]]]
            answers = await asyncio.gather(*calls)
        assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers if a.status_code != 200]
        paths = {a.json()["number"]: a.json()["path"] for a in answers}
        assert len({a.json()["path"] for a in answers}) == 5 and sorted(paths) == sorted(numbers)
        new = set(world.state().git.branches()) - before
        assert new == {f"issue-{n}-same-title" for n in numbers}
        rows = await app.storage.worktrees.all_live()
        assert len(rows) == 5 and all(r.state is State.READY and Path(r.path).is_dir() for r in rows)


async def test_review_merging_and_deleting_the_branch_removes_the_worktree_and_archives_nothing(
        world: World, bot_factory: Any, tmp_path: Path) -> None:
    """review's own squash merge with `delete_branch: true`, on the worktree's pull request: the
    merge event removes the worktree, and the pushed work (kept by the merged pull request) gets
    no archive tag."""
    world.fake.add_user("dave")
    world.fake.set_permission(REPO, "dave", "write")
    config = "review:\n  merge: auto\n  merge_method: squash\n  delete_branch: true\n"
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config, "OWNERS": "approvers: [carol]\nreviewers: [dave]\n"})
    number = await world.actor("bob").open_issue(REPO, "Reviewed work")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        row = await start(world, app, number)
        commit(Path(row.path), "work.txt", "the work")
        await push_from(app, world, number)
        pr = await world.actor("alice").open_pr(REPO, row.branch, title="Reviewed work", body=f"Closes #{number}")
        await app.wait_idle()
        await world.actor("dave").comment(REPO, pr, "/lgtm")
        await world.actor("carol").comment(REPO, pr, "/approve")
        await app.wait_idle()
        assert world.state().issue(pr).pull.merged and row.branch not in world.state().git.branches()
        assert not Path(row.path).exists() and await app.storage.worktrees.all_live() == []
        assert archive_tags(world) == {}
