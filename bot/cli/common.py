"""What every forgebot subcommand shares: exit codes, settings, the store, a forge for a platform."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from bot.forges.base import Invalid, split_repo
from config.settings import Settings, SettingsError, load_settings, unknown_variables

if TYPE_CHECKING:
    from bot.engine.services import Services
    from bot.storage.base import Storage

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# `plan` and its kin exit 2 for a plan that is not empty, as `terraform plan -detailed-exitcode`.
EXIT_CHANGES = 2



class UsageError(Exception):
    """The command cannot run as asked; the message says why in one line."""


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    print(f"forgebot: {message}", file=sys.stderr)
    raise SystemExit(code)


# -- shared plumbing ------------------------------------------------------------------------


def _invalid(exc: SettingsError) -> NoReturn:
    for problem in exc.problems:
        print(f"forgebot: invalid setting: {problem}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    for warning in unknown_variables(os.environ):
        print(f"forgebot: warning: {warning}", file=sys.stderr)
    try:
        return load_settings(config_file=args.config, overrides=overrides)
    except SettingsError as exc:
        _invalid(exc)


def _store(settings: Settings) -> Any:
    from bot.storage.sqlite.engine import Store

    if not settings.database.exists():
        raise UsageError(f"no database at {settings.database}; start `forgebot serve` first or set FORGEBOT_DATABASE")
    store = Store(settings.database, synchronous=settings.sqlite_synchronous)
    store.open()
    return store


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S") if epoch else "-"




def _repo_name(text: str) -> str:
    try:
        split_repo(text)
    except Invalid as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text


def _platform(settings: Any, requested: str | None) -> str:
    from bot.forges.provider import Forges

    configured = Forges(settings).configured
    if requested:
        if requested not in configured:
            raise UsageError(f"no credentials for {requested}; set the FORGEBOT_{requested.upper()}_* settings")
        return requested
    if len(configured) == 1:
        return configured[0]
    if not configured:
        raise UsageError("no forge is configured; set FORGEBOT_GITHUB_TOKEN (or an App) or FORGEBOT_GITEA_URL and _TOKEN")
    raise UsageError("both GitHub and Gitea are configured; say which with --platform")


async def _with_forge(settings: Any, platform: str, work: Any, services: Services | None = None) -> Any:
    """Run `work(forge, storage, bot_login)` with the services' forge for `platform`, then close them."""
    from bot.app import build_services
    from bot.storage.open import open_storage

    services = services if services is not None else build_services(settings)
    forges = services.forges
    storage = open_storage(settings)
    await storage.start()
    try:
        forge = forges.get(platform)
        return await work(forge, storage, await forges.bot_login(platform))
    finally:
        await services.aclose()
        await storage.stop()




@asynccontextmanager
async def opened_storage(settings: Settings) -> AsyncIterator[Storage]:
    """The database the settings name, started for one command and stopped after it. A SQLite
    file must exist already: the commands that read it never make an empty one."""
    from bot.storage.open import open_storage
    from bot.storage.sqlite import SqliteStorage

    storage = open_storage(settings)
    if isinstance(storage, SqliteStorage) and not storage.path.exists():
        raise UsageError(f"no database at {storage.path}; start `forgebot serve` first or set FORGEBOT_DATABASE_URL")
    await storage.start()
    try:
        yield storage
    finally:
        await storage.stop()
