"""Where GitHub and Gitea answer unkindly (a 500 for a refusal, a 403 for a question, a 404 for
"closed"), the emulator answers the same, and the bot's clients turn each answer into a clear
error or the state as it is, without repeating the write."""

from __future__ import annotations

from typing import Any

import pytest

from bot.forges.base import CommitStatus, Conflict, MergeMethod, NotFound, StatusState, Unavailable
from tests.conftest import BOT, REPO, World, db_rows

pytestmark = pytest.mark.anyio

SECRET_REPO = "acme/secret"
UNKNOWN_SHA = "0123456789abcdef0123456789abcdef01234567"


def writes(world: World, method: str, route_end: str) -> list[Any]:
    return [r for r in world.fake.requests if r.method == method and (r.route or r.path).endswith(route_end)]


async def private_repo_with_a_lapsed_reader(world: World) -> int:
    """acme/secret, private; mallory could read it and cannot any more. Returns an issue number."""
    world.fake.create_repo(SECRET_REPO, private=True, files={"README.md": "hush\n"})
    world.fake.set_permission(SECRET_REPO, BOT, "admin")
    world.fake.set_permission(SECRET_REPO, "alice", "write")
    number: int = await world.actor("alice").open_issue(SECRET_REPO, "Fix")
    return number


# -- 1. assignees --------------------------------------------------------------------------------


@pytest.mark.parametrize("world", ["gitea"], indirect=True)  # GitHub drops whom it cannot assign; the next test covers both
async def test_gitea_answers_500_for_an_assignee_it_cannot_assign_after_changing_the_others(world: World) -> None:
    """routers/api/v1/repo/issue.go EditIssue: any UpdateAssignees error but an unknown user is a 500,
    and UpdateAssignees has already removed the assignees not asked for."""
    number = await private_repo_with_a_lapsed_reader(world)
    world.fake.set_permission(SECRET_REPO, "bob", "write")
    await world.actor("alice").assign(SECRET_REPO, number, "bob")
    headers = {"Authorization": f"token {world.fake.token(BOT)}"}
    url = f"/api/v1/repos/{SECRET_REPO}/issues/{number}"
    refused = await world.http.patch(url, json={"assignees": ["alice", "mallory"]}, headers=headers)
    assert refused.status_code == 500 and "does not have access" in refused.json()["message"]
    assert world.state(SECRET_REPO).issue(number).assignees == ["alice"]  # bob gone, alice added, then the stop
    unknown = await world.http.patch(url, json={"assignees": ["nobody-at-all"]}, headers=headers)
    assert unknown.status_code == 422 and world.state(SECRET_REPO).issue(number).assignees == ["alice"]


async def test_an_assignment_the_platform_refuses_returns_the_assignees_it_kept(world: World) -> None:
    number = await private_repo_with_a_lapsed_reader(world)
    world.fake.requests.clear()
    assert await world.client.add_assignees(SECRET_REPO, number, ["mallory"]) == ()
    assert await world.client.add_assignees(SECRET_REPO, number, ["nobody-at-all"]) == ()
    assert world.state(SECRET_REPO).issue(number).assignees == []
    if world.platform == "gitea":  # one PATCH each, then the issue read back: never the same write again
        assert [r.status for r in writes(world, "PATCH", "/issues/{index}")] == [500, 422]


# -- 6. who may see permissions -----------------------------------------------------------------


@pytest.mark.parametrize("world", ["github"], indirect=True)  # Gitea's rule (admins, or one's own) was already the emulator's
async def test_github_shows_permissions_only_to_those_who_can_push(world: World) -> None:
    headers = {"Authorization": f"token {world.fake.token('bob')}"}  # bob can read acme/widgets
    answer = await world.http.get(f"/api/v3/repos/{REPO}/collaborators/alice/permission", headers=headers)
    assert answer.status_code == 403
    assert answer.json()["message"] == "Must have push access to view collaborator permission."
    mine = await world.http.get(f"/api/v3/repos/{REPO}/collaborators/bob/permission", headers=headers)
    assert mine.status_code == 403  # not even one's own


async def test_a_bot_that_may_not_see_permissions_says_what_access_it_needs(
    world: World, bot_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # GitHub needs push access to show a level; Gitea shows others' levels to repository admins only.
    world.fake.set_permission(REPO, BOT, "read" if world.platform == "github" else "write")
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        world.fake.requests.clear()
        await world.actor("carol").comment(REPO, number, "/close")  # triage: the bot must ask the platform
        await app.wait_idle()
        state = world.state()
        [reply] = [state.comments[c].body for c in state.issue(number).comments if state.comments[c].user == BOT]
        needed = "write access" if world.platform == "github" else "admin access"
        assert f"forgebot cannot see who may do what in {REPO}" in reply and f"give forgebot {needed} to {REPO}" in reply
        assert state.issue(number).state == "open"
        asked = [r for r in world.fake.requests if (r.route or "").endswith("/permission")]
        assert len(asked) == 1  # asked once, answered once: not a failure retried to the attempt limit
        assert db_rows(app, "SELECT status, attempts FROM deliveries WHERE event = 'issue_comment' AND attempts > 0") == [("done", 1)]
        [logged] = [r for r in caplog.records if r.getMessage() == "cannot read permissions"]
        assert f"give forgebot {needed} to {REPO}" in logged.__dict__["error"]


# -- 7. unknown commits, closed pull requests ---------------------------------------------------


async def test_a_status_for_a_commit_the_repository_lacks_is_not_found_after_one_try(world: World) -> None:
    world.fake.requests.clear()
    with pytest.raises(NotFound):
        await world.client.set_status(REPO, UNKNOWN_SHA, CommitStatus(StatusState.SUCCESS, "ci/test", "ok"))
    posts = writes(world, "POST", "/statuses/{sha}")
    # Gitea: NewCommitStatus answers GetCommit's failure with a 500 (routers/api/v1/repo/status.go).
    assert [r.status for r in posts] == [500 if world.platform == "gitea" else 422]


@pytest.mark.parametrize("world", ["gitea"], indirect=True)  # GitHub's 5xx are retried: a repeated status supersedes its context's, harmlessly
async def test_gitea_checks_a_status_answered_500_instead_of_posting_it_again(world: World) -> None:
    sha = world.state().git.branches()["main"]
    await world.client.set_status(REPO, sha, CommitStatus(StatusState.SUCCESS, "ci/test", "ok"))
    world.fake.requests.clear()
    world.fake.faults.add("POST", "/repos/{owner}/{repo}/statuses/{sha}", status=500, times=2)
    # The same status is there already: the check finds it, and that is success.
    await world.client.set_status(REPO, sha, CommitStatus(StatusState.SUCCESS, "ci/test", "ok"))
    # Another one is not: the 500 stands, and the POST was sent once.
    with pytest.raises(Unavailable):
        await world.client.set_status(REPO, sha, CommitStatus(StatusState.FAILURE, "ci/test", "broken"))
    assert len([r for r in world.fake.requests if r.method == "POST"]) == 2
    assert [s.state for s in world.state().statuses if s.context == "ci/test"] == ["success"]


async def test_a_branch_from_a_commit_the_repository_lacks_is_not_found_after_one_try(world: World) -> None:
    world.fake.requests.clear()
    with pytest.raises(NotFound):
        await world.client.create_branch(REPO, "from-nowhere", UNKNOWN_SHA)
    route = "/branches" if world.platform == "gitea" else "/git/refs"
    # Gitea: CreateBranch answers GetCommit(old_ref_name)'s failure with a 500 (routers/api/v1/repo/branch.go).
    assert [r.status for r in writes(world, "POST", route)] == [500 if world.platform == "gitea" else 422]
    assert "from-nowhere" not in world.state().git.branches()


async def test_merging_a_closed_pull_request_is_a_conflict(world: World) -> None:
    await world.actor("alice").push(REPO, "feature", {"f.py": "1\n"})
    number = await world.actor("alice").open_pr(REPO, "feature")
    await world.actor("alice").close_issue(REPO, number)
    world.fake.requests.clear()
    with pytest.raises(Conflict, match="closed|not mergeable"):
        await world.client.merge_pull(REPO, number, MergeMethod.MERGE)
    [attempt] = [r for r in world.fake.requests if r.method in ("POST", "PUT")]
    # Gitea: MergePullRequest answers ErrIsClosed with a bare 404 (routers/api/v1/repo/pull.go).
    assert attempt.status == (404 if world.platform == "gitea" else 405)
    assert not world.state().issue(number).pull.merged


async def test_gitea_merge_of_an_unknown_pull_request_stays_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await world.client.merge_pull(REPO, 999, MergeMethod.MERGE)
