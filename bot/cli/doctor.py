"""`forgebot doctor`: is this deployment set up right? One line per finding, with what to do.

Exit codes: 0 all is well, 1 something is wrong, 2 the command could not run (bad arguments or settings).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from bot import __version__


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.cli.common import UsageError, _settings
    from bot.doctor.findings import exit_code, render_json, render_text
    from bot.forges.provider import Forges

    settings = _settings(args)
    configured = Forges(settings).configured
    if args.platform and args.platform not in configured:
        raise UsageError(f"no credentials for {args.platform}; set the FORGEBOT_{args.platform.upper()}_* settings")
    platforms = [args.platform] if args.platform else list(configured)
    if not platforms:
        raise UsageError("no forge is configured; set FORGEBOT_GITHUB_TOKEN (or an App) or FORGEBOT_GITEA_URL and _TOKEN")
    findings = asyncio.run(_diagnose(settings, args.repos, platforms, args.fix))
    print(json.dumps(render_json(findings), indent=2) if args.json else render_text(findings))
    return exit_code(findings)


async def _diagnose(settings: Any, repos: list[str], platforms: list[str], fix: bool) -> Any:
    import httpx

    from bot.doctor.probe import Doctor
    from bot.forges.provider import Forges

    forges = Forges(settings)
    headers = {"user-agent": f"forgebot/{__version__} doctor"}
    try:
        async with httpx.AsyncClient(headers=headers, follow_redirects=False) as http:
            return await Doctor(settings, forges, http, fix=fix).run(repos, platforms)
    finally:
        await forges.aclose()


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    from bot.cli.common import _repo_name

    doctor = sub.add_parser("doctor", parents=[common],
                            help="check credentials, permissions, webhooks, clock, database and git root")
    doctor.add_argument("repos", nargs="*", metavar="OWNER/REPO", type=_repo_name,
                        help="repositories to check (default: every one the bot can act on)")
    doctor.add_argument("--platform", choices=("github", "gitea"), help="check only this platform")
    doctor.add_argument("--json", action="store_true", help="print JSON")
    doctor.add_argument("--fix", action="store_true", help="create or correct forgebot's webhook; nothing else changes")
    doctor.set_defaults(func=cmd_doctor)
