"""One bare mirror per repository, under the git root, made on first use and fetched incrementally.

The forge's branches and tags land in their own namespace (refs/forge/heads/*, refs/forge/tags/*),
apart from the local branches that worktrees check out (refs/heads/*): a fetch never has to move
a branch some worktree has checked out, and what the forge has is always one for-each-ref away.
That is the read side later features reuse: one `fetch()`, then `refs()`, `is_ancestor()` and
`patch_ids()` locally, with no API call per branch.

Callers hold `locked()` around anything that writes (fetch, worktree add/remove, gc).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.git.env import GitAccess, hardened_env
from bot.git.lock import mirror_lock
from bot.git.runner import GitFailed, GitResult, run_git

FORGE_HEADS = "refs/forge/heads/"
FORGE_TAGS = "refs/forge/tags/"
FETCH_REFSPECS = ("+refs/heads/*:refs/forge/heads/*", "+refs/tags/*:refs/forge/tags/*")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
FETCH_TIMEOUT = 3600.0  # a first fetch of a large repository takes minutes, not hours


class BadRepoName(ValueError):
    pass


def safe_component(value: str) -> str:
    """A path component from a forge name: owner, repository or platform; never '..' or a path."""
    if not NAME_RE.match(value):  # starts with a letter, digit or '_': never '.', '..' or an option
        raise BadRepoName(f"{value!r} is not a repository or owner name forgebot accepts")
    return value


@dataclass(frozen=True)
class GitRoot:
    """The directory all local git lives under (FORGEBOT_GIT_ROOT)."""

    path: Path

    @property
    def hooks(self) -> Path:
        return self.path / ".forgebot" / "hooks"

    def prepare(self) -> None:
        self.hooks.mkdir(parents=True, exist_ok=True)
        for leftover in self.hooks.iterdir():  # hooks must stay empty: it is core.hooksPath
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()

    def env(self, access: GitAccess | None = None, **extra: str) -> dict[str, str]:
        return hardened_env(self.hooks, access, extra)

    def mirror(self, platform: str, repo: str) -> Mirror:
        """Names are compared without case on both platforms, so `Acme/Widgets` and `acme/widgets`
        share one mirror (and one lock)."""
        owner, _, name = repo.lower().partition("/")
        return Mirror(self, safe_component(platform), safe_component(owner), safe_component(name))


@dataclass(frozen=True)
class FetchResult:
    created: bool  # this fetch made the mirror (the first use of the repository)
    heads: dict[str, str]  # branch -> sha, as the forge has them now


class Mirror:
    def __init__(self, root: GitRoot, platform: str, owner: str, name: str) -> None:
        self.root = root
        self.platform = platform
        self.repo = f"{owner}/{name}"
        self.path = root.path / "mirrors" / platform / owner / f"{name}.git"
        self.lock_path = root.path / "locks" / platform / owner / f"{name}.lock"
        self.worktrees_dir = root.path / "worktrees" / platform / owner / name

    def __repr__(self) -> str:
        return f"Mirror({self.platform}:{self.repo})"

    def locked(self, timeout: float = 600.0) -> contextlib.AbstractAsyncContextManager[None]:
        return mirror_lock(self.lock_path, timeout)

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file()

    async def git(self, *args: str, access: GitAccess | None = None, timeout: float = 120.0,
                  ok: tuple[int, ...] = (0,), cwd: Path | None = None, input: bytes | None = None) -> GitResult:
        """git with this mirror as its repository (or `cwd`, a worktree of it)."""
        where = ["-C", str(cwd)] if cwd is not None else ["--git-dir", str(self.path)]
        return await run_git([*where, *args], env=self.root.env(access), timeout=timeout, ok=ok, input=input,
                             secrets=access.secrets if access else ())

    # -- writing (under the lock) -------------------------------------------------------------
    @property
    def fetched_marker(self) -> Path:
        return self.path / "forgebot-fetched"

    def fetched_since(self, when: float) -> bool:
        """Did a fetch start at or after `when` (epoch) and complete? Many starts waiting for the
        lock at once then share one fetch instead of fetching one after another."""
        try:
            return self.fetched_marker.stat().st_mtime >= when
        except FileNotFoundError:
            return False

    async def fetch(self, access: GitAccess, timeout: float = FETCH_TIMEOUT, *, unless_since: float | None = None) -> FetchResult:
        """Make the mirror if it is not there yet, then bring its forge refs up to date (skipped
        when a fetch that began at or after `unless_since` has completed meanwhile).

        A first fetch goes into a scratch directory renamed into place when complete, so a kill
        midway leaves no half mirror behind, only scratch the next attempt clears.
        """
        started = time.time()
        created = not self.exists()
        if unless_since is not None and not created and self.fetched_since(unless_since):
            return FetchResult(False, await self.refs(FORGE_HEADS))
        if created:
            scratch = self.path.with_name(self.path.name + ".new")
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.parent.mkdir(parents=True, exist_ok=True)
            await run_git(["init", "--quiet", "--bare", str(scratch)], env=self.root.env())
            await run_git(["--git-dir", str(scratch), *self._fetch_args(access)], env=self.root.env(access),
                          timeout=timeout, secrets=access.secrets)
            scratch.rename(self.path)
        else:
            await self.git(*self._fetch_args(access), access=access, timeout=timeout)
        self.fetched_marker.touch()
        os.utime(self.fetched_marker, (started, started))
        return FetchResult(created, await self.refs(FORGE_HEADS))

    @staticmethod
    def _fetch_args(access: GitAccess) -> list[str]:
        return ["fetch", "--quiet", "--prune", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head",
                "--", access.clone_url, *FETCH_REFSPECS]

    async def push(self, access: GitAccess, refspec: str, *, lease: str | None = None, cwd: Path | None = None) -> None:
        """Push one refspec to the forge. `lease` ("ref:expected sha") makes it --force-with-lease."""
        options = [f"--force-with-lease={lease}"] if lease is not None else []
        await self.git("push", "--quiet", "--no-verify", "--no-recurse-submodules", *options, "--", access.clone_url,
                       refspec, access=access, timeout=FETCH_TIMEOUT, cwd=cwd)

    # -- reading -------------------------------------------------------------------------------
    async def refs(self, prefix: str) -> dict[str, str]:
        """name (without `prefix`) -> sha for every ref under `prefix`."""
        out = (await self.git("for-each-ref", "--format=%(refname)%00%(objectname)", prefix)).stdout
        found = {}
        for line in out.splitlines():
            name, _, sha = line.partition("\0")
            found[name[len(prefix):]] = sha
        return found

    async def resolve(self, ref: str) -> str | None:
        """The commit a full ref name points at, or None."""
        result = await self.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", ok=(0, 1, 128))
        return result.stdout.strip() if result.code == 0 else None

    async def is_ancestor(self, commit: str, of: str) -> bool:
        result = await self.git("merge-base", "--is-ancestor", "--end-of-options", commit, of, ok=(0, 1))
        return result.code == 0

    async def commits_not_on_forge(self, tip: str) -> list[str]:
        """Commits reachable from `tip` that no forge branch or tag has."""
        out = (await self.git("rev-list", tip, "--not", f"--glob={FORGE_HEADS}*", f"--glob={FORGE_TAGS}*",
                              "--end-of-options")).stdout
        return out.split()

    async def patch_ids(self, revisions: Sequence[str]) -> dict[str, str]:
        """commit -> stable patch id for the commits `revisions` (rev-list arguments) name."""
        log = await self.git("log", "--no-color", "--no-merges", "-p", *revisions, "--")
        result = await self.git("patch-id", "--stable", input=log.stdout.encode())
        return {commit: patch for patch, commit in (line.split() for line in result.stdout.splitlines())}

    async def repack_size(self) -> int:
        """Bytes of object storage (packs and loose objects)."""
        return sum(f.stat().st_size for f in (self.path / "objects").rglob("*") if f.is_file())


@contextlib.asynccontextmanager
async def fetched(mirror: Mirror, access: GitAccess) -> AsyncIterator[FetchResult]:
    """Lock, fetch, and keep the lock for what follows."""
    async with mirror.locked():
        yield await mirror.fetch(access)


__all__ = ["FORGE_HEADS", "FORGE_TAGS", "FetchResult", "GitFailed", "GitRoot", "Mirror", "fetched", "safe_component"]
