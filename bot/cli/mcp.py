"""`forgebot mcp`: the MCP tools over stdio, for an agent on the bot's host, acting as one login.

The agent starts this command itself (its MCP client config names it); stdin and stdout carry the
protocol, so logs go to stderr. The login is taken from --login, and every tool follows the same
rules as for a bearer token of that login on /mcp: what the login cannot read is not found.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

LOGIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,98}[A-Za-z0-9_])?")


def _login(text: str) -> str:
    """A platform login as GitHub and Gitea spell them; anything else is refused before use."""
    if LOGIN_RE.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a login")
    return text


def cmd_mcp(args: argparse.Namespace) -> int:
    from bot import __version__, logs
    from bot.app import build_router, build_services, build_toolbox
    from bot.cli.common import _settings
    from bot.engine.dispatch import Processor
    from bot.engine.toolbox import Caller, acting_as, build_mcp_server
    from bot.storage.open import open_storage

    settings = _settings(args)
    logs.configure(fmt=settings.log_format, level=settings.log_level, secrets=settings.secret_strings())
    read_only = args.read_only or settings.mcp_read_only

    async def serve() -> None:
        services = build_services(settings)
        store = open_storage(settings)
        await store.start()
        try:
            processor = Processor(settings, store, build_router(settings), services=services)
            server = build_mcp_server(build_toolbox(), read_only=read_only, version=__version__)
            acting_as(Caller(args.login, processor.context, platform=args.platform))
            await server.run_stdio_async()
        finally:
            await services.aclose()
            await store.stop()

    asyncio.run(serve())
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    mcp = sub.add_parser("mcp", parents=[common], help="serve the MCP tools over stdio, acting as --login")
    mcp.add_argument("--login", required=True, type=_login, help="the platform login the tools act as")
    mcp.add_argument("--platform", choices=("github", "gitea"), help="the default platform when both are configured")
    mcp.add_argument("--read-only", action="store_true", help="offer only the read-only tools (also FORGEBOT_MCP_READ_ONLY)")
    mcp.set_defaults(func=cmd_mcp)
