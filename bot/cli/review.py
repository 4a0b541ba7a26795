"""`forgebot review explain OWNER/REPO#N`: the review state of a pull request, as the bot sees it.

Read-only: it derives the state exactly as the handler does (the same reads, the same fold) and
prints the summary and the status line, without writing anything to the platform. Exit 0 when
the pull request is ready to merge, 1 when something is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

EXIT_READY, EXIT_MISSING = 0, 1
PULL_RE = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<number>\d{1,9})$")


def _pull_ref(text: str) -> tuple[str, int]:
    match = PULL_RE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not of the form OWNER/REPO#N")
    return match.group("repo"), int(match.group("number"))


def cmd_review_explain(args: argparse.Namespace) -> int:
    from bot.app import build_router, build_services
    from bot.cli.common import UsageError, _platform, _settings, _with_forge
    from bot.engine.dispatch import Processor
    from bot.review import summary
    from handlers.review import BrokenOwners, derive_pull

    settings = _settings(args)
    platform = _platform(settings, args.platform)
    services = build_services(settings)
    repo, number = args.pull

    async def work(forge: Any, storage: Any, bot: str) -> Any:
        ctx = Processor(settings, storage, build_router(settings), services=services).context()
        return await derive_pull(ctx, forge, repo, number)

    try:
        found = asyncio.run(_with_forge(settings, platform, work, services))
    except BrokenOwners as exc:
        print(f"cannot read {exc.problem}. {exc.hint}")
        return EXIT_MISSING
    if found is None:
        raise UsageError(f"{repo}#{number} is not an open pull request, or review is off (no `review` section)")
    derived = found[0]
    state, line = summary.status(derived.state, derived.readiness)
    print(summary.render(derived.state, derived.readiness, derived.pull.author or "", None))
    print(f"\nstatus {summary.STATUS_CONTEXT}: {state.value}: {line}")
    return EXIT_READY if not derived.missing else EXIT_MISSING


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    review = sub.add_parser("review", help="pull-request review")
    review_sub = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    explain = review_sub.add_parser("explain", parents=[common], help="what OWNER/REPO#N still needs, and why")
    explain.add_argument("pull", metavar="OWNER/REPO#N", type=_pull_ref)
    explain.add_argument("--platform", choices=("github", "gitea"), help="needed when both are configured")
    explain.set_defaults(func=cmd_review_explain)
