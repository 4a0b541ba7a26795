"""The repository config in force, for handlers: the newest valid version forgebot has read.

A repository the bot has not read yet is read now, and what it found is remembered: without a
file, or with only an invalid one, the defaults are in force (recorded as an empty valid
version) until a push brings a valid file.
"""

from __future__ import annotations

import logging

from bot.engine.context import Context
from bot.forges.base import ForgeError
from bot.gitops.runner import load_config, remember_config
from config.loader import ConfigError, Loaded
from config.repo import RepoConfig

logger = logging.getLogger(__name__)


async def config_in_force(ctx: Context, platform: str, repo: str) -> RepoConfig:
    found = await ctx.storage.configs.last_valid_config(platform, repo)
    if found is not None:
        return RepoConfig.model_validate(found[0])
    forge = ctx.forges.get(platform)
    try:
        loaded: Loaded | ConfigError | None = await load_config(forge, repo)
    except ConfigError as exc:
        logger.warning("repository config invalid; defaults apply", extra={"repo": repo, "errors": [str(p) for p in exc.problems][:5]})
        loaded = exc
    except ForgeError as exc:
        logger.warning("cannot read the repository config; defaults apply", extra={"repo": repo, "error": str(exc)})
        return RepoConfig()
    await remember_config(ctx.storage, platform, repo, loaded, commit=None, now=ctx.clock())
    return loaded.config if isinstance(loaded, Loaded) else RepoConfig()
