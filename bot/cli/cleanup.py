"""`forgebot cleanup plan | apply | restore`: stale branches of one repository, from this host.

`plan` is a dry run (no write to the forge, no push, nothing stored) and exits 2 when it would do
something, 0 when not, 1 on an error. `apply` deletes what has stood on the dashboard for
`cleanup.grace` (whatever `cleanup.mode` says: the operator asked), after confirmation unless
`--yes`. `restore` recreates a deleted branch from its archive tag (or its recorded commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from bot.cli.common import EXIT_CHANGES, EXIT_FAILED, EXIT_OK, _platform, _repo_name, _with_forge


def _config(found: Any) -> Any:
    from config.repo import CleanupOptions

    return found.config.cleanup if found is not None else CleanupOptions()


async def _load(forge: Any, repo: str) -> Any:
    from bot.gitops.runner import load_config

    return _config(await load_config(forge, repo))


def _root(settings: Any) -> Any:
    from bot.git.mirror import GitRoot

    root = GitRoot(settings.git_root.resolve())
    root.prepare()
    return root


def change_json(change: Any) -> dict[str, Any]:
    return {"kind": change.kind.value, "branch": change.branch, "sha": change.sha, "why": change.why, "tag": change.tag,
            "committer": change.committer, "due_at": change.due_at}


def print_plan(run: Any, as_json: bool) -> None:
    from bot.cleanup.runner import summary

    if as_json:
        print(json.dumps({"platform": run.platform, "repo": run.repo, "summary": summary(run.changes),
                          "changes": [change_json(c) for c in run.changes]}, indent=2))
        return
    print(f"{run.repo} ({run.platform}): {summary(run.changes)}")
    for change in run.pending:
        extra = f" -> {change.tag}" if change.tag else ""
        when = f" (due {time.strftime('%Y-%m-%d', time.gmtime(change.due_at))})" if change.due_at else ""
        print(f"  {change.kind.value:<7} {change.branch} @{change.sha[:7]}{extra}: {change.why}{when}")


def _plan(args: argparse.Namespace, mode: str) -> Any:
    from bot.cleanup.runner import run_cleanup
    from bot.cli.common import _settings

    settings = _settings(args)
    platform = _platform(settings, args.platform)

    async def work(forge: Any, storage: Any, bot: str | None) -> Any:
        config = await _load(forge, args.repo)
        return await run_cleanup(forge, storage, _root(settings), args.repo, config, mode=mode, bot_login=bot)

    return asyncio.run(_with_forge(settings, platform, work))


class BadConfig(Exception):
    """The repository's config file is invalid: nothing is planned from it."""


def _planned(args: argparse.Namespace, mode: str) -> Any:
    from config.loader import ConfigError

    try:
        return _plan(args, mode)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{args.repo}: {problem}", file=sys.stderr)
        raise BadConfig from None


def cmd_cleanup_plan(args: argparse.Namespace) -> int:
    try:
        run = _planned(args, "plan")
    except BadConfig:
        return EXIT_FAILED
    print_plan(run, args.json)
    return EXIT_CHANGES if run.pending else EXIT_OK


def cmd_cleanup_apply(args: argparse.Namespace) -> int:
    try:
        return _apply(args)
    except BadConfig:
        return EXIT_FAILED


def _apply(args: argparse.Namespace) -> int:
    from bot.cleanup.apply import Outcome
    from bot.cleanup.dashboard import restore_command
    from bot.cleanup.plan import due

    if not args.yes:
        shown = _planned(args, "plan")
        print_plan(shown, False)
        if not due(shown.changes):
            print("nothing is due for deletion (notices are recorded and the dashboard edited by apply)")
        if not sys.stdin.isatty():
            print("not applied: say --yes to apply without a question", file=sys.stderr)
            return EXIT_FAILED
        if input("apply? [y/N] ").strip().lower() not in ("y", "yes"):
            print("not applied")
            return EXIT_FAILED
    run = _planned(args, "apply")
    for result in run.results:
        restore = f"; restore: {restore_command(run.repo, result.change.branch)}" if result.outcome == Outcome.DELETED else ""
        archived = f" (archived to {result.change.tag})" if result.change.tag and result.outcome == Outcome.DELETED else ""
        print(f"{result.outcome:<8} {result.change.branch} @{result.change.sha[:7]}{archived}{restore}"
              + (f": {result.detail}" if result.detail else ""))
    if not run.results:
        print(f"{run.repo} ({run.platform}): nothing deleted; {len(run.pending)} on the dashboard")
    return EXIT_FAILED if any(r.outcome in (Outcome.FAILED, Outcome.REFUSED) for r in run.results) else EXIT_OK


def cmd_cleanup_restore(args: argparse.Namespace) -> int:
    from bot.cleanup.restore import restore
    from bot.cli.common import _settings

    settings = _settings(args)
    platform = _platform(settings, args.platform)

    async def work(forge: Any, storage: Any, _bot: str | None) -> Any:
        return await restore(forge, storage, _root(settings), args.repo, args.branch)

    restored = asyncio.run(_with_forge(settings, platform, work))
    if not restored.ok:
        print(f"not restored: {restored.message}", file=sys.stderr)
        return EXIT_FAILED
    print(restored.message)
    return EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    cleanup = sub.add_parser("cleanup", help="stale branches: plan, apply, restore")
    actions = cleanup.add_subparsers(dest="cleanup_command", metavar="ACTION", required=True)

    plan = actions.add_parser("plan", parents=[common], help="what cleanup would do (a dry run; exit 2 when not empty)")
    plan.add_argument("repo", metavar="OWNER/REPO", type=_repo_name)
    plan.add_argument("--platform", choices=("github", "gitea"))
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=cmd_cleanup_plan)

    apply = actions.add_parser("apply", parents=[common], help="archive and delete the branches that are due")
    apply.add_argument("repo", metavar="OWNER/REPO", type=_repo_name)
    apply.add_argument("--platform", choices=("github", "gitea"))
    apply.add_argument("--yes", action="store_true", help="do not ask")
    apply.set_defaults(func=cmd_cleanup_apply)

    restore = actions.add_parser("restore", parents=[common], help="recreate a deleted branch from its archive")
    restore.add_argument("repo", metavar="OWNER/REPO", type=_repo_name)
    restore.add_argument("branch", metavar="BRANCH")
    restore.add_argument("--platform", choices=("github", "gitea"))
    restore.set_defaults(func=cmd_cleanup_restore)
