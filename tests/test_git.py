"""Git with credentials: the token reaches git, and never its command line, its config or its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    seen_args: list[list[str]] = []
    import asyncio

    real_exec = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> Any:
        seen_args.append([str(a) for a in args])
        return await real_exec(*args, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)
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
    assert all(token not in " ".join(args) for args in seen_args)
    assert token not in (tmp_path / "yes" / ".git" / "config").read_text()
    assert wrong.token not in str(caught.value) and str(caught.value).startswith("git clone: ")
