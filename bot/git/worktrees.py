"""git worktrees of a mirror: add, inspect, archive, remove, prune. Callers hold the mirror's lock
for add, remove and prune (they write the mirror's worktree registry and refs)."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.git.env import GitAccess
from bot.git.mirror import FORGE_TAGS, Mirror
from bot.git.runner import GitFailed

CHECKOUT_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Registered:
    """A worktree as `git worktree list --porcelain` reports it."""

    path: Path
    head: str | None
    branch: str | None  # without refs/heads/
    locked: bool
    prunable: bool


@dataclass(frozen=True)
class Inspection:
    exists: bool
    dirty: list[str]  # paths with uncommitted changes (git status), at most a few
    head: str | None
    branch: str | None


async def registered(mirror: Mirror) -> list[Registered]:
    if not mirror.exists():
        return []
    out = (await mirror.git("worktree", "list", "--porcelain", "-z")).stdout
    found: list[Registered] = []
    current: dict[str, str] = {}
    for field in out.split("\0") + [""]:
        if field == "":
            if current.get("worktree") and not current.get("bare"):
                branch = current.get("branch")
                found.append(Registered(
                    Path(current["worktree"]), current.get("HEAD"),
                    branch.removeprefix("refs/heads/") if branch else None,
                    "locked" in current, "prunable" in current,
                ))
            current = {}
            continue
        key, _, value = field.partition(" ")
        current[key] = value or "1"
    return found


async def add(mirror: Mirror, path: Path, branch: str, start: str) -> None:
    """Check `branch` out at `path`, making the local branch at `start` when it is not there yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exists = await mirror.resolve(f"refs/heads/{branch}") is not None
    args = [str(path), branch] if exists else ["--no-track", "-b", branch, str(path), start]
    await mirror.git("worktree", "add", "--quiet", *args, timeout=CHECKOUT_TIMEOUT)


async def discard_half_made(mirror: Mirror, path: Path) -> None:
    """Remove a worktree an interrupted `add` left (nothing of anyone's is in it yet)."""
    await mirror.git("worktree", "remove", "--force", "--force", str(path), ok=(0, 128))
    shutil.rmtree(path, ignore_errors=True)
    await prune(mirror)


async def prune(mirror: Mirror) -> None:
    if mirror.exists():
        await mirror.git("worktree", "prune")


async def inspect(mirror: Mirror, path: Path) -> Inspection:
    if not (path / ".git").exists():
        return Inspection(False, [], None, None)
    status = await mirror.git("status", "--porcelain=v1", "-z", "--untracked-files=normal", "--ignore-submodules=all", cwd=path)
    dirty = [entry[3:] for entry in status.stdout.split("\0") if len(entry) > 3][:20]
    head = await mirror.git("rev-parse", "--verify", "--quiet", "HEAD", cwd=path, ok=(0, 1, 128))
    branch = await mirror.git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=path, ok=(0, 1, 128))
    return Inspection(True, dirty, head.stdout.strip() or None, branch.stdout.strip() or None)


async def archive_unpushed(mirror: Mirror, access: GitAccess, branch: str, tips: list[str], today: dt.date) -> list[str]:
    """Push every tip holding commits the forge lacks to a tag `archive/<branch>/<date>[-n]`.

    Tags are used because branch cleanup leaves them alone and every reader of the repository can
    see them; `git fetch origin tag archive/...` brings the work back. Returns the tags made.
    """
    made = []
    taken = set(await mirror.refs(FORGE_TAGS))
    for tip in dict.fromkeys(tips):
        if not await mirror.commits_not_on_forge(tip):
            continue
        tag, n = f"archive/{branch}/{today.isoformat()}", 1
        while tag in taken:
            n += 1
            tag = f"archive/{branch}/{today.isoformat()}-{n}"
        await mirror.push(access, f"{tip}:refs/tags/{tag}")
        await mirror.git("update-ref", f"{FORGE_TAGS}{tag}", tip)  # the forge has it now
        taken.add(tag)
        made.append(tag)
    return made


async def remove(mirror: Mirror, path: Path, branch: str | None, *, force: bool = False) -> None:
    """Unregister and delete the worktree, and its local branch (the forge keeps its own)."""
    args = ["--force", "--force"] if force else []
    try:
        await mirror.git("worktree", "remove", *args, str(path))
    except GitFailed:
        if path.exists() and not force:
            raise
        shutil.rmtree(path, ignore_errors=True)
    await prune(mirror)
    if branch:
        await mirror.git("update-ref", "-d", f"refs/heads/{branch}", ok=(0, 1))
