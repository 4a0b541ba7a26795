"""Worktree commands: `worktrees`, `worktree remove`, `start ISSUE`, `push` (inside a worktree).

They act on this host's git root and database, with the bot's forge credentials, under the same
rules as `/start` (the claim rules: `--as LOGIN` is who claims).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.issue_refs import IssueRef, parse_issue_ref

EXIT_OK, EXIT_FAILED = 0, 1


def _issue(text: str) -> IssueRef:
    try:
        return parse_issue_ref(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _platform_for(settings: Any, ref: IssueRef | None, requested: str | None) -> str:
    """--platform, else the platform whose URL the reference names, else the only one configured."""
    from bot.cli.common import _platform

    if requested is None and ref is not None and ref.host is not None:
        gitea_host = urllib.parse.urlsplit(settings.gitea_url or "").netloc.lower()
        github_host = urllib.parse.urlsplit(settings.github_api_url).netloc.lower()
        if ref.host.lower() == gitea_host:
            requested = "gitea"
        elif ref.host.lower() in (github_host, "github.com", "api.github.com"):
            requested = "github"
    return _platform(settings, requested)


def _run(args: argparse.Namespace, platform: str | None, work: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    """`work(ctx, forge)` with the bot's services, store and (when a platform is given) forge."""
    from bot.app import build_router, build_services
    from bot.cli.common import _settings
    from bot.engine.dispatch import Processor
    from bot.storage.open import open_storage

    settings = _settings(args)

    async def main() -> Any:
        services = build_services(settings)
        store = open_storage(settings)
        await store.start()
        try:
            ctx = Processor(settings, store, build_router(settings), services=services).context()
            return await work(ctx, services.forges.get(platform) if platform else None)
        finally:
            await services.aclose()
            await store.stop()

    return asyncio.run(main())


def _row_json(row: Any) -> dict[str, Any]:
    return {"platform": row.platform, "repo": row.repo, "number": row.number, "branch": row.branch, "base": row.base,
            "sha": row.sha, "path": row.path, "holder": row.holder, "state": row.state.value, "note": row.note,
            "pull_request": row.pull_number}


def cmd_worktrees(args: argparse.Namespace) -> int:
    async def work(ctx: Any, _forge: Any) -> Any:
        return await ctx.storage.worktrees.all_live(args.platform, args.repo)

    rows = _run(args, None, work)
    if args.json:
        print(json.dumps([_row_json(r) for r in rows], indent=2))
        return EXIT_OK
    if not rows:
        print("no worktrees")
    for row in rows:
        print(f"{row.platform}:{row.repo}#{row.number}  {row.state.value:<8} {row.branch}  @{row.holder}  {row.path}")
        if row.note:
            print(f"    {row.note}")
    return EXIT_OK


def cmd_start(args: argparse.Namespace) -> int:
    from bot.cli.common import _settings
    from bot.engine.invoke import CommandFailed
    from bot.repoconfig import config_in_force
    from handlers.worktree_ops import start_work
    from handlers.worktrees import ready_text

    ref: IssueRef = args.issue
    platform = _platform_for(_settings(args), ref, args.platform)

    async def work(ctx: Any, forge: Any) -> Any:
        config = await config_in_force(ctx, platform, ref.repo)
        try:
            started = await start_work(ctx, forge, ref.repo, ref.number, args.login, config, base=args.base, background=False)
        except CommandFailed as failure:
            return f"could not start: {failure.reason}" + (f". {failure.hint}" if failure.hint else ""), None
        return None, started

    failure, started = _run(args, platform, work)
    if failure:
        print(failure, file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(_row_json(started.worktree), indent=2))
    else:
        print(ready_text(started.worktree, started.claim_news))
    return EXIT_OK


def _find_row(ctx: Any, where: str) -> Awaitable[Any]:
    async def find() -> Any:
        path = Path(where).resolve()
        for candidate in (path, *path.parents):
            row = await ctx.storage.worktrees.by_path(str(candidate))
            if row is not None:
                return row
        return None

    return find()


def cmd_push(args: argparse.Namespace) -> int:
    from bot.engine.invoke import CommandFailed
    from bot.repoconfig import config_in_force
    from handlers.worktree_push import push_worktree

    async def work(ctx: Any, _forge: Any) -> Any:
        row = await _find_row(ctx, args.path)
        if row is None:
            return f"{Path(args.path).resolve()} is not inside a worktree forgebot made (`forgebot worktrees` lists them)"
        forge = ctx.forges.get(row.platform)
        config = await config_in_force(ctx, row.platform, row.repo)
        try:
            pushed = await push_worktree(ctx, forge, row, config)
        except CommandFailed as failure:
            return f"not pushed: {failure.reason}" + (f". {failure.hint}" if failure.hint else "")
        return pushed

    result = _run(args, None, work)
    if isinstance(result, str):
        print(result, file=sys.stderr)
        return EXIT_FAILED
    print(f"pushed {result.branch} at {result.sha[:7]}" + (" (the claim was renewed)" if result.lease_until else ""))
    return EXIT_OK


def cmd_worktree_remove(args: argparse.Namespace) -> int:
    from handlers.worktree_lifecycle import retire

    target: str = args.target

    async def work(ctx: Any, _forge: Any) -> Any:
        try:
            ref = parse_issue_ref(target)
        except ValueError:
            row = await _find_row(ctx, target)
        else:
            rows = [r for r in await ctx.storage.worktrees.all_live(None, ref.repo) if r.number == ref.number]
            row = rows[0] if len(rows) == 1 else None
        if row is None:
            return f"no worktree for {target} (`forgebot worktrees` lists them)"
        retired = await retire(ctx, ctx.forges.get(row.platform), row, "removed by an operator", force=args.force)
        if not retired.removed:
            return retired.kept_because
        return "removed" + (f"; unpushed commits archived to {', '.join(retired.archived)}" if retired.archived else "")

    message = _run(args, None, work)
    ok = message.startswith("removed")
    print(message, file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    listing = sub.add_parser("worktrees", parents=[common], help="worktrees on this host, and why any is kept")
    listing.add_argument("--repo", metavar="OWNER/REPO")
    listing.add_argument("--platform", choices=("github", "gitea"))
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_worktrees)

    worktree = sub.add_parser("worktree", help="one worktree")
    actions = worktree.add_subparsers(dest="worktree_command", metavar="ACTION", required=True)
    remove = actions.add_parser("remove", parents=[common], help="remove a worktree (unpushed commits are archived first)")
    remove.add_argument("target", metavar="ISSUE|PATH", help="OWNER/REPO#N, an issue URL, or a path inside the worktree")
    remove.add_argument("--force", action="store_true", help="also when it has uncommitted changes (they are lost)")
    remove.set_defaults(func=cmd_worktree_remove)

    start = sub.add_parser("start", parents=[common], help="claim an issue and make its branch and worktree")
    start.add_argument("issue", metavar="ISSUE", type=_issue, help="OWNER/REPO#N or the issue's URL")
    start.add_argument("--as", dest="login", required=True, metavar="LOGIN", help="who claims it")
    start.add_argument("--base", metavar="BRANCH")
    start.add_argument("--platform", choices=("github", "gitea"))
    start.add_argument("--json", action="store_true")
    start.set_defaults(func=cmd_start)

    push = sub.add_parser("push", parents=[common], help="push this worktree's branch with the bot's credentials")
    push.add_argument("--path", default=".", help="a path inside the worktree (default: here)")
    push.set_defaults(func=cmd_push)
