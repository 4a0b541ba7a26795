"""Gathering the facts for `forgebot doctor`: this host, each forge's credentials, each repository's
access and webhook, and a test delivery per webhook. `--fix` changes webhooks and nothing else."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.doctor import access, hooks, host
from bot.doctor.findings import WRONG, Finding, Level, fail, scope_of, skip, warn
from bot.events import form_payload
from bot.forges.base import Forge, ForgeError, Hook, HookDelivery, NotFound, PermissionDenied
from bot.storage import bodies
from config.settings import Settings

POLL_SECONDS = 0.5
REFUSED_REASONS = ("signature_mismatch", "signature_missing")
# Without names the doctor checks the repositories forgebot acts on (Forge.list_repositories):
# when there are none, what the credentials lack, and how to give it.
NO_REPOSITORIES = {
    "github": ("reach no repository", "give the token access to the repositories (or install the App on them)"),
    "gitea": ("administer no repository", "grant the bot's user admin on the repositories (or list them in FORGEBOT_GITEA_REPOS)"),
}


@dataclass
class Doctor:
    settings: Settings
    forges: Any  # bot.forges.provider.Forges
    http: httpx.AsyncClient  # for FORGEBOT_PUBLIC_URL
    fix: bool = False
    wait: float = 10.0  # how long a test delivery may take to show up
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    findings: list[Finding] = field(default_factory=list)

    async def run(self, repos: list[str], platforms: list[str]) -> list[Finding]:
        self.check_host()
        self.findings.append(await host.check_public_url(self.settings.public_url, self.http))
        for platform in platforms:
            await self.check_platform(platform, repos)
        return self.findings

    # -- this host ------------------------------------------------------------------------
    def check_host(self) -> None:
        self.findings.append(host.check_database(self.settings.database))
        self.findings.extend(host.check_git_root(self.settings.git_root))
        if not self.secrets():
            path = self.settings.webhook_secret_file
            self.findings.append(fail(
                "this host", "webhook secret", f"none configured and {path} does not exist: every delivery is refused",
                "start forgebot serve once (it generates one) or set FORGEBOT_WEBHOOK_SECRETS"))

    def secrets(self) -> list[str]:
        """The secrets forgebot serve would accept: configured, or the generated file's (never made here)."""
        configured = [s.get_secret_value() for s in self.settings.webhook_secrets]
        if configured:
            return configured
        path = self.settings.webhook_secret_file
        try:
            text = path.read_text().strip()
        except OSError:
            return []
        return [text] if text else []

    # -- one forge ------------------------------------------------------------------------
    async def check_platform(self, platform: str, repos: list[str]) -> None:
        scope = scope_of(platform)
        forge: Forge = self.forges.get(platform)
        app = platform == "github" and self.settings.github_app_id is not None
        try:
            creds = await forge.inspect_credentials()
        except ForgeError as exc:
            hint = " (GitHub refuses an App's JWT when this host's clock is off)" if "claim" in exc.message else ""
            if isinstance(exc, PermissionDenied):  # 401/403: the forge answered, and said no
                self.findings.append(fail(scope, "credentials", f"refused: {exc}{hint}",
                                          f"check the FORGEBOT_{platform.upper()}_* settings"))
            else:  # unreachable, failing or limited: nothing is known about the credentials yet
                self.findings.append(fail(scope, "credentials", f"not checked: {exc}",
                                          f"check the FORGEBOT_{platform.upper()}_* settings, and that the forge is up"))
            if forge.server_time is not None:  # even a refusal says what time it is there
                self.findings.append(access.judge_clock(scope, self.clock(), forge.server_time, app))
            return
        self.findings.extend(access.judge_credentials(scope, creds))
        self.findings.append(access.judge_clock(scope, self.clock(), forge.server_time, app))
        if app:
            await self.check_app_hook(forge)
        if not repos:
            repos = await self.default_repos(platform, forge)
            if not repos:  # forgebot acts on none of them either: not something to call well
                reach, grant = NO_REPOSITORIES[platform]
                self.findings.append(warn(scope, "repositories", f"the credentials {reach}, so forgebot acts on none "
                                          "and nothing was checked", f"{grant}, or name them: forgebot doctor OWNER/REPO"))
        for repo in repos:
            try:
                await self.check_repo(platform, forge, repo, creds.scopes, app)
            except ForgeError as exc:
                self.findings.append(fail(scope_of(platform, repo), "forge", f"a call failed: {exc}"))

    async def default_repos(self, platform: str, forge: Forge) -> list[str]:
        if platform == "gitea" and self.settings.gitea_repos:
            return list(self.settings.gitea_repos)
        return sorted(r.full_name for r in await forge.list_repositories())

    # -- one repository -------------------------------------------------------------------
    async def check_app_hook(self, forge: Forge) -> None:
        """A GitHub App's own webhook cannot be pinged through the API: its recent deliveries tell."""
        try:
            deliveries = await forge.list_app_hook_deliveries()
        except ForgeError as exc:
            self.findings.append(fail("github", "deliveries", f"the App's webhook deliveries could not be read: {exc}"))
            return
        self.findings.append(hooks.judge_deliveries("github", deliveries))
        newest = deliveries[0] if deliveries else None
        self.findings.append(hooks.judge_app_signature(newest, newest is not None and self.stored("github", newest.guid)))

    async def check_repo(self, platform: str, forge: Forge, repo: str, scopes: tuple[str, ...] | None,
                         app: bool = False) -> None:
        scope = scope_of(platform, repo)
        try:
            repo_access = await forge.repo_access(repo)
        except NotFound:
            self.findings.append(fail(scope, "permissions", "no such repository, or the bot cannot see it",
                                      "check the name, and grant the bot's user access"))
            return
        self.findings.extend(access.judge_scopes(scope, scopes, repo_access.private))
        self.findings.extend(access.judge_access(scope, repo_access, platform))
        public_url = self.settings.public_url
        if not public_url:
            self.findings.append(skip(scope, "webhook", "not checked: FORGEBOT_PUBLIC_URL is not set"))
            return
        try:
            listed = await forge.list_hooks(repo)
        except (PermissionDenied, NotFound):
            self.findings.append(skip(scope, "webhook", "not checked: the bot may not read this repository's "
                                      "webhooks (that needs admin)"))
            return
        if app and not hooks.own_hooks(listed, public_url):
            self.findings.append(skip(scope, "webhook", "none needed: a GitHub App's events come through the App's "
                                      "own webhook (see its deliveries under github)"))
            return
        judged, hook = hooks.judge_hook(scope, listed, public_url, platform)
        # Several hooks to forgebot are reported, not fixed: which to delete is the owner's choice.
        if self.fix and (hook is None or any(f.level in WRONG and f.check != "webhooks" for f in judged)):
            hook = await self.fix_hook(forge, scope, repo, platform, hook)
            judged, hook = hooks.judge_hook(scope, await forge.list_hooks(repo), public_url, platform)
        self.findings.extend(judged)
        if hook is None or hook.id is None:
            return
        if hook.url not in hooks.accepted_urls(public_url, platform):
            self.findings.append(skip(scope, "webhook signature", "not tested: the hook points elsewhere"))
            return
        finding = await self.test_signature(platform, forge, repo, hook)
        if self.fix and finding.level == Level.FAIL and "--fix" in finding.fix:  # a secret forgebot does not hold
            await self.fix_hook(forge, scope, repo, platform, hook)
            finding = await self.test_signature(platform, forge, repo, hook)
        self.findings.append(finding)

    async def fix_hook(self, forge: Forge, scope: str, repo: str, platform: str, hook: Hook | None) -> Hook | None:
        """Creates forgebot's webhook, or corrects it: URL, JSON, events, active, and the secret."""
        secrets = self.secrets()
        if not secrets:
            self.findings.append(fail(scope, "fix", "no webhook secret to give the hook",
                                      "start forgebot serve once or set FORGEBOT_WEBHOOK_SECRETS"))
            return hook
        assert self.settings.public_url is not None
        wanted = hooks.desired_hook(self.settings.public_url, platform, hook)
        if hook is None or hook.id is None:
            made = await forge.create_hook(repo, wanted, secret=secrets[0])
            self.findings.append(_fixed(scope, f"created hook {made.id} to {made.url}"))
            return made
        made = await forge.update_hook(repo, hook.id, wanted, secret=secrets[0])
        self.findings.append(_fixed(scope, f"corrected hook {hook.id}: {made.url}, JSON, its events and its secret"))
        return made

    # -- test deliveries ------------------------------------------------------------------
    async def test_signature(self, platform: str, forge: Forge, repo: str, hook: Hook) -> Finding:
        assert hook.id is not None
        scope = scope_of(platform, repo)
        if platform == "github":
            return await self.ping(forge, repo, hook.id)
        self.findings.append(skip(scope, "deliveries", "Gitea's API does not list a hook's deliveries",
                                  "see Recent Deliveries on the hook's page in the repository settings"))
        before = await self.intake(platform)
        started = self.clock()
        await forge.test_hook(repo, hook.id)
        arrived = await self.poll(lambda: self.arrived_push(repo, started))
        after = await self.intake(platform) if not arrived else None
        refused = accepted = None
        if before is not None and after is not None:
            refused, accepted = after[0] - before[0], after[1] - before[1]
        if not arrived and accepted:
            return skip(scope, "webhook signature", "the test delivery was accepted at FORGEBOT_PUBLIC_URL, but not by "
                        "this forgebot (its database does not have it): the URL points at another instance, so the "
                        "secret could not be checked")
        private = (not arrived and not refused and self.settings.public_url is not None
                   and host.is_private_url(self.settings.public_url))
        return hooks.judge_test(scope, bool(arrived), refused, private)

    async def ping(self, forge: Forge, repo: str, hook_id: int) -> Finding:
        """GitHub records each delivery's answer: the ping's shows whether forgebot took the signature."""
        scope = scope_of("github", repo)
        before = await forge.list_hook_deliveries(repo, hook_id)
        seen = {d.guid for d in before}
        await forge.test_hook(repo, hook_id)
        ping = await self.poll(lambda: self.new_ping(forge, repo, hook_id, seen))
        verdict = hooks.judge_ping(scope, ping, ping is not None and self.stored("github", ping.guid))
        self.findings.append(hooks.judge_deliveries(scope, before, healthy=verdict.level == Level.OK))
        return verdict

    async def poll(self, probe: Callable[[], Awaitable[Any]]) -> Any:
        deadline = self.clock() + self.wait
        while True:
            found = await probe()
            if found or self.clock() >= deadline:
                return found
            await self.sleep(POLL_SECONDS)

    async def new_ping(self, forge: Forge, repo: str, hook_id: int, seen: set[str]) -> HookDelivery | None:
        return next((d for d in await forge.list_hook_deliveries(repo, hook_id)
                     if d.event == "ping" and d.guid not in seen), None)

    async def arrived_push(self, repo: str, since: float) -> bool:
        for body, encoding in self.rows("SELECT body, body_encoding FROM deliveries WHERE platform = 'gitea' "
                                        "AND event = 'push' AND received_at >= ?", since - 1.0):
            try:
                raw = bodies.decode(body, encoding)
                payload = json.loads(form_payload(raw) or b"" if raw.startswith(b"payload=") else raw)
            except ValueError:  # MalformedPayload is one
                continue
            if str((payload.get("repository") or {}).get("full_name", "")).casefold() == repo.casefold():
                return True
        return False

    def stored(self, platform: str, delivery_id: str) -> bool:
        return bool(self.rows("SELECT 1 FROM deliveries WHERE platform = ? AND delivery_id = ?", platform, delivery_id))

    def rows(self, sql: str, *params: Any) -> list[Any]:
        """Read this forgebot's database without writing or creating it."""
        if not self.settings.database.exists():
            return []
        try:
            conn = sqlite3.connect(f"file:{self.settings.database}?mode=ro", uri=True, timeout=2.0)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return []

    async def intake(self, platform: str) -> tuple[float, float] | None:
        """From forgebot's /metrics at the public URL: deliveries refused for their signature, and push
        deliveries stored; None when unreadable."""
        from prometheus_client.parser import text_string_to_metric_families

        try:
            resp = await self.http.get(f"{self.settings.public_url}/metrics", timeout=5.0)
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        refused = stored = 0.0
        try:
            for family in text_string_to_metric_families(resp.text):
                for sample in family.samples:
                    if sample.labels.get("platform") != platform:
                        continue
                    if sample.name == "forgebot_deliveries_rejected_total" and sample.labels.get("reason") in REFUSED_REASONS:
                        refused += sample.value
                    elif sample.name == "forgebot_deliveries_received_total" and sample.labels.get("event") == "push":
                        stored += sample.value
        except ValueError:
            return None
        return refused, stored


def _fixed(scope: str, message: str) -> Finding:
    return Finding(scope, "fix", Level.FIXED, message)

