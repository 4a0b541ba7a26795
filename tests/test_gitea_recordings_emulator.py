"""The emulator's Gitea dialect against the same real recordings the Gitea client replays.

For every recorded exchange of a call the client makes, the emulator is asked the same call (its
own repository, issue, pull request..., the recorded query) at the API version of the recorded
server (Forgejo follows Gitea 1.22; gitea.com was 1.26), and must answer alike: the status, the
paging headers (X-Total-Count, Link) and the fields of the object or of a list's first item.
A field the real server has that Gitea 1.22's swagger does not know may be missing (a newer
feature); the few fields the emulator may show that a recording lacks are listed with the reason.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.forges.gitea_version import parse_version
from tests.fakeforge import FakeForge
from tests.fakeforge.validate import GITEA_SPEC
from tests.gitea_recordings import Exchange, exchanges
from tests.test_gitea_recordings import matched

pytestmark = pytest.mark.anyio
REPO = "acme/widgets"
# Query parameters the Gitea client sends; a recording using others is not a call it makes.
CLIENT_QUERY = {"state", "page", "limit", "labels", "ref"}
ASKED_AS_IS = {"state", "page", "limit"}  # the rest name things of the recorded repository (a ref)
# Fields Gitea 1.22 answers that some recorded servers do not, and why that is no fault.
# Fields of nested objects (a user, a branch of a pull request) a recorded server has and Gitea 1.22 does not.
NOT_GITEA = {"pronouns": "Forgejo's own user field"}
ALLOWED_EXTRA = {
    "projects_mode": "Gitea 1.22 has it (swagger); Forgejo never took it",
    "parent": "a nil pointer Gitea 1.22 sends as null and newer Gitea leaves out (omitempty)",
    "repo_transfer": "the same",
}


_FORGES: dict[str, tuple[FakeForge, dict[str, Any]]] = {}


def _api_version(exchange: Exchange) -> str:
    """The Gitea API the recorded server spoke: its own /version answer, else Forgejo v10's (1.22)."""
    folder = exchange.source.rsplit("/", 1)[0]
    for other in exchanges():
        if other.path == "/api/v1/version" and other.source.rsplit("/", 1)[0] == folder:
            api = parse_version(other.body["version"]).api
            assert api is not None
            return ".".join(map(str, api))
    return "1.22"


async def _scenario(root: Path, version: str) -> tuple[FakeForge, dict[str, Any]]:
    forge = FakeForge(root, gitea_version=version)
    for login in ("owner", "alice", "dave"):
        forge.add_user(login)
    forge.create_repo(REPO, owner="owner", files={"README.md": "hi\n", "docs/guide.md": "guide\n"})
    forge.set_permission(REPO, "alice", "write")
    actor = forge.actor("owner")
    label = await actor.create_label(REPO, "bug", "d73a4a", "broken")
    numbers = [await actor.open_issue(REPO, f"issue {n}", body="text", labels=["bug"]) for n in range(7)]
    comment = await actor.comment(REPO, numbers[0], "hello")
    head = ""
    pulls = []
    for n in range(4):
        head = await actor.push(REPO, f"feature-{n}", {f"f{n}.txt": f"{n}\n"})
        pulls.append(await actor.open_pr(REPO, f"feature-{n}", title=f"pull {n}"))
    await actor.set_status(REPO, head, "success")
    forge.repo(REPO).topics = ["widgets"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=forge.app), base_url="http://fakeforge") as http:
        h = {"Authorization": f"token {forge.token('owner')}"}
        await http.post(f"/api/v1/repos/{REPO}/milestones", headers=h, json={"title": "v1"})
        await http.post(f"/api/v1/repos/{REPO}/tags", headers=h, json={"tag_name": "v1.0", "target": head})
    ids = {"number": numbers[0], "pull": pulls[0], "comment": comment, "label": label, "sha": head}
    return forge, ids


def _call(op_method: str, template: str, ids: dict[str, Any], missing: bool) -> tuple[str, str, Any]:
    """The emulator's version of a recorded call: (method, path under /api/v1, JSON body)."""
    r = f"/repos/{REPO}" if not missing else "/repos/acme/nope"
    number = ids["pull"] if "/pulls/" in template else ids["number"]
    paths = {
        "/version": "/version", "/user": "/user", "/user/repos": "/user/repos",
        "/repos/{owner}/{repo}": r,
        "/repos/{owner}/{repo}/branches": f"{r}/branches",
        "/repos/{owner}/{repo}/branches/{branch:path}": f"{r}/branches/{'no-such' if missing else 'main'}",
        "/repos/{owner}/{repo}/collaborators": f"{r}/collaborators",
        "/repos/{owner}/{repo}/collaborators/{user}/permission": f"{r}/collaborators/alice/permission",
        "/repos/{owner}/{repo}/collaborators/{user}": f"{r}/collaborators/dave",
        "/repos/{owner}/{repo}/contents/{path:path}": f"{r}/contents/{'no-such.md' if missing else 'README.md'}",
        "/repos/{owner}/{repo}/issues": f"{r}/issues",
        "/repos/{owner}/{repo}/issues/{number}": f"{r}/issues/{999999 if missing else number}",
        "/repos/{owner}/{repo}/issues/{number}/comments": f"{r}/issues/{number}/comments",
        "/repos/{owner}/{repo}/issues/{number}/labels": f"{r}/issues/{number}/labels",
        "/repos/{owner}/{repo}/issues/comments/{id}": f"{r}/issues/comments/{ids['comment']}",
        "/repos/{owner}/{repo}/issues/comments/{id}/reactions": f"{r}/issues/comments/{ids['comment']}/reactions",
        "/repos/{owner}/{repo}/labels": f"{r}/labels",
        "/repos/{owner}/{repo}/milestones": f"{r}/milestones",
        "/repos/{owner}/{repo}/pulls": f"{r}/pulls",
        "/repos/{owner}/{repo}/pulls/{number}": f"{r}/pulls/{999999 if missing else number}",
        "/repos/{owner}/{repo}/statuses/{sha}": f"{r}/statuses/{ids['sha']}",
        "/repos/{owner}/{repo}/tags/{tag:path}": f"{r}/tags/{'no-such' if missing else 'v1.0'}",
        "/repos/{owner}/{repo}/topics": f"{r}/topics",
    }
    bodies: dict[tuple[str, str], Any] = {
        ("PATCH", "/repos/{owner}/{repo}"): {"description": "changed"},
        ("PUT", "/repos/{owner}/{repo}/collaborators/{user}"): {"permission": "write"},
        ("PATCH", "/repos/{owner}/{repo}/issues/{number}"): {"assignees": ["alice"]},
        ("POST", "/repos/{owner}/{repo}/issues/{number}/comments"): {"body": "new"},
        ("POST", "/repos/{owner}/{repo}/issues/{number}/labels"): {"labels": [ids["label"]]},
        ("PATCH", "/repos/{owner}/{repo}/issues/comments/{id}"): {"body": "edited"},
        ("POST", "/repos/{owner}/{repo}/issues/comments/{id}/reactions"): {"content": "heart"},
        ("POST", "/repos/{owner}/{repo}/labels"): {"name": "new", "color": "#00aabb"},
        ("POST", "/repos/{owner}/{repo}/statuses/{sha}"): {"state": "success", "context": "other"},
    }
    return op_method, "/api/v1" + paths[template], bodies.get((op_method, template))


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(GITEA_SPEC.read_text())


def _definition_keys(spec: dict[str, Any], method: str, template: str, status: int) -> set[str]:
    """The properties of what Gitea 1.22's swagger says this call answers (an item, for a list)."""
    shape = re.sub(r"\{[^}]*\}", "{}", template)
    for path, ops in spec["paths"].items():
        if re.sub(r"\{[^}]*\}", "{}", path) == shape and method.lower() in ops:
            ref = ops[method.lower()]["responses"].get(str(status), {}).get("$ref", "")
            schema = spec["responses"].get(ref.rsplit("/", 1)[-1], {}).get("schema", {})
            schema = schema.get("items", schema)
            name = schema.get("$ref", "").rsplit("/", 1)[-1]
            return set(spec["definitions"].get(name, {}).get("properties", {}))
    return set()


def _fields(body: Any) -> set[str] | None:
    item = body[0] if isinstance(body, list) and body else body
    return set(item) if isinstance(item, dict) else None


def _cases() -> list[tuple[Exchange, str, str]]:
    cases = []
    for exchange, op, _ in matched():
        query = urllib.parse.parse_qs(exchange.query)
        if set(query) - CLIENT_QUERY or exchange.status >= 500:
            continue  # not a call the client makes; 500s are the server's bad day, not its dialect
        cases.append((exchange, op.method, op.template))
    return cases


@pytest.mark.parametrize("exchange, method, template", _cases(), ids=lambda x: str(x) if isinstance(x, Exchange) else "")
async def test_the_emulator_answers_as_the_recorded_server(
    exchange: Exchange, method: str, template: str, tmp_path_factory: pytest.TempPathFactory, spec: dict[str, Any]
) -> None:
    version = _api_version(exchange)
    if version not in _FORGES:  # one emulated server per version, shared by the cases (its git work is slow)
        _FORGES[version] = await _scenario(tmp_path_factory.mktemp(f"gitea-{version}"), version)
    forge, ids = _FORGES[version]
    verb, path, body = _call(method, template, ids, missing=exchange.status == 404)
    recorded_issues = exchange.body.get("has_issues", True) if isinstance(exchange.body, dict) else True
    forge.repo(REPO).settings["has_issues"] = recorded_issues  # it decides whether a field is there
    forge.repo(REPO).comments[ids["comment"]].reactions.clear()  # a second same reaction answers 200
    query = {k: v for k, v in urllib.parse.parse_qs(exchange.query).items() if k in ASKED_AS_IS}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=forge.app), base_url="http://fakeforge") as http:
        answer = await http.request(verb, path, params=query or None, json=body,
                                    headers={"Authorization": f"token {forge.token('owner')}"})
    assert answer.status_code == exchange.status, answer.text
    for header in ("x-total-count", "link"):
        if header in exchange.headers:
            assert header in answer.headers, f"{header} missing (Gitea {version})"
    recorded, ours = _fields(exchange.body), _fields(answer.json() if answer.content else None)
    if recorded is None or ours is None:
        return  # an empty list or no body on one side: nothing to compare field by field
    missing = (recorded - ours) & _definition_keys(spec, method, template, exchange.status)
    extra = ours - recorded - set(ALLOWED_EXTRA)
    assert not missing and not extra, (f"Gitea {version}", sorted(missing), sorted(extra))
    for name, inner, our_inner in _nested(exchange.body, answer.json()):
        assert set(inner) - set(our_inner) - set(NOT_GITEA) == set(), (name, f"Gitea {version}")
        assert set(our_inner) - set(inner) - set(ALLOWED_EXTRA) == set(), (name, f"Gitea {version}")


def _nested(recorded: Any, ours: Any) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The objects one level down that both answers have (of a list's first items)."""
    first = [x[0] if isinstance(x, list) and x else x for x in (recorded, ours)]
    if not all(isinstance(x, dict) for x in first):
        return []
    return [(k, v, first[1][k]) for k, v in first[0].items() if isinstance(v, dict) and isinstance(first[1].get(k), dict)]


def test_the_emulator_is_compared_on_most_recorded_calls() -> None:
    assert len(_cases()) >= 140
