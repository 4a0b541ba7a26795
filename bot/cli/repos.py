"""Commands about repositories: `config check|schema`, `plan`, `apply`, `dump`, `drift`, `ready`.

Exit codes follow `terraform plan -detailed-exitcode` where a plan is shown: 0 nothing to do,
2 a plan that is not empty, 1 an error. `apply` exits 0 when everything it planned was applied.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.cli.common import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    _platform,
    _repo_name,
    _settings,
    _with_forge,
    opened_storage,
)
from bot.gitops.render import as_json, diff, plain, summary
from config.loader import ConfigError, parse_yaml, validate
from config.repo import RepoConfig, schema


def _print_run(run: Any, as_json_output: bool) -> None:
    if as_json_output:
        print(json.dumps({
            "platform": run.platform, "repo": run.repo, "outcome": run.outcome, "summary": summary(run.changes),
            "changes": [as_json(c) for c in run.changes], "errors": run.errors, "unknown": run.unknown,
            "notes": run.notes,
        }, indent=2))
        return
    if run.outcome == "no-config":
        print(f"{run.repo} ({run.platform}): no .forgebot.yml, nothing is managed")
        return
    print(f"{run.repo} ({run.platform}): {summary(run.changes)}")
    if run.changes:
        print(diff(run.changes))
    for note in run.unknown:
        print(f"? not compared: {note}")
    for note in run.notes:
        print(f"= left as it is: {note}")
    for error in run.errors:
        print(f"! {error}", file=sys.stderr)


# -- commands -------------------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:

    try:
        text = args.file.read_bytes().decode()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        print(f"{args.file}: not UTF-8 text (byte {exc.start})")
        return EXIT_FAILED
    try:
        data, lines = parse_yaml(text, str(args.file))
        config = validate(data, lines, str(args.file))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return EXIT_FAILED
    note = f" (extends {config.extends}: not followed locally)" if config.extends else ""
    print(f"{args.file}: valid{note}")
    return EXIT_OK


def cmd_config_schema(args: argparse.Namespace) -> int:
    print(json.dumps(schema(), indent=2, sort_keys=True))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from bot.gitops.runner import reconcile

    settings = _settings(args)
    platform = _platform(settings, args.platform)

    async def work(forge: Any, storage: Any, bot: str) -> Any:
        return await reconcile(forge, storage, args.repo, trigger="cli", mode="plan", bot_login=bot, public_url=settings.public_url)

    run = asyncio.run(_with_forge(settings, platform, work))
    _print_run(run, args.json)
    if run.errors or run.outcome in ("invalid", "failed"):
        return EXIT_FAILED
    return EXIT_CHANGES if run.changes else EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from bot.gitops.runner import reconcile

    settings = _settings(args)
    platform = _platform(settings, args.platform)

    async def work(forge: Any, storage: Any, bot: str) -> Any:
        shown = await reconcile(forge, storage, args.repo, trigger="cli", mode="plan", bot_login=bot, public_url=settings.public_url)
        _print_run(shown, False)
        if not shown.changes or shown.errors:
            return shown
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("not a terminal: pass --yes to apply without asking")
            if input(f"Apply {summary(shown.changes)} to {args.repo}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing applied")
                shown.errors = ["not confirmed"]
                return shown
        applied = await reconcile(forge, storage, args.repo, trigger="cli", mode="apply", bot_login=bot, public_url=settings.public_url)
        if applied.changes != shown.changes:
            print("! the platform changed between the plan and the apply; what was applied:", file=sys.stderr)
            print(diff(applied.changes), file=sys.stderr)
        for result in applied.results:
            print(f"{'ok    ' if result.ok else 'FAILED'} {result.change.target}{': ' + result.error if result.error else ''}")
        return applied

    run = asyncio.run(_with_forge(settings, platform, work))
    return EXIT_FAILED if run.errors else EXIT_OK


def _dump(state: dict[str, Any]) -> str:
    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(date, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v.isoformat()))
    return yaml.dump(state, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


async def dump_state(forge: Any, repo: str, bot: str | None, public_url: str | None) -> dict[str, Any]:
    """The platform's state as a config file, so that adopting forgebot starts from an empty plan."""
    from bot.gitops.runner import own_hook_matcher

    own = own_hook_matcher(public_url)
    settings = plain(await forge.get_settings(repo))
    labels = [{"name": l.name, "color": l.color, "description": l.description} for l in await forge.list_labels(repo)]
    branches = []
    for branch in await forge.list_branches(repo):
        if branch.protected:
            protection = await forge.get_protection(repo, branch.name)
            if protection is not None:
                fields = {k: v for k, v in plain(protection).items() if k != "branch"}
                branches.append({"name": branch.name, "protection": fields})
    milestones = [
        {k: v for k, v in {"title": m.title, "description": m.description, "due_on": m.due_on, "state": m.state}.items() if v is not None}
        for m in await forge.list_milestones(repo)
    ]
    collaborators = {c.login: c.permission.label for c in await forge.list_collaborators(repo) if c.login != bot}
    hooks = [{"url": h.url, "events": list(h.events), "active": h.active} for h in await forge.list_hooks(repo) if not own(h.url)]
    state: dict[str, Any] = {"repository": settings, "labels": labels, "topics": list(await forge.get_topics(repo))}
    if branches:
        state["branches"] = branches
    if milestones:
        state["milestones"] = milestones
    if collaborators:
        state["collaborators"] = collaborators
    if hooks:
        state["webhooks"] = hooks
    RepoConfig.model_validate(state)  # what we write must load
    return state


def _check_writable(path: Path) -> None:
    """Refuse an output file that cannot be written before any platform call is made."""

    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: {path.parent} is not a directory")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise UsageError(f"cannot write {path}: permission denied")


def cmd_dump(args: argparse.Namespace) -> int:

    settings = _settings(args)
    platform = _platform(settings, args.platform)
    if args.output:
        _check_writable(args.output)

    async def work(forge: Any, storage: Any, bot: str) -> Any:
        return await dump_state(forge, args.repo, bot, settings.public_url)

    state = asyncio.run(_with_forge(settings, platform, work))
    header = f"# forgebot config for {args.repo}, dumped from {platform} on {time.strftime('%Y-%m-%d')}\n"
    header += "# Webhook secrets cannot be read back: add `secret_env: FORGEBOT_HOOK_SECRET_NAME` to each webhook that has one.\n"
    text = header + _dump(state)
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as exc:  # changed since the check (disk full, removed directory...)
            raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return EXIT_OK


def cmd_drift(args: argparse.Namespace) -> int:

    async def scheduled_runs() -> list[dict[str, Any]]:
        async with opened_storage(_settings(args)) as storage:
            return await storage.configs.latest_runs("schedule")

    runs = asyncio.run(scheduled_runs())
    drifted = [r for r in runs if r["outcome"] in ("drift", "blocked", "partial", "failed", "invalid")]
    if args.json:
        print(json.dumps(drifted, indent=2))
        return EXIT_CHANGES if drifted else EXIT_OK
    if not runs:
        print("no scheduled reconcile has run yet")
        return EXIT_OK
    if not drifted:
        print(f"no drift in {len(runs)} repositories")
        return EXIT_OK
    for run in drifted:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["finished_at"]))
        print(f"{run['platform']:6} {run['repo']:40} {run['outcome']:8} {len(run['plan']):3} changes  {when}")
        for change in run["plan"][:20]:
            print(f"         {change['kind']:7} {change['target']}  ({change['why']})")
        for error in run["errors"][:5]:
            print(f"         ! {error}")
    return EXIT_CHANGES


def cmd_ready(args: argparse.Namespace) -> int:
    from bot.app import build_router, build_services
    from bot.engine.dispatch import Processor
    from handlers.agent_ops import ready_issues

    settings = _settings(args)
    platform = _platform(settings, args.platform)
    services = build_services(settings)

    async def work(forge: Any, storage: Any, bot: str) -> Any:
        ctx = Processor(settings, storage, build_router(settings), services=services).context()
        return await ready_issues(ctx, forge, args.repo, args.label)

    print(json.dumps(asyncio.run(_with_forge(settings, platform, work, services)), indent=2))
    return EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    config = sub.add_parser("config", help="the repository config file (.forgebot.yml)")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", parents=[common], help="validate a config file locally")
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(func=cmd_config_check)
    config_sub.add_parser("schema", parents=[common], help="print the JSON Schema for editors").set_defaults(func=cmd_config_schema)

    for name, func, text in (
        ("plan", cmd_plan, "show what reconciling OWNER/REPO would change (exit 2 when not empty)"),
        ("apply", cmd_apply, "reconcile OWNER/REPO now"),
        ("dump", cmd_dump, "write OWNER/REPO's current state as a config file"),
    ):
        parser = sub.add_parser(name, parents=[common], help=text)
        parser.add_argument("repo", metavar="OWNER/REPO", type=_repo_name)
        parser.add_argument("--platform", choices=("github", "gitea"), help="needed when both are configured")
        if name == "plan":
            parser.add_argument("--json", action="store_true", help="print JSON")
        if name == "apply":
            parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        if name == "dump":
            parser.add_argument("--output", type=Path, metavar="FILE", help="write here instead of printing")
        parser.set_defaults(func=func)

    ready = sub.add_parser("ready", parents=[common], help="open issues neither blocked nor claimed, oldest first (JSON)")
    ready.add_argument("repo", metavar="OWNER/REPO", type=_repo_name)
    ready.add_argument("--label", metavar="L", help="only issues with this label")
    ready.add_argument("--platform", choices=("github", "gitea"), help="needed when both are configured")
    ready.set_defaults(func=cmd_ready)

    drift = sub.add_parser("drift", parents=[common], help="repositories whose last scheduled reconcile found drift")
    drift.add_argument("--json", action="store_true")
    drift.set_defaults(func=cmd_drift)
