"""GiteaForge against the emulator's Gitea dialect: the behaviour that is Gitea's own.

Labels by id, assignees as a whole list, APPROVED, PRs found by listing, /branches, paging,
retries (with an injected sleep: nothing here really waits), error mapping, token hygiene.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.forges.base import (
    BranchProtection,
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
    Unavailable,
    Unsupported,
)
from bot.forges.common import retry_after_seconds
from bot.forges.gitea import GiteaForge
from tests.fakeforge import FakeForge, LoggedRequest

pytestmark = pytest.mark.anyio

BASE = "http://fakeforge"
NOW = 1_700_000_000.0
REPO = "owner/widgets"


class Sleeps:
    """The injected sleep: records what would have been waited, waits for nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class FailingTransport(httpx.AsyncBaseTransport):
    """Raises `errors` (one per request, in order), then passes requests to the emulator."""

    def __init__(self, app: Any, errors: Sequence[httpx.TransportError]) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.errors = list(errors)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.errors:
            raise self.errors.pop(0)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def forge(tmp_path: Path) -> FakeForge:
    f = FakeForge(tmp_path / "forge", clock=lambda: NOW)
    for login in ("owner", "alice", "bob", "carol"):
        f.add_user(login)
    f.create_repo(REPO, files={"README.md": "# widgets\n", "docs/guide.md": "guide\n"})
    f.set_permission(REPO, "alice", "write")
    f.set_permission(REPO, "bob", "write")
    return f


@contextlib.asynccontextmanager
async def gitea(forge: FakeForge, login: str = "owner", *, token: str | None = None,
                transport: httpx.AsyncBaseTransport | None = None, **options: Any) -> AsyncIterator[GiteaForge]:
    options.setdefault("sleep", Sleeps())
    options.setdefault("clock", lambda: NOW)
    async with httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=forge.app), base_url=BASE) as http:
        client = GiteaForge(base_url=BASE, token=token or forge.token(login), http=http, **options)
        try:
            yield client
        finally:
            await client.aclose()


def calls(forge: FakeForge, method: str | None = None, end: str = "") -> list[LoggedRequest]:
    """Gitea requests by method and by the end of their route (their path, if a fault answered)."""
    return [r for r in forge.requests if r.platform == "gitea" and (method is None or r.method == method)
            and (r.route or r.path).endswith(end)]


def issue_labels(forge: FakeForge, number: int) -> list[str]:
    repo = forge.repo(REPO)
    issue = repo.issue(number)
    assert issue is not None
    return [repo.labels[x].name for x in issue.labels]


async def open_pull(forge: FakeForge, branch: str, author: str = "alice") -> int:
    actor = forge.actor(author)
    await actor.push(REPO, branch, {f"{branch}.txt": f"{branch}\n"}, f"add {branch}")
    return await actor.open_pr(REPO, branch, title=f"Add {branch}")


# -- the protocol, paging --------------------------------------------------------------------------


async def test_gitea_forge_implements_the_protocol(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        assert isinstance(client, Forge)
        assert client.platform == "gitea"
        assert not client.capabilities.triage_level and not client.capabilities.compare_ahead_behind
        assert client.capabilities.branch_commit_dates and client.capabilities.protection_push_allowlist


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (50, 1), (100, 2), (120, 3)])
async def test_lists_follow_pages_of_fifty_until_the_total_count(forge: FakeForge, count: int, pages: int) -> None:
    repo = forge.repo(REPO)
    for i in range(count):
        forge.ops.create_label(repo, "owner", f"label-{i:03}", "ededed")
    async with gitea(forge) as client:
        labels = await client.list_labels(REPO)
    assert [lb.name for lb in labels] == [f"label-{i:03}" for i in range(count)]
    requests = calls(forge, "GET", "/labels")
    assert [r.query for r in requests] == [{"page": str(p), "limit": "50"} for p in range(1, pages + 1)]


async def test_without_a_total_count_a_short_page_ends_the_list(forge: FakeForge) -> None:
    # A proxy (or an older server) that drops X-Total-Count and Link: 30 < 50 means the end.
    page = [{"id": i, "name": f"label-{i}", "color": "ededed"} for i in range(30)]
    forge.faults.add("GET", "/repos/{owner}/{repo}/labels", status=200, body=page, times=1)
    async with gitea(forge) as client:
        assert len(await client.list_labels(REPO)) == 30
    assert len(calls(forge, "GET", "/labels")) == 1


# -- labels: by id, through a name -> id map -------------------------------------------------------------


async def test_label_renamed_through_the_api_is_added_by_its_new_name(forge: FakeForge) -> None:
    number = await forge.actor("alice").open_issue(REPO, "It crashes")
    async with gitea(forge) as client:
        created = await client.create_label(REPO, Label("bug", "#D73A4A", "broken"))
        renamed = await client.update_label(REPO, "bug", Label("defect", "d73a4a", "broken"))
        forge.requests.clear()
        assert await client.add_labels(REPO, number, ["defect"]) == ("defect",)

    assert created.color == "d73a4a" and renamed.id == created.id and renamed.name == "defect"
    # The map followed the rename: no new GET /labels, and the POST carries ids only.
    assert [(r.method, r.route) for r in calls(forge)] == [("POST", "/repos/{owner}/{repo}/issues/{index}/labels")]
    assert calls(forge, "POST")[0].json == {"labels": [created.id]}
    assert issue_labels(forge, number) == ["defect"]


async def test_label_created_by_someone_else_is_found(forge: FakeForge) -> None:
    number = await forge.actor("alice").open_issue(REPO, "Not a bug")
    async with gitea(forge) as client:
        assert await client.list_labels(REPO) == []
        label_id = await forge.actor("alice").create_label(REPO, "wontfix")
        forge.requests.clear()
        assert await client.add_labels(REPO, number, ["WontFix"]) == ("wontfix",)

    assert [(r.method, r.route) for r in calls(forge)] == [
        ("GET", "/repos/{owner}/{repo}/labels"), ("POST", "/repos/{owner}/{repo}/issues/{index}/labels")]
    assert calls(forge, "POST")[0].json == {"labels": [label_id]}


async def test_label_recreated_behind_our_back_is_looked_up_again(forge: FakeForge) -> None:
    repo = forge.repo(REPO)
    number = await forge.actor("alice").open_issue(REPO, "Flaky")
    async with gitea(forge) as client:
        old = await client.create_label(REPO, Label("bug"))
        await client.list_labels(REPO)  # the map now says bug -> old.id
        assert old.id is not None
        forge.ops.delete_label(repo, repo.labels[old.id], "alice")
        new = forge.ops.create_label(repo, "alice", "bug", "ff0000")
        # Gitea ignores the stale id; the answer lacks "bug", so the map is read again.
        assert await client.add_labels(REPO, number, ["bug"]) == ("bug",)
        assert [r.json for r in calls(forge, "POST", "/issues/{index}/labels")] == [
            {"labels": [old.id]}, {"labels": [new.id]}]

        forge.ops.delete_label(repo, new, "alice")
        newest = forge.ops.create_label(repo, "alice", "bug", "00ff00")
        await forge.actor("alice").add_label(REPO, number, "bug")
        forge.requests.clear()
        # A stale id in DELETE /issues/{n}/labels/{id} is a 422: read the map again, once.
        await client.remove_label(REPO, number, "bug")

    assert [(r.method, r.path.rsplit("/", 1)[-1], r.status) for r in calls(forge, "DELETE")] == [
        ("DELETE", str(new.id), 422), ("DELETE", str(newest.id), 204)]
    assert issue_labels(forge, number) == []


async def test_deleting_a_label_recreated_behind_our_back_deletes_the_new_one(forge: FakeForge) -> None:
    repo = forge.repo(REPO)
    async with gitea(forge) as client:
        old = await client.create_label(REPO, Label("bug"))
        assert old.id is not None
        forge.ops.delete_label(repo, repo.labels[old.id], "alice")
        new = forge.ops.create_label(repo, "alice", "bug", "ff0000")
        # Gitea answers 204 for the old id and deletes nothing, so the ids are read first.
        await client.delete_label(REPO, "bug")
    assert repo.labels == {}
    assert calls(forge, "DELETE")[0].path.endswith(f"/labels/{new.id}")


async def test_a_second_label_of_the_same_name_is_a_conflict(forge: FakeForge) -> None:
    await forge.actor("alice").create_label(REPO, "bug")
    async with gitea(forge) as client:
        with pytest.raises(Conflict, match="Bug"):
            await client.create_label(REPO, Label("Bug", "ffffff"))  # Gitea itself would make a second one
    assert calls(forge, "POST") == [] and len(forge.repo(REPO).labels) == 1


async def test_an_unknown_label_is_not_found_and_the_issue_is_untouched(forge: FakeForge) -> None:
    number = await forge.actor("alice").open_issue(REPO, "Question")
    async with gitea(forge) as client:
        with pytest.raises(NotFound, match="no-such-label"):
            await client.add_labels(REPO, number, ["no-such-label"])
    assert calls(forge, "POST") == []
    assert issue_labels(forge, number) == []


# -- assignees: PATCH the issue with the whole list ----------------------------------------------------


async def test_assignees_are_replaced_as_a_whole_list_without_losing_others(forge: FakeForge) -> None:
    number = await forge.actor("alice").open_issue(REPO, "Refactor")
    await forge.actor("alice").assign(REPO, number, "alice")
    async with gitea(forge) as client:
        forge.requests.clear()
        assert await client.add_assignees(REPO, number, ["bob"]) == ("alice", "bob")
        assert [(r.method, r.route) for r in calls(forge)] == [
            ("GET", "/repos/{owner}/{repo}/issues/{index}"), ("PATCH", "/repos/{owner}/{repo}/issues/{index}")]
        assert calls(forge, "PATCH")[0].json == {"assignees": ["alice", "bob"]}

        forge.requests.clear()
        assert await client.add_assignees(REPO, number, ["Bob"]) == ("alice", "bob")
        assert calls(forge, "PATCH") == []  # nothing to change, nothing sent

        assert await client.remove_assignees(REPO, number, ["alice"]) == ("bob",)
    assert forge.repo(REPO).issues[number].assignees == ["bob"]
    assert not any("assignees" in r.path for r in forge.requests)


async def test_issues_comments_and_reactions(forge: FakeForge) -> None:
    number = await forge.actor("alice").open_issue(REPO, "Docs are thin", "Please add more")
    await forge.actor("alice").open_issue(REPO, "Other")
    async with gitea(forge) as client:
        await client.create_label(REPO, Label("docs", "0075ca"))
        await client.add_labels(REPO, number, ["docs"])
        assert [i.number for i in await client.list_issues(REPO, labels=["docs"])] == [number]
        assert calls(forge, "GET", "/issues")[-1].query["labels"] == "docs"
        edited = await client.edit_issue(REPO, number, title="Docs are too thin")
        assert (edited.title, edited.body, edited.labels) == ("Docs are too thin", "Please add more", ("docs",))
        assert (await client.close_issue(REPO, number)).state == "closed"
        assert (await client.reopen_issue(REPO, number)).state == "open"

        comment = await client.create_comment(REPO, number, "On it")
        assert (await client.edit_comment(REPO, comment.id, "On it now")).body == "On it now"
        assert [c.body for c in await client.list_comments(REPO, number)] == ["On it now"]
        await client.add_reaction(REPO, comment.id, "rocket")
        await client.add_reaction(REPO, comment.id, "rocket")  # 200 the second time
        with pytest.raises(Invalid):
            await client.add_reaction(REPO, comment.id, "thumbsup")

        await client.delete_label(REPO, "docs")
        assert (await client.get_issue(REPO, number)).labels == ()
        with pytest.raises(Invalid):
            await client.list_issues(REPO, state="merged")
    assert [r.user for r in forge.repo(REPO).comments[comment.id].reactions] == ["owner"]
    assert [r.status for r in calls(forge, "POST", "/reactions")] == [201, 200]


# -- reviews, pull requests, branches --------------------------------------------------------------------


@pytest.mark.parametrize(("event", "sent", "state"), [
    (ReviewEvent.APPROVE, "APPROVED", "approved"),
    (ReviewEvent.REQUEST_CHANGES, "REQUEST_CHANGES", "changes_requested"),
    (ReviewEvent.COMMENT, "COMMENT", "commented"),
])
async def test_reviews_use_giteas_spelling(forge: FakeForge, event: ReviewEvent, sent: str, state: str) -> None:
    number = await open_pull(forge, "feature")
    async with gitea(forge) as client:
        review = await client.create_review(REPO, number, event, "Looks fine")
    assert review.state == state and review.author == "owner"
    assert calls(forge, "POST", "/reviews")[0].json == {"event": sent, "body": "Looks fine"}
    pull = forge.repo(REPO).issues[number].pull
    assert pull is not None and pull.reviews[-1].state != "PENDING"


async def test_pulls_for_a_head_branch_are_found_by_listing(forge: FakeForge) -> None:
    feature = await open_pull(forge, "feature")
    await open_pull(forge, "other", author="bob")
    async with gitea(forge) as client:
        found = await client.list_pulls(REPO, head="feature")
        assert [p.number for p in found] == [feature]
        assert found[0].head_ref == "feature" and found[0].head_repo == REPO
        assert [p.number for p in await client.list_pulls(REPO, head="owner:feature")] == [feature]
        assert await client.list_pulls(REPO, head="someone-else:feature") == []
        assert len(await client.list_pulls(REPO)) == 2
    assert all("head" not in r.query for r in calls(forge, "GET", "/pulls"))


async def test_branches_are_created_and_deleted_through_the_branches_endpoint(forge: FakeForge) -> None:
    git = forge.repo(REPO).git
    sha = git.branches()["main"]
    async with gitea(forge) as client:
        branch = await client.create_branch(REPO, "topic/one", sha)
        assert git.branches()["topic/one"] == sha
        assert branch.sha == sha and branch.committed_at == dt.datetime.fromtimestamp(NOW, dt.UTC)
        await client.delete_branch(REPO, "topic/one")
    assert "topic/one" not in git.branches()
    post, delete = calls(forge, "POST")[0], calls(forge, "DELETE")[0]
    assert post.path == "/repos/owner/widgets/branches"
    assert post.json == {"new_branch_name": "topic/one", "old_ref_name": sha}
    assert delete.path == "/repos/owner/widgets/branches/topic/one" and delete.status == 204
    assert not any("/git/refs" in r.path for r in forge.requests)


async def test_compare_reports_total_commits_only(forge: FakeForge) -> None:
    await forge.actor("alice").push(REPO, "ahead", {"a.txt": "a\n"})
    await forge.actor("alice").push(REPO, "ahead", {"b.txt": "b\n"})
    async with gitea(forge) as client:
        comparison = await client.compare(REPO, "main", "ahead")
    assert comparison.total_commits == 2
    assert (comparison.ahead_by, comparison.behind_by, comparison.status) == (None, None, None)


async def test_merge_sends_do_and_the_expected_head_then_reads_the_merge_commit(forge: FakeForge) -> None:
    number = await open_pull(forge, "feature")
    pull = forge.repo(REPO).issues[number].pull
    assert pull is not None
    async with gitea(forge) as client:
        with pytest.raises(Conflict):
            await client.merge_pull(REPO, number, MergeMethod.SQUASH, "0" * 40)  # the head moved
        merged = await client.merge_pull(REPO, number, MergeMethod.SQUASH, pull.head_sha)
    assert merged == pull.merge_commit_sha == forge.repo(REPO).git.branches()["main"]
    assert calls(forge, "POST", "/merge")[-1].json == {"Do": "squash", "head_commit_id": pull.head_sha}


async def test_tags_are_created_through_the_tags_endpoint(forge: FakeForge) -> None:
    git = forge.repo(REPO).git
    sha = git.branches()["main"]
    async with gitea(forge) as client:
        await client.create_tag(REPO, "v1.0", sha, "First release")
        await client.create_tag(REPO, "archive/old", sha)
    assert [r.json for r in calls(forge, "POST", "/tags")] == [
        {"tag_name": "v1.0", "target": sha, "message": "First release"},
        {"tag_name": "archive/old", "target": sha}]
    assert git.run("cat-file", "-t", "refs/tags/v1.0") == "tag"  # annotated
    assert git.ref_sha("refs/tags/archive/old") == sha  # lightweight


# -- retries -----------------------------------------------------------------------------------------


async def test_server_errors_are_retried_with_backoff(forge: FakeForge) -> None:
    forge.faults.add("GET", "/repos/{owner}/{repo}/labels", status=500, times=2)
    sleeps = Sleeps()
    async with gitea(forge, sleep=sleeps) as client:
        assert await client.list_labels(REPO) == []
    assert [r.status for r in calls(forge, "GET", "/labels")] == [500, 500, 200]
    assert len(sleeps.calls) == 2 and all(0 < s <= 30 for s in sleeps.calls)


async def test_429_waits_as_long_as_retry_after_says(forge: FakeForge) -> None:
    forge.faults.add("GET", "/repos/{owner}/{repo}/labels", status=429, retry_after=7, times=1)
    sleeps = Sleeps()
    async with gitea(forge, sleep=sleeps) as client:
        await client.list_labels(REPO)
    assert sleeps.calls == [7.0]


def test_retry_after_is_seconds_or_an_http_date() -> None:
    moment = dt.datetime(2015, 10, 21, 7, 28, tzinfo=dt.UTC).timestamp()
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=moment - 30) == 30
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=moment + 30) == 0
    assert retry_after_seconds("12", now=moment) == 12
    assert retry_after_seconds("soon", now=moment) is None
    assert retry_after_seconds(None, now=moment) is None


async def test_gives_up_after_the_allowed_retries_with_the_servers_message(forge: FakeForge) -> None:
    forge.faults.add("GET", "/repos/{owner}/{repo}/labels", status=503, times=None)
    sleeps = Sleeps()
    async with gitea(forge, sleep=sleeps, retries=2) as client:
        with pytest.raises(Unavailable) as caught:
            await client.list_labels(REPO)
    assert caught.value.status == 503 and caught.value.message == "fault injected"
    assert len(calls(forge, "GET", "/labels")) == 3 and len(sleeps.calls) == 2


@pytest.mark.parametrize(("retry_after", "requests"), [(600, 1), (5, 5)])
async def test_rate_limit_beyond_the_wait_allowed_is_rate_limited(forge: FakeForge, retry_after: int,
                                                                  requests: int) -> None:
    forge.faults.add("GET", "/repos/{owner}/{repo}/labels", status=429, retry_after=retry_after, times=None)
    async with gitea(forge, max_wait=60.0, retries=4) as client:
        with pytest.raises(RateLimited) as caught:
            await client.list_labels(REPO)
    assert caught.value.retry_at == NOW + retry_after
    assert len(calls(forge, "GET", "/labels")) == requests


async def test_a_comment_is_not_posted_again_after_a_server_error(forge: FakeForge) -> None:
    number = await forge.actor("alice").open_issue(REPO, "Hello")
    forge.faults.add("POST", "/repos/{owner}/{repo}/issues/{index}/comments", status=500, times=1)
    sleeps = Sleeps()
    async with gitea(forge, sleep=sleeps) as client:
        with pytest.raises(Unavailable):
            await client.create_comment(REPO, number, "Thanks!")
    assert len(calls(forge, "POST")) == 1 and sleeps.calls == []
    assert forge.repo(REPO).comments == {}


async def test_a_branch_is_looked_for_before_it_is_posted_again(forge: FakeForge) -> None:
    sha = forge.repo(REPO).git.branches()["main"]
    forge.faults.add("POST", "/repos/{owner}/{repo}/branches", status=502, times=1)
    async with gitea(forge) as client:
        await client.create_branch(REPO, "retry-me", sha)
    assert [(r.method, r.route, r.status) for r in calls(forge)] == [
        ("POST", None, 502),  # the fault answers before routing
        ("GET", "/repos/{owner}/{repo}/branches/{branch}", 404),
        ("GET", "/repos/{owner}/{repo}/git/commits/{sha}", 200),  # and what it starts from is there
        ("POST", "/repos/{owner}/{repo}/branches", 201),
    ]


async def test_a_label_that_exists_after_a_lost_answer_is_taken_as_created(forge: FakeForge) -> None:
    repo = forge.repo(REPO)
    forge.faults.add("POST", "/repos/{owner}/{repo}/labels", status=500, times=1)
    made = []

    async def meanwhile(seconds: float) -> None:
        # As if the failed POST had gone through before the server fell over.
        made.append(forge.ops.create_label(repo, "owner", "bug", "d73a4a"))

    async with gitea(forge, sleep=meanwhile) as client:
        label = await client.create_label(REPO, Label("bug", "d73a4a"))
    assert label.id == made[0].id and len(repo.labels) == 1
    assert len(calls(forge, "POST")) == 1


async def test_a_delete_whose_answer_was_lost_takes_404_as_done(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        hook = await client.create_hook(REPO, Hook("https://bot.example/hook"))
        assert hook.id is not None
        forge.faults.add("DELETE", "/repos/{owner}/{repo}/hooks/{id}", status=504, times=1)
        del forge.repo(REPO).hooks[hook.id]  # the first DELETE did its work, its answer was lost
        await client.delete_hook(REPO, hook.id)
        with pytest.raises(NotFound):
            await client.delete_hook(REPO, hook.id)  # without a lost answer, 404 is NotFound
    assert [r.status for r in calls(forge, "DELETE")] == [504, 404, 404]


async def test_connection_errors_are_retried_where_safe(forge: FakeForge) -> None:
    number = await forge.actor("alice").open_issue(REPO, "Hello")
    refused = [httpx.ConnectError("connection refused"), httpx.ConnectError("connection refused")]
    async with gitea(forge, transport=FailingTransport(forge.app, refused)) as client:
        # Refused before sending: even a POST is safe to send again.
        comment = await client.create_comment(REPO, number, "Hi")
    assert [c.body for c in forge.repo(REPO).comments.values()] == ["Hi"] and comment.body == "Hi"

    lost = [httpx.ReadTimeout("timed out")]
    async with gitea(forge, transport=FailingTransport(forge.app, lost)) as client:
        # Sent, answer lost: posting again could post twice.
        with pytest.raises(Unavailable, match="ReadTimeout"):
            await client.create_comment(REPO, number, "Hi again")
    assert len(forge.repo(REPO).comments) == 1


class Clock:
    """The injected clock and sleep: sleeping moves the clock, and nothing else does."""

    def __init__(self) -> None:
        self.now = NOW
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_writes_are_spaced_by_the_write_interval(forge: FakeForge) -> None:
    number = await forge.actor("alice").open_issue(REPO, "Pace")
    clock = Clock()
    async with gitea(forge, clock=clock, sleep=clock.sleep, write_interval=1.5) as client:
        await client.create_comment(REPO, number, "one")
        await client.get_issue(REPO, number)  # reads are not paced
        clock.now += 0.5  # time that passed since the first write counts towards the interval
        await client.create_comment(REPO, number, "two")
        await client.create_comment(REPO, number, "three")
    assert clock.slept == [1.0, 1.5]


# -- errors and the token --------------------------------------------------------------------------


async def test_errors_map_to_the_protocols(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        with pytest.raises(NotFound):
            await client.get_issue(REPO, 999)
        with pytest.raises(Conflict):
            await client.create_branch(REPO, "main", forge.repo(REPO).git.branches()["main"])
        with pytest.raises(Invalid) as invalid:
            await client.set_topics(REPO, ["fine", "not fine!"])
        assert "not fine!" in invalid.value.details
    async with gitea(forge, "alice") as client:
        # Only repository admins (or bob himself) may ask for bob's permission.
        with pytest.raises(PermissionDenied):
            await client.get_permission(REPO, "bob")
        assert await client.get_permission(REPO, "alice") == Permission.WRITE
    forge.faults.add("GET", "/repos/{owner}/{repo}", status=502, times=None, body=b"<html>Bad Gateway</html>")
    forge.faults.add("GET", "/user", status=200, times=1, body=b"<html>Sign in</html>")
    async with gitea(forge, retries=0) as client:
        with pytest.raises(Unavailable, match="Bad Gateway"):
            await client.get_repo(REPO)
        with pytest.raises(ForgeError, match="not JSON"):
            await client.whoami()
    async with gitea(forge, token="not-a-real-token") as client:
        with pytest.raises(PermissionDenied) as denied:
            await client.whoami()
    assert denied.value.status == 401 and denied.value.platform == "gitea"


async def test_the_token_never_appears_in_an_error_or_a_url(forge: FakeForge) -> None:
    token = forge.token("owner")
    forge.faults.add("GET", "/repos/{owner}/{repo}/labels", status=400, times=1,
                     body={"message": f"token {token} is no good", "url": BASE})
    forge.faults.add("GET", "/repos/{owner}/{repo}/topics", status=500, times=None,
                     body={"message": "oops", "errors": [f"Authorization: token {token}"]})
    async with gitea(forge, retries=1) as client:
        errors: list[ForgeError] = []
        for call in (client.list_labels, client.get_topics):
            with pytest.raises(ForgeError) as caught:
                await call(REPO)
            errors.append(caught.value)
    for error in errors:
        assert token not in f"{error} {error!r} {error.message} {error.details}"
        assert "***" in str(error)
    assert all(token not in r.path and token not in str(r.query) for r in forge.requests)


async def test_aclose_leaves_the_callers_client_open(forge: FakeForge) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=forge.app), base_url=BASE) as http:
        client = GiteaForge(base_url=BASE, token=forge.token("owner"), http=http)
        await client.aclose()
        assert not http.is_closed
        assert (await client.whoami()).login == "owner"


# -- administration mappings ---------------------------------------------------------------------------


async def test_protection_maps_onto_a_named_rule(tmp_path: Path) -> None:
    forge = FakeForge(tmp_path / "forge", clock=lambda: NOW, gitea_version="1.23")  # has block_admin_merge_override
    forge.add_user("owner")
    forge.create_repo(REPO, files={"README.md": "# widgets\n"})
    wanted = BranchProtection("main", required_approvals=2, dismiss_stale_approvals=True,
                              required_status_checks=("ci",), enforce_admins=True, allow_force_push=False,
                              push_allowlist=("alice",))
    async with gitea(forge) as client:
        capabilities = await client.server_capabilities()
        assert (capabilities.server, capabilities.protection_admin_enforcement) == ("Gitea 1.23", True)
        assert await client.get_protection(REPO, "main") is None
        assert await client.set_protection(REPO, wanted) == wanted
        assert await client.get_protection(REPO, "main") == wanted
        forge.requests.clear()
        changed = await client.set_protection(REPO, BranchProtection("main", required_approvals=1))
    assert changed.required_approvals == 1 and changed.push_allowlist == ("alice",)
    assert calls(forge, "PATCH")[0].json == {"required_approvals": 1}
    rule = forge.repo(REPO).protections["main"]
    assert (rule.enforce_admins, rule.restrict_push, rule.push_users, rule.contexts) == (True, True, ["alice"], ["ci"])


async def test_a_new_rule_without_an_allowlist_lets_writers_push(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        created = await client.set_protection(REPO, BranchProtection("release/*", required_approvals=1))
        assert await client.get_protection(REPO, "release/*") == created
    assert created.push_allowlist is None
    assert calls(forge, "POST")[0].json == {"rule_name": "release/*", "required_approvals": 1,
                                            "enable_push": True, "enable_push_whitelist": False}


async def test_gitea_1_22_protection_has_no_admin_enforcement_nor_force_push(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        with pytest.raises(Unsupported, match=r"not supported by Gitea 1\.22: enforce_admins \(block_admin_merge_override\), "
                                              r"allow_force_push \(enable_force_push\); the rest was applied"):
            await client.set_protection(REPO, BranchProtection("main", required_approvals=1, enforce_admins=True,
                                                               allow_force_push=True))
        got = await client.get_protection(REPO, "main")
    [create] = calls(forge, "POST", "/branch_protections")
    assert "block_admin_merge_override" not in create.json and "enable_force_push" not in create.json
    assert got is not None and (got.required_approvals, got.enforce_admins, got.allow_force_push) == (1, False, False)
    answer = next(r.response for r in calls(forge, "GET", "/branch_protections/{name}") if r.status == 200)
    assert not {"block_admin_merge_override", "enable_force_push", "priority"} & set(answer)
    assert len(calls(forge, "GET", "/version")) == 1  # read once, remembered


async def test_protection_fields_a_server_does_not_know_are_unsupported(forge: FakeForge) -> None:
    # A 1.22 server does not know block_admin_merge_override and leaves it out of its answer.
    forge.faults.add("POST", "/repos/{owner}/{repo}/branch_protections", status=201, times=1,
                     body={"rule_name": "main", "enable_push": True, "required_approvals": 0})
    async with gitea(forge) as client:
        with pytest.raises(Unsupported, match="enforce_admins"):
            await client.set_protection(REPO, BranchProtection("main", enforce_admins=True))


async def test_settings_use_giteas_names_and_only_what_is_set(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        result = await client.update_settings(REPO, RepoSettings(
            homepage="https://widgets.example", allow_merge_commit=False, allow_rebase_merge=False,
            delete_branch_on_merge=True))
    assert calls(forge, "PATCH")[0].json == {"website": "https://widgets.example", "allow_merge_commits": False,
                                             "allow_rebase": False, "default_delete_branch_after_merge": True}
    assert (result.homepage, result.allow_merge_commit, result.allow_squash_merge) == (
        "https://widgets.example", False, True)


@pytest.mark.parametrize(("level", "sent", "read_back"), [
    (Permission.READ, "read", Permission.READ),
    (Permission.TRIAGE, "read", Permission.READ),
    (Permission.WRITE, "write", Permission.WRITE),
    (Permission.MAINTAIN, "write", Permission.WRITE),
    (Permission.ADMIN, "admin", Permission.ADMIN),
])
async def test_collaborator_levels_round_down_to_giteas_three(forge: FakeForge, level: Permission, sent: str,
                                                              read_back: Permission) -> None:
    async with gitea(forge) as client:
        await client.add_collaborator(REPO, "carol", level)
        assert await client.get_permission(REPO, "carol") == read_back
        assert await client.get_permission(REPO, "owner") == Permission.ADMIN  # Gitea says "owner"
    assert calls(forge, "PUT")[0].json == {"permission": sent}


async def test_hooks_are_active_json_gitea_hooks(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        hook = await client.create_hook(REPO, Hook("https://bot.example/webhooks/gitea"), secret="s3cret")
        assert hook.events == ("*",) and hook.active
        await client.update_hook(REPO, hook.id or 0, Hook("https://bot.example/webhooks/gitea", events=("push",)))
        assert [h.events for h in await client.list_hooks(REPO)] == [("push",)]
    body = calls(forge, "POST")[0].json
    assert body["type"] == "gitea" and body["active"] is True
    assert body["config"] == {"url": "https://bot.example/webhooks/gitea", "content_type": "json", "secret": "s3cret"}
    assert {"push", "issues", "issue_comment", "pull_request", "create", "delete"} <= set(body["events"])
    assert "secret" not in calls(forge, "PATCH")[0].json["config"]  # left out: Gitea keeps it
    assert forge.repo(REPO).hooks[hook.id or 0].config["secret"] == "s3cret"


async def test_milestone_due_dates_survive_the_round_trip(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        created = await client.create_milestone(REPO, Milestone("v1", "first", dt.date(2024, 5, 1)))
        closed = await client.close_milestone(REPO, created.id or 0)
        assert await client.list_milestones(REPO) == [closed]
    assert created.due_on == dt.date(2024, 5, 1) and closed.state == "closed"


async def test_read_file_returns_none_for_missing_files_and_directories(forge: FakeForge) -> None:
    async with gitea(forge) as client:
        found = await client.read_file(REPO, "docs/guide.md", ref="main")
        assert found is not None and found.content == b"guide\n"
        assert await client.read_file(REPO, "docs") is None
        assert await client.read_file(REPO, ".forgebot.yml") is None
        # Gitea leaves out the content of large files: it then comes from /raw.
        forge.faults.add("GET", "/repos/{owner}/{repo}/contents/docs/guide.md", status=200, times=1,
                         body={"type": "file", "path": "docs/guide.md", "sha": found.sha, "content": None})
        large = await client.read_file(REPO, "docs/guide.md", ref="main")
    assert large == found
    assert calls(forge, "GET")[-1].path == "/repos/owner/widgets/raw/docs/guide.md"


async def test_list_repositories_keeps_those_the_token_administers(forge: FakeForge) -> None:
    forge.create_repo("acme/tools")
    forge.create_repo("acme/site")
    forge.set_permission("acme/tools", "alice", "admin")
    forge.set_permission("acme/site", "alice", "write")
    async with gitea(forge, "alice") as client:
        repos = await client.list_repositories()
    assert [r.full_name for r in repos] == ["acme/tools"]
    assert repos[0].permission == Permission.ADMIN


@pytest.mark.parametrize("reported, label, force_push", [
    ("1.22.0", "Gitea 1.22", False),
    ("1.23.1", "Gitea 1.23", True),
    ("1.26.0+dev-489-gc9a038bc4e", "Gitea 1.26", True),  # gitea.com, recorded
    ("17.0.0-dev-576-994e539b55+gitea-1.22.0", "Forgejo 17.0 (Gitea 1.22 API)", False),  # Forgejo, recorded
    ("10.0.1+gitea-1.22.0", "Forgejo 10.0 (Gitea 1.22 API)", False),
    ("development", "Gitea (version 'development' not understood)", False),
])
def test_what_a_reported_version_can_do(reported: str, label: str, force_push: bool) -> None:
    from bot.forges.gitea_version import capabilities_for, parse_version

    capabilities = capabilities_for(parse_version(reported))
    assert (capabilities.server, capabilities.protection_force_push, capabilities.protection_admin_enforcement) == (
        label, force_push, force_push)
    assert not capabilities.triage_level and not capabilities.collaborator_invitations


async def test_a_server_that_will_not_say_its_version_is_taken_as_1_22(forge: FakeForge) -> None:
    forge.faults.add("GET", "/version", status=404, times=None)
    async with gitea(forge) as client:
        capabilities = await client.server_capabilities()
        await client.server_capabilities()
    assert (capabilities.server, capabilities.protection_force_push) == ("Gitea (version unknown)", False)
    assert len(calls(forge, "GET")) == 1  # remembered, not asked again
