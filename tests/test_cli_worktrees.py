"""`forgebot start | push | worktrees | worktree remove` against a served emulator, on both platforms."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, World
from tests.test_cli_repos import _cli
from tests.test_cli_repos import _env as forge_env

pytestmark = pytest.mark.anyio


def _env(world: World, base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forge_env(world, base_url, tmp_path, monkeypatch)
    monkeypatch.setenv("FORGEBOT_GIT_ROOT", str(tmp_path / "git"))
    monkeypatch.setenv("FORGEBOT_GIT_MIN_FREE", "1")


def _commit(path: Path, name: str, text: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(path), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    (path / name).write_text(text)
    subprocess.run(["git", "-C", str(path), "add", name], env=env, check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", f"add {name}"], env=env, check=True)
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], env=env, check=True, capture_output=True, text=True).stdout.strip()


async def test_start_by_url_push_list_and_remove(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Make it faster")
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        assert await _cli("start", f"{base}/{REPO}/issues/{number}", "--as", "alice", "--json") == 0
        started = json.loads(capsys.readouterr().out)
        branch = f"issue-{number}-make-it-faster"
        assert started["branch"] == branch and started["holder"] == "alice" and started["state"] == "ready"
        path = Path(started["path"])
        assert world.state().issue(number).assignees == ["alice"]

        # Again, as an ssh remote with .git: the same worktree.
        assert await _cli("start", f"git@example.test:{REPO}.git#{number}", "--as", "alice", "--json",
                          "--platform", world.platform) == 0
        assert json.loads(capsys.readouterr().out)["path"] == str(path)

        sha = _commit(path, "speed.txt", "fast")
        monkeypatch.chdir(path)
        assert await _cli("push") == 0
        assert f"pushed {branch} at {sha[:7]}" in capsys.readouterr().out
        assert world.state().git.branches()[branch] == sha

        # Someone else moves the branch: the lease refuses to overwrite it.
        theirs = await world.actor("alice").push(REPO, branch, {"other.txt": "theirs"})
        _commit(path, "more.txt", "more")
        assert await _cli("push") == 1
        assert "moved on the forge" in capsys.readouterr().err
        assert world.state().git.branches()[branch] == theirs

        (path / "dirty.txt").write_text("uncommitted")
        monkeypatch.chdir(tmp_path)
        assert await _cli("worktrees", "--json") == 0
        [listed] = json.loads(capsys.readouterr().out)
        assert listed["number"] == number and listed["state"] == "ready"
        assert await _cli("worktree", "remove", f"{REPO}#{number}") == 1
        assert "uncommitted changes (dirty.txt)" in capsys.readouterr().err and path.exists()
        assert await _cli("worktrees") == 0
        assert "kept" in capsys.readouterr().out
        assert await _cli("worktree", "remove", f"{REPO}#{number}", "--force") == 0
        out = capsys.readouterr().out
        assert "archived to archive/" in out and not path.exists()  # more.txt was never on the forge
        assert await _cli("worktrees", "--json") == 0
        assert json.loads(capsys.readouterr().out) == []


async def test_start_refuses_bad_issue_references(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        for bad in ("acme/widgets", "../../x#1", "acme/widgets#-1", "https://h/acme/widgets/issues/x"):
            assert await _cli("start", bad, "--as", "alice") == 2
            assert "is not an issue" in capsys.readouterr().err
        assert await _cli("start", "--as", "alice", "--", "--upload-pack=x#1") == 2  # an option never becomes an issue
        assert not (tmp_path / "git" / "worktrees").exists()
