"""Git with credentials: the token reaches git, and never its command line, its config or its errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.git import GitCredentials, GitError, clone, clean_url, run_git, valid_ref_name

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("name", "ok"),
    [("issue-12-fix", True), ("feature/x", True), ("a..b", False), ("-rf", False), ("x.lock", False), ("a//b", False),
     (".hidden", False), ("a b", False), ("a~1", False), ("x/", False), ("@", False), ("a@{b", False), ("", False)],
)
def test_ref_names_from_users_are_checked(name: str, ok: bool) -> None:
    assert valid_ref_name(name) is ok


def test_urls_with_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="must not carry credentials"):
        clean_url("https://user:token@example.com/o/r.git")
    with pytest.raises(ValueError):
        GitCredentials("https://x-access-token:t@example.com", "t")


async def test_the_operators_git_config_does_not_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text('[init]\n\tdefaultBranch = from-home\n[alias]\n\thello = "!echo from-home"\n')
    monkeypatch.setenv("HOME", str(home))
    await run_git(["init", "--quiet", str(tmp_path / "repo")])
    head = await run_git(["symbolic-ref", "HEAD"], cwd=tmp_path / "repo")
    assert head.strip() != "refs/heads/from-home"
    with pytest.raises(GitError):  # with ~/.gitconfig read, the alias would echo "from-home"
        await run_git(["hello"])


async def test_clone_over_http_with_a_token_that_stays_out_of_sight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakeforge import FakeForge

    fake = FakeForge(tmp_path / "forge")
    fake.add_user("forgebot")
    fake.create_repo("acme/secret", private=True, files={"a.txt": "hello\n"})
    fake.set_permission("acme/secret", "forgebot", "read")
    token = fake.token("forgebot")
    # Every git command line, as the operating system sees it: a `git` first on PATH that notes
    # its arguments and hands over to the real one.
    real_git = shutil.which("git")
    assert real_git is not None
    wrapper, record = tmp_path / "bin", tmp_path / "git-command-lines"
    wrapper.mkdir()
    (wrapper / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{record}"\nexec "{real_git}" "$@"\n')
    (wrapper / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper}{os.pathsep}{os.environ['PATH']}")
    async with fake.serve() as base:
        url = f"{base}/acme/secret.git"
        with pytest.raises(GitError) as refused:
            await clone(url, tmp_path / "no")
        assert "Authentication" in str(refused.value) or "401" in str(refused.value) or "could not read" in str(refused.value)
        credentials = GitCredentials(base, token)
        await clone(url, tmp_path / "yes", credentials=credentials)
        log = await run_git(["log", "--format=%s"], cwd=tmp_path / "yes")
        wrong = GitCredentials(base, "ghp_wrong_" + token[-6:])
        with pytest.raises(GitError) as caught:
            await clone(url, tmp_path / "bad", credentials=wrong)
    assert (tmp_path / "yes" / "a.txt").read_text() == "hello\n" and log.strip() == "Initial commit"
    command_lines = record.read_text().splitlines()
    assert any(line.startswith("clone ") for line in command_lines)  # the wrapper did see them
    assert all(token not in line for line in command_lines)
    assert token not in (tmp_path / "yes" / ".git" / "config").read_text()
    assert wrong.token not in str(caught.value) and str(caught.value).startswith("git clone: ")
