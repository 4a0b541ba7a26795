"""`forgebot doctor` on both platforms: a running forgebot at its public URL, the emulator delivering the
doctor's test deliveries to it, and each misconfiguration made on purpose."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import ForgebotApp
from bot.doctor.findings import Finding, Level, exit_code, render_json, render_text
from bot.doctor.probe import Doctor
from bot.forges.provider import Forges
from tests.conftest import BOT, REPO, SECRET, World
from tests.fakeforge import hooktests

pytestmark = pytest.mark.anyio
PUBLIC = "http://forgebot.test"
# Who each platform shows other users' permissions to, which commands with a level need.
CANNOT_SEE_LEVELS = {"github": "GitHub shows permissions only to tokens with push access",
                     "gitea": "Gitea shows other users' permissions only to repository admins"}
NO_REPOSITORIES_FIX = {"github": "give the token access to the repositories (or install the App on them)",
                       "gitea": "grant the bot's user admin on the repositories (or list them in FORGEBOT_GITEA_REPOS)"}


class Deployment:
    """forgebot serving at PUBLIC (in-process), and a doctor pointed at it and at the emulator."""

    def __init__(self, world: World, app: ForgebotApp, http: httpx.AsyncClient) -> None:
        self.world, self.app, self.http = world, app, http
        self.hook_id = 0

    async def doctor(self, *repos: str, fix: bool = False, clock: Any = time.time, unnamed: bool = False,
                     **changes: Any) -> list[Finding]:
        """Runs the doctor with forgebot's settings, or with `changes` to them (the doctor's alone), on
        `repos`, REPO, or (`unnamed`) the repositories the doctor finds itself."""
        settings = self.app.settings.model_copy(update=changes)
        forges = Forges(settings, transport=httpx.ASGITransport(app=self.world.fake.app))
        try:
            return await Doctor(settings, forges, self.http, fix=fix, wait=0.0, clock=clock).run(
                list(repos) if repos or unnamed else [REPO], [self.world.platform])
        finally:
            await forges.aclose()

    def add_hook(self, url: str = "", *, secret: str = SECRET, events: tuple[str, ...] = ("push", "issues", "issue_comment", "pull_request"),
                 content_type: str = "json", active: bool = True) -> int:
        """A hook made as a user would make it in the forge's settings page."""
        from tests.fakeforge.state import Hook

        fake = self.world.fake
        repo = fake.repo(REPO)
        now = fake.clock()
        hook = Hook(fake.state.new_id(), "web" if self.world.platform == "github" else "gitea",
                    {"url": url or f"{PUBLIC}/webhooks/{self.world.platform}", "content_type": content_type,
                     **({"secret": secret} if secret else {})}, list(events), active, now, now)
        repo.hooks[hook.id] = hook
        return hook.id

    def hook(self, hook_id: int) -> Any:
        return self.world.fake.repo(REPO).hooks[hook_id]


@pytest.fixture
def deployment(world: World, tmp_path: Path) -> Any:
    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Deployment]:
        settings = world.bot_settings(tmp_path / "bot", public_url=PUBLIC, **overrides)
        app = ForgebotApp(settings, forges=Forges(settings, transport=httpx.ASGITransport(app=world.fake.app)))
        await app.start()
        world.fake.route_hooks(PUBLIC, app)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as http:
                yield Deployment(world, app, http)
        finally:
            await app.stop()

    return start


def lines(findings: list[Finding], *, scope: str | None = None) -> list[str]:
    return [f.line() for f in findings if scope is None or f.scope == scope]


def wrong(findings: list[Finding]) -> list[str]:
    return [f.line() for f in findings if f.level in (Level.WARN, Level.FAIL)]


def writes_to_hooks(world: World) -> list[str]:
    return [f"{r.method} {r.path}" for r in world.fake.requests
            if "/hooks" in r.path and r.method in ("POST", "PATCH", "DELETE")
            and not r.path.endswith(("/pings", "/tests"))]


async def test_a_right_setup_is_all_well(world: World, deployment: Any) -> None:
    async with deployment() as d:
        d.hook_id = d.add_hook()
        findings = await d.doctor()
    assert wrong(findings) == [], render_text(findings)
    assert exit_code(findings) == 0
    scope = f"{world.platform} {REPO}"
    signature = next(f for f in findings if f.check == "webhook signature")
    assert signature.scope == scope and signature.level == Level.OK and "arrived here" in signature.message
    assert render_text(findings).endswith("all is well")
    assert "OK    credentials: valid: token of forgebot" in render_text(findings)
    # the doctor (and forgebot handling its test delivery) only read, besides sending the test
    assert [f"{r.method} {r.path}" for r in world.fake.requests if r.method != "GET"] == [
        f"POST /repos/{REPO}/hooks/{d.hook_id}/{'pings' if world.platform == 'github' else 'tests'}"]


async def test_no_webhook_is_found_and_fix_creates_it(world: World, deployment: Any) -> None:
    async with deployment() as d:
        findings = await d.doctor()
        assert exit_code(findings) == 1
        assert [f"FAIL  webhook: no webhook points at {PUBLIC}/webhooks/{world.platform}: forgebot hears nothing "
                f"from this repository; run forgebot doctor with --fix"] == wrong(findings)
        assert writes_to_hooks(world) == [] and d.world.fake.repo(REPO).hooks == {}
        world.fake.requests.clear()
        fixed = await d.doctor(fix=True)
        [hook] = d.world.fake.repo(REPO).hooks.values()
        test = "pings" if world.platform == "github" else "tests"  # --fix writes the hook, then tests it: nothing else
        assert [f"{r.method} {r.path}" for r in world.fake.requests if r.method != "GET"] == [
            f"POST /repos/{REPO}/hooks", f"POST /repos/{REPO}/hooks/{hook.id}/{test}"]
        assert hook.config["url"] == f"{PUBLIC}/webhooks/{world.platform}"
        assert hook.config["content_type"] == "json" and hook.config["secret"] == SECRET and hook.active
        assert {"push", "issues", "issue_comment", "pull_request"} <= set(hook.events)
        assert any(f.level == Level.FIXED and f"created hook {hook.id}" in f.message for f in fixed)
        assert exit_code(fixed) == 0, render_text(fixed)
        assert exit_code(await d.doctor()) == 0


async def test_a_wrong_secret_is_caught_by_a_test_delivery_and_fixed(world: World, deployment: Any) -> None:
    async with deployment() as d:
        hook_id = d.add_hook(secret="not-the-secret")
        findings = await d.doctor()
        [line] = [x for x in wrong(findings) if "signature" in x]
        assert line == ("FAIL  webhook signature: forgebot refused the "
                        f"{'ping' if world.platform == 'github' else 'test delivery'}'s signature: the hook's secret "
                        "is not one of FORGEBOT_WEBHOOK_SECRETS; run forgebot doctor with --fix to set it")
        assert d.hook(hook_id).config["secret"] == "not-the-secret"  # nothing changed without --fix
        fixed = await d.doctor(fix=True)
        assert d.hook(hook_id).config["secret"] == SECRET
        assert exit_code(fixed) == 0, render_text(fixed)


async def test_missing_events_are_named_with_what_they_stop(world: World, deployment: Any) -> None:
    async with deployment() as d:
        hook_id = d.add_hook(events=("push",))
        findings = await d.doctor()
        assert [x for x in wrong(findings)] == [
            f"FAIL  webhook events: hook {hook_id} is not sent {event}: {what} never reach forgebot; "
            "run forgebot doctor with --fix"
            for event, what in (("issues", "dependencies from descriptions, unblocking on close, label triggers"),
                                ("issue_comment", "commands in comments"),
                                ("pull_request", "config plans on pull requests, claims renewed by pull requests"))]
        assert writes_to_hooks(world) == []
        assert exit_code(await d.doctor(fix=True)) == 0
        assert {"push", "issues", "issue_comment", "pull_request"} <= set(d.hook(hook_id).events)


async def test_a_hook_pointing_elsewhere_is_not_pinged_and_fix_points_it_here(world: World, deployment: Any) -> None:
    other = "gitea" if world.platform == "github" else "github"
    async with deployment() as d:
        hook_id = d.add_hook(f"https://old-host.example/webhooks/{world.platform}")
        findings = await d.doctor()
        assert f"FAIL  webhook url: hook {hook_id} points at https://old-host.example/webhooks/{world.platform}: not " \
               f"FORGEBOT_PUBLIC_URL ({PUBLIC}/webhooks/{world.platform}); run forgebot doctor with --fix" in wrong(findings)
        assert "SKIP  webhook signature: not tested: the hook points elsewhere" in lines(findings)
        assert not any(r.path.endswith(("/pings", "/tests")) for r in world.fake.requests)
        d.hook(hook_id).config["url"] = f"{PUBLIC}/webhooks/{other}"
        findings = await d.doctor()
        assert any(f"the {other} path, so forgebot refuses every delivery (400)" in x for x in wrong(findings))
        assert exit_code(await d.doctor(fix=True)) == 0
        assert d.hook(hook_id).config["url"] == f"{PUBLIC}/webhooks/{world.platform}"


async def test_a_form_content_type_is_a_warning_and_fix_makes_it_json(world: World, deployment: Any) -> None:
    async with deployment() as d:
        hook_id = d.add_hook(content_type="form")
        findings = await d.doctor()
        assert len(wrong(findings)) == 1, render_text(findings)
        [line] = wrong(findings)
        assert line.startswith(f"WARN  webhook content type: hook {hook_id} sends form bodies")
        # forgebot reads form deliveries, so the test delivery still arrives and is verified
        assert next(f for f in findings if f.check == "webhook signature").level == Level.OK
        assert exit_code(findings) == 1
        assert exit_code(await d.doctor(fix=True)) == 0
        assert d.hook(hook_id).config["content_type"] == "json"


async def test_an_inactive_hook_and_a_hook_without_secret(world: World, deployment: Any) -> None:
    async with deployment() as d:
        hook_id = d.add_hook(active=False, secret="")
        findings = await d.doctor()
        assert f"FAIL  webhook: hook {hook_id} is inactive: nothing is delivered; run forgebot doctor with --fix" in wrong(findings)
        if world.platform == "github":  # Gitea never says whether a hook has a secret
            assert (f"FAIL  webhook secret: hook {hook_id} has no secret: forgebot refuses every unsigned delivery; "
                    "run forgebot doctor with --fix") in wrong(findings)
        assert exit_code(await d.doctor(fix=True)) == 0
        assert d.hook(hook_id).active and d.hook(hook_id).config["secret"] == SECRET


async def test_a_bot_with_too_little_access(world: World, deployment: Any) -> None:
    grant = "grant the bot's user admin on the repository"
    async with deployment() as d:
        d.add_hook()
        world.fake.set_permission(REPO, BOT, "read")
        findings = await d.doctor()
        assert wrong(findings) == [f"FAIL  permissions: the bot has read: {CANNOT_SEE_LEVELS[world.platform]}, so "
                                   "commands that need a level are refused; the forgebot/config status and closing or "
                                   f"reopening need write, reconciling needs admin; {grant}"]
        assert "SKIP  webhook: not checked: the bot may not read this repository's webhooks (that needs admin)" in lines(findings)
        world.fake.set_permission(REPO, BOT, "write")
        findings = await d.doctor()
        if world.platform == "github":  # push access is enough to see who may run a command
            assert wrong(findings)[0].startswith("WARN  permissions: the bot has write: commands work, but reconciling")
        else:  # Gitea shows other users' levels to repository admins alone: write is not enough
            assert wrong(findings)[0] == (f"FAIL  permissions: the bot has write: {CANNOT_SEE_LEVELS['gitea']}, so "
                                          f"commands that need a level are refused; reconciling needs admin; {grant}")
        world.fake.set_permission(REPO, BOT, "none")
        world.fake.repo(REPO).private = True
        findings = await d.doctor()
        assert wrong(findings) == ["FAIL  permissions: no such repository, or the bot cannot see it; check the name, "
                                   "and grant the bot's user access"]


@pytest.mark.parametrize("world", ["github"], indirect=True)  # Gitea has no triage level
async def test_a_github_bot_with_triage_cannot_see_levels(world: World, deployment: Any, bot_factory: Any) -> None:
    """What the doctor says agrees with what the bot does: with triage, GitHub refuses it the
    permission reads that commands need, so /close by a triager is refused with the same reason."""
    async with deployment() as d:
        d.add_hook()
        world.fake.set_permission(REPO, BOT, "triage")
        findings = await d.doctor()
    [line] = [x for x in wrong(findings) if "permissions" in x]
    assert line.startswith(f"FAIL  permissions: the bot has triage: {CANNOT_SEE_LEVELS['github']}, so commands that "
                           "need a level are refused")
    number = await world.actor("alice").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("bob").comment(REPO, number, "/close")  # bob has triage
        await app.wait_idle()
    state = world.state()
    [reply] = [state.comments[c].body for c in state.issue(number).comments if state.comments[c].user == BOT]
    assert f"give forgebot write access to {REPO}" in reply and state.issue(number).state == "open"


async def test_credentials_that_reach_no_repository_are_not_all_well(world: World, deployment: Any) -> None:
    """Without names the doctor checks the repositories forgebot acts on; none is a problem, not a pass."""
    async with deployment() as d:
        # GitHub: a token's repositories are those it collaborates on; Gitea: those it administers.
        world.fake.set_permission(REPO, BOT, "none" if world.platform == "github" else "write")
        findings = await d.doctor(unnamed=True)
    reach = "reach no repository" if world.platform == "github" else "administer no repository"
    assert [x for x in wrong(findings) if "repositories" in x] == [
        f"WARN  repositories: the credentials {reach}, so forgebot acts on none and nothing was checked; "
        f"{NO_REPOSITORIES_FIX[world.platform]}, or name them: forgebot doctor OWNER/REPO"]
    assert exit_code(findings) == 1 and not render_text(findings).endswith("all is well")


async def test_a_clock_off_from_the_forge(world: World, deployment: Any) -> None:
    async with deployment() as d:
        d.add_hook()
        world.fake.clock = lambda: time.time() - 300  # the forge's Date is five minutes behind this host
        findings = await d.doctor()
        assert wrong(findings) == [next(f.line() for f in findings if f.check == "clock")]
        clock = next(f for f in findings if f.check == "clock")
        assert clock.level == Level.WARN and clock.scope == world.platform
        assert clock.message.startswith("this host is 30") and "s ahead of the forge" in clock.message
        assert "NTP" in clock.fix
        world.fake.clock = time.time
        findings = await d.doctor()
        assert next(f for f in findings if f.check == "clock").level == Level.OK


async def test_unknown_credentials(world: World, deployment: Any, tmp_path: Path) -> None:
    async with deployment() as d:
        world.fake.state.tokens.pop(world.fake.token(BOT))
        findings = await d.doctor()
    [line] = wrong(findings)
    assert line.startswith(f"FAIL  credentials: refused: {world.platform} 401")
    assert line.endswith(f"check the FORGEBOT_{world.platform.upper()}_* settings")


async def test_a_forge_that_fails_is_not_said_to_refuse_the_credentials(world: World, deployment: Any) -> None:
    async with deployment() as d:
        world.fake.faults.add("GET", "/user", status=502, times=None)
        findings = await d.doctor(forge_max_wait_seconds=1)
    [line] = wrong(findings)
    assert line.startswith(f"FAIL  credentials: not checked: {world.platform}") and "502" in line and "refused" not in line
    assert line.endswith(f"check the FORGEBOT_{world.platform.upper()}_* settings, and that the forge is up")


async def test_host_checks_say_what_to_do(world: World, deployment: Any, tmp_path: Path) -> None:
    async with deployment() as d:
        d.add_hook()
        findings = await d.doctor()
        assert [f.check for f in findings if f.scope == "this host"] == ["database", "git root", "free space", "public url"]
        assert f"OK    public url: {PUBLIC} answers /healthz from this host" in lines(findings)
        assert next(f.message for f in findings if f.check == "git root").startswith(f"FORGEBOT_GIT_ROOT ({d.app.settings.git_root})")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "db").mkdir()  # a directory where the database file should be
    settings = world.bot_settings(tmp_path / "bare", database=broken / "db", public_url="http://127.0.0.1:9")
    forges = Forges(settings, transport=httpx.ASGITransport(app=world.fake.app))
    async with httpx.AsyncClient() as http:
        findings = await Doctor(settings, forges, http, wait=0.0).run([REPO], [world.platform])
    host = {f.check: f for f in findings if f.scope == "this host"}
    assert host["database"].level == Level.FAIL and host["database"].message.startswith(f"{broken / 'db'} ")
    assert host["public url"].line() == ("FAIL  public url: http://127.0.0.1:9 is not reachable from this host (ConnectError); "
                                         "check DNS, the proxy in front of forgebot and the firewall")


async def test_recent_deliveries_github_lists_and_gitea_cannot(world: World, deployment: Any) -> None:
    async with deployment() as d:
        hook_id = d.add_hook()
        fake = world.fake
        repo, hook = fake.repo(REPO), d.hook(hook_id)
        if world.platform == "github":
            hook.config["secret"] = "old"
            push = {"ref": "refs/heads/main", "repository": {"full_name": REPO}}
            await hooktests.deliver(fake, "github", repo, hook, "push", push)  # refused: 401
            hook.config["secret"] = SECRET
            await hooktests.deliver(fake, "github", repo, hook, "push", push)
            findings = await d.doctor()
            # the ping went through, so the failure is history: noted, and all is well
            assert ("NOTE  deliveries: 1 of the last 2 failed (401: 1), before the test delivery that just went through; "
                    "see why in the hook's Recent Deliveries; redeliver the ones that matter") in lines(findings)
            assert exit_code(findings) == 0
            await hooktests.deliver(fake, "github", repo, hook, "push", push)
            hook.config["secret"] = "old"  # and now the secret is wrong again, for the ping too
            await hooktests.deliver(fake, "github", repo, hook, "push", push)
            findings = await d.doctor()
            assert ("FAIL  deliveries: 2 of the last 4 failed (401: 2), the newest among them; see why in the hook's "
                    "Recent Deliveries; redeliver the ones that matter") in lines(findings)
        else:
            findings = await d.doctor()
            assert ("SKIP  deliveries: Gitea's API does not list a hook's deliveries; see Recent Deliveries on the hook's "
                    "page in the repository settings") in lines(findings)
            assert exit_code(findings) == 0


async def test_json_output_groups_findings(world: World, deployment: Any) -> None:
    async with deployment() as d:
        findings = await d.doctor()
    data = render_json(findings)
    assert data["ok"] is False
    assert {"scope": f"{world.platform} {REPO}", "check": "webhook", "level": "fail"}.items() <= next(
        f for f in data["findings"] if f["check"] == "webhook").items()
    text = render_text(findings).splitlines()
    assert text[0] == "this host" and f"{world.platform} {REPO}" in text and text[-1] == "1 problem found"


async def test_a_public_url_served_by_another_forgebot_cannot_prove_the_secret(world: World, deployment: Any, tmp_path: Path) -> None:
    """The deliveries reach a forgebot with the same secret but another database: not this one."""
    other_settings = world.bot_settings(tmp_path / "other")
    other = ForgebotApp(other_settings, forges=Forges(other_settings, transport=httpx.ASGITransport(app=world.fake.app)))
    await other.start()
    try:
        async with deployment() as d:
            d.add_hook()
            world.fake.route_hooks(PUBLIC, other)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url=PUBLIC) as http:
                d.http = http
                findings = await d.doctor()
    finally:
        await other.stop()
    signature = next(f for f in findings if f.check == "webhook signature")
    assert signature.level == Level.SKIP
    assert "not by this forgebot (its database does not have it)" in signature.message
    assert "the secret could not be checked" in signature.message


@pytest.mark.parametrize("world", ["github"], indirect=True)  # Gitea's API does not show a token's scopes
async def test_a_classic_token_without_the_repo_scope(world: World, deployment: Any) -> None:
    async with deployment() as d:
        d.add_hook()
        findings = await d.doctor(github_token=SecretStr(world.fake.new_token(BOT, scopes=["read:org"])))
    assert "OK    token scopes: classic token with scopes: read:org" in lines(findings)
    assert ("FAIL  token scopes: the token lacks the repo (or public_repo) scope: forgebot can read but not act here; "
            "make a token with the repo (or public_repo) scope and set FORGEBOT_GITHUB_TOKEN") in wrong(findings)


@pytest.fixture
def app_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("world", ["github"], indirect=True)  # Gitea has no apps
async def test_a_github_app_permissions_events_webhook_and_clock(world: World, tmp_path: Path, app_key: str) -> None:
    from tests.conftest import make_settings

    fake = world.fake
    # The emulator's default App lacks repository_hooks; its events lack none forgebot needs but `push`.
    fake.add_app(77, "forgebot-app", app_key, events=["issues", "issue_comment", "pull_request"])
    fake.install_app(77, [REPO])
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_key)
    settings = make_settings(tmp_path / "app", github_app_id=77, github_private_key_file=key_file,
                             github_api_url="http://fakeforge/api/v3", public_url=PUBLIC)
    app = ForgebotApp(settings, forges=Forges(settings, transport=httpx.ASGITransport(app=fake.app)))
    await app.start()

    async def doctor() -> list[Finding]:
        forges = Forges(settings, transport=httpx.ASGITransport(app=fake.app))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as http:
            try:
                return await Doctor(settings, forges, http, wait=0.0).run([REPO], ["github"])
            finally:
                await forges.aclose()

    try:
        findings = await doctor()
        assert "OK    credentials: GitHub App acting as forgebot-app[bot]" in lines(findings)
        assert ("FAIL  app permissions: repository_hooks is none, needs write: without it, `webhooks:` in .forgebot.yml "
                "and `forgebot doctor --fix`; grant repository_hooks: write in the App's settings, then accept it on "
                "each installation") in wrong(findings)
        assert ("FAIL  app events: not subscribed to push: applying .forgebot.yml when it changes, claims renewed by "
                "pushes never arrive; tick push under the App's 'Subscribe to events'") in wrong(findings)
        assert any(x.startswith("FAIL  permissions: the installation has repository_hooks: none") for x in wrong(findings))
        assert ("SKIP  webhook: none needed: a GitHub App's events come through the App's own webhook (see its "
                "deliveries under github)") in lines(findings)
        assert "SKIP  app webhook signature: the App's webhook has no deliveries yet" in "\n".join(lines(findings))

        fake.deliver_webhooks("github", target=app, secret="wrong")
        await fake.actor("alice").open_issue(REPO, "refused")
        findings = await doctor()
        assert any(x.startswith("FAIL  app webhook signature: forgebot refused the signature of the App's newest delivery")
                   for x in wrong(findings))
        fake.deliver_webhooks("github", target=app, secret=SECRET)
        await fake.actor("alice").open_issue(REPO, "accepted")
        findings = await doctor()
        assert ("OK    app webhook signature: the App's newest delivery arrived here and its signature matched a secret "
                "forgebot holds") in lines(findings)
        assert "WARN  deliveries: 1 of the last 2 failed (401: 1)" in "\n".join(lines(findings))

        fake.clock = lambda: time.time() - 120  # the forge's clock is two minutes behind this host's
        findings = await doctor()
        credentials = next(f for f in findings if f.check == "credentials")
        assert credentials.level == Level.FAIL and "GitHub refuses an App's JWT when this host's clock is off" in credentials.message
        clock = next(f for f in findings if f.check == "clock")
        assert clock.level == Level.FAIL and clock.message.startswith("this host is 12")
        assert clock.message.endswith("s ahead of the forge: GitHub refuses the App's JWTs")
    finally:
        fake.stop_webhooks()
        await app.stop()


async def test_the_command_line(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import asyncio
    import json

    from bot.cli.main import main

    async def cli(*args: str) -> int:
        try:
            return await asyncio.to_thread(main, list(args))
        except SystemExit as exit_:
            return int(exit_.code or 0)

    assert await cli("doctor") == 2
    assert "no forge is configured" in capsys.readouterr().err
    async with world.fake.serve() as base:
        monkeypatch.setenv("FORGEBOT_DATABASE", str(tmp_path / "cli.db"))
        monkeypatch.setenv("FORGEBOT_WEBHOOK_SECRETS", SECRET)
        if world.platform == "github":
            monkeypatch.setenv("FORGEBOT_GITHUB_TOKEN", world.fake.token(BOT))
            monkeypatch.setenv("FORGEBOT_GITHUB_API_URL", f"{base}/api/v3")
        else:
            monkeypatch.setenv("FORGEBOT_GITEA_URL", base)
            monkeypatch.setenv("FORGEBOT_GITEA_TOKEN", world.fake.token(BOT))
        assert await cli("doctor", "not-a-repo") == 2
        capsys.readouterr()
        assert await cli("doctor", REPO, "--json") == 1
        data = json.loads(capsys.readouterr().out)
        by_check = {f["check"]: f for f in data["findings"]}
        assert by_check["public url"]["level"] == "fail" and "FORGEBOT_PUBLIC_URL is not set" in by_check["public url"]["message"]
        assert by_check["webhook"] == {"scope": f"{world.platform} {REPO}", "check": "webhook", "level": "skip",
                                       "message": "not checked: FORGEBOT_PUBLIC_URL is not set", "fix": ""}
        assert by_check["permissions"]["level"] == "ok"
        assert await cli("doctor", REPO) == 1
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "this host" and f"{world.platform} {REPO}" in out and out[-1] == "1 problem found"
        # with no repository named, the ones the bot can act on
        assert await cli("doctor") == 1
        assert f"{world.platform} {REPO}" in capsys.readouterr().out.splitlines()
    assert world.fake.repo(REPO).hooks == {}  # nothing changed without --fix


def test_judgements_without_io(tmp_path: Path) -> None:
    from bot.doctor import access, host

    assert host.judge_space(100 * host.MiB, 10 * host.GiB, tmp_path).level == Level.FAIL
    assert host.judge_space(1 * host.GiB, 10 * host.GiB, tmp_path).level == Level.WARN
    assert host.judge_space(50 * host.GiB, 100 * host.GiB, tmp_path).line() == f"OK    free space: 50.0 GiB free of 100.0 GiB at {tmp_path}"
    assert host.is_private_url("http://127.0.0.1:8080") and host.is_private_url("http://10.1.2.3/")
    assert host.is_private_url("http://localhost:8080") and not host.is_private_url("https://93.184.216.34/")
    assert access.judge_clock("github", 1000.0, 1020.0, app=True).level == Level.OK
    assert access.judge_clock("github", 1000.0, 900.0, app=False).message.startswith("this host is 100 s ahead")
    assert access.judge_clock("github", 1000.0, 1100.0, app=True).level == Level.WARN  # behind: JWTs still pass
    assert access.judge_clock("gitea", 1000.0, None, app=False).level == Level.WARN
    assert exit_code([Finding("x", "y", Level.SKIP, "could not")]) == 0


async def test_a_forge_that_cannot_reach_forgebot(world: World, deployment: Any) -> None:
    async with deployment() as d:
        d.add_hook()
        world.fake.hook_receivers.clear()  # forgebot.test is not reachable from the forge
        findings = await d.doctor()
    signature = next(f for f in findings if f.check == "webhook signature")
    assert signature.level == Level.FAIL
    if world.platform == "github":
        assert signature.line() == ("FAIL  webhook signature: GitHub could not deliver the ping (failed to connect to "
                                    "host); make FORGEBOT_PUBLIC_URL reachable from GitHub")
    else:
        assert signature.line() == ("FAIL  webhook signature: the test delivery did not arrive; check the hook's Recent "
                                    "Deliveries in the repository settings, and Gitea's log")


def test_no_webhook_secret_anywhere(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, webhook_secrets="", webhook_secret_file=tmp_path / "missing-secret")
    doctor = Doctor(settings, forges=None, http=None)  # type: ignore[arg-type]  # the host checks use neither
    doctor.check_host()
    assert doctor.findings[-1].line() == (
        f"FAIL  webhook secret: none configured and {tmp_path / 'missing-secret'} does not exist: every delivery is "
        "refused; start forgebot serve once (it generates one) or set FORGEBOT_WEBHOOK_SECRETS")
    assert not (tmp_path / "missing-secret").exists() and not settings.database.exists()  # the doctor made nothing
    (tmp_path / "missing-secret").write_text("generated\n")
    assert doctor.secrets() == ["generated"]
