"""`forgebot cleanup restore`: a deleted branch back where it was at its last deletion.

The last deletion recorded here decides: its archive tag, or for a branch deleted without one
(every commit of it was on the default branch) the commit recorded when it was deleted. With no
deletion recorded on this host, the newest archive tag. The push only creates: if a branch of that name exists
again, nothing is overwritten.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.cleanup.apply import restore_args
from bot.cleanup.plan import ARCHIVE_PREFIX
from bot.forges.base import Forge
from bot.git.mirror import FORGE_HEADS, FORGE_TAGS, GitRoot
from bot.git.names import check_branch_name
from bot.git.runner import GitFailed
from bot.storage.base import Storage


@dataclass(frozen=True)
class Restored:
    ok: bool
    message: str
    sha: str | None = None


async def restore(forge: Forge, storage: Storage, root: GitRoot, repo: str, branch: str, *, now: float | None = None) -> Restored:
    try:
        await check_branch_name(branch, root.env())
    except (ValueError, GitFailed) as exc:
        return Restored(False, str(exc))
    access = await forge.git_access(repo)
    mirror = root.mirror(forge.platform, repo)
    async with mirror.locked():
        await mirror.fetch(access)
        if branch in await mirror.refs(FORGE_HEADS):
            return Restored(False, f"{branch} exists on {repo}; nothing to restore")
        prefix = f"{ARCHIVE_PREFIX}{branch}/"
        tags = await mirror.refs(FORGE_TAGS)
        archives = sorted(((_tag_order(name[len(prefix):]), name, sha) for name, sha in tags.items()
                           if name.startswith(prefix) and "/" not in name[len(prefix):]))
        deleted = [r for r in await storage.cleanup.deleted_rows(forge.platform, repo, 1000) if r.branch == branch]
        # The last deletion recorded here wins over an older archive (the branch may have been
        # restored, worked on and merged, then deleted with nothing left to archive).
        if deleted and deleted[0].tag and tags.get(deleted[0].tag) == deleted[0].sha:
            source, sha = f"tag {deleted[0].tag}", deleted[0].sha
        elif deleted:  # no tag (or its tag was removed since): the commit recorded (from the mirror; a clear refusal if gc took it)
            source, sha = "the commit it had when forgebot deleted it", deleted[0].sha
        elif archives:
            source, sha = f"tag {archives[-1][1]}", archives[-1][2]
        else:
            return Restored(False, f"no archive tag {prefix}<date> and no deletion of {branch} recorded for {repo}")
        result = await mirror.git(*restore_args(access, branch, sha), access=access, ok=(0, 1), timeout=600.0)
    if result.code != 0:
        return Restored(False, f"the forge refused the push ({(result.stdout + result.stderr).strip().splitlines()[-1:]})")
    await storage.cleanup.mark_restored(forge.platform, repo, branch, time.time() if now is None else now)
    return Restored(True, f"restored {branch} at {sha[:7]} from {source}", sha)


def _tag_order(suffix: str) -> tuple[str, int]:
    """'2027-01-05' < '2027-01-05-2' < '2027-01-05-10': by day, then by number."""
    day, _, n = suffix[:10], suffix[10:11], suffix[11:]
    return day, int(n) if n.isdigit() else (1 if not suffix[10:] else 0)
