"""Claims end to end, on both platforms: /claim, /unclaim, /extend, caps, leases, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.conftest import BOT, REPO, World

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def bot_comments(world: World, number: int) -> list[str]:
    state = world.state()
    return [state.comments[c].body for c in state.issue(number).comments if state.comments[c].user == BOT]


def reactions(world: World, comment_id: int) -> list[str]:
    return [r.content for r in world.state().comments[comment_id].reactions if r.user == BOT]


async def test_claim_assigns_labels_and_reports_the_expiry(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    async with bot_factory(world) as app:
        cid = await world.actor("alice").comment(REPO, number, "I'll take it\n/claim 4h")
        await app.wait_idle()
        issue = world.state().issue(number)
        assert issue.assignees == ["alice"] and world.label_names(number) == ["status/claimed"]
        [reply] = bot_comments(world, number)
        assert "@alice claimed this until" in reply and "(4h)" in reply
        assert reply.count("@alice") == 1  # mentioned once, not twice
        assert reactions(world, cid) == ["+1"]
        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        assert held is not None and held.holder == "alice" and held.expires_at - held.claimed_at == 4 * 3600


async def test_a_reply_that_failed_to_post_is_posted_once_on_the_retry(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    async with bot_factory(world) as app:
        fault = world.fake.faults.add("POST", "/repos/{owner}/{repo}/issues/{number}/comments", status=500, times=1)
        cid = await world.actor("alice").comment(REPO, number, "/claim")
        await app.wait_idle()
        assert fault.hits == 1  # the first answer failed; the delivery was tried again
        [reply] = bot_comments(world, number)
        assert "@alice claimed this until" in reply
        assert reactions(world, cid) == ["+1"]
        assert world.state().issue(number).assignees == ["alice"]


async def test_a_claim_whose_first_attempt_failed_midway_is_answered_as_claimed(world: World, bot_factory: Any) -> None:
    from tests.conftest import db_rows, eventually

    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    async with bot_factory(world) as app:
        # The claim is granted and assigned, then labelling fails until the delivery gives up once.
        world.fake.faults.add("POST", "/repos/{owner}/{repo}/issues/{number}/labels", status=500, retry_after=0, times=None)
        await world.actor("alice").comment(REPO, number, "/claim")
        await eventually(lambda: bool(db_rows(app, "SELECT 1 FROM deliveries WHERE last_error IS NOT NULL")))
        world.fake.faults.clear()
        await app.wait_idle()
        [reply] = bot_comments(world, number)
        assert "@alice claimed this until" in reply and "renewed" not in reply
        assert world.label_names(number) == ["status/claimed"] and world.state().issue(number).assignees == ["alice"]


async def test_a_platform_failing_to_assign_is_tried_again_not_taken_for_a_refusal(world: World, bot_factory: Any) -> None:
    """A 502 on the assignment (after the client's own retries) says nothing about who may be
    assigned: the delivery is tried again and the claim holds, never "would not assign"."""
    from tests.conftest import db_rows, eventually

    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    if world.platform == "github":
        method, route = "POST", "/repos/{owner}/{repo}/issues/{number}/assignees"
    else:  # Gitea assigns through the issue's PATCH
        method, route = "PATCH", "/repos/{owner}/{repo}/issues/{index}"
    async with bot_factory(world) as app:
        world.fake.faults.add(method, route, status=502, times=None)
        await world.actor("alice").comment(REPO, number, "/claim")
        await eventually(lambda: bool(db_rows(app, "SELECT 1 FROM deliveries WHERE last_error IS NOT NULL")))
        world.fake.faults.clear()
        await app.wait_idle()
        [reply] = bot_comments(world, number)
        assert "@alice claimed this until" in reply and "would not assign" not in reply
        assert world.state().issue(number).assignees == ["alice"] and world.label_names(number) == ["status/claimed"]
        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        assert held is not None and held.holder == "alice"


async def test_a_claim_the_platform_will_not_assign_is_withdrawn(world: World, bot_factory: Any) -> None:
    """mallory could read the private repository when she asked and lost access before the bot
    got to it: GitHub drops her from the assignees without a word, Gitea answers 500."""
    secret = "acme/secret"
    world.fake.create_repo(secret, private=True, files={"README.md": "hush\n"})
    world.fake.set_permission(secret, BOT, "admin")
    world.fake.set_permission(secret, "mallory", "read")
    world.fake.set_permission(secret, "alice", "write")
    number = await world.actor("alice").open_issue(secret, "Fix")
    async with bot_factory(world) as app:
        world.fake.api_events = "queue"
        cid = await world.actor("mallory").comment(secret, number, "/claim")
        world.fake.set_permission(secret, "mallory", "none")
        world.fake.requests.clear()
        await world.fake.flush()
        await app.wait_idle()
        state = world.state(secret)
        [reply] = [state.comments[c].body for c in state.issue(number).comments if state.comments[c].user == BOT]
        assert "the platform would not assign @mallory, so the claim is withdrawn" in reply
        assert "ask a maintainer to give @mallory access" in reply
        assert [r.content for r in state.comments[cid].reactions if r.user == BOT] == ["confused"]
        assert state.issue(number).assignees == [] and world.label_names(number, secret) == []
        assert await app.storage.claims.active_claim(world.platform, secret, number) is None
        writes = [r for r in world.fake.requests if r.method in ("PATCH", "POST") and "assignees" in (r.json or {})]
        assert len(writes) == 1  # refused once, read back, withdrawn: no retrying the same write
        await world.actor("alice").comment(secret, number, "/claim")  # free for someone who can take it
        await world.fake.flush()
        await app.wait_idle()
        assert world.state(secret).issue(number).assignees == ["alice"]


async def test_a_stranger_is_assigned_where_the_platform_allows_it(world: World, bot_factory: Any) -> None:
    """On a public repository Gitea assigns anyone who can read it; GitHub only collaborators."""
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("mallory").comment(REPO, number, "/claim")  # not a collaborator
        await app.wait_idle()
        [reply] = bot_comments(world, number)
        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        if world.platform == "gitea":
            assert "@mallory claimed this until" in reply
            assert world.state().issue(number).assignees == ["mallory"] and held is not None
        else:
            assert "the platform would not assign @mallory" in reply
            assert world.state().issue(number).assignees == [] and held is None


async def test_someone_else_is_refused_and_the_holder_renews(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("alice").comment(REPO, number, "/claim")
        refused = await world.actor("carol").comment(REPO, number, "/claim")
        await app.wait_idle()
        assert "claimed by @alice until" in bot_comments(world, number)[-1]
        assert reactions(world, refused) == ["confused"]
        await world.actor("alice").comment(REPO, number, "/claim 2d")
        await app.wait_idle()
        assert "renewed the claim" in bot_comments(world, number)[-1]
        assert world.state().issue(number).assignees == ["alice"]


async def test_durations_are_checked_against_the_repository_maximum(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "claims:\n  max_duration: 2d\n"})
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("alice").comment(REPO, number, "/claim 3d")
        await world.actor("alice").comment(REPO, number, "/claim soon")
        await app.wait_idle()
        first, second = bot_comments(world, number)
        assert "claims last at most 2d here" in first and "Try `/claim 2d`" in first
        assert "'soon' is not a duration" in second
        assert world.state().issue(number).assignees == []


async def test_a_user_holds_at_most_the_cap(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "claims:\n  max_per_user: 2\n"})
    numbers = [await world.actor("bob").open_issue(REPO, f"Task {n}") for n in range(3)]
    async with bot_factory(world) as app:
        for number in numbers:  # one after another: comments on different issues run in parallel
            await world.actor("alice").comment(REPO, number, "/claim")
            await app.wait_idle()
        assert "you hold 2 claims already" in bot_comments(world, numbers[2])[0]
        assert world.state().issue(numbers[2]).assignees == []


async def test_unclaim_by_the_holder_or_triage_and_up(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("alice").comment(REPO, number, "/claim")
        await world.actor("bob").comment(REPO, number, "/unclaim")  # read access: refused
        await app.wait_idle()
        assert "only they, or triage access and up, can release it" in bot_comments(world, number)[-1]
        await world.actor("alice").comment(REPO, number, "/unclaim")
        await app.wait_idle()
        issue = world.state().issue(number)
        assert issue.assignees == [] and world.label_names(number) == []
        assert await app.storage.claims.active_claim(world.platform, REPO, number) is None


async def test_extend_belongs_to_the_holder(world: World, bot_factory: Any) -> None:
    clock = Clock(1_800_000_000.0)
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world, clock=clock) as app:
        await world.actor("alice").comment(REPO, number, "/claim 1h")
        await app.wait_idle()
        clock.now += 1800
        await world.actor("alice").comment(REPO, number, "/extend 4h")
        await world.actor("carol").comment(REPO, number, "/extend")
        await app.wait_idle()
        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        assert held.expires_at == clock.now + 4 * 3600
        assert "only @alice, who holds it, can extend" in bot_comments(world, number)[-1]


async def test_expired_leases_are_released_once(world: World, bot_factory: Any) -> None:
    clock = Clock(1_800_000_000.0)
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world, clock=clock) as app:
        await world.actor("alice").comment(REPO, number, "/claim 30m")
        await app.wait_idle()
        assert await app.scheduler.run_job("expire-claims")
        assert world.state().issue(number).assignees == ["alice"]  # not yet
        clock.now += 31 * 60
        assert await app.scheduler.run_job("expire-claims")
        assert await app.scheduler.run_job("expire-claims")
        issue = world.state().issue(number)
        assert issue.assignees == [] and world.label_names(number) == []
        expired = [body for body in bot_comments(world, number) if "expired" in body]
        assert len(expired) == 1 and "free to take again" in expired[0]
        await world.actor("carol").comment(REPO, number, "/claim")
        await app.wait_idle()
        assert world.state().issue(number).assignees == ["carol"]


async def test_an_expiry_that_failed_to_unassign_says_so_once(world: World, bot_factory: Any) -> None:
    clock = Clock(1_800_000_000.0)
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world, clock=clock) as app:
        await world.actor("alice").comment(REPO, number, "/claim 30m")
        await app.wait_idle()
        clock.now += 31 * 60
        # Unassigning: GitHub has an endpoint for it, Gitea edits the issue's whole list.
        world.fake.faults.add("DELETE", "/repos/{owner}/{repo}/issues/{number}/assignees", status=500, retry_after=0, times=None, platform="github")
        world.fake.faults.add("PATCH", "/repos/{owner}/{repo}/issues/{number}", status=500, retry_after=0, times=None, platform="gitea")
        assert await app.scheduler.run_job("expire-claims")
        assert world.state().issue(number).assignees == ["alice"]  # failed: tried again next run
        world.fake.faults.clear()
        assert await app.scheduler.run_job("expire-claims")
        assert world.state().issue(number).assignees == [] and world.label_names(number) == []
        expired = [body for body in bot_comments(world, number) if "expired" in body]
        assert len(expired) == 1


async def test_fifty_people_claim_at_once_and_one_holds_it(world: World, bot_factory: Any) -> None:
    claimants = [f"agent{n:02}" for n in range(50)]
    for login in claimants:
        world.fake.add_user(login)
        world.fake.set_permission(REPO, login, "write")
    number = await world.actor("bob").open_issue(REPO, "Contended")
    async with bot_factory(world) as app:
        await asyncio.gather(*(world.actor(login).comment(REPO, number, "/claim") for login in claimants))
        await app.wait_idle(timeout=60)
        issue = world.state().issue(number)
        assert len(issue.assignees) == 1 and world.label_names(number) == ["status/claimed"]
        holder = issue.assignees[0]
        replies = bot_comments(world, number)
        refusals = [r for r in replies if f"claimed by @{holder} until" in r]
        assert len(replies) == 50 and len(refusals) == 49
        active = await app.storage.claims.active_claims(world.platform, REPO)
        assert [c.holder for c in active] == [holder]


async def test_a_blocked_issue_cannot_be_claimed(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    dependency = await alice.open_issue(REPO, "First this")
    number = await alice.open_issue(REPO, "Then this", body=f"Depends on #{dependency}")
    async with bot_factory(world) as app:
        await alice.edit_issue(REPO, number, body=f"Depends on #{dependency}\n")  # the bot sees the line
        await world.actor("carol").comment(REPO, number, "/claim")
        await app.wait_idle()
        assert f"it is blocked by #{dependency}" in bot_comments(world, number)[-1]
        assert world.state().issue(number).assignees == []


async def test_pushes_and_pull_requests_renew_the_holders_lease(world: World, bot_factory: Any) -> None:
    config = "claims:\n  renew_on_push: true\n  renew_on_pull_request: true\n  default_duration: 1h\n"
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    clock = Clock(1_800_000_000.0)
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world, clock=clock) as app:
        await world.actor("alice").comment(REPO, number, "/claim 1h")
        await app.wait_idle()
        clock.now += 1800
        await world.actor("alice").push(REPO, f"issue-{number}-fix", {"fix.py": "1"})
        await app.wait_idle()
        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        assert held.expires_at == clock.now + 3600
        renewed_until = held.expires_at
        clock.now += 600
        world.fake.set_permission(REPO, "carol", "write")
        await world.actor("carol").push(REPO, f"issue-{number}-other", {"x.py": "1"})  # not the holder
        await app.wait_idle()
        assert (await app.storage.claims.active_claim(world.platform, REPO, number)).expires_at == renewed_until
        clock.now += 600
        await world.actor("alice").open_pr(REPO, f"issue-{number}-fix", "main", "Fix", f"Fixes #{number}")
        await app.wait_idle()
        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        assert held.expires_at == clock.now + 3600


async def test_fifty_agents_claim_over_http_at_once_and_one_holds_it(world: World, bot_factory: Any) -> None:
    import httpx

    agents = [f"bot{n:02}" for n in range(50)]
    tokens = {login: f"token-for-{login}-0123456789" for login in agents}
    for login in agents:
        world.fake.add_user(login)
        world.fake.set_permission(REPO, login, "write")
    number = await world.actor("bob").open_issue(REPO, "Contended over HTTP")
    async with bot_factory(world, agent_tokens=",".join(f"{login}:{token}" for login, token in tokens.items())) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as http:
            answers = await asyncio.gather(*(
                http.post(f"/api/repos/{REPO}/issues/{number}/claim", headers={"authorization": f"Bearer {token}"})
                for token in tokens.values()
            ))
        await app.wait_idle()
        won = [a for a in answers if a.status_code == 200]
        lost = [a for a in answers if a.status_code == 409]
        assert len(won) == 1 and len(lost) == 49
        holder = won[0].json()["holder"]
        assert all(f"claimed by @{holder} until" in a.json()["error"] for a in lost)
        issue = world.state().issue(number)
        assert issue.assignees == [holder] and world.label_names(number) == ["status/claimed"]


async def test_a_push_never_shortens_a_longer_lease(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "claims:\n  renew_on_push: true\n"})
    clock = Clock(1_800_000_000.0)
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world, clock=clock) as app:
        await world.actor("alice").comment(REPO, number, "/claim 3d")
        await app.wait_idle()
        until = (await app.storage.claims.active_claim(world.platform, REPO, number)).expires_at
        clock.now += 3600
        await world.actor("alice").push(REPO, f"issue-{number}-fix", {"fix.py": "1"})  # renewal: 24h from now
        await app.wait_idle()
        assert (await app.storage.claims.active_claim(world.platform, REPO, number)).expires_at == until


async def test_an_expired_claim_on_an_issue_that_is_gone_still_ends(world: World, bot_factory: Any) -> None:
    clock = Clock(1_800_000_000.0)
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world, clock=clock) as app:
        await world.actor("alice").comment(REPO, number, "/claim 30m")
        await app.wait_idle()
        clock.now += 31 * 60
        gone = world.fake.faults.add(None, f"^/repos/{REPO}/issues/{number}(/|$)", status=404, times=None)
        assert await app.scheduler.run_job("expire-claims")
        assert gone.hits  # the bot tried, and the platform said there is no such issue
        # Else it would be tried every minute for ever, and count against alice's claims.
        assert await app.storage.claims.active_claims(world.platform, REPO) == []
