"""GitHub-specific behaviour of GitHubForge, run against the emulator in-process.

The protocol-wide contract (every operation on both platforms) lives elsewhere; these tests cover
what only the GitHub client does: App JWTs and installation tokens, ETag caching, rate-limit waits,
retries, write pacing, paging, GitHub's request shapes and its error answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gidgethub import BadRequest

from bot.forges.base import (
    BranchProtection,
    CommitStatus,
    Conflict,
    Forge,
    ForgeError,
    Hook,
    Invalid,
    Label,
    MergeMethod,
    Milestone,
    NotFound,
    Permission,
    PermissionDenied,
    RateLimited,
    RepoSettings,
    ReviewEvent,
    StatusState,
    Unavailable,
)
from bot.forges.github import GitHubForge
from bot.forges.github_auth import AppJWT
from tests.fakeforge import FakeForge, LoggedRequest

API = "http://fakeforge/api/v3"
REPO = "acme/widgets"
APP_ID = 4242
START = 1_800_000_000.0

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def app_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@dataclass
class FakeTime:
    """One clock for the emulator and the client; sleeping only moves it (nothing really waits)."""

    now: float = START
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class World:
    forge: FakeForge
    time: FakeTime
    errors: list[ForgeError] = field(default_factory=list)

    def requests(self, since: int = 0) -> list[LoggedRequest]:
        return self.forge.requests[since:]

    def calls(self, since: int = 0) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.forge.requests[since:]]

    async def fails(self, kind: type[ForgeError], call: Any) -> ForgeError:
        """Awaits `call`, which must raise `kind`; keeps the error for the no-token check."""
        with pytest.raises(kind) as caught:
            await call
        self.errors.append(caught.value)
        return caught.value


@pytest.fixture
def world(tmp_path: Path) -> World:
    clock = FakeTime()
    forge = FakeForge(tmp_path, clock=clock, api_events=False)
    for login in ("alice", "bob", "carol"):
        forge.add_user(login)
    forge.create_repo(REPO, files={"README.md": "# widgets\n", "conf/my file.yml": "labels: []\n"})
    forge.set_permission(REPO, "alice", "admin")
    forge.set_permission(REPO, "bob", "triage")
    return World(forge, clock)


class Flaky(httpx.AsyncBaseTransport):
    """Raises the queued transport errors first, then hands requests to the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport, failures: list[type[httpx.TransportError]]) -> None:
        self.inner = inner
        self.failures = failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failures:
            raise self.failures.pop(0)("injected", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.asynccontextmanager
async def github(world: World, *, login: str = "alice", failures: list[Any] | None = None,
                 **options: Any) -> AsyncIterator[GitHubForge]:
    app: Any = world.forge.app
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=app)
    if failures is not None:
        transport = Flaky(transport, failures)
    if "app_id" not in options:
        options.setdefault("token", world.forge.token(login))
    async with httpx.AsyncClient(transport=transport, base_url="http://fakeforge") as http:
        options.setdefault("clock", world.time)
        client = GitHubForge(base_url=API, http=http, sleep=world.time.sleep, **options)
        try:
            yield client
        finally:
            await client.aclose()


def install(world: World, key: str, repos: tuple[str, ...] = (REPO,)) -> int:
    world.forge.add_app(APP_ID, "forgebot", key)
    return world.forge.install_app(APP_ID, list(repos))


def token_requests(world: World) -> list[str]:
    return [r.path for r in world.forge.requests if r.path.endswith("/access_tokens")]


# -- construction -----------------------------------------------------------------------------


async def test_it_is_a_forge_and_says_what_github_can_do(world: World) -> None:
    async with github(world) as gh:
        assert isinstance(gh, Forge)
        assert gh.platform == "github"
        caps = gh.capabilities
        assert caps.triage_level and caps.maintain_level and caps.compare_ahead_behind
        assert not caps.branch_commit_dates


@pytest.mark.parametrize("options", [
    {"token": "t", "app_id": 1, "private_key": "k"},
    {},
    {"app_id": 1},
])
async def test_it_wants_exactly_one_kind_of_credentials(options: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError):
            GitHubForge(base_url=API, http=http, **options)


async def test_a_bad_private_key_is_refused_without_repeating_it() -> None:
    secret_text = "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-at-all\n-----END RSA PRIVATE KEY-----\n"
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError) as caught:
            GitHubForge(base_url=API, http=http, app_id=1, private_key=secret_text)
    assert "not-a-key-at-all" not in str(caught.value)


# -- GitHub App authentication ----------------------------------------------------------------


def test_app_jwt_is_rs256_backdated_short_lived_and_reused(app_key: str) -> None:
    clock = FakeTime()
    minted = AppJWT(APP_ID, app_key, clock)
    token = minted.token()
    private = serialization.load_pem_private_key(app_key.encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    public = private.public_key()
    claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iat": int(START) - 60, "exp": int(START) + 540, "iss": str(APP_ID)}
    clock.now += 400
    assert minted.token() == token  # reused for 7 minutes
    clock.now += 30
    assert minted.token() != token


async def test_app_gets_one_installation_token_and_refreshes_it_before_expiry(world: World, app_key: str) -> None:
    installation = install(world, app_key)
    async with github(world, app_id=APP_ID, private_key=app_key) as gh:
        assert (await gh.whoami()).login == "forgebot[bot]"
        await gh.get_repo(REPO)
        await gh.list_labels(REPO)
        assert token_requests(world) == [f"/app/installations/{installation}/access_tokens"]
        assert [r.path for r in world.requests() if r.path.endswith("/installation")] == [f"/repos/{REPO}/installation"]
        world.time.now += 54 * 60  # the token lives an hour; 6 minutes left: keep it
        await gh.get_repo(REPO)
        assert len(token_requests(world)) == 1
        world.time.now += 2 * 60  # 4 minutes left: inside the 5-minute margin, so replace it
        await gh.get_repo(REPO)
        assert len(token_requests(world)) == 2
    by_path = {r.path: r.user for r in world.requests()}
    assert by_path[f"/repos/{REPO}/installation"] == f"app:{APP_ID}"  # asked with the App's JWT
    assert by_path[f"/repos/{REPO}"] == by_path[f"/repos/{REPO}/labels"] == "forgebot[bot]"  # the token


async def test_webhook_installation_id_saves_the_lookup(world: World, app_key: str) -> None:
    installation = install(world, app_key)
    async with github(world, app_id=APP_ID, private_key=app_key) as gh:
        gh.remember_installation(REPO, installation)
        await gh.get_repo(REPO)
    assert world.calls() == [("POST", f"/app/installations/{installation}/access_tokens"),
                             ("GET", f"/repos/{REPO}")]


async def test_a_token_refused_as_expired_is_replaced_once(world: World, app_key: str) -> None:
    install(world, app_key)
    lagging = FakeTime(now=world.time.now - 400)  # our clock is behind the platform's
    async with github(world, app_id=APP_ID, private_key=app_key, clock=lagging) as gh:
        await gh.get_repo(REPO)
        world.time.now += 3650  # expired for GitHub, still 50 s short of the refresh margin for us
        lagging.now += 3650
        assert (await gh.get_repo(REPO)).full_name == REPO
    # refused with the stale token, then answered from the ETag cache with the fresh one
    assert [r.status for r in world.requests() if r.path == f"/repos/{REPO}"] == [200, 401, 304]
    assert len(token_requests(world)) == 2


async def test_app_lists_the_repositories_of_every_installation(world: World, app_key: str) -> None:
    world.forge.create_repo("acme/gadgets")
    world.forge.create_repo("other/thing")
    world.forge.add_app(APP_ID, "forgebot", app_key)
    first = world.forge.install_app(APP_ID, [REPO, "acme/gadgets"])
    world.forge.install_app(APP_ID, ["other/thing"])
    async with github(world, app_id=APP_ID, private_key=app_key) as gh:
        names = sorted(r.full_name for r in await gh.list_repositories())
        assert names == ["acme/gadgets", REPO, "other/thing"]
        mark = len(world.forge.requests)
        await gh.get_repo("acme/gadgets")  # the listing taught it the installation
    assert world.calls(mark) == [("GET", "/repos/acme/gadgets")]
    assert f"/app/installations/{first}/access_tokens" in token_requests(world)


async def test_a_repository_the_app_is_not_installed_on_is_not_found(world: World, app_key: str) -> None:
    world.forge.create_repo("acme/private", private=True)
    install(world, app_key)
    async with github(world, app_id=APP_ID, private_key=app_key) as gh:
        await world.fails(NotFound, gh.get_repo("acme/private"))


async def test_a_stale_installation_id_is_dropped_and_looked_up_again(world: World, app_key: str) -> None:
    installation = install(world, app_key)
    async with github(world, app_id=APP_ID, private_key=app_key) as gh:
        gh.remember_installation(REPO, 999_999)  # e.g. from an old webhook; the App was reinstalled
        await world.fails(NotFound, gh.get_repo(REPO))
        assert (await gh.get_repo(REPO)).full_name == REPO
    assert token_requests(world) == ["/app/installations/999999/access_tokens",
                                     f"/app/installations/{installation}/access_tokens"]


async def test_token_whoami_and_repositories(world: World) -> None:
    async with github(world, login="bob") as gh:
        me = await gh.whoami()
        assert me.login == "bob"
        assert await gh.whoami() is me  # asked once
        repos = await gh.list_repositories()
    assert [(r.full_name, r.permission) for r in repos] == [(REPO, Permission.TRIAGE)]
    assert world.calls().count(("GET", "/user")) == 1


# -- conditional requests ---------------------------------------------------------------------


async def test_a_repeated_get_is_answered_304_from_the_cache(world: World) -> None:
    async with github(world) as gh:
        first = await gh.get_repo(REPO)
        remaining = gh.rate_limit.remaining
        second = await gh.get_repo(REPO)
        assert second == first
        assert [(r.status, r.was_304) for r in world.requests()] == [(200, False), (304, True)]
        assert gh.stats["GET"] == 2 and gh.stats["304"] == 1
        assert gh.rate_limit.remaining == remaining  # a 304 costs no quota
        world.forge.repo(REPO).description = "changed"
        assert (await gh.get_settings(REPO)).description == "changed"  # a change still shows


async def test_every_page_of_a_listing_is_conditional(world: World) -> None:
    repo = world.forge.repo(REPO)
    for i in range(250):
        world.forge.ops.create_label(repo, "alice", f"label-{i:03}", "ededed")
    async with github(world) as gh:
        labels = await gh.list_labels(REPO)
        assert len(labels) == 250 and labels[-1].name == "label-249"
        first_pass = world.requests()
        assert [(r.query.get("per_page"), r.query.get("page")) for r in first_pass] == [
            ("100", None), ("100", "2"), ("100", "3")]
        assert await gh.list_labels(REPO) == labels
        assert [r.status for r in world.requests(len(first_pass))] == [304, 304, 304]
        assert gh.stats == {"GET": 6, "304": 3}


# -- rate limits ------------------------------------------------------------------------------


async def test_retry_after_is_honoured(world: World) -> None:
    world.forge.faults.add("GET", f"/repos/{REPO}/labels", status=403, retry_after=7, times=1)
    world.forge.faults.add("GET", f"/repos/{REPO}/labels", status=429, retry_after=3, times=1)
    async with github(world) as gh:
        assert await gh.list_labels(REPO) == []
    assert world.time.slept == [7, 3]
    assert [r.status for r in world.requests()] == [403, 429, 200]


async def test_a_spent_quota_waits_for_the_reset(world: World) -> None:
    token = world.forge.token("alice")
    bucket = world.forge.rate_bucket(token)
    bucket.remaining, bucket.reset = 0, int(world.time.now) + 30
    async with github(world) as gh:
        assert (await gh.get_repo(REPO)).full_name == REPO
        assert world.time.slept == [30]
        limit = gh.rate_limit.limit
        assert limit is not None and gh.rate_limit.remaining == limit - 1  # the new window


async def test_a_wait_longer_than_max_wait_raises_rate_limited(world: World) -> None:
    bucket = world.forge.rate_bucket(world.forge.token("alice"))
    bucket.remaining, bucket.reset = 0, int(world.time.now) + 3600
    async with github(world, max_wait=60) as gh:
        error = await world.fails(RateLimited, gh.create_label(REPO, Label("bug")))
        assert gh.rate_limit.remaining == 0
    assert isinstance(error, RateLimited)
    assert error.retry_at == bucket.reset
    assert "rate limit exceeded" in error.message.lower() and error.status == 403
    assert world.time.slept == []
    assert len(world.requests()) == 1


async def test_secondary_limit_without_retry_after_backs_off_from_a_minute(world: World) -> None:
    world.forge.faults.add("POST", f"/repos/{REPO}/labels", status=403, rate_limited=False, times=None)
    async with github(world, max_wait=200) as gh:
        error = await world.fails(RateLimited, gh.create_label(REPO, Label("bug")))
    assert world.time.slept == [60, 120]  # a third wait (240 s) would pass max_wait
    assert isinstance(error, RateLimited) and error.retry_at == world.time.now + 240
    assert "secondary rate limit" in error.message
    assert [r.status for r in world.requests()] == [403, 403, 403]


async def test_a_forbidden_answer_is_not_mistaken_for_a_rate_limit(world: World) -> None:
    async with github(world, login="bob") as gh:
        error = await world.fails(PermissionDenied, gh.create_label(REPO, Label("bug")))
    assert error.status == 403 and "push access" in error.message
    assert world.time.slept == []


# -- retries ----------------------------------------------------------------------------------


async def test_server_errors_on_reads_are_retried_then_succeed(world: World) -> None:
    world.forge.faults.add("GET", f"/repos/{REPO}", status=502, times=2)
    async with github(world) as gh:
        assert (await gh.get_repo(REPO)).name == "widgets"
        assert gh.stats["GET"] == 3
    assert len(world.time.slept) == 2 and all(0 < s <= 8 for s in world.time.slept)


async def test_a_server_that_stays_broken_is_unavailable(world: World) -> None:
    world.forge.faults.add("GET", f"/repos/{REPO}", status=503, times=None)
    async with github(world) as gh:
        error = await world.fails(Unavailable, gh.get_repo(REPO))
    assert error.status == 503 and len(world.requests()) == 4


async def test_a_post_that_may_have_been_applied_is_not_repeated(world: World) -> None:
    number = await world.forge.actor("bob").open_issue(REPO, "Bug")
    world.forge.faults.add("POST", f"/repos/{REPO}/issues/{number}/comments", status=502, times=1)
    async with github(world) as gh:
        await world.fails(Unavailable, gh.create_comment(REPO, number, "hello"))
    assert [r.method for r in world.requests()] == ["POST"]


async def test_a_repeatable_post_is_retried(world: World) -> None:
    number = await world.forge.actor("bob").open_issue(REPO, "Bug")
    world.forge.faults.add("POST", f"/repos/{REPO}/issues/{number}/labels", status=502, times=1)
    async with github(world) as gh:
        assert await gh.add_labels(REPO, number, ["bug"]) == ("bug",)
    assert [r.status for r in world.requests()] == [502, 200]


async def test_a_connection_that_never_opened_is_retried_even_for_a_post(world: World) -> None:
    number = await world.forge.actor("bob").open_issue(REPO, "Bug")
    async with github(world, failures=[httpx.ConnectError]) as gh:
        comment = await gh.create_comment(REPO, number, "hello")
    assert comment.body == "hello"
    assert len(world.forge.repo(REPO).comments) == 1


async def test_a_post_whose_answer_was_lost_is_not_repeated(world: World) -> None:
    number = await world.forge.actor("bob").open_issue(REPO, "Bug")
    async with github(world, failures=[httpx.ReadTimeout]) as gh:
        error = await world.fails(Unavailable, gh.create_comment(REPO, number, "hello"))
        assert gh.stats["POST"] == 1
    assert "ReadTimeout" in error.message
    assert world.requests() == []


async def test_a_delete_whose_answer_was_lost_takes_404_as_done(world: World) -> None:
    async with github(world) as gh:
        hook = await gh.create_hook(REPO, Hook("https://bot.example/hook"))
        assert hook.id is not None
        world.forge.faults.add("DELETE", f"/repos/{REPO}/hooks/{hook.id}", status=504, times=1)
        del world.forge.repo(REPO).hooks[hook.id]  # the first DELETE did its work, its answer was lost
        await gh.delete_hook(REPO, hook.id)
        await world.fails(NotFound, gh.delete_hook(REPO, hook.id))  # without a lost answer, 404 is NotFound
    assert [r.status for r in world.requests() if r.method == "DELETE"] == [504, 404, 404]


async def test_a_branch_deleted_by_a_lost_attempt_is_taken_as_deleted(world: World) -> None:
    await world.forge.actor("alice").push(REPO, "topic", {"t.txt": "t\n"})
    world.forge.faults.add("DELETE", f"/repos/{REPO}/git/refs/heads/topic", status=502, times=1)
    world.forge.repo(REPO).git.run("update-ref", "-d", "refs/heads/topic")  # as if the 502 had deleted it
    async with github(world) as gh:
        await gh.delete_branch(REPO, "topic")  # GitHub answers the retry 422 "Reference does not exist"
    assert [r.status for r in world.requests()] == [502, 422]


@pytest.mark.parametrize("status, body", [(200, b"{not json"), (520, None)])  # 520: no HTTPStatus name
async def test_an_unreadable_answer_is_unavailable_not_a_crash(world: World, status: int, body: Any) -> None:
    world.forge.faults.add("GET", f"/repos/{REPO}", status=status, body=body, times=1)
    async with github(world) as gh:
        await world.fails(Unavailable, gh.get_repo(REPO))


@pytest.mark.parametrize("retry_after, expected", [("12", 12.0), ("Thu, 15 Jan 2027 08:00:30 GMT", 30.0)])
async def test_retry_after_may_be_seconds_or_a_date(retry_after: str, expected: float) -> None:
    async with github_policy(now=1_800_000_000.0) as policy:  # 2027-01-15 08:00:00 UTC
        limited = BadRequest(HTTPStatus(429), "slow down", headers={"retry-after": retry_after})
        assert policy.rate_limit_delay(limited, 0) == expected


@contextlib.asynccontextmanager
async def github_policy(now: float) -> AsyncIterator[Any]:
    async with httpx.AsyncClient() as http:
        yield GitHubForge(base_url=API, http=http, token="t", clock=lambda: now).policy


# -- write pacing -----------------------------------------------------------------------------


async def test_writes_are_spaced_and_reads_are_not(world: World) -> None:
    number = await world.forge.actor("bob").open_issue(REPO, "Bug")
    async with github(world, write_interval=1.0) as gh:
        await gh.create_comment(REPO, number, "one")
        await gh.get_issue(REPO, number)
        await gh.get_issue(REPO, number)
        await gh.create_comment(REPO, number, "two")
        await gh.add_labels(REPO, number, ["bug"])
    assert world.time.slept == [1.0, 1.0]


# -- GitHub's request shapes ------------------------------------------------------------------


async def test_names_from_users_are_escaped_in_paths(world: World) -> None:
    odd = "needs review/docs #1?"
    async with github(world) as gh:
        created = await gh.create_label(REPO, Label(odd, "#B60205", "what it says"))
        assert created == Label(odd, "b60205", "what it says", created.id)
        renamed = await gh.update_label(REPO, odd, Label("docs & more", "b60205", "what it says"))
        assert renamed.name == "docs & more"
        await gh.delete_label(REPO, "docs & more")
        main = (await gh.list_branches(REPO))[0]
        await gh.create_branch(REPO, "feature/ünïcode-x", main.sha)
        assert {b.name for b in await gh.list_branches(REPO)} == {"main", "feature/ünïcode-x"}
        await gh.delete_branch(REPO, "feature/ünïcode-x")
        assert (await gh.read_file(REPO, "conf/my file.yml")) is not None
    assert world.calls()[:3] == [
        ("POST", f"/repos/{REPO}/labels"), ("GET", f"/repos/{REPO}/labels/{odd}"),
        ("PATCH", f"/repos/{REPO}/labels/{odd}")]
    assert world.requests()[0].json == {"name": odd, "color": "B60205", "description": "what it says"}
    assert world.requests()[2].json == {"new_name": "docs & more"}  # only what differs


async def test_an_unchanged_label_is_not_patched(world: World) -> None:
    async with github(world) as gh:
        label = await gh.create_label(REPO, Label("bug", "d73a4a"))
        assert await gh.update_label(REPO, "bug", Label("bug", "#D73A4A")) == label
    assert [m for m, _ in world.calls()] == ["POST", "GET"]


async def test_read_file_decodes_and_returns_none_when_absent(world: World) -> None:
    async with github(world) as gh:
        found = await gh.read_file(REPO, "conf/my file.yml", ref="main")
        assert found is not None and found.content == b"labels: []\n" and found.path == "conf/my file.yml"
        assert await gh.read_file(REPO, ".forgebot.yml") is None
        assert await gh.read_file(REPO, "conf") is None  # a directory is not a file
    assert world.requests()[0].query == {"ref": "main"}


async def test_issue_labels_and_assignees(world: World) -> None:
    world.forge.set_permission(REPO, "carol", "write")
    number = await world.forge.actor("bob").open_issue(REPO, "Bug", assignees=["bob"])
    async with github(world) as gh:
        assert await gh.add_labels(REPO, number, ["bug", "help wanted"]) == ("bug", "help wanted")
        await gh.remove_label(REPO, number, "help wanted")
        await gh.remove_label(REPO, number, "help wanted")  # already gone: fine
        mark = len(world.forge.requests)
        assert await gh.set_assignees(REPO, number, ["carol"]) == ("carol",)
        assert await gh.set_assignees(REPO, number, ["carol"]) == ("carol",)
    assert [(r.method, r.path, r.json) for r in world.requests(mark)] == [
        ("GET", f"/repos/{REPO}/issues/{number}", None),
        ("DELETE", f"/repos/{REPO}/issues/{number}/assignees", {"assignees": ["bob"]}),
        ("POST", f"/repos/{REPO}/issues/{number}/assignees", {"assignees": ["carol"]}),
        ("GET", f"/repos/{REPO}/issues/{number}", None),
    ]


async def test_list_pulls_filters_on_owner_and_branch(world: World) -> None:
    alice = world.forge.actor("alice")
    await alice.push(REPO, "feature/x", {"a.txt": "a\n"})
    await alice.push(REPO, "feature/y", {"b.txt": "b\n"})
    number = await alice.open_pr(REPO, "feature/x", title="Add a")
    await alice.open_pr(REPO, "feature/y", title="Add b")
    async with github(world) as gh:
        pulls = await gh.list_pulls(REPO, head="feature/x")
        assert [p.number for p in pulls] == [number]
        assert pulls[0].head_ref == "feature/x" and pulls[0].head_repo == REPO
        assert len(await gh.list_pulls(REPO, state="all")) == 2
    assert world.requests()[0].query == {"head": "acme:feature/x", "per_page": "100"}
    assert world.requests()[1].query == {"state": "all", "per_page": "100"}


async def test_reviews_use_githubs_spelling_and_merges_report_their_sha(world: World) -> None:
    alice = world.forge.actor("alice")
    await alice.push(REPO, "feature/x", {"a.txt": "a\n"})
    number = await alice.open_pr(REPO, "feature/x", title="Add a")
    world.forge.set_permission(REPO, "carol", "write")
    async with github(world, login="carol") as gh:
        review = await gh.create_review(REPO, number, ReviewEvent.APPROVE, "lgtm")
        assert (review.state, review.author) == ("approved", "carol")
        await world.fails(Invalid, gh.create_review(REPO, number, ReviewEvent.REQUEST_CHANGES))
        await world.fails(Conflict, gh.merge_pull(REPO, number, MergeMethod.MERGE, sha="0" * 40))
        sha = await gh.merge_pull(REPO, number, MergeMethod.SQUASH)
        assert (await gh.get_pull(REPO, number)).merge_commit_sha == sha
        error = await world.fails(Conflict, gh.merge_pull(REPO, number, MergeMethod.SQUASH))
        assert error.status == 405
    sent = [r.json for r in world.requests() if r.method in ("POST", "PUT")]
    assert sent[0] == {"event": "APPROVE", "body": "lgtm"}
    assert sent[1]["event"] == "REQUEST_CHANGES"
    assert sent[3] == {"merge_method": "squash"}


async def test_protection_put_sends_every_required_key(world: World) -> None:
    async with github(world) as gh:
        assert await gh.get_protection(REPO, "main") is None
        wanted = BranchProtection("main", required_approvals=2, dismiss_stale_approvals=True,
                                  required_status_checks=("ci/test",), enforce_admins=True, allow_force_push=False)
        assert await gh.set_protection(REPO, wanted) == wanted
        assert await gh.get_protection(REPO, "main") == wanted
        loose = await gh.set_protection(REPO, BranchProtection("main", enforce_admins=False))
        assert loose == BranchProtection("main", enforce_admins=False, allow_force_push=False)
        await gh.remove_protection(REPO, "main")
        await gh.remove_protection(REPO, "main")  # not protected any more: fine
        await world.fails(NotFound, gh.set_protection(REPO, BranchProtection("no-such-branch")))
    puts = [r.json for r in world.requests() if r.method == "PUT"]
    assert puts[0] == {
        "required_status_checks": {"strict": False, "contexts": ["ci/test"]},
        "required_pull_request_reviews": {"dismiss_stale_reviews": True, "required_approving_review_count": 2},
        "restrictions": None, "enforce_admins": True, "allow_force_pushes": False,
    }
    assert puts[1] == {"required_status_checks": None, "required_pull_request_reviews": None,
                       "restrictions": None, "enforce_admins": False}


@pytest.mark.parametrize("level", ["read", "triage", "write", "maintain", "admin"])
async def test_permission_tells_all_six_levels_apart(world: World, level: str) -> None:
    world.forge.set_permission(REPO, "carol", level)
    async with github(world) as gh:
        assert await gh.get_permission(REPO, "carol") == Permission.parse(level)
        assert await gh.get_permission(REPO, "nobody-at-all") == Permission.NONE


async def test_collaborators_are_granted_with_githubs_names(world: World) -> None:
    async with github(world) as gh:
        await gh.add_collaborator(REPO, "carol", Permission.MAINTAIN)  # invited (201)
        world.forge.actor("carol").accept_invitation(REPO)
        await gh.add_collaborator(REPO, "carol", Permission.READ)  # a collaborator now: 204, at once
        await world.fails(Invalid, gh.add_collaborator(REPO, "carol", Permission.NONE))
        found = {c.login: c.permission for c in await gh.list_collaborators(REPO)}
        await gh.remove_collaborator(REPO, "carol")
    assert found["carol"] == Permission.READ and found["bob"] == Permission.TRIAGE
    assert [r.json for r in world.requests() if r.method == "PUT"] == [{"permission": "maintain"},
                                                                      {"permission": "pull"}]
    assert world.requests()[2].query == {"affiliation": "direct", "per_page": "100"}


async def test_branches_compare_and_tags(world: World) -> None:
    alice = world.forge.actor("alice")
    await alice.push(REPO, "feature/x", {"a.txt": "a\n"})
    await alice.push(REPO, "main", {"m.txt": "m\n"})
    async with github(world) as gh:
        branches = {b.name: b for b in await gh.list_branches(REPO)}
        assert set(branches) == {"feature/x", "main"} and branches["main"].committed_at is None
        assert world.calls() == [("GET", f"/repos/{REPO}/branches")]  # no dates asked for, none fetched
        dated = {b.name: b for b in await gh.list_branches(REPO, with_dates=True)}
        assert dated["main"].committed_at is not None and dated["feature/x"].committed_at is not None
        assert world.calls(1) == [("GET", f"/repos/{REPO}/branches"),
                                  ("GET", f"/repos/{REPO}/commits/{branches['feature/x'].sha}"),
                                  ("GET", f"/repos/{REPO}/commits/{branches['main'].sha}")]
        comparison = await gh.compare(REPO, "main", "feature/x")
        assert (comparison.status, comparison.ahead_by, comparison.behind_by, comparison.total_commits) == (
            "diverged", 1, 1, 1)
        await gh.create_tag(REPO, "v1", branches["main"].sha)
        await gh.create_tag(REPO, "v2", branches["main"].sha, message="Release 2")
        await world.fails(Conflict, gh.create_tag(REPO, "v1", branches["main"].sha))
        await world.fails(Conflict, gh.create_branch(REPO, "feature/x", branches["main"].sha))
        await world.fails(Invalid, gh.delete_branch(REPO, "main"))
        await world.fails(NotFound, gh.delete_branch(REPO, "no-such-branch"))
    git = world.forge.repo(REPO).git
    assert git.ref_sha("refs/tags/v1") == branches["main"].sha
    annotated = git.ref_sha("refs/tags/v2")
    assert annotated is not None and git.run("cat-file", "-t", annotated) == "tag"


async def test_settings_topics_milestones_hooks_statuses(world: World) -> None:
    sha = world.forge.repo(REPO).git.resolve("main")
    assert sha is not None
    async with github(world) as gh:
        wanted = RepoSettings(homepage="https://w.example", delete_branch_on_merge=True)
        changed = await gh.update_settings(REPO, wanted)
        assert changed.homepage == "https://w.example" and changed.delete_branch_on_merge is True
        assert await gh.set_topics(REPO, ["bots", "python"]) == ("bots", "python")
        milestone = await gh.create_milestone(REPO, Milestone("v1", "first", date(2030, 5, 1)))
        assert milestone.due_on == date(2030, 5, 1) and milestone.id == 1
        closed = await gh.close_milestone(REPO, 1)
        assert closed.state == "closed" and [m.title for m in await gh.list_milestones(REPO)] == ["v1"]
        hook = await gh.create_hook(REPO, Hook("https://bot.example/hook", ("issues", "push")), secret="hook-secret")
        assert hook.content_type == "json" and hook.id is not None
        await gh.set_status(REPO, sha, CommitStatus(StatusState.SUCCESS, "forgebot", "all good"))
    sent = {(r.method, r.path): r.json for r in world.requests()}
    assert sent[("PATCH", f"/repos/{REPO}")] == {"homepage": "https://w.example", "delete_branch_on_merge": True}
    assert sent[("POST", f"/repos/{REPO}/milestones")]["due_on"] == "2030-05-01T12:00:00Z"
    assert sent[("POST", f"/repos/{REPO}/hooks")] == {
        "name": "web", "config": {"url": "https://bot.example/hook", "content_type": "json", "insecure_ssl": "0",
                                  "secret": "hook-secret"},
        "events": ["issues", "push"], "active": True}
    assert sent[("POST", f"/repos/{REPO}/statuses/{sha}")] == {
        "state": "success", "context": "forgebot", "description": "all good"}
    assert [r.query for r in world.requests() if r.path.endswith("/milestones") and r.method == "GET"] == [
        {"state": "all", "per_page": "100"}]


async def test_conversation_calls(world: World) -> None:
    alice = world.forge.actor("alice")
    await alice.push(REPO, "feature/x", {"a.txt": "a\n", "b.txt": "b\n"})
    number = await alice.open_pr(REPO, "feature/x", title="Add files")
    head = world.forge.repo(REPO).git.resolve("feature/x")
    world.forge.set_permission(REPO, "carol", "write")
    async with github(world, login="carol") as gh:
        comment = await gh.create_comment(REPO, number, "first")
        assert (await gh.edit_comment(REPO, comment.id, "edited")).body == "edited"
        await gh.add_reaction(REPO, comment.id, "rocket")
        assert [(c.body, c.author) for c in await gh.list_comments(REPO, number)] == [("edited", "carol")]
        assert (await gh.edit_issue(REPO, number, title="Add two files")).title == "Add two files"
        assert (await gh.edit_issue(REPO, number)).title == "Add two files"  # nothing to change: a read
        assert (await gh.close_issue(REPO, number)).state == "closed"
        assert (await gh.reopen_issue(REPO, number)).state == "open"
        assert await gh.list_pull_files(REPO, number) == ["a.txt", "b.txt"]
        review = await gh.create_review(REPO, number, ReviewEvent.COMMENT, "looks fine", commit_sha=head)
        assert (review.state, review.commit_sha) == ("commented", head)
    sent = [(r.method, r.path.removeprefix(f"/repos/{REPO}"), r.json) for r in world.requests()
            if r.method != "GET"]
    assert sent == [
        ("POST", f"/issues/{number}/comments", {"body": "first"}),
        ("PATCH", f"/issues/comments/{comment.id}", {"body": "edited"}),
        ("POST", f"/issues/comments/{comment.id}/reactions", {"content": "rocket"}),
        ("PATCH", f"/issues/{number}", {"title": "Add two files"}),
        ("PATCH", f"/issues/{number}", {"state": "closed"}),
        ("PATCH", f"/issues/{number}", {"state": "open"}),
        ("POST", f"/pulls/{number}/reviews", {"event": "COMMENT", "body": "looks fine", "commit_id": head}),
    ]


async def test_hooks_and_milestones_are_updated_in_place(world: World) -> None:
    async with github(world) as gh:
        hook = await gh.create_hook(REPO, Hook("https://bot.example/a", ("push",)))
        assert hook.id is not None
        moved = await gh.update_hook(REPO, hook.id, Hook("https://bot.example/b", ("*",), active=False))
        assert (moved.url, moved.events, moved.active) == ("https://bot.example/b", ("*",), False)
        assert [h.url for h in await gh.list_hooks(REPO)] == ["https://bot.example/b"]
        await gh.delete_hook(REPO, hook.id)
        assert await gh.list_hooks(REPO) == []
        first = await gh.create_milestone(REPO, Milestone("v1"))
        assert first.id is not None and first.due_on is None
        renamed = await gh.update_milestone(REPO, first.id, Milestone("v1.0", "the first", date(2031, 1, 2)))
        assert (renamed.title, renamed.description, renamed.due_on) == ("v1.0", "the first", date(2031, 1, 2))
        assert await gh.update_settings(REPO, RepoSettings()) == await gh.get_settings(REPO)
    patches = [r.json for r in world.requests() if r.method == "PATCH"]
    assert patches[0] == {"config": {"url": "https://bot.example/b", "content_type": "json", "insecure_ssl": "0"},
                          "events": ["*"], "active": False}
    assert patches[1] == {"title": "v1.0", "state": "open", "description": "the first",
                          "due_on": "2031-01-02T12:00:00Z"}
    assert len(patches) == 2  # empty settings changes send nothing


async def test_a_reaction_github_does_not_know_is_refused_before_sending(world: World) -> None:
    async with github(world) as gh:
        await world.fails(Invalid, gh.add_reaction(REPO, 1, "thumbsup"))
    assert world.requests() == []


# -- errors -----------------------------------------------------------------------------------


async def test_github_errors_map_to_the_protocols(world: World) -> None:
    async with github(world) as gh:
        missing = await world.fails(NotFound, gh.get_issue(REPO, 999))
        assert (missing.status, missing.message, missing.platform) == (404, "Not Found", "github")
        await gh.create_label(REPO, Label("bug"))
        duplicate = await world.fails(Conflict, gh.create_label(REPO, Label("Bug")))
        assert duplicate.status == 422 and duplicate.details == ("name: already_exists",)
        bad = await world.fails(Invalid, gh.create_label(REPO, Label("odd", color="not-a-colour")))
        assert bad.status == 422 and bad.details and bad.details[0].startswith("color:")
        await world.fails(NotFound, gh.get_repo("acme/nothing-here"))
        await world.fails(Invalid, gh.get_repo("not-a-repo-name"))
    async with github(world, token="ghp_wrong") as gh:
        denied = await world.fails(PermissionDenied, gh.get_repo(REPO))
        assert denied.status == 401 and denied.message == "Bad credentials"


async def test_no_token_reaches_an_error_message(world: World, app_key: str) -> None:
    token = world.forge.token("alice")
    echo = {"message": f"token {token} is not welcome here"}
    world.forge.faults.add("GET", f"/repos/{REPO}/topics", status=400, body=echo, times=1)
    world.forge.faults.add("GET", f"/repos/{REPO}/hooks", status=429, body=echo, times=None)
    async with github(world, max_wait=0) as gh:
        await world.fails(Invalid, gh.get_topics(REPO))
        await world.fails(RateLimited, gh.list_hooks(REPO))
    install(world, app_key)
    async with github(world, app_id=APP_ID, private_key=app_key) as gh:
        await gh.get_repo(REPO)
        installation_token = next(t.value for t in world.forge.state.tokens.values() if t.kind == "installation")
        world.forge.faults.add("GET", f"/repos/{REPO}/topics", status=500, times=None,
                               body={"message": f"cannot use {installation_token}"})
        await world.fails(Unavailable, gh.get_topics(REPO))
    secrets = [token, installation_token]
    assert len(world.errors) == 3
    for error in world.errors:
        text = " ".join([str(error), repr(error), *error.details])
        assert "***" in text and not any(secret in text for secret in secrets)
