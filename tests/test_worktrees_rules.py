"""Worktrees: automatic starts, limits, hostile input, and secrets kept out of sight, on both platforms."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BOT, REPO, World
from tests.support.worktrees import bot_comments, bot_on_served_forge, wait_for_comment

pytestmark = pytest.mark.anyio


async def test_claiming_starts_work_when_the_repository_asks_for_it(world: World, bot_factory: Any, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "worktrees:\n  create_on: [claim]\n"})
    number = await world.actor("bob").open_issue(REPO, "Auto")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/claim")
        reply = await wait_for_comment(world, number, "Started: branch")
        assert f"`issue-{number}-auto`" in reply
        [row] = await app.storage.worktrees.all_live()
        assert row.holder == "alice" and Path(row.path).is_dir()
        await app.wait_idle()


async def test_a_trigger_label_starts_work_for_whoever_added_it(world: World, bot_factory: Any, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": 'triggers:\n  labels:\n    "agent/start": start\n'})
    await world.actor("alice").create_label(REPO, "agent/start")
    number = await world.actor("bob").open_issue(REPO, "Labelled")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").add_label(REPO, number, "agent/start")
        await wait_for_comment(world, number, "Started: branch")
        await app.wait_idle()
        [row] = await app.storage.worktrees.all_live()
        assert row.holder == "alice" and world.state().issue(number).assignees == ["alice"]


async def test_limits_refuse_with_a_clear_answer(world: World, bot_factory: Any, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "worktrees:\n  max_per_repo: 1\n"})
    first = await world.actor("bob").open_issue(REPO, "One")
    second = await world.actor("bob").open_issue(REPO, "Two")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, first, "/start")
        await wait_for_comment(world, first, "Started: branch")
        await world.actor("alice").comment(REPO, second, "/start")
        await app.wait_idle()
        assert "the most `worktrees.max_per_repo` allows" in bot_comments(world, second)[-1]
        assert len(await app.storage.worktrees.all_live()) == 1


async def test_too_little_free_disk_is_refused(world: World, bot_factory: Any, tmp_path: Path) -> None:
    number = await world.actor("bob").open_issue(REPO, "Big")
    async with bot_on_served_forge(world, bot_factory, tmp_path, git_min_free="1000000T") as app:
        await world.actor("alice").comment(REPO, number, "/start")
        await app.wait_idle()
        assert "less than FORGEBOT_GIT_MIN_FREE" in bot_comments(world, number)[-1]
        assert await app.storage.worktrees.all_live() == []


HOSTILE = ["../../../etc/passwd", "--upload-pack=touch pwned", "refs/heads/main", "@{-1}..HEAD~1^:?*[\\",
           "ünïcødé ☃ 💥 漢字", "-" * 5 + "x" * 300, "a/b/../../c.lock"]


@pytest.mark.parametrize("title", HOSTILE)
async def test_hostile_titles_give_a_valid_branch_inside_the_root(world: World, bot_factory: Any, tmp_path: Path, title: str) -> None:
    number = await world.actor("bob").open_issue(REPO, title)
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/start")
        await wait_for_comment(world, number, "Started: branch")
        await app.wait_idle()
        [row] = await app.storage.worktrees.all_live()
        assert row.branch.startswith(f"issue-{number}") and len(row.branch.encode()) < 200
        assert subprocess.run(["git", "check-ref-format", f"refs/heads/{row.branch}"]).returncode == 0
        root = (tmp_path / "git").resolve()
        assert Path(row.path).resolve().is_relative_to(root) and Path(row.path).name == str(number)
        assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
        assert row.branch in world.state().git.branches()


class PsWatcher:
    """Samples every process's command line (what `ps` shows) while git runs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            self.lines.extend(subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout.splitlines())

    def __enter__(self) -> PsWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


async def test_the_token_never_shows_in_ps_config_logs_or_answers(world: World, bot_factory: Any, tmp_path: Path, caplog: Any) -> None:
    import os

    files = {f"data/{i}.bin": os.urandom(50_000) for i in range(60)}  # a fetch long enough to be seen
    await world.actor("alice").push(REPO, "main", files)
    token = world.fake.token(BOT)
    number = await world.actor("bob").open_issue(REPO, "Secret keeping")
    caplog.set_level(logging.DEBUG)
    with PsWatcher() as ps:
        async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
            await world.actor("alice").comment(REPO, number, "/start")
            reply = await wait_for_comment(world, number, "Started: branch")
            path = Path(next(line for line in reply.splitlines() if "bot's host" in line).split("`")[1])
            (path / "x.txt").write_text("x")
            await world.actor("alice").close_issue(REPO, number)  # kept: dirty
            await app.wait_idle()
            await asyncio.sleep(0.1)
    git_lines = [line for line in ps.lines if line.startswith("git") or "/git " in line or "git-remote" in line]
    assert any("fetch" in line for line in git_lines)  # the watcher did see git at work
    # The token as such, and as git receives it: base64 inside a Basic authorization header.
    forms = {token, *(await world.client.git_access(REPO)).secrets}
    assert len(forms) > 1
    for form in forms:
        assert not [line for line in ps.lines if form in line]
        for found in (tmp_path / "git").rglob("*"):
            if found.is_file() and found.suffix not in (".pack", ".idx"):  # every config, ref, log and checkout file
                assert form.encode() not in found.read_bytes(), found
        assert form not in caplog.text
        assert not [c for c in bot_comments(world, number) if form in c]


async def test_assigning_starts_work_for_the_assignee(world: World, bot_factory: Any, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "worktrees:\n  create_on: [assign]\n"})
    number = await world.actor("bob").open_issue(REPO, "Assigned")
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("carol").assign(REPO, number, "alice")
        await wait_for_comment(world, number, "Started: branch")
        await app.wait_idle()
        [row] = await app.storage.worktrees.all_live()
        assert row.holder == "alice"

        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        assert held is not None and held.holder == "alice"  # the assignee holds the claim


async def test_the_host_wide_limit_refuses_too(world: World, bot_factory: Any, tmp_path: Path) -> None:
    first = await world.actor("bob").open_issue(REPO, "One")
    second = await world.actor("bob").open_issue(REPO, "Two")
    async with bot_on_served_forge(world, bot_factory, tmp_path, worktrees_max=1) as app:
        await world.actor("alice").comment(REPO, first, "/start")
        await wait_for_comment(world, first, "Started: branch")
        await world.actor("alice").comment(REPO, second, "/start")
        await app.wait_idle()
        assert "the most FORGEBOT_WORKTREES_MAX allows" in bot_comments(world, second)[-1]


async def test_a_base_per_label_and_the_same_branch_after_a_restart_of_work(world: World, bot_factory: Any, tmp_path: Path) -> None:
    release = await world.actor("alice").push(REPO, "release", {"r.txt": "r"})
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "worktrees:\n  base_for: {hotfix: release}\n"})
    await world.actor("alice").create_label(REPO, "hotfix")
    number = await world.actor("bob").open_issue(REPO, "Patch", labels=["hotfix"])
    async with bot_on_served_forge(world, bot_factory, tmp_path) as app:
        await world.actor("alice").comment(REPO, number, "/start")
        reply = await wait_for_comment(world, number, "Started: branch")
        assert f"from `release` at `{release[:7]}`" in reply
        await app.wait_idle()
        await world.actor("alice").close_issue(REPO, number)
        await app.wait_idle()
        assert await app.storage.worktrees.all_live() == []
        await world.actor("alice").reopen_issue(REPO, number)
        await world.actor("alice").comment(REPO, number, "/start")
        await app.wait_idle()
        again = bot_comments(world, number)[-1]
        assert f"branch `issue-{number}-patch`" in again  # the issue's branch again, never `-2`
        assert [b for b in world.state().git.branches() if b.startswith(f"issue-{number}")] == [f"issue-{number}-patch"]


async def test_an_expired_claim_removes_its_clean_worktree(world: World, bot_factory: Any, tmp_path: Path) -> None:
    import time

    class Clock:
        now = time.time()

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    number = await world.actor("bob").open_issue(REPO, "Expire")
    async with bot_on_served_forge(world, bot_factory, tmp_path, clock=clock) as app:
        await world.actor("alice").comment(REPO, number, "/start")
        reply = await wait_for_comment(world, number, "Started: branch")
        await app.wait_idle()
        path = Path(reply.split("Worktree on the bot's host: `")[1].split("`")[0])
        clock.now += 25 * 3600
        assert await app.scheduler.run_job("expire-claims")
        await app.wait_idle()
        assert not path.exists() and await app.storage.worktrees.all_live() == []
