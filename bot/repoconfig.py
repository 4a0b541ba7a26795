"""The repository config in force, for handlers: the newest valid version forgebot has read.

A repository the bot has not read yet is read now, and what it found is remembered: without a
file, or with only an invalid one, the defaults are in force (recorded as an empty valid
version) until a push brings a valid file.
"""

from __future__ import annotations

import logging

from bot.context import Context
from bot.forges.base import ForgeError
from bot.gitops import records
from bot.gitops.runner import load_config
from config.loader import ConfigError
from config.repo import RepoConfig

logger = logging.getLogger(__name__)


async def config_in_force(ctx: Context, platform: str, repo: str) -> RepoConfig:
    found = await ctx.store.run(records.last_valid_config, platform, repo)
    if found is not None:
        return RepoConfig.model_validate(found[0])
    forge = ctx.forges.get(platform)
    try:
        loaded = await load_config(forge, repo)
    except ConfigError as exc:
        errors = [str(p) for p in exc.problems]
        await ctx.store.run(records.save_config, platform, repo, None, None, None, errors, [], ctx.clock())
        logger.warning("repository config invalid; defaults apply", extra={"repo": repo, "errors": errors[:5]})
        loaded = None
    except ForgeError as exc:
        logger.warning("cannot read the repository config; defaults apply", extra={"repo": repo, "error": str(exc)})
        return RepoConfig()
    if loaded is None:
        await ctx.store.run(records.save_config, platform, repo, None, None, {}, [], [], ctx.clock())
        return RepoConfig()
    path = loaded.sources[0].partition(":")[2]
    await ctx.store.run(records.save_config, platform, repo, None, path, loaded.raw, [], list(loaded.sources), ctx.clock())
    return loaded.config
