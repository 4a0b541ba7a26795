"""The git layer against the emulator's git smart HTTP, on both platforms: mirrors, locks, names."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.git import worktrees as wt
from bot.git.env import BadRemote, check_clone_url
from bot.git.mirror import FORGE_HEADS, GitRoot, Mirror
from bot.git.names import BadBranchName, check_branch_name, prefix_for, render, slugify, with_suffix
from bot.git.runner import GitFailed
from tests.conftest import REPO, World

pytestmark = pytest.mark.anyio


@pytest.fixture
async def served(world: World) -> AsyncIterator[World]:
    """The world's forge also on a loopback port, so git can clone from it."""
    async with world.fake.serve():
        yield world


@pytest.fixture
def root(tmp_path: Path) -> GitRoot:
    git_root = GitRoot(tmp_path / "git")
    git_root.prepare()
    return git_root


async def test_a_mirror_is_made_on_first_use_then_fetched_incrementally(served: World, root: GitRoot) -> None:
    access = await served.client.git_access(REPO)
    mirror = root.mirror(served.platform, REPO)
    async with mirror.locked():
        first = await mirror.fetch(access)
    assert first.created and set(first.heads) == {"main"}
    sha = await served.actor("alice").push(REPO, "feature", {"a.txt": "a"})
    async with mirror.locked():
        second = await mirror.fetch(access)
    assert not second.created and second.heads["feature"] == sha
    assert await mirror.refs(FORGE_HEADS) == second.heads
    assert await mirror.is_ancestor(first.heads["main"], sha)


async def test_the_token_is_in_no_config_and_no_remote(served: World, root: GitRoot) -> None:
    access = await served.client.git_access(REPO)
    token = served.fake.token("forgebot")
    mirror = root.mirror(served.platform, REPO)
    async with mirror.locked():
        await mirror.fetch(access)
        await wt.add(mirror, mirror.worktrees_dir / "1", "issue-1", "refs/forge/heads/main")
    for path in root.path.rglob("*"):
        if path.is_file() and path.stat().st_size < 1_000_000:
            assert token.encode() not in path.read_bytes(), path
    assert token not in repr(access)


async def test_a_wrong_token_fails_without_showing_it(served: World, root: GitRoot) -> None:
    from bot.forges.base import GitAccess, basic_auth_header

    good = await served.client.git_access(REPO)
    bad = GitAccess(good.clone_url, basic_auth_header("x", "not-a-real-token-123456"))
    mirror = root.mirror(served.platform, REPO)
    with pytest.raises(GitFailed) as failure:
        async with mirror.locked():
            await mirror.fetch(bad)
    assert "not-a-real-token-123456" not in str(failure.value) + failure.value.stderr
    assert not mirror.exists()  # no half-made mirror stays


def test_clone_urls_with_credentials_or_other_schemes_are_refused() -> None:
    for url in ("ext::sh -c id", "file:///etc", "https://user:pw@host/r.git", "ssh://git@host/r.git", "https://host/a b"):
        with pytest.raises(BadRemote):
            check_clone_url(url)
    assert check_clone_url("https://host/o/r.git")


async def test_concurrent_fetches_and_worktree_adds_never_hit_a_git_lock(served: World, root: GitRoot) -> None:
    access = await served.client.git_access(REPO)

    async def start(n: int) -> None:
        mirror = root.mirror(served.platform, REPO)  # a new object each time: the lock is the file's
        async with mirror.locked():
            await mirror.fetch(access)
            await wt.add(mirror, mirror.worktrees_dir / str(n), f"issue-{n}", "refs/forge/heads/main")

    await asyncio.gather(*(start(n) for n in range(8)))
    listed = await wt.registered(root.mirror(served.platform, REPO))
    assert sorted(r.branch or "" for r in listed) == sorted(f"issue-{n}" for n in range(8))


async def test_worktrees_share_the_mirror_objects_and_hooks_never_run(served: World, root: GitRoot) -> None:
    sha = await served.actor("alice").push(REPO, "main", {"big.bin": os.urandom(200_000)})
    access = await served.client.git_access(REPO)
    mirror = root.mirror(served.platform, REPO)
    async with mirror.locked():
        await mirror.fetch(access)
        path = mirror.worktrees_dir / "7"
        await wt.add(mirror, path, "issue-7", sha)
    assert (path / "big.bin").stat().st_size == 200_000
    assert not (path / ".git").is_dir()  # a worktree's .git is a file pointing into the mirror
    assert not list(root.hooks.iterdir())


async def test_dirty_and_unpushed_work_is_seen_and_archived_to_a_tag(served: World, root: GitRoot) -> None:
    import datetime as dt

    access = await served.client.git_access(REPO)
    mirror = root.mirror(served.platform, REPO)
    path = mirror.worktrees_dir / "3"
    async with mirror.locked():
        await mirror.fetch(access)
        await wt.add(mirror, path, "issue-3", "refs/forge/heads/main")
    (path / "notes.txt").write_text("half done")
    assert (await wt.inspect(mirror, path)).dirty == ["notes.txt"]
    await mirror.git("add", "notes.txt", cwd=path)
    await mirror.git("commit", "--quiet", "-m", "wip", cwd=path)
    head = (await wt.inspect(mirror, path)).head
    assert head is not None
    async with mirror.locked():
        tags = await wt.archive_unpushed(mirror, access, "issue-3", [head], dt.date(2026, 12, 6))
        assert tags == ["archive/issue-3/2026-12-06"]
        await wt.remove(mirror, path, "issue-3")
    assert not path.exists() and await wt.registered(mirror) == []
    assert served.fake.repo(REPO).git.ref_sha("refs/tags/archive/issue-3/2026-12-06") == head


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Fix the widget", "issue-12-fix-the-widget"),
        ("../../etc/passwd", "issue-12-etc-passwd"),
        ("--upload-pack=evil refs/heads/x @{-1}", "issue-12-upload-pack-evil-refs-heads-x-1"),
        ("Ünïcödé ☃ 漢字", "issue-12-unicode"),
        ("", "issue-12"),
        ("x" * 300, "issue-12-" + "x" * 40),
        ("a-" * 150, "issue-12-" + "-".join("a" * 20)),
    ],
)
def test_branch_names_from_hostile_titles(title: str, expected: str) -> None:
    assert render("{prefix}{number}-{slug}", "issue-", 12, title) == expected


async def test_names_are_checked_by_git_and_taken_names_get_a_suffix(root: GitRoot) -> None:
    assert slugify("A" * 100).__len__() <= 40
    assert prefix_for(["Bug", "x"], {"enhancement": "feat/", "bug": "fix/"}, "issue-") == "fix/"
    assert with_suffix("fix/1-a", {"fix/1-a", "fix/1-a-2"}) == "fix/1-a-3"
    assert await check_branch_name("fix/12-x", root.env()) == "fix/12-x"
    for bad in ("-x", "a..b", "refs/heads/x", "x.lock", "a b", "x" * 250, "@{-1}", "a/.b"):
        with pytest.raises(BadBranchName):
            await check_branch_name(bad, root.env())
    assert len(render("{prefix}{number}-{slug}", "p/" * 40, 1, "t" * 300).encode()) < 200


def test_a_mirror_path_never_leaves_the_root(root: GitRoot) -> None:
    from bot.git.mirror import BadRepoName

    for repo in ("../x", "a/..", "-o/x", "a/.git", "a/b/c"):
        with pytest.raises(BadRepoName):
            root.mirror("github", repo)
    assert isinstance(root.mirror("github", "acme/widgets.js"), Mirror)
    assert root.mirror("github", "Acme/Widgets").path == root.mirror("github", "acme/widgets").path


async def test_adding_a_worktree_for_a_branch_an_interrupted_add_left_works(served: World, root: GitRoot) -> None:
    access = await served.client.git_access(REPO)
    mirror = root.mirror(served.platform, REPO)
    async with mirror.locked():
        await mirror.fetch(access)
        await mirror.git("update-ref", "refs/heads/issue-9", "refs/forge/heads/main")  # what a killed `add -b` leaves
        await wt.add(mirror, mirror.worktrees_dir / "9", "issue-9", "refs/forge/heads/main")
    assert (mirror.worktrees_dir / "9" / "README.md").exists()
