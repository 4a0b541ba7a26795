"""`forgebot cleanup plan | apply | restore` and the scheduled run, on both platforms; kill -9 during an apply."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from tests.conftest import BOT, REPO, World, db_rows
from tests.support.cleanup import branch
from tests.support.worktrees import bot_on_served_forge, wait_for_comment

pytestmark = pytest.mark.anyio

# Merged branches need no clock games: with no grace, the first run notices and the next is due.
CONFIG = "cleanup:\n  mode: apply\n  grace: 0s\n  max_per_run: 100\n"


def _env(world: World, base_url: str, tmp_path: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FORGEBOT_DATABASE": str(tmp_path / "cli.db"),
           "FORGEBOT_GIT_ROOT": str(tmp_path / "git"), "FORGEBOT_GIT_MIN_FREE": "1"}
    token = world.fake.token(BOT)
    if world.platform == "github":
        env |= {"FORGEBOT_GITHUB_TOKEN": token, "FORGEBOT_GITHUB_API_URL": f"{base_url}/api/v3"}
    else:
        env |= {"FORGEBOT_GITEA_URL": base_url, "FORGEBOT_GITEA_TOKEN": token}
    return env


async def _cli(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        return await asyncio.to_thread(main, list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


async def _merged_branches(world: World, count: int, unique: bool = False) -> list[str]:
    names = [f"done-{n:02d}" for n in range(count)]
    for name in names:
        await branch(world, name)
        if unique:  # squash-merged: work in main, commits not reachable from it
            await world.actor("alice").merge_pr(REPO, await world.actor("alice").open_pr(REPO, name), "squash")
    if not unique:
        await world.actor("alice").push(REPO, "main", {f"{n}.txt": "x" for n in names}, "take them all")
        for name in names:  # point each at an ancestor of main: plainly merged
            world.state().git.update_ref(f"refs/heads/{name}", world.state().git.resolve("main~1") or "")
    return names


async def test_plan_is_a_dry_run_with_exit_2_then_apply_and_restore(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": CONFIG}, "config")
    names = await _merged_branches(world, 2, unique=True)
    async with world.fake.serve() as base:
        env = _env(world, base, tmp_path)
        since = len(world.fake.requests)
        assert await _cli(env, monkeypatch, "cleanup", "plan", REPO, "--json") == 2
        shown = json.loads(capsys.readouterr().out)
        assert {c["branch"]: c["kind"] for c in shown["changes"]} == {n: "notice" for n in names}
        writes = [r for r in world.fake.requests[since:] if (r.platform != "git" and r.method != "GET") or "receive-pack" in r.path]
        assert writes == [] and db_rows_count(tmp_path / "cli.db") == 0

        assert await _cli(env, monkeypatch, "cleanup", "apply", REPO, "--yes") == 0  # notices: nothing due yet
        assert set(names) <= set(world.state().git.branches())
        assert await _cli(env, monkeypatch, "cleanup", "apply", REPO, "--yes") == 0
        out = capsys.readouterr().out
        assert f"restore: forgebot cleanup restore {REPO} done-00" in out
        assert not set(names) & set(world.state().git.branches())
        tags = world.state().git.refs("refs/tags/")
        assert sorted(t.split("/")[1] for t in tags) == names  # squash-merged: archived before deletion

        assert await _cli(env, monkeypatch, "cleanup", "restore", REPO, "done-01") == 0
        assert world.state().git.branches()["done-01"] == next(sha for t, sha in tags.items() if "/done-01/" in t)
        assert await _cli(env, monkeypatch, "cleanup", "restore", REPO, "never-was") == 1
        assert "no archive tag" in capsys.readouterr().err


def db_rows_count(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        found = conn.execute("SELECT name FROM sqlite_master WHERE name = 'cleanup_branches'").fetchone()
        return conn.execute("SELECT count(*) FROM cleanup_branches").fetchone()[0] if found else 0
    finally:
        conn.close()


async def test_kill_9_during_apply_then_restart_deletes_nothing_twice_and_loses_no_archive(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": CONFIG}, "config")
    names = await _merged_branches(world, 24, unique=True)
    shas = {n: world.state().git.branches()[n] for n in names}
    async with world.fake.serve() as base:
        env = _env(world, base, tmp_path)
        assert await _cli(env, monkeypatch, "cleanup", "apply", REPO, "--yes") == 0  # the notices
        child = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "cleanup", "apply", REPO, "--yes",
                                                     env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not world.state().git.refs("refs/tags/") and time.monotonic() < deadline and child.returncode is None:
            await asyncio.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
        killed_after = len(world.state().git.refs("refs/tags/"))
        assert 0 < killed_after < len(names), "the kill came before the first or after the last deletion"

        assert await _cli(env, monkeypatch, "cleanup", "apply", REPO, "--yes") == 0  # the restart
        assert not set(names) & set(world.state().git.branches())
        tags = world.state().git.refs("refs/tags/")
        assert len(tags) == len(names)  # one archive per branch: none lost, none made twice
        assert {t.split("/")[1]: sha for t, sha in tags.items()} == shas  # each on the head that was evaluated
        pushes = [r for r in world.fake.requests if r.platform == "git" and r.method == "POST" and "receive-pack" in r.path]
        assert len(pushes) <= len(names) + 1  # each deletion pushed once (the killed one at most twice: refused the 2nd time)
        rows = db_rows_count(tmp_path / "cli.db")
        assert rows == len(names)


async def test_the_scheduled_run_follows_the_mode_of_repositories_that_ask(world: World, bot_factory: Any, tmp_path: Path) -> None:
    names = await _merged_branches(world, 2, unique=True)
    async with bot_on_served_forge(world, bot_factory, tmp_path, cleanup_jitter="0s") as app:
        assert await app.scheduler.run_job("cleanup")
        assert not [i for i in world.state().issues.values() if i.title == "Stale branches"]  # no cleanup section: not looked at

        await world.actor("alice").push(REPO, "main", {".forgebot.yml": CONFIG.replace("mode: apply", "mode: report")}, "config")
        await app.wait_idle()
        assert await app.scheduler.run_job("cleanup")
        assert await app.scheduler.run_job("cleanup")
        [dashboard] = [i for i in world.state().issues.values() if i.title == "Stale branches"]
        assert all(f"`{n}`" in dashboard.body for n in names) and set(names) <= set(world.state().git.branches())  # report only

        await world.actor("alice").push(REPO, "main", {".forgebot.yml": CONFIG}, "apply now")
        await app.wait_idle()
        assert await app.scheduler.run_job("cleanup")
        assert not set(names) & set(world.state().git.branches())
        kinds = [row[0] for row in db_rows(app, "SELECT kind FROM activity WHERE kind LIKE 'cleanup.%'")]
        assert kinds == ["cleanup.deleted", "cleanup.deleted"]


async def test_an_invalid_cleanup_section_is_one_line_and_exit_1(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "cleanup:\n  grace: soon\n  purge: true\n"}, "config")
    await branch(world, "old-work")
    async with world.fake.serve() as base:
        env = _env(world, base, tmp_path)
        assert await _cli(env, monkeypatch, "cleanup", "apply", REPO, "--yes") == 1
        err = capsys.readouterr().err
        assert "cleanup.grace" in err and "duration like" in err and "purge" in err
        assert "Traceback" not in err and "old-work" in world.state().git.branches()


async def test_a_push_takes_a_branch_off_the_dashboard_at_once(world: World, bot_factory: Any, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "cleanup:\n  mode: report\n  stale_after: 0s\n"}, "config")
    for name in ("old-a", "old-b"):
        await branch(world, name)
    async with bot_on_served_forge(world, bot_factory, tmp_path, cleanup_jitter="0s") as app:
        await app.wait_idle()
        assert await app.scheduler.run_job("cleanup")
        [dashboard] = [i for i in world.state().issues.values() if i.title == "Stale branches"]
        assert "`old-a`" in dashboard.body and "`old-b`" in dashboard.body
        await world.actor("alice").push(REPO, "old-a", {"more.txt": "back at it"}, "more")
        await app.wait_idle()
        body = world.state().issue(dashboard.number).body
        assert "`old-a`" not in body and "`old-b`" in body
        rows = db_rows(app, "SELECT branch FROM cleanup_branches WHERE state = 'noticed'")
        assert rows == [("old-b",)]


async def test_a_branch_made_by_start_is_never_touched(world: World, bot_factory: Any, tmp_path: Path) -> None:
    """/start makes the issue's branch on the forge at main's head, with no commit yet: with
    `stale_after: 0s` it would be a candidate at once; its live worktree keeps it off."""
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "cleanup:\n  mode: apply\n  stale_after: 0s\n  grace: 0s\n"},
                                    "config")
    await branch(world, "old-work")
    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    started = f"issue-{number}-fix-the-widget"
    async with bot_on_served_forge(world, bot_factory, tmp_path, cleanup_jitter="0s") as app:
        await world.actor("alice").comment(REPO, number, "/start")
        await wait_for_comment(world, number, "Started: branch")
        await app.wait_idle()
        assert started in world.state().git.branches()
        for _ in range(2):  # notice, then (no grace) due
            assert await app.scheduler.run_job("cleanup")
        branches = world.state().git.branches()
        assert "old-work" not in branches and started in branches
        [dashboard] = [i for i in world.state().issues.values() if i.title == "Stale branches"]
        assert "`old-work`" in dashboard.body and started not in dashboard.body
