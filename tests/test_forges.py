"""The Forge protocol's contract: every operation, on GitHub and on Gitea, against the emulator.

Each test reads back through the emulator's own state (what the platform now holds), not only
through the client, so a client that merely returns what it sent would fail.
"""

from __future__ import annotations

from datetime import date

import pytest

from bot.forges.base import (
    BranchProtection,
    CommitStatus,
    Conflict,
    Forge,
    Hook,
    Invalid,
    Label,
    MergeMethod,
    Milestone,
    NotFound,
    Permission,
    PermissionDenied,
    RepoSettings,
    ReviewEvent,
    StatusState,
    Unsupported,
)
from tests.conftest import BOT, REPO, World

pytestmark = pytest.mark.anyio


async def test_the_client_is_a_forge(world: World) -> None:
    assert isinstance(world.client, Forge) and world.client.platform == world.platform
    assert (await world.client.whoami()).login == BOT
    assert REPO in [r.full_name for r in await world.client.list_repositories()]
    repo = await world.client.get_repo(REPO)
    assert (repo.default_branch, repo.private, repo.owner, repo.name) == ("main", False, "acme", "widgets")


async def test_read_file_at_a_ref(world: World) -> None:
    await world.actor("alice").push(REPO, "feature", {"docs/a.md": "on feature"})
    readme = await world.client.read_file(REPO, "README.md")
    assert readme is not None and readme.content == b"# widgets\n" and readme.sha
    assert (await world.client.read_file(REPO, "docs/a.md", "feature")).content == b"on feature"  # type: ignore[union-attr]
    assert await world.client.read_file(REPO, "docs/a.md") is None
    assert await world.client.read_file(REPO, "nope.txt") is None


async def test_label_lifecycle(world: World) -> None:
    client = world.client
    created = await client.create_label(REPO, Label("bug", "#D73A4A", "Broken"))
    assert (created.name, created.color, created.description) == ("bug", "d73a4a", "Broken")
    with pytest.raises(Conflict):
        await client.create_label(REPO, Label("bug", "ffffff"))
    renamed = await client.update_label(REPO, "bug", Label("kind/bug", "ff0000", "Broken"))
    assert renamed.name == "kind/bug"
    assert [(l.name, l.color) for l in world.state().labels.values()] == [("kind/bug", "ff0000")]
    assert [l.name for l in await client.list_labels(REPO)] == ["kind/bug"]
    await client.delete_label(REPO, "kind/bug")
    assert world.state().labels == {}
    with pytest.raises(NotFound):
        await client.delete_label(REPO, "kind/bug")


async def test_issue_labels_assignees_and_state(world: World) -> None:
    client = world.client
    number = await world.actor("alice").open_issue(REPO, "Widget breaks", "It does")
    for name in ("bug", "docs", "status/claimed"):
        await client.create_label(REPO, Label(name))
    assert set(await client.add_labels(REPO, number, ["bug", "status/claimed"])) >= {"bug", "status/claimed"}
    await client.remove_label(REPO, number, "status/claimed")
    assert world.label_names(number) == ["bug"]

    assert set(await client.add_assignees(REPO, number, ["alice"])) == {"alice"}
    await client.add_assignees(REPO, number, ["carol"])
    assert sorted(await client.remove_assignees(REPO, number, ["alice"])) == ["carol"]
    assert sorted(world.state().issue(number).assignees) == ["carol"]
    assert sorted(await client.set_assignees(REPO, number, ["alice"])) == ["alice"]

    issue = await client.get_issue(REPO, number)
    assert (issue.title, issue.author, issue.labels, issue.state, issue.is_pull) == ("Widget breaks", "alice", ("bug",), "open", False)
    edited = await client.edit_issue(REPO, number, body="It really does")
    assert edited.body == "It really does" and world.state().issue(number).body == "It really does"
    assert (await client.close_issue(REPO, number)).state == "closed"
    assert world.state().issue(number).state == "closed"
    assert (await client.reopen_issue(REPO, number)).state == "open"


async def test_listing_issues_by_label(world: World) -> None:
    alice = world.actor("alice")
    await world.client.create_label(REPO, Label("ready"))
    first = await alice.open_issue(REPO, "one", labels=["ready"])
    await alice.open_issue(REPO, "two")
    third = await alice.open_issue(REPO, "three", labels=["ready"])
    await world.client.close_issue(REPO, third)
    assert [i.number for i in await world.client.list_issues(REPO, labels=["ready"])] == [first]
    assert {i.number for i in await world.client.list_issues(REPO, state="all", labels=["ready"])} == {first, third}


async def test_comments_carry_their_author_and_take_reactions(world: World) -> None:
    number = await world.actor("alice").open_issue(REPO, "Talk")
    await world.actor("alice").comment(REPO, number, "first")
    mine = await world.client.create_comment(REPO, number, "from the bot")
    edited = await world.client.edit_comment(REPO, mine.id, "edited by the bot")
    assert edited.body == "edited by the bot"
    comments = await world.client.list_comments(REPO, number)
    assert [(c.author, c.body) for c in comments] == [("alice", "first"), (BOT, "edited by the bot")]
    await world.client.add_reaction(REPO, comments[0].id, "+1")
    await world.client.add_reaction(REPO, comments[0].id, "+1")  # again: still one
    reactions = world.state().comments[comments[0].id].reactions
    assert [(r.user, r.content) for r in reactions] == [(BOT, "+1")]


@pytest.mark.parametrize(("level", "expected"), [("read", Permission.READ), ("write", Permission.WRITE), ("admin", Permission.ADMIN)])
async def test_permission_levels(world: World, level: str, expected: Permission) -> None:
    world.fake.set_permission(REPO, "bob", level)
    assert await world.client.get_permission(REPO, "bob") == expected
    assert await world.client.get_permission(REPO, "mallory") == Permission.READ  # anyone may read a public repository


async def test_triage_exists_only_where_the_platform_has_it(world: World) -> None:
    seen = await world.client.get_permission(REPO, "carol")
    assert seen == (Permission.TRIAGE if world.client.capabilities.triage_level else Permission.READ)


async def test_pull_requests_reviews_and_merge(world: World) -> None:
    alice, client = world.actor("alice"), world.client
    head_sha = await alice.push(REPO, "feature", {"src/w.py": "print(1)\n"})
    number = await alice.open_pr(REPO, "feature", "main", "Add w", "Body")
    pull = await client.get_pull(REPO, number)
    assert (pull.head_ref, pull.head_sha, pull.base_ref, pull.merged, pull.author) == ("feature", head_sha, "main", False, "alice")
    assert [p.number for p in await client.list_pulls(REPO, head="acme:feature")] == [number]
    assert await client.list_pulls(REPO, head="acme:other") == []
    assert await client.list_pull_files(REPO, number) == ["src/w.py"]
    review = await client.create_review(REPO, number, ReviewEvent.APPROVE, "Looks good")
    assert review.state == "approved"
    stored = [r.state for r in world.state().issue(number).pull.reviews]
    assert stored == ["APPROVED"]  # a real approval, not a pending review
    merge_sha = await client.merge_pull(REPO, number, MergeMethod.SQUASH)
    assert (await client.get_pull(REPO, number)).merged
    assert world.state().git.resolve("refs/heads/main") == merge_sha
    assert (await client.read_file(REPO, "src/w.py")).content == b"print(1)\n"  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        await client.merge_pull(REPO, number, MergeMethod.MERGE)


async def test_branches_compare_refs_and_tags(world: World) -> None:
    client = world.client
    main = (await client.get_repo(REPO)).default_branch
    base_sha = next(b.sha for b in await client.list_branches(REPO) if b.name == main)
    created = await client.create_branch(REPO, "topic", base_sha)
    assert created.name == "topic" and created.sha == base_sha
    await world.actor("alice").push(REPO, "topic", {"x": "1"})
    await world.actor("alice").push(REPO, "topic", {"y": "2"})
    branches = {b.name: b for b in await client.list_branches(REPO, with_dates=True)}
    assert set(branches) == {"main", "topic"} and branches["topic"].committed_at is not None
    comparison = await client.compare(REPO, "main", "topic")
    assert comparison.total_commits == 2
    if client.capabilities.compare_ahead_behind:
        assert (comparison.ahead_by, comparison.behind_by, comparison.status) == (2, 0, "ahead")
    else:
        assert comparison.ahead_by is None and comparison.status is None
    await client.create_tag(REPO, "archive/topic", branches["topic"].sha, "kept before deleting")
    assert world.state().git.resolve("refs/tags/archive/topic") is not None
    await client.delete_branch(REPO, "topic")
    assert [b.name for b in await client.list_branches(REPO)] == ["main"]
    with pytest.raises(Conflict):
        await client.create_branch(REPO, "main", base_sha)


async def test_listing_branches_is_one_request_unless_dates_are_wanted(world: World) -> None:
    sha = next(b.sha for b in await world.client.list_branches(REPO))
    for n in range(5):
        await world.client.create_branch(REPO, f"topic-{n}", sha)
    await world.actor("alice").push(REPO, "topic-0", {"x": "1"})  # a second distinct head
    seen = len(world.fake.requests)
    branches = await world.client.list_branches(REPO)
    assert len(branches) == 6 and len(world.fake.requests) - seen == 1
    # Dates come free with Gitea's listing; GitHub's cost one lookup per distinct head, on request.
    assert all(b.committed_at is not None for b in branches) is world.client.capabilities.branch_commit_dates
    seen = len(world.fake.requests)
    dated = await world.client.list_branches(REPO, with_dates=True)
    assert all(b.committed_at is not None for b in dated)
    assert len(world.fake.requests) - seen == (1 if world.client.capabilities.branch_commit_dates else 1 + 2)


async def test_branch_protection(world: World) -> None:
    client = world.client
    assert await client.get_protection(REPO, "main") is None
    wanted = BranchProtection("main", required_approvals=2, dismiss_stale_approvals=True, required_status_checks=("ci/test",),
                              enforce_admins=True, allow_force_push=False, push_allowlist=("alice",))
    if world.platform == "gitea":  # the emulator is Gitea 1.22, which has no block_admin_merge_override
        with pytest.raises(Unsupported, match=r"not supported by Gitea 1\.22: enforce_admins.*the rest was applied"):
            await client.set_protection(REPO, wanted)
    else:
        await client.set_protection(REPO, wanted)
    got = await client.get_protection(REPO, "main")
    assert got is not None
    assert (got.required_approvals, got.dismiss_stale_approvals, got.required_status_checks, got.enforce_admins, got.allow_force_push) == (
        2, True, ("ci/test",), world.platform == "github", False)
    assert got.push_allowlist == ("alice",)
    assert next(b for b in await client.list_branches(REPO) if b.name == "main").protected
    await client.set_protection(REPO, BranchProtection("main", required_approvals=1))
    assert (await client.get_protection(REPO, "main")).required_approvals == 1  # type: ignore[union-attr]
    await client.remove_protection(REPO, "main")
    assert await client.get_protection(REPO, "main") is None


async def test_settings_and_topics(world: World) -> None:
    client = world.client
    updated = await client.update_settings(REPO, RepoSettings(description="Widgets", homepage="https://w.test", has_wiki=False,
                                                              allow_rebase_merge=False, delete_branch_on_merge=True))
    assert (updated.description, updated.has_wiki, updated.delete_branch_on_merge) == ("Widgets", False, True)
    again = await client.get_settings(REPO)
    assert (again.homepage, again.allow_rebase_merge, again.has_issues) == ("https://w.test", False, True)
    assert world.state().description == "Widgets"
    assert await client.set_topics(REPO, ["python", "bots"]) in (("bots", "python"), ("python", "bots"))
    assert sorted(await client.get_topics(REPO)) == ["bots", "python"]


async def test_milestones(world: World) -> None:
    client = world.client
    made = await client.create_milestone(REPO, Milestone("v1.0", "First", date(2026, 12, 31)))
    assert made.id is not None and made.due_on == date(2026, 12, 31)
    changed = await client.update_milestone(REPO, made.id, Milestone("v1.0", "First release", date(2027, 1, 31)))
    assert changed.description == "First release"
    closed = await client.close_milestone(REPO, made.id)
    assert closed.state == "closed"
    assert [(m.title, m.state) for m in await client.list_milestones(REPO)] == [("v1.0", "closed")]


async def test_collaborators(world: World) -> None:
    client = world.client
    await client.add_collaborator(REPO, "mallory", Permission.WRITE)
    if world.platform == "github":  # GitHub invites; the invitee is a collaborator once they accept
        assert "mallory" not in {c.login for c in await client.list_collaborators(REPO)}
        [invitation] = await client.list_invitations(REPO)
        assert (invitation.login, invitation.permission) == ("mallory", Permission.WRITE)
        world.actor("mallory").accept_invitation(REPO)
    assert await client.list_invitations(REPO) == []  # Gitea adds at once
    listed = {c.login: c.permission for c in await client.list_collaborators(REPO)}
    assert listed["mallory"] == Permission.WRITE and listed["alice"] == Permission.WRITE
    assert world.state().collaborators["mallory"] == "write"
    await client.add_collaborator(REPO, "mallory", Permission.READ)  # an existing collaborator: at once
    assert {c.login: c.permission for c in await client.list_collaborators(REPO)}["mallory"] == Permission.READ
    await client.remove_collaborator(REPO, "mallory")
    assert "mallory" not in {c.login for c in await client.list_collaborators(REPO)}


async def test_webhooks(world: World) -> None:
    client = world.client
    hook = await client.create_hook(REPO, Hook("https://ci.test/hook", ("push",)), secret="s3cret")
    assert hook.id is not None and hook.active
    stored = world.state().hooks[hook.id]
    assert stored.config["secret"] == "s3cret" and stored.config["content_type"] == "json"
    updated = await client.update_hook(REPO, hook.id, Hook("https://ci.test/hook", ("push", "pull_request"), active=False))
    assert set(updated.events) == {"push", "pull_request"} and not updated.active
    assert [h.url for h in await client.list_hooks(REPO)] == ["https://ci.test/hook"]
    await client.delete_hook(REPO, hook.id)
    assert await client.list_hooks(REPO) == []


async def test_commit_status(world: World) -> None:
    sha = world.state().git.resolve("refs/heads/main")
    await world.client.set_status(REPO, sha, CommitStatus(StatusState.FAILURE, "forgebot/config", "2 problems"))
    [status] = world.state().statuses
    assert (status.sha, status.state, status.context, status.description) == (sha, "failure", "forgebot/config", "2 problems")


async def test_paging_past_one_page(world: World) -> None:
    for n in range(130):  # past GitHub's 100 and Gitea's 50 per page
        await world.client.create_label(REPO, Label(f"label-{n:03}"))
    assert [l.name for l in await world.client.list_labels(REPO)] == [f"label-{n:03}" for n in range(130)]


async def test_errors_come_out_as_the_protocol_s_own(world: World) -> None:
    client = world.client
    with pytest.raises(NotFound):
        await client.get_issue(REPO, 999)
    with pytest.raises(NotFound):
        await client.get_repo("acme/nothing-here")
    with pytest.raises(Invalid):
        await client.create_label(REPO, Label("bad", "not-a-colour"))
    stranger = world.make_client("mallory")
    with pytest.raises((PermissionDenied, NotFound)):
        await stranger.create_label(REPO, Label("x"))
    with pytest.raises(Exception) as caught:
        await stranger.update_settings(REPO, RepoSettings(description="mine"))
    assert world.fake.token("mallory") not in str(caught.value)
    assert isinstance(caught.value, PermissionDenied | NotFound)


async def test_faults_are_retried_and_then_reported(world: World) -> None:
    from bot.forges.base import Unavailable

    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    client = world.make_client(BOT, sleep=no_sleep)
    world.fake.faults.add(method="GET", path="/repos/{owner}/{repo}/labels", status=502, times=2)
    assert await client.list_labels(REPO) == []
    assert len(waits) == 2  # two backoffs, no real sleeping
    world.fake.faults.add(method="GET", path="/repos/{owner}/{repo}/labels", status=503, times=50)
    with pytest.raises(Unavailable):
        await client.list_labels(REPO)
