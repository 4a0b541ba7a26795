"""The Gitea client against real recorded Gitea and Forgejo traffic (tests/gitea_recordings.py).

Every recorded exchange whose method and path is a call the Gitea client makes is replayed: the
client operation that makes that call is run with the recording as the server's answer, and what
it returns must be what the recording says. Other calls the operation makes are answered from the
same recording file (ogr records whole tests in order), else from another recording of the same
call on the same server; a later page that was never recorded is
answered as an empty page, and only the recorded items are compared. A call nobody recorded
fails the test. The recordings carry no request bodies, so what the client sends is checked
against the emulator elsewhere; here it is the answers that are real.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.forges import gitea_json as gj
from bot.forges.base import (
    CommitStatus,
    NotFound,
    Permission,
    RepoSettings,
    StatusState,
    Unavailable,
)
from bot.forges.gitea import GiteaForge
from bot.forges.gitea_version import parse_version
from tests.gitea_recordings import Exchange, exchanges, template_regex

pytestmark = pytest.mark.anyio
BASE = "https://gitea.recorded"
_HOP_HEADERS = {"content-length", "content-encoding", "transfer-encoding"}

Check = Callable[[GiteaForge, str, dict[str, str], Exchange], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # under /api/v1; {name:path} may hold slashes
    check: Check


class Replay:
    """An httpx transport answering from one recording file, the exchange under test first."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        # The same file first, then the same server's other recordings of the same call.
        server = exchange.source.split("/")[0]
        same_file = [e for e in exchanges() if e.source == exchange.source and e is not exchange]
        self.others = same_file + [e for e in exchanges() if e.source.split("/")[0] == server and e.source != exchange.source]
        self.answered: list[Exchange] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, page = request.url.path, request.url.params.get("page")
        if (request.method, path) == (self.exchange.method, self.exchange.path) and (
                not self.answered or self.exchange.status >= 500):  # a failing server keeps failing on retries
            return self._answer(self.exchange)
        same = [e for e in self.others if (e.method, e.path) == (request.method, path)]
        paged = [e for e in same if urllib.parse.parse_qs(e.query).get("page", ["1"])[0] == (page or "1")]
        found = next((e for e in paged or same if e not in self.answered), None) or next(iter(paged or same), None)
        if found is not None and not (page and page != "1" and not paged):
            return self._answer(found)
        if request.method == "GET" and page and page != "1":
            return httpx.Response(200, json=[])  # a later page nobody recorded: only recorded items are compared
        raise AssertionError(f"not recorded in {self.exchange.source}: {request.method} {request.url}")

    def _answer(self, exchange: Exchange) -> httpx.Response:
        self.answered.append(exchange)
        headers = {k: v for k, v in exchange.headers.items() if k not in _HOP_HEADERS}
        return httpx.Response(exchange.status, headers=headers, content=exchange.content)


def _repo(params: dict[str, str]) -> str:
    return f"{params['owner']}/{params['repo']}"


def _logins(users: Any) -> tuple[str, ...]:
    return tuple(u["login"] for u in users or ())


# -- one check per call the client makes -------------------------------------------------------------


async def version(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    capabilities = await client.server_capabilities()
    assert capabilities.server == parse_version(e.body["version"]).label


async def whoami(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    me = await client.whoami()
    assert (me.login, me.id) == (e.body["login"], e.body["id"])


async def user_repos(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = [r.full_name for r in await client.list_repositories()]
    assert got == [x["full_name"] for x in e.body if x["permissions"]["admin"]]


async def get_repo(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    if e.status == 404:
        with pytest.raises(NotFound):
            await client.get_repo(repo)
        return
    got = await client.get_repo(repo)
    assert (got.full_name, got.default_branch, got.private, got.archived) == (
        e.body["full_name"], e.body["default_branch"], e.body["private"], e.body["archived"])
    assert got.clone_url == e.body["clone_url"]


async def edit_repo(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.update_settings(repo, RepoSettings(description=e.body["description"]))
    assert (got.description, got.has_issues, got.default_branch) == (e.body["description"], e.body["has_issues"], e.body["default_branch"])


async def branches(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.list_branches(repo)
    assert [(b.name, b.sha, b.protected) for b in got][:len(e.body)] == [
        (b["name"], b["commit"]["id"], b["protected"]) for b in e.body]
    assert all(b.committed_at is not None for b in got)


async def branch(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    # Read by create_branch to see whether a lost attempt made the branch.
    found = await client._t.get_or_none(f"/repos/{repo}/branches/{p['branch']}")
    assert (found is None) is (e.status == 404)
    if found is not None:
        assert gj.branch(found).sha == e.body["commit"]["id"]


async def collaborators(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.list_collaborators(repo)
    assert [c.login for c in got] == list(_logins(e.body))


async def permission(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    level = await client.get_permission(repo, p["user"])
    assert level is gj.PERMISSION[e.body["permission"]]


async def add_collaborator(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    await client.add_collaborator(repo, p["user"], Permission.WRITE)  # 204, no body


async def remove_collaborator(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    await client.remove_collaborator(repo, p["user"])


async def contents(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.read_file(repo, p["path"])
    if e.status == 404 or not isinstance(e.body, dict) or e.body.get("type") != "file":
        assert got is None  # missing, or a directory
        return
    assert got is not None and got.sha == e.body["sha"] and got.content == base64.b64decode(e.body["content"])


async def issues(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    state = urllib.parse.parse_qs(e.query).get("state", ["open"])[0]
    if e.status == 404:
        with pytest.raises(NotFound):
            await client.list_issues(repo, state=state)
        return
    got = await client.list_issues(repo, state=state)
    assert [(i.number, i.title, i.state, i.is_pull) for i in got][:len(e.body)] == [
        (x["number"], x["title"], x["state"], x["pull_request"] is not None) for x in e.body]


async def issue(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    if e.status == 404:
        with pytest.raises(NotFound):
            await client.get_issue(repo, int(p["number"]))
        return
    got = await client.get_issue(repo, int(p["number"]))
    _same_issue(got, e.body)


def _same_issue(got: Any, data: dict[str, Any]) -> None:
    assert (got.number, got.title, got.body, got.state, got.author) == (
        data["number"], data["title"], data["body"], data["state"], data["user"]["login"])
    assert got.labels == tuple(x["name"] for x in data["labels"] or ())
    assert got.assignees == _logins(data["assignees"])
    assert got.milestone == ((data.get("milestone") or {}).get("title"))


async def edit_issue(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    if e.status >= 500:
        # Gitea answers 500 with an empty message when the assignment fails; PATCH is retried
        # (it is idempotent) and then given up, with the status kept.
        with pytest.raises(Unavailable) as failed:
            await client._t.request("PATCH", f"/repos/{repo}/issues/{p['number']}", json={})
        assert failed.value.status == 500 and failed.value.message
        return
    assignees = _logins(e.body["assignees"])
    assert await client.set_assignees(repo, int(p["number"]), assignees) == assignees


async def comments(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.list_comments(repo, int(p["number"]))
    assert [(c.id, c.body, c.author) for c in got] == [(x["id"], x["body"], x["user"]["login"]) for x in e.body]
    assert all(c.created_at is not None for c in got)


async def comment(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    # Read by edit_comment when an edit answers without a body.
    assert gj.comment(await client._t.get(f"/repos/{repo}/issues/comments/{p['id']}")).body == e.body["body"]


async def edit_comment(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.edit_comment(repo, int(p["id"]), e.body["body"])
    assert (got.id, got.body, got.updated_at is not None) == (e.body["id"], e.body["body"], True)


async def create_comment(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.create_comment(repo, int(p["number"]), e.body["body"])
    assert (got.id, got.body, got.author, got.html_url) == (e.body["id"], e.body["body"], e.body["user"]["login"], e.body["html_url"])


async def react(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    await client.add_reaction(repo, int(p["id"]), e.body["content"])


async def issue_labels(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    # add_labels sends ids; it needs the repository's labels, which these tests did not record.
    # So the call is made as add_labels makes it, and its answer read as add_labels reads it.
    reply = await client._t.request("POST", f"/repos/{repo}/issues/{p['number']}/labels",
                                    json={"labels": [x["id"] for x in e.body]}, idempotent=True)
    assert tuple(x["name"] for x in reply.data) == tuple(gj.label(x).name for x in e.body)


async def labels(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.list_labels(repo)
    assert [(lb.id, lb.name, lb.color, lb.description) for lb in got][:len(e.body)] == [
        (x["id"], x["name"], x["color"].lstrip("#").lower(), x["description"]) for x in e.body]


async def create_label(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    reply = await client._t.request("POST", f"/repos/{repo}/labels", json={})
    got = gj.label(reply.data)  # as create_label reads it
    assert (got.id, got.name, got.color) == (e.body["id"], e.body["name"], e.body["color"].lstrip("#").lower())


async def milestones(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    got = await client.list_milestones(repo)
    assert [(m.id, m.title, m.state) for m in got] == [(x["id"], x["title"], x["state"]) for x in e.body]


async def pulls(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    state = urllib.parse.parse_qs(e.query).get("state", ["open"])[0]
    got = await client.list_pulls(repo, state=state)
    assert [(x.number, x.head_ref, x.head_sha, x.base_ref, x.merged) for x in got][:len(e.body)] == [
        (x["number"], x["head"]["ref"], x["head"]["sha"], x["base"]["ref"], x["merged"]) for x in e.body]


async def pull(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    if e.status == 404:
        with pytest.raises(NotFound):
            await client.get_pull(repo, int(p["number"]))
        return
    got = await client.get_pull(repo, int(p["number"]))
    data = e.body
    assert (got.number, got.title, got.state, got.head_ref, got.head_sha, got.base_ref, got.merged, got.mergeable) == (
        data["number"], data["title"], data["state"], data["head"]["ref"], data["head"]["sha"], data["base"]["ref"],
        data["merged"], data["mergeable"])
    assert got.head_repo == (data["head"].get("repo") or {}).get("full_name") and got.merge_commit_sha == data["merge_commit_sha"]


async def status(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    await client.set_status(repo, p["sha"], CommitStatus(StatusState(e.body["status"]), e.body["context"], e.body["description"]))


async def tag(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    # Read by create_tag to see whether a lost attempt made the tag.
    found = await client._t.get_or_none(f"/repos/{repo}/tags/{p['tag']}")
    assert (found is None) is (e.status == 404)
    if found is not None:
        assert found["commit"]["sha"] == e.body["commit"]["sha"]


async def topics(client: GiteaForge, repo: str, p: dict[str, str], e: Exchange) -> None:
    assert await client.get_topics(repo) == tuple(e.body["topics"])


R = "/repos/{owner}/{repo}"
OPERATIONS = (
    Operation("GET", "/version", version),
    Operation("GET", "/user", whoami),
    Operation("GET", "/user/repos", user_repos),
    Operation("GET", R, get_repo),
    Operation("PATCH", R, edit_repo),
    Operation("GET", R + "/branches", branches),
    Operation("GET", R + "/branches/{branch:path}", branch),
    Operation("GET", R + "/collaborators", collaborators),
    Operation("GET", R + "/collaborators/{user}/permission", permission),
    Operation("PUT", R + "/collaborators/{user}", add_collaborator),
    Operation("DELETE", R + "/collaborators/{user}", remove_collaborator),
    Operation("GET", R + "/contents/{path:path}", contents),
    Operation("GET", R + "/issues", issues),
    Operation("GET", R + "/issues/{number}", issue),
    Operation("PATCH", R + "/issues/{number}", edit_issue),
    Operation("GET", R + "/issues/{number}/comments", comments),
    Operation("POST", R + "/issues/{number}/comments", create_comment),
    Operation("POST", R + "/issues/{number}/labels", issue_labels),
    Operation("GET", R + "/issues/comments/{id}", comment),
    Operation("PATCH", R + "/issues/comments/{id}", edit_comment),
    Operation("POST", R + "/issues/comments/{id}/reactions", react),
    Operation("GET", R + "/labels", labels),
    Operation("POST", R + "/labels", create_label),
    Operation("GET", R + "/milestones", milestones),
    Operation("GET", R + "/pulls", pulls),
    Operation("GET", R + "/pulls/{number}", pull),
    Operation("POST", R + "/statuses/{sha}", status),
    Operation("GET", R + "/tags/{tag:path}", tag),
    Operation("GET", R + "/topics", topics),
)


def matched() -> list[tuple[Exchange, Operation, dict[str, str]]]:
    found = []
    for exchange in exchanges():
        for op in OPERATIONS:
            m = template_regex(op.template).match(exchange.path)
            if m and op.method == exchange.method and not (exchange.path.endswith("/issues/comments") and op.template.endswith("{number}")):
                found.append((exchange, op, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}))
                break
    return found


async def no_sleep(seconds: float) -> None:
    return None


@pytest.mark.parametrize("exchange, op, params", matched(), ids=lambda x: str(x) if isinstance(x, Exchange) else "")
async def test_the_client_reads_the_recorded_answer(exchange: Exchange, op: Operation, params: dict[str, str]) -> None:
    replay = Replay(exchange)
    async with httpx.AsyncClient(transport=httpx.MockTransport(replay)) as http:
        client = GiteaForge(base_url=BASE, token="recorded", http=http, sleep=no_sleep)
        repo = _repo(params) if "owner" in params else ""
        await op.check(client, repo, params, exchange)
    assert replay.answered and replay.answered[0] is exchange, "the client never made the recorded call"


def test_every_call_the_client_makes_that_was_recorded_is_replayed() -> None:
    replayed = {(op.method, op.template) for _, op, _ in matched()}
    assert len(matched()) >= 150
    assert replayed == {(op.method, op.template) for op in OPERATIONS}  # each check meets a recording


def test_forgejo_and_gitea_versions_as_recorded() -> None:
    versions = {e.source.split("/")[-2]: parse_version(e.body["version"]) for e in exchanges() if e.path == "/api/v1/version"}
    forgejo, gitea = versions["TestForgejoDownloadRepo"], versions["TestGiteaDownloadRepo"]
    assert (forgejo.label, forgejo.api) == ("Forgejo 17.0 (Gitea 1.22 API)", (1, 22, 0))
    assert (gitea.label, gitea.api) == ("Gitea 1.26", (1, 26, 0))
