"""Dependencies on other repositories, on both platforms: who may name them, what the bot shows of
them, which description lines it follows, and how often it reads an issue."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import BOT, REPO, World, db_rows

pytestmark = pytest.mark.anyio

SECRET = "other/secret"
SECRET_TITLE = "Quietly acquire the competition"


def bot_comments(world: World, number: int, repo: str = REPO) -> list[str]:
    state = world.state(repo)
    return [state.comments[c].body for c in state.issue(number).comments if state.comments[c].user == BOT]


def issue_gets(world: World, repo: str, number: int, since: int = 0) -> int:
    return sum(
        1 for r in world.fake.requests[since:] if r.method == "GET" and r.path == f"/repos/{repo}/issues/{number}"
    )


@pytest.fixture
async def secret(world: World) -> int:
    """A private repository the bot can read and administer, with one issue by bob (read there).
    Alice has write there; mallory and carol have nothing."""
    world.fake.create_repo(SECRET, private=True)
    world.fake.set_permission(SECRET, BOT, "admin")
    world.fake.set_permission(SECRET, "bob", "read")
    world.fake.set_permission(SECRET, "alice", "write")
    number: int = await world.actor("bob").open_issue(SECRET, SECRET_TITLE)
    return number


# -- who may name an issue in another repository ------------------------------------------------


async def test_blocks_in_a_repository_the_actor_cannot_see_is_refused_like_a_missing_issue(
    world: World, bot_factory: Any, secret: int
) -> None:
    mallory = world.actor("mallory")
    number = await mallory.open_issue(REPO, "Mine")
    async with bot_factory(world) as app:
        await mallory.comment(REPO, number, f"/blocks {SECRET}#{secret}")
        await mallory.comment(REPO, number, f"/blocks {SECRET}#{secret + 40}")  # no such issue
        await app.wait_idle()
        seen, missing = bot_comments(world, number)
        assert f"there is no issue {SECRET}#{secret} you can see" in seen
        assert f"there is no issue {SECRET}#{secret + 40} you can see" in missing
        said = [b.split("<!--")[0].replace(f"#{secret + 40}", "#N").replace(f"#{secret}", "#N") for b in (seen, missing)]
        assert said[0] == said[1]  # nothing tells them apart
        assert world.label_names(secret, SECRET) == [] and bot_comments(world, secret, SECRET) == []
        assert db_rows(app, "SELECT * FROM dependencies") == []


async def test_blocks_in_another_repository_needs_its_author_or_triage_there(
    world: World, bot_factory: Any, secret: int
) -> None:
    carol, bob = world.actor("carol"), world.actor("bob")  # carol: nothing there; bob: read there
    theirs = await carol.open_issue(REPO, "Carol's")
    mine = await bob.open_issue(REPO, "Bob's")
    other = await world.actor("alice").open_issue(SECRET, "Also secret")
    async with bot_factory(world) as app:
        await carol.comment(REPO, theirs, f"/blocks {SECRET}#{secret}")
        await bob.comment(REPO, mine, f"/blocks {SECRET}#{other}")  # reads there, but not its author
        await app.wait_idle()
        assert f"there is no issue {SECRET}#{secret} you can see" in bot_comments(world, theirs)[-1]
        assert f"there is no issue {SECRET}#{other} you can see" in bot_comments(world, mine)[-1]
        assert world.label_names(secret, SECRET) == world.label_names(other, SECRET) == []
        await bob.comment(REPO, mine, f"/blocks {SECRET}#{secret}")  # its author
        await world.actor("alice").comment(REPO, theirs, f"/blocks {SECRET}#{other}")  # write there
        await app.wait_idle()
        assert world.label_names(secret, SECRET) == world.label_names(other, SECRET) == ["status/blocked"]
        assert sorted(db_rows(app, "SELECT repo, number FROM dependencies")) == [(SECRET, secret), (SECRET, other)]


async def test_blocks_in_this_repository_needs_the_target_author_or_triage(world: World, bot_factory: Any) -> None:
    mallory, bob, alice = world.actor("mallory"), world.actor("bob"), world.actor("alice")  # none, read, write
    target = await world.actor("carol").open_issue(REPO, "Carol's work")
    bobs = await bob.open_issue(REPO, "Bob's work")
    sneaky = await mallory.open_issue(REPO, "Mine first")
    own = await bob.open_issue(REPO, "Bob's other work")
    release = await alice.open_issue(REPO, "Release")
    async with bot_factory(world) as app:
        await mallory.comment(REPO, sneaky, f"/blocks #{target}")  # would keep anyone from claiming it
        await bob.comment(REPO, own, f"/blocks #{target}")  # reads here, not its author
        await app.wait_idle()
        for number in (sneaky, own):
            assert f"only the author of #{target}, or triage access and up, can make it wait" in bot_comments(world, number)[-1]
        assert world.label_names(target) == [] and db_rows(app, "SELECT * FROM dependencies") == []
        await bob.comment(REPO, own, f"/blocks #{bobs}")  # his own issue
        await alice.comment(REPO, release, f"/blocks #{target}")  # write: triage and up
        await app.wait_idle()
        assert world.label_names(bobs) == world.label_names(target) == ["status/blocked"]
        assert sorted(db_rows(app, "SELECT number, dep_number FROM dependencies")) == sorted([(bobs, own), (target, release)])


async def test_depends_on_another_repository_needs_read_there(world: World, bot_factory: Any, secret: int) -> None:
    number = await world.actor("carol").open_issue(REPO, "Waits")
    async with bot_factory(world) as app:
        await world.actor("carol").comment(REPO, number, f"/depends-on {SECRET}#{secret}")  # nothing there
        await app.wait_idle()
        assert f"there is no issue {SECRET}#{secret} you can see" in bot_comments(world, number)[-1]
        assert world.label_names(number) == [] and db_rows(app, "SELECT * FROM dependencies") == []
        await world.actor("alice").comment(REPO, number, f"/depends-on {SECRET}#{secret}")
        await app.wait_idle()
        assert world.label_names(number) == ["status/blocked"]


# -- what the bot shows and follows --------------------------------------------------------------


async def test_the_status_comment_shows_no_title_from_another_repository(
    world: World, bot_factory: Any, secret: int
) -> None:
    alice = world.actor("alice")
    here = await alice.open_issue(REPO, "Local work")
    number = await alice.open_issue(REPO, "Waits")
    async with bot_factory(world) as app:
        await alice.comment(REPO, number, f"/depends-on {SECRET}#{secret} #{here}")
        await app.wait_idle()
        [status] = [b for b in bot_comments(world, number) if "### Dependencies" in b]
        assert f"- [ ] {SECRET}#{secret} (open)" in status and SECRET_TITLE not in status
        assert f"- [ ] #{here} Local work" in status


async def test_description_lines_naming_another_repository_need_read_there(
    world: World, bot_factory: Any, secret: int
) -> None:
    line = f"Depends on {SECRET}#{secret}"
    async with bot_factory(world) as app:
        ignored = await world.actor("mallory").open_issue(REPO, "Sneaky", body=line)
        followed = await world.actor("bob").open_issue(REPO, "Honest", body=line)
        await app.wait_idle()
        assert world.label_names(ignored) == [] and bot_comments(world, ignored) == []
        assert world.label_names(followed) == ["status/blocked"]
        # Someone who cannot read there edits the description: the line that was followed stays followed.
        await world.actor("carol").edit_issue(REPO, followed, body=f"{line}\nBlocked by #{ignored}")
        await app.wait_idle()
        rows = sorted(db_rows(app, "SELECT dep_repo, dep_number FROM dependencies WHERE number = ?", followed))
        assert rows == [(REPO, ignored), (SECRET, secret)]
        # ...and one they add naming that repository is not.
        await world.actor("carol").edit_issue(REPO, ignored, body=f"{line}\nthat was it")
        await app.wait_idle()
        assert db_rows(app, "SELECT * FROM dependencies WHERE number = ?", ignored) == []


# -- calls to the forge --------------------------------------------------------------------------


async def test_depends_on_and_blocks_read_each_issue_once(world: World, bot_factory: Any, secret: int) -> None:
    alice = world.actor("alice")
    here = await alice.open_issue(REPO, "Local work")
    number = await alice.open_issue(REPO, "Waits")
    async with bot_factory(world) as app:
        before = len(world.fake.requests)
        await alice.comment(REPO, number, f"/depends-on {SECRET}#{secret} #{here}")
        await app.wait_idle()
        assert world.label_names(number) == ["status/blocked"]
        assert issue_gets(world, SECRET, secret, before) == 1 and issue_gets(world, REPO, here, before) == 1
        before = len(world.fake.requests)
        await alice.comment(REPO, here, f"/blocks {SECRET}#{secret}")
        await app.wait_idle()
        assert world.label_names(secret, SECRET) == ["status/blocked"]
        assert issue_gets(world, SECRET, secret, before) == 1


async def test_the_sweep_skips_closed_issues_without_the_blocked_label(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    first = await alice.open_issue(REPO, "First")
    done = await alice.open_issue(REPO, "Done early")
    held = await alice.open_issue(REPO, "Closed while blocked")
    async with bot_factory(world) as app:
        await alice.comment(REPO, done, f"/depends-on #{first}")
        await alice.comment(REPO, held, f"/depends-on #{first}")
        await app.wait_idle()
        await alice.remove_label(REPO, done, "status/blocked")
        await alice.close_issue(REPO, done)
        await alice.close_issue(REPO, held)  # keeps the label
        world.fake.stop_webhooks()
        await alice.close_issue(REPO, first)  # the bot never hears of it
        before = len(world.fake.requests)
        assert await app.scheduler.run_job("dependency-sweep")
        assert world.label_names(held) == []  # a closed issue with the label still heals
        comment_reads = [r for r in world.fake.requests[before:] if r.path == f"/repos/{REPO}/issues/{done}/comments"]
        assert comment_reads == [] and issue_gets(world, REPO, first, before) == 1  # for `held` alone
