"""One reconcile of one repository: load its config, observe, plan, maybe apply, record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.forges.base import Forge, ForgeError, NotFound, PermissionDenied
from bot.gitops.apply import MissingSecret, Result, apply
from bot.gitops.observe import observe
from bot.gitops.plan import Change, deletion_limit, plan, plan_notes
from bot.gitops.render import as_json, summary
from bot.storage.activity import Entry
from bot.storage.base import Storage
from config.loader import ConfigError, Loaded, load
from config.repo import CONFIG_PATHS, RepoConfig, hook_secret_name

logger = logging.getLogger(__name__)

OWN_HOOK_PATHS = ("/webhooks", "/webhooks/github", "/webhooks/gitea")


@dataclass
class RunSummary:
    platform: str
    repo: str
    trigger: str
    mode: str  # plan | report | apply (or auto: what the file's reconcile.mode says)
    outcome: str  # no-config | invalid | clean | drift | applied | partial | blocked | failed
    commit: str | None = None
    changes: tuple[Change, ...] = ()
    results: list[Result] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not drift: unsupported here, invited and not accepted
    config: RepoConfig | None = None
    config_path: str | None = None

    @property
    def unread(self) -> bool:
        """The run stopped before planning: the file or the platform could not be read."""
        return self.outcome == "failed" and not self.results


def own_hook_matcher(public_url: str | None) -> Callable[[str], bool]:
    """Which webhook URLs are the bot's own: under its public URL, or its receiver's paths."""
    if public_url:
        prefix = public_url.rstrip("/") + "/"
        return lambda url: url.startswith(prefix)
    return lambda url: urlsplit(url).path.rstrip("/") in OWN_HOOK_PATHS


def secret_lookup(config: RepoConfig, environ: Mapping[str, str]) -> Callable[[str], str | None]:
    names = {hook.url: hook.secret_env for hook in config.webhooks or ()}

    def secret(url: str) -> str | None:
        name = names.get(url)
        if name is None:
            return None
        try:
            hook_secret_name(name)  # validated with the file already; a secret is worth checking twice
        except ValueError as exc:
            raise MissingSecret(f"webhook {url}: {exc}") from None
        value = environ.get(name)
        if not value:
            raise MissingSecret(f"webhook {url}: secret_env {name} is not set in forgebot's environment")
        return value

    return secret


async def load_config(forge: Forge, repo: str, ref: str | None = None) -> Loaded | None:
    """The repository's config at `ref` (default branch when None), extends followed; None without one."""

    async def fetch(other: str, path: str) -> str | None:
        # An extended file the bot may not read is "not found", like a missing one: the answer
        # is posted on this repository, and must not tell the two apart.
        try:
            found = await forge.read_file(other, path)
        except (NotFound, PermissionDenied):
            return None
        return found.content.decode("utf-8", errors="replace") if found else None

    for path in CONFIG_PATHS:
        found = await forge.read_file(repo, path, ref)
        if found is not None:
            return await load(repo, found.content.decode("utf-8", errors="replace"), path, fetch)
    return None


async def remember_config(
    storage: Storage, platform: str, repo: str, found: Loaded | ConfigError | None, *, commit: str | None, now: float,
) -> None:
    """Record what reading the repository's config found, for everything that reads the config in force.

    A valid file becomes the version in force. Without a file the defaults are (an empty valid
    version, recorded once), so deleting the file ends what it set up: commands, claims and
    triggers go back to the defaults. An invalid file is recorded with its problems and the last
    valid version stays in force (the defaults, when there is none yet).
    """
    if isinstance(found, Loaded):
        path = found.sources[0].partition(":")[2]
        await storage.configs.save_config(platform, repo, commit, path, found.raw, [], list(found.sources), now)
        return
    if isinstance(found, ConfigError):
        errors = [str(p) for p in found.problems]
        await storage.configs.save_config(platform, repo, commit, None, None, errors, [], now)
    last = await storage.configs.last_valid_config(platform, repo)
    if last is None or (found is None and last[:2] != ({}, [])):  # once: scheduled runs would pile them up
        await storage.configs.save_config(platform, repo, commit, None, {}, [], [], now)


async def reconcile(
    forge: Forge,
    storage: Storage,
    repo: str,
    *,
    trigger: str,
    mode: str,
    bot_login: str | None,
    public_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    ref: str | None = None,
    commit: str | None = None,
    clock: Callable[[], float] = time.time,
) -> RunSummary:
    """Never raises for the repository's own problems: they are in the summary and the records."""
    import os

    started = clock()
    run = RunSummary(forge.platform, repo, trigger, mode, "failed", commit)
    try:
        loaded = await load_config(forge, repo, ref)
    except ConfigError as exc:
        run.outcome, run.errors = "invalid", [str(p) for p in exc.problems]
        if mode != "plan":  # a pull request's file is not the one in force
            await remember_config(storage, forge.platform, repo, exc, commit=commit, now=clock())
        await _record(storage, run, started, clock)
        return run
    except ForgeError as exc:
        run.errors = [f"reading the config: {exc}"]
        await _record(storage, run, started, clock)
        return run
    if loaded is None:
        run.outcome = "no-config"
        if mode != "plan":
            await remember_config(storage, forge.platform, repo, None, commit=commit, now=clock())
        await _record(storage, run, started, clock)  # else a deleted file's last drift would stay the latest run
        return run
    run.config, run.config_path = loaded.config, loaded.sources[0].partition(":")[2]
    if mode == "auto":
        run.mode = mode = loaded.config.reconcile.mode
    if mode != "plan":
        await remember_config(storage, forge.platform, repo, loaded, commit=commit, now=clock())
    try:
        observed, run.unknown = await observe(forge, repo, loaded.config, bot_login=bot_login, own_hook=own_hook_matcher(public_url))
    except ForgeError as exc:
        run.errors = [f"reading the platform: {exc}"]
        await _record(storage, run, started, clock)
        return run
    run.changes = plan(loaded.config, observed)
    run.notes = plan_notes(loaded.config, observed)
    blocked = deletion_limit(run.changes, loaded.config.policy.max_deletions)
    if not run.changes:
        run.outcome = "clean"
    elif blocked:
        run.outcome, run.errors = "blocked", [blocked]
    elif mode != "apply":
        run.outcome = "drift"
    else:
        run.results = await apply(forge, repo, run.changes, secret=secret_lookup(loaded.config, environ if environ is not None else os.environ))
        failed = [r for r in run.results if not r.ok]
        run.errors = [f"{r.change.target}: {r.error}" for r in failed]
        run.outcome = "applied" if not failed else ("failed" if len(failed) == len(run.results) else "partial")
    await _record(storage, run, started, clock)
    return run


# Outcomes of runs that found nothing to do: a scheduled run of every repository would otherwise
# add one row per repository per run to the append-only activity log.
QUIET_OUTCOMES = frozenset({"clean", "no-config"})


async def _record(storage: Storage, run: RunSummary, started: float, clock: Callable[[], float]) -> None:
    finished = clock()
    results = [{"target": r.change.target, "kind": r.change.kind.value, "ok": r.ok, "error": r.error} for r in run.results]
    await storage.configs.save_run(
        run.platform, run.repo, run.trigger, run.commit, run.mode, run.outcome,
        [as_json(c) for c in run.changes], results, run.errors, started, finished,
    )
    log = logger.warning if run.errors else logger.info
    said = run.errors[0] if run.unread else summary(run.changes)  # an unread run has no plan to summarise
    log("reconcile %s: %s", run.outcome, said, extra={"repo": run.repo, "trigger": run.trigger, "mode": run.mode})
    if run.outcome in QUIET_OUTCOMES:
        return  # nothing happened: the run is in reconcile_runs; the activity log, never pruned, keeps what the bot did
    entry = Entry(
        kind=f"reconcile.{run.outcome}",
        detail={"trigger": run.trigger, "mode": run.mode, "commit": run.commit, "plan": summary(run.changes), "errors": run.errors[:20]},
        platform=run.platform,
        repo=run.repo,
    )
    await storage.activity.append(entry, finished)
