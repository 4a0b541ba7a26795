"""The `forgebot` command line.

Exit codes: 0 success; 1 the operation ran and failed (a handler error, a broken chain);
2 the command could not run as asked (bad arguments, invalid settings, missing input).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot import __version__
from bot.cli.common import (
    EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, _fail, _invalid, _settings, _when, opened_storage,
)
from bot.events import MalformedPayload, read_event
from bot.forges.base import ForgeError
from bot.storage.activity import Verdict
from config.settings import Settings, SettingsError, ensure_webhook_secret


async def _run_handlers(settings: Settings, event: Any, on_store: Callable[[Any, Any], Any] | None = None) -> Any:
    """Run the handlers once for `event`, with the real store, router and forge clients."""
    from bot.app import build_router, build_services
    from bot.engine.dispatch import Processor
    from bot.storage.open import open_storage

    services = build_services(settings)
    store = open_storage(settings)
    await store.start()
    try:
        processor = Processor(settings, store, build_router(settings), services=services)
        report = await processor.run(event)
        if on_store is not None:
            await on_store(store, report)
        return report
    finally:
        await services.aclose()
        await store.stop()


def _print_report(event: Any, report: Any) -> None:
    print(f"event:    {event.full_name} ({event.platform})")
    if event.repo is not None:
        print(f"repo:     {event.repo.full_name}")
    if event.subject:
        print(f"subject:  {event.subject}")
    if event.sender is not None:
        print(f"sender:   {event.sender.login}")
    print(f"handlers: {', '.join(report.handlers) if report.handlers else 'none matched'}")
    for skipped in report.skipped:
        print(f"skipped:  {skipped}")
    for entry in report.context.recorded:
        print(f"recorded: {entry.kind} {json.dumps(entry.detail, sort_keys=True, default=str)}")
    print(f"outcome:  {report.outcome}")


# -- commands ---------------------------------------------------------------------------------


def _check_database(settings: Settings) -> None:
    """Open (and migrate) the database before serving: a path that cannot be written is one line
    and exit 2 here, rather than a traceback from the server's startup. A PostgreSQL URL is
    checked by the app's own start, which connects and migrates under its advisory lock."""
    import sqlite3

    from bot.storage.sqlite.engine import Store
    from bot.storage.url import SQLITE, DatabaseUrlError, parse_database_url

    try:
        url = parse_database_url(settings.database_url.get_secret_value() if settings.database_url else None, settings.database)
    except DatabaseUrlError as exc:
        _fail(str(exc))
    if url.backend != SQLITE:
        return
    path = url.path
    assert path is not None
    store = Store(path)
    try:
        store.open()
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        reason = "a file is in the way of its directory" if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
        _fail(f"cannot open the database {path}: {reason}{where}")
    except sqlite3.Error as exc:
        _fail(f"cannot open the database {path}: {exc}")
    finally:
        store.close()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot import logs
    from bot.app import ForgebotApp
    from bot.http.limits import map_large_buffers_apart, raise_open_file_limit

    settings = _settings(args, host=args.host, port=args.port, database=args.database)
    try:
        settings, secret_file = ensure_webhook_secret(settings)
    except (SettingsError, OSError) as exc:
        _fail(f"webhook secret: {exc}")
    logs.configure(fmt=settings.log_format, level=settings.log_level, secrets=settings.secret_strings())
    if secret_file is not None:
        print(
            f"forgebot: webhook secret is in {secret_file}; give its content to your GitHub/Gitea hooks"
            " (or set FORGEBOT_WEBHOOK_SECRETS)",
            file=sys.stderr,
        )
    _check_database(settings)
    open_files = raise_open_file_limit()
    map_large_buffers_apart()
    app = ForgebotApp(settings)
    try:
        app.forges.build_configured()  # a bad key fails now, not on every delivery
    except SettingsError as exc:
        _invalid(exc)
    print(
        f"forgebot: listening on http://{settings.host}:{settings.port}/webhooks, database {app.storage.describe()},"
        f" up to {app.limits.guard.cap} connections (open-file limit {open_files})",
        file=sys.stderr,
    )
    from bot.http.server import HTTPProtocol

    config = uvicorn.Config(
        app,
        http=HTTPProtocol,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
    )
    server = uvicorn.Server(config)
    server.run()
    return EXIT_OK if server.started else EXIT_FAILED


def cmd_deliveries(args: argparse.Namespace) -> int:
    from bot.http.api import delivery_json

    async def newest(settings: Settings) -> Any:
        async with opened_storage(settings) as storage:
            return await storage.deliveries.listing(args.failed, args.limit)

    rows = asyncio.run(newest(_settings(args)))
    if args.json:
        print(json.dumps([delivery_json(row) for row in rows], indent=2))
        return EXIT_OK
    if not rows:
        print("no failed deliveries" if args.failed else "no deliveries")
        return EXIT_OK
    print(f"{'DELIVERY':38} {'PLATFORM':8} {'EVENT':34} {'STATUS':8} {'TRIES':>5}  {'RECEIVED':19}  SUBJECT / ERROR")
    for row in rows:
        event = row.full_event
        tail = row.subject or row.repo or ""
        if row.last_error:
            tail = f"{tail}  {row.last_error}".strip()
        print(
            f"{row.delivery_id:38} {row.platform:8} {event[:34]:34} {row.status:8} {row.attempts:>5}  "
            f"{_when(row.received_at):19}  {tail}"
        )
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from bot.engine.inbox import decode

    settings = _settings(args)

    async def find_and_mark() -> Any:
        async with opened_storage(settings) as storage:
            rows = await storage.deliveries.find(args.delivery_id, args.platform)
            if not rows:
                raise UsageError(f"no delivery {args.delivery_id!r} is stored")
            if len(rows) > 1:
                raise UsageError(f"delivery {args.delivery_id!r} exists on both platforms; add --platform")
            # As the admin API's replay does: a rate limit's patience now counts from this replay.
            await storage.deliveries.mark_replayed(rows[0].id, time.time())
            return rows[0]

    row = asyncio.run(find_and_mark())
    try:
        event = decode(row)
    except MalformedPayload as exc:  # whatever the payload holds: one line
        print(f"forgebot: cannot replay {row.delivery_id}: {exc}", file=sys.stderr)
        return EXIT_FAILED

    async def record(store: Any, report: Any) -> None:
        await store.deliveries.start_attempt(row.id, event.action, event.repo.full_name if event.repo else None, event.subject)
        await store.deliveries.finish(row.id, report.outcome, time.time())

    try:
        report = asyncio.run(_run_handlers(settings, event, record))
    except Exception as exc:  # the handler's failure is the command's result
        print(f"forgebot: replay of {row.delivery_id} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print_report(event, report)
    return EXIT_OK


def cmd_receive(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        body = args.file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        event_type = args.event if args.platform == "gitea" else None
        event = read_event(
            args.platform, args.event, body, "application/json", delivery_id=f"local-{int(time.time())}", event_type=event_type
        )
    except MalformedPayload as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    try:
        report = asyncio.run(_run_handlers(settings, event))
    except Exception as exc:  # the handler's failure is the command's result
        print(f"forgebot: handler failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print_report(event, report)
    return EXIT_OK


def cmd_activity_verify(args: argparse.Namespace) -> int:
    async def verify(settings: Settings) -> Verdict:
        async with opened_storage(settings) as storage:
            return await storage.activity.verify()

    verdict = asyncio.run(verify(_settings(args)))
    if verdict.ok:
        print(f"activity log intact: {verdict.rows} entries")
        return EXIT_OK
    print(f"activity log broken at entry {verdict.bad_id}: {verdict.reason} ({verdict.rows} entries verified before it)")
    return EXIT_FAILED


def cmd_activity_list(args: argparse.Namespace) -> int:
    async def recent(settings: Settings) -> list[dict[str, Any]]:
        async with opened_storage(settings) as storage:
            return await storage.activity.recent(limit=args.limit, repo=args.repo)

    entries = asyncio.run(recent(_settings(args)))
    for entry in reversed(entries):
        detail = json.dumps(entry["detail"], sort_keys=True)
        print(f"{entry['id']:>6} {entry['at']} {entry['kind']:28} {entry['repo'] or '-':30} {entry['actor'] or '-':16} {detail}")
    return EXIT_OK


# -- parser -----------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file (environment variables and flags win)")

    parser = argparse.ArgumentParser(
        prog="forgebot",
        description="Webhook bot and GitOps daemon for GitHub and Gitea/Forgejo.",
        epilog="Settings come from FORGEBOT_* environment variables; see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"forgebot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the webhook receiver, workers and scheduler")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--database", type=Path, help="SQLite file (default var/forgebot.db)")
    serve.set_defaults(func=cmd_serve)

    listing = sub.add_parser("deliveries", parents=[common], help="list stored deliveries, newest first")
    listing.add_argument("--failed", action="store_true", help="only dead letters and deliveries waiting to retry")
    listing.add_argument("--limit", type=_positive, default=20, metavar="N", help="how many (default 20)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_deliveries)

    replay = sub.add_parser("replay", parents=[common], help="run the handlers again for a stored delivery")
    replay.add_argument("delivery_id", metavar="DELIVERY_ID")
    replay.add_argument("--platform", choices=("github", "gitea"), help="when the id exists on both")
    replay.set_defaults(func=cmd_replay)

    receive = sub.add_parser(
        "receive", parents=[common], help="run the handlers once on a payload file, without HTTP"
    )
    receive.add_argument("--platform", required=True, choices=("github", "gitea"))
    receive.add_argument(
        "--event", required=True, metavar="NAME", help="X-GitHub-Event, or Gitea's X-Gitea-Event-Type (e.g. issue_comment)"
    )
    receive.add_argument("file", type=Path, metavar="FILE", help="the JSON payload")
    receive.set_defaults(func=cmd_receive)

    act = sub.add_parser("activity", help="the hash-chained activity log")
    act_sub = act.add_subparsers(dest="activity_command", metavar="ACTION", required=True)
    verify = act_sub.add_parser("verify", parents=[common], help="check that no entry was changed or removed")
    verify.set_defaults(func=cmd_activity_verify)
    tail = act_sub.add_parser("list", parents=[common], help="show recent entries")
    tail.add_argument("--limit", type=_positive, default=20, metavar="N")
    tail.add_argument("--repo", metavar="OWNER/REPO")
    tail.set_defaults(func=cmd_activity_list)

    from bot.cli.repos import add_commands

    add_commands(sub, common)
    from bot.cli.doctor import add_commands as add_doctor_commands
    add_doctor_commands(sub, common)
    from bot.cli.review import add_commands as add_review_commands

    add_review_commands(sub, common)
    from bot.cli.worktrees import add_commands as add_worktree_commands

    add_worktree_commands(sub, common)
    from bot.cli.cleanup import add_commands as add_cleanup_commands

    add_cleanup_commands(sub, common)
    from bot.cli.mcp import add_commands as add_mcp_commands

    add_mcp_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args))
    except UsageError as exc:
        _fail(str(exc))
    except SettingsError as exc:  # found only when used (a GitHub App key that does not load)
        _invalid(exc)
    except ForgeError as exc:  # the platform refused or failed; its message, one line
        _fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Import ourselves as `bot.cli` so exceptions raised by other modules match our handlers.
    from bot.cli.main import main as _main

    raise SystemExit(_main())
