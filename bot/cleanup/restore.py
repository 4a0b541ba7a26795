"""`forgebot cleanup restore`: a deleted branch back where it was, from its newest archive tag.

A branch deleted without a tag (every commit of it was on the default branch) comes back at the
commit recorded when it was deleted. The push only creates: if a branch of that name exists
again, nothing is overwritten.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.cleanup import records
from bot.cleanup.apply import restore_args
from bot.cleanup.plan import ARCHIVE_PREFIX
from bot.forges.base import Forge
from bot.git.mirror import FORGE_HEADS, FORGE_TAGS, GitRoot
from bot.git.names import check_branch_name
from bot.git.runner import GitFailed
from bot.store import Store


@dataclass(frozen=True)
class Restored:
    ok: bool
    message: str
    sha: str | None = None


async def restore(forge: Forge, store: Store, root: GitRoot, repo: str, branch: str, *, now: float | None = None) -> Restored:
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
        archives = sorted((name, sha) for name, sha in (await mirror.refs(FORGE_TAGS)).items() if name.startswith(prefix)
                          and "/" not in name[len(prefix):])
        deleted = [r for r in await store.run(records.deleted_rows, forge.platform, repo, 1000) if r.branch == branch]
        if archives:
            source, sha = f"tag {archives[-1][0]}", archives[-1][1]
        elif deleted:
            source, sha = "the commit it had when forgebot deleted it", deleted[0].sha
        else:
            return Restored(False, f"no archive tag {prefix}<date> and no deletion of {branch} recorded for {repo}")
        result = await mirror.git(*restore_args(access, branch, sha), access=access, ok=(0, 1), timeout=600.0)
    if result.code != 0:
        return Restored(False, f"the forge refused the push ({(result.stdout + result.stderr).strip().splitlines()[-1:]})")
    await store.run(records.mark_restored, forge.platform, repo, branch, time.time() if now is None else now)
    return Restored(True, f"restored {branch} at {sha[:7]} from {source}", sha)
