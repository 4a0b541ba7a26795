"""The status page: off without a token, a sign-in that sets a signed cookie, and what it shows
(claims, the ready list, blocked issues, reconcile runs, failed deliveries, jobs), on both platforms."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bot.status import session
from tests.conftest import REPO, World

pytestmark = pytest.mark.anyio

VIEWER = "viewer-token-0123456789"
ADMIN = "admin-token-0123456789"
ORIGIN = {"origin": "http://bot"}


@asynccontextmanager
async def status_site(world: World, bot_factory: Any, **settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    settings = {"viewer_tokens": VIEWER, "admin_token": ADMIN, **settings}
    async with bot_factory(world, agent_tokens="alice:alice-token-0123456789", **settings) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as http:
            yield app, http


async def sign_in(http: httpx.AsyncClient, token: str = VIEWER, headers: dict[str, str] | None = None) -> httpx.Response:
    return await http.post("/status/signin", data={"token": token}, headers=ORIGIN if headers is None else headers)


def text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


async def test_the_page_is_off_without_a_viewer_or_admin_token(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory, viewer_tokens=None, admin_token=None) as (_, http):
        for path in ("/status", "/status/help", "/status/signin"):
            answer = await http.get(path)
            assert answer.status_code == 404 and "FORGEBOT_VIEWER_TOKENS" in answer.text


async def test_signing_in_sets_a_strict_http_only_cookie_and_shows_a_claim(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Polish the widgets")
    async with status_site(world, bot_factory) as (_, http):
        first = await http.get("/status")
        assert first.status_code == 303 and first.headers["location"] == "/status/signin"
        claimed = await http.post(f"/api/repos/{REPO}/issues/{number}/claim", headers={"authorization": "Bearer alice-token-0123456789"})
        assert claimed.status_code == 200

        signed = await sign_in(http)
        assert signed.status_code == 303 and signed.headers["location"] == "/status"
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith(f"{session.COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Path=/status" in cookie and f"Max-Age={session.SESSION_SECONDS}" in cookie
        assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would never come back
        assert VIEWER not in cookie

        page = await http.get("/status")
        assert page.status_code == 200 and "script" not in page.text.lower()
        assert "default-src 'none'" in page.headers["content-security-policy"]
        shown = text(page.text)
        assert f"{REPO} {world.platform}" in shown
        assert re.search(rf"#{number} @alice \d{{4}}-\d\d-\d\d \d\d:\d\d UTC", shown), shown


async def test_over_https_the_cookie_is_secure(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory) as (_, http):
        signed = await sign_in(http, ADMIN, {"origin": "https://bot", "x-forwarded-proto": "https"})
        assert signed.status_code == 303 and "Secure" in signed.headers["set-cookie"]


async def test_a_wrong_token_another_sites_form_and_a_forged_cookie_get_nothing(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory) as (_, http):
        wrong = await sign_in(http, "not-the-token-at-all")
        assert wrong.status_code == 401 and "not known" in wrong.text and "set-cookie" not in wrong.headers
        for headers in ({"origin": "https://evil.example"}, {"referer": "https://evil.example/page"}, {}):
            cross = await sign_in(http, VIEWER, headers)
            assert cross.status_code == 403 and "set-cookie" not in cross.headers
        http.cookies.set(session.COOKIE, "9999999999.abc.forged", domain="bot", path="/status")
        assert (await http.get("/status")).status_code == 303
        signed = await sign_in(http)
        good = signed.cookies[session.COOKIE]
        expiry, nonce, mac = good.split(".")
        http.cookies.clear()
        http.cookies.set(session.COOKIE, f"{int(expiry) + 10}.{nonce}.{mac}", domain="bot", path="/status")
        assert (await http.get("/status")).status_code == 303  # a longer life is not signed
        out = await http.post("/status/signout", headers={"origin": "https://evil.example"})
        assert out.status_code == 403


async def test_sign_out_clears_the_cookie(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory) as (_, http):
        await sign_in(http)
        assert (await http.get("/status")).status_code == 200
        out = await http.post("/status/signout", headers=ORIGIN)
        assert out.status_code == 303 and 'forgebot_status=""' in out.headers["set-cookie"]
        assert (await http.get("/status")).status_code == 303


async def test_what_an_unauthenticated_client_can_make_it_hold_is_bounded(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory) as (_, http):
        huge = await http.post("/status/signin", content=b"token=" + b"x" * (session.MAX_FORM_BYTES + 1),
                               headers={**ORIGIN, "content-type": "application/x-www-form-urlencoded"})
        assert huge.status_code == 413
        for _ in range(session.MAX_FAILURES):
            assert (await sign_in(http, "guessing-the-token-000")).status_code == 401
        blocked = await sign_in(http)  # even the right token waits once an address failed too often
        assert blocked.status_code == 429 and "set-cookie" not in blocked.headers

    failures = session.FailedSignIns(limit=100)
    for n in range(1000):
        failures.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(failures) == 100


async def test_the_page_shows_the_ready_list_blocked_issues_reconcile_failures_and_jobs(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory) as (app, http):
        base = await world.actor("alice").open_issue(REPO, "Lay the foundation")
        waiting = await world.actor("alice").open_issue(REPO, "Build the walls", body=f"Depends on #{base}")
        await app.wait_idle()
        await app.scheduler.run_job("expire-claims")
        await sign_in(http)
        shown = text((await http.get("/status")).text)
        ready = shown[shown.index("Ready to start"):shown.index("Blocked")]
        assert f"#{base} Lay the foundation" in ready and "Build the walls" not in ready
        blocked = shown[shown.index("Blocked"):shown.index("Last reconcile")]
        assert f"#{waiting} Build the walls #{base}" in blocked
        assert "expire-claims every 60 s" in shown and ": ok in" in shown
        assert "no failed delivery" in shown


async def test_a_dead_letter_shows_its_error_and_the_replay_command(world: World, bot_factory: Any) -> None:
    from tests.conftest import db_rows, eventually

    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    async with status_site(world, bot_factory, max_attempts=1) as (app, http):
        world.fake.faults.add("POST", "/repos/{owner}/{repo}/issues/{number}/labels", status=500, retry_after=0, times=None)
        await world.actor("alice").comment(REPO, number, "/claim")
        await eventually(lambda: bool(db_rows(app, "SELECT 1 FROM deliveries WHERE status = 'dead'")))
        [(delivery,)] = db_rows(app, "SELECT delivery_id FROM deliveries WHERE status = 'dead'")
        await sign_in(http)
        shown = text((await http.get("/status")).text)
        failures = shown[shown.index("Recent failures"):shown.index("Scheduled jobs")]
        assert f"{delivery} {world.platform} issue_comment" in failures and " dead 1 " in failures
        assert f"forgebot replay {delivery} --platform {world.platform}" in failures


async def test_the_help_page_lists_every_command_from_its_metadata(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory) as (app, http):
        await sign_in(http)
        shown = text((await http.get("/status/help")).text)
        for spec in app.router.commands:
            assert spec.usage in shown and spec.description in shown
        who = "write access and up" if world.platform == "gitea" else "triage access and up"
        assert "/label NAME" in shown and who in shown


async def test_a_section_the_forge_cannot_answer_says_so_and_the_rest_of_the_page_stands(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory) as (app, http):
        number = await world.actor("bob").open_issue(REPO, "Polish the widgets")
        claimed = await http.post(f"/api/repos/{REPO}/issues/{number}/claim", headers={"authorization": "Bearer alice-token-0123456789"})
        assert claimed.status_code == 200
        path = "/repos/{owner}/{repo}/issues"
        world.fake.faults.add("GET", path, status=500, times=None)
        await sign_in(http)
        page = await http.get("/status")
        assert page.status_code == 200
        shown = text(page.text)
        ready = shown[shown.index("Ready to start"):shown.index("Blocked")]
        assert "could not be read:" in ready
        assert f"#{number} @alice" in shown  # the claims come from the bot's own records


async def test_the_page_says_which_replica_leads_and_hosts_the_worktrees_and_metrics_do_not(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory, replica_id="bot-7") as (app, http):
        await sign_in(http)
        shown = text((await http.get("/status")).text)
        replicas = shown[shown.index("Replicas"):shown.index("Queue")]
        assert "This replica bot-7" in replicas
        assert re.search(r"Scheduler leader \(runs the scheduled jobs\) bot-7 \(this replica\) until \d\d:\d\d:\d\d UTC", replicas)
        assert re.search(r"Worktree host \(owns the worktree root\) bot-7 \(this replica\) until \d\d:\d\d:\d\d UTC", replicas)
        # What anyone may read says whether this replica leads, never who the replicas are.
        metrics = (await http.get("/metrics")).text
        assert 'forgebot_lease_held{lease="scheduler"} 1.0' in metrics and "bot-7" not in metrics
        assert "bot-7" not in (await http.get("/readyz")).text


async def test_the_page_shows_no_worktree_host_when_no_replica_is_one(world: World, bot_factory: Any) -> None:
    async with status_site(world, bot_factory, replica_id="bot-8", worktree_host=False) as (app, http):
        await sign_in(http)
        shown = text((await http.get("/status")).text)
        replicas = shown[shown.index("Replicas"):shown.index("Queue")]
        assert "Scheduler leader (runs the scheduled jobs) bot-8 (this replica)" in replicas
        assert "Worktree host (owns the worktree root) none" in replicas
        jobs = shown[shown.index("Scheduled jobs"):]
        assert re.search(r"expire-claims every 60 s (?:(?!every).)*the scheduler leader", jobs)
        assert re.search(r"worktrees-sweep every 300 s (?:(?!every).)*the worktree host", jobs)
        assert app.capabilities() == frozenset()
