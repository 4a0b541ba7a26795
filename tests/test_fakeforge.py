"""Tests of the forge emulator itself, over plain httpx (not the bot's clients)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gidgethub import InvalidField, RateLimitExceeded
from gidgethub.sansio import decipher_response

from tests.fakeforge import FakeForge
from tests.fakeforge.validate import gitea_definition_keys, response_validator
from tests.reference import REFERENCE

REPO = "acme/widgets"
SECRET = b"It's a Secret to Everybody"
START = 1_700_000_000.0
API = {"github": "/api/v3", "gitea": "/api/v1"}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def forge(tmp_path: Path, clock: Clock) -> FakeForge:
    f = FakeForge(tmp_path, clock=clock)
    for login in ("alice", "bob", "carol", "mallory", "tri", "maint"):
        f.add_user(login)
    f.create_repo(REPO, files={"README.md": "# widgets\n", "src/app.py": "print('hi')\n"})
    f.create_repo("acme/secret", private=True)
    f.set_permission(REPO, "alice", "write")
    f.set_permission(REPO, "carol", "admin")
    f.set_permission(REPO, "tri", "triage")
    f.set_permission(REPO, "maint", "maintain")
    return f


@pytest.fixture
async def client(forge: FakeForge) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=forge.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fakeforge") as c:
        yield c


@pytest.fixture(params=["github", "gitea"])
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def auth(forge: FakeForge, login: str) -> dict[str, str]:
    return {"Authorization": f"token {forge.token(login)}"}


def url(platform: str, path: str) -> str:
    return API[platform] + path


class Recorder:
    """A stand-in for the bot's webhook receiver: records raw requests, answers 202."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def events(self, header: str = "x-github-event") -> list[tuple[str, Any]]:
        return [(h[header], json.loads(b).get("action")) for h, b in self.requests]


def reference(folder: str, name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / folder / name).read_text())


# -- labels -------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_github_labels_by_name(forge: FakeForge, client: httpx.AsyncClient) -> None:
    h = auth(forge, "alice")
    r = await client.post(url("github", f"/repos/{REPO}/labels"), headers=h,
                          json={"name": "bug", "color": "d73a4a", "description": "broken"})
    assert r.status_code == 201 and r.json()["color"] == "d73a4a"
    dup = await client.post(url("github", f"/repos/{REPO}/labels"), headers=h, json={"name": "BUG"})
    assert dup.status_code == 422
    assert dup.json()["errors"] == [{"resource": "Label", "code": "already_exists", "field": "name"}]
    with pytest.raises(InvalidField):
        decipher_response(dup.status_code, dup.headers, dup.content)
    hashed = await client.post(url("github", f"/repos/{REPO}/labels"), headers=h, json={"name": "x", "color": "#fff"})
    assert hashed.status_code == 422
    renamed = await client.patch(url("github", f"/repos/{REPO}/labels/bug"), headers=h,
                                 json={"new_name": "defect", "color": "000000"})
    assert renamed.json()["name"] == "defect"
    assert (await client.get(url("github", f"/repos/{REPO}/labels/bug"), headers=h)).status_code == 404
    assert (await client.get(url("github", f"/repos/{REPO}/labels/defect"), headers=h)).json()["color"] == "000000"
    assert (await client.delete(url("github", f"/repos/{REPO}/labels/defect"), headers=h)).status_code == 204
    assert forge.repo(REPO).labels == {}


@pytest.mark.anyio
async def test_gitea_labels_by_id(forge: FakeForge, client: httpx.AsyncClient) -> None:
    h = auth(forge, "alice")
    r = await client.post(url("gitea", f"/repos/{REPO}/labels"), headers=h, json={"name": "bug", "color": "#00AABB"})
    assert r.status_code == 201
    label = r.json()
    assert label["color"] == "00aabb" and isinstance(label["id"], int)
    by_id = await client.get(url("gitea", f"/repos/{REPO}/labels/{label['id']}"), headers=h)
    assert by_id.json()["name"] == "bug"
    assert (await client.get(url("gitea", f"/repos/{REPO}/labels/bug"), headers=h)).status_code == 404
    edited = await client.patch(url("gitea", f"/repos/{REPO}/labels/{label['id']}"), headers=h,
                                json={"name": "defect", "color": "123456"})
    assert edited.json()["name"] == "defect" and edited.json()["color"] == "123456"
    # Gitea 1.22 does not refuse a second label with an existing name.
    dup = await client.post(url("gitea", f"/repos/{REPO}/labels"), headers=h, json={"name": "defect", "color": "fff"})
    assert dup.status_code == 201 and dup.json()["color"] == "ffffff"
    names = [lb["name"] for lb in (await client.get(url("gitea", f"/repos/{REPO}/labels"), headers=h)).json()]
    assert names == ["defect", "defect"]
    assert (await client.delete(url("gitea", f"/repos/{REPO}/labels/{label['id']}"), headers=h)).status_code == 204
    assert [lb.id for lb in forge.repo(REPO).labels.values()] == [dup.json()["id"]]


@pytest.mark.anyio
async def test_issue_labels_each_dialect(forge: FakeForge, client: httpx.AsyncClient) -> None:
    repo = forge.repo(REPO)
    bug = forge.ops.create_label(repo, "alice", "bug", "ff0000")
    forge.ops.create_label(repo, "alice", "ui", "00ff00")
    n = await forge.actor("bob").open_issue(REPO, "broken")
    h = auth(forge, "alice")
    gh = await client.post(url("github", f"/repos/{REPO}/issues/{n}/labels"), headers=h, json={"labels": ["bug", "new"]})
    assert sorted(lb["name"] for lb in gh.json()) == ["bug", "new"]  # GitHub creates unknown labels
    gone = await client.delete(url("github", f"/repos/{REPO}/issues/{n}/labels/ui"), headers=h)
    assert gone.status_code == 404
    left = await client.delete(url("github", f"/repos/{REPO}/issues/{n}/labels/new"), headers=h)
    assert [lb["name"] for lb in left.json()] == ["bug"]
    mixed = await client.post(url("gitea", f"/repos/{REPO}/issues/{n}/labels"), headers=h, json={"labels": ["ui", bug.id]})
    assert mixed.status_code == 400
    named = await client.post(url("gitea", f"/repos/{REPO}/issues/{n}/labels"), headers=h,
                              json={"labels": ["ui", "no-such-label"]})
    assert sorted(lb["name"] for lb in named.json()) == ["bug", "ui"]
    assert (await client.delete(url("gitea", f"/repos/{REPO}/issues/{n}/labels/999999"), headers=h)).status_code == 422
    removed = await client.delete(url("gitea", f"/repos/{REPO}/issues/{n}/labels/{bug.id}"), headers=h)
    assert removed.status_code == 204
    assert [repo.labels[x].name for x in repo.issue(n).labels] == ["ui"]


# -- paging, ETags, rate limits -----------------------------------------------------------------
def _many_labels(forge: FakeForge, count: int) -> None:
    repo = forge.repo(REPO)
    for i in range(count):
        forge.ops.create_label(repo, "alice", f"label-{i:03d}", "ededed")
    forge.outbox.clear()


@pytest.mark.anyio
async def test_github_paging_links(forge: FakeForge, client: httpx.AsyncClient) -> None:
    _many_labels(forge, 120)
    h = auth(forge, "alice")
    first = await client.get(url("github", f"/repos/{REPO}/labels"), headers=h, params={"per_page": 500})
    assert len(first.json()) == 100
    links = first.links
    assert links["next"]["url"] == "http://fakeforge/api/v3/repos/acme/widgets/labels?per_page=100&page=2"
    assert links["last"]["url"].endswith("page=2") and "prev" not in links
    second = await client.get(links["next"]["url"], headers=h)
    assert [lb["name"] for lb in second.json()][0] == "label-100" and len(second.json()) == 20
    assert "next" not in second.links and second.links["first"]["url"].endswith("page=1")
    single = await client.get(url("github", f"/repos/{REPO}/branches"), headers=h)
    assert "link" not in single.headers


@pytest.mark.anyio
async def test_gitea_paging_is_capped_at_50(forge: FakeForge, client: httpx.AsyncClient) -> None:
    _many_labels(forge, 120)
    h = auth(forge, "alice")
    r = await client.get(url("gitea", f"/repos/{REPO}/labels"), headers=h, params={"limit": 100})
    assert len(r.json()) == 50 and r.headers["x-total-count"] == "120"
    assert r.links["next"]["url"].endswith("limit=50&page=2") and r.links["last"]["url"].endswith("page=3")
    last = await client.get(r.links["last"]["url"], headers=h)
    assert len(last.json()) == 20 and "next" not in last.links
    default = await client.get(url("gitea", f"/repos/{REPO}/labels"), headers=h)
    assert len(default.json()) == 30


@pytest.mark.anyio
async def test_etag_304_does_not_cost_rate_limit(forge: FakeForge, client: httpx.AsyncClient) -> None:
    h = auth(forge, "alice")
    path = url("github", f"/repos/{REPO}/labels")
    first = await client.get(path, headers=h)
    etag = first.headers["etag"]
    remaining = int(first.headers["x-ratelimit-remaining"])
    again = await client.get(path, headers={**h, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["x-ratelimit-remaining"]) == remaining
    assert forge.requests[-1].was_304 and not forge.requests[-2].was_304
    await client.post(path, headers=h, json={"name": "bug"})
    changed = await client.get(path, headers={**h, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "etag" not in (await client.get(url("gitea", f"/repos/{REPO}/labels"), headers=h)).headers


@pytest.mark.anyio
async def test_rate_limit_exhaustion_and_reset(forge: FakeForge, client: httpx.AsyncClient, clock: Clock) -> None:
    h = auth(forge, "alice")
    bucket = forge.rate_bucket(forge.token("alice"))
    bucket.remaining = 1
    ok = await client.get(url("github", f"/repos/{REPO}"), headers=h)
    assert ok.status_code == 200 and ok.headers["x-ratelimit-remaining"] == "0"
    assert ok.headers["x-ratelimit-resource"] == "core" and ok.headers["x-ratelimit-used"] == "5000"
    blocked = await client.get(url("github", f"/repos/{REPO}"), headers=h)
    assert blocked.status_code == 403 and "API rate limit exceeded" in blocked.json()["message"]
    with pytest.raises(RateLimitExceeded):
        decipher_response(blocked.status_code, blocked.headers, blocked.content)
    clock.now = float(bucket.reset)
    assert (await client.get(url("github", f"/repos/{REPO}"), headers=h)).headers["x-ratelimit-remaining"] == "4999"


# -- validation and errors ----------------------------------------------------------------------
@pytest.mark.anyio
async def test_validation_errors_per_platform(forge: FakeForge, client: httpx.AsyncClient) -> None:
    h = auth(forge, "alice")
    gh = await client.post(url("github", f"/repos/{REPO}/labels"), headers=h, json={"color": "ffffff"})
    assert gh.status_code == 422
    assert gh.json()["message"].startswith("Invalid request.\n\n") and gh.json()["documentation_url"]
    assert gh.json()["errors"][0]["field"] == "name" and gh.json()["errors"][0]["code"] == "missing_field"
    wrong_type = await client.patch(url("github", f"/repos/{REPO}"), headers={**h, **auth(forge, "carol")},
                                    json={"has_issues": "yes"})
    assert wrong_type.status_code == 422 and "is not a boolean" in wrong_type.json()["message"]
    broken = await client.post(url("github", f"/repos/{REPO}/labels"), headers=h, content=b"{nope")
    assert broken.status_code == 400 and broken.json()["message"] == "Problems parsing JSON"
    gt = await client.post(url("gitea", f"/repos/{REPO}/labels"), headers=h, json={"name": "bug"})
    assert gt.status_code == 422 and gt.json() == {"message": "[Color]: Required", "url": "http://fakeforge/api/swagger"}
    bad_state = await client.get(url("github", f"/repos/{REPO}/issues"), headers=h, params={"state": "bogus"})
    assert bad_state.status_code == 422
    missing = await client.get(url("gitea", f"/repos/{REPO}/issues/999"), headers=h)
    assert missing.status_code == 404 and set(missing.json()) == {"message", "url", "errors"}
    assert (await client.get(url("github", f"/repos/{REPO}/issues/999"), headers=h)).json()["message"] == "Not Found"
    assert forge.repo(REPO).labels == {}


# -- permissions ---------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_permissions_owner_collaborator_stranger(forge: FakeForge, client: httpx.AsyncClient,
                                                       platform: str) -> None:
    forge.add_user("acme-owner")
    forge.set_permission(REPO, "acme-owner", "admin")
    settings = {"github": {"description": "new"}, "gitea": {"description": "new"}}[platform]
    assert (await client.patch(url(platform, f"/repos/{REPO}"), headers=auth(forge, "carol"),
                               json=settings)).status_code == 200
    collab = await client.patch(url(platform, f"/repos/{REPO}"), headers=auth(forge, "alice"), json=settings)
    assert collab.status_code == 403
    label = {"name": "bug", "color": "ff0000"}
    assert (await client.post(url(platform, f"/repos/{REPO}/labels"), headers=auth(forge, "alice"),
                              json=label)).status_code == 201
    stranger = await client.post(url(platform, f"/repos/{REPO}/labels"), headers=auth(forge, "mallory"), json=label)
    assert stranger.status_code == 403
    assert (await client.get(url(platform, f"/repos/{REPO}"), headers=auth(forge, "mallory"))).status_code == 200
    assert (await client.get(url(platform, "/repos/acme/secret"), headers=auth(forge, "mallory"))).status_code == 404
    anonymous = await client.post(url(platform, f"/repos/{REPO}/labels"), json=label)
    assert anonymous.status_code == 401
    bad = await client.get(url(platform, f"/repos/{REPO}"), headers={"Authorization": "token nope"})
    assert bad.status_code == 401
    if platform == "github":
        assert bad.json()["message"] == "Bad credentials" and "documentation_url" in bad.json()
    else:
        assert set(bad.json()) == {"message", "url"}
    assert forge.repo(REPO).description == "new"


@pytest.mark.anyio
async def test_collaborator_permission_endpoint(forge: FakeForge, client: httpx.AsyncClient) -> None:
    gh = url("github", f"/repos/{REPO}/collaborators")
    maint = (await client.get(f"{gh}/maint/permission", headers=auth(forge, "alice"))).json()
    assert (maint["permission"], maint["role_name"], maint["user"]["login"]) == ("write", "maintain", "maint")
    tri = (await client.get(f"{gh}/tri/permission", headers=auth(forge, "alice"))).json()
    assert (tri["permission"], tri["role_name"]) == ("read", "triage")
    gt = url("gitea", f"/repos/{REPO}/collaborators")
    assert (await client.get(f"{gt}/carol/permission", headers=auth(forge, "alice"))).status_code == 403
    own = (await client.get(f"{gt}/alice/permission", headers=auth(forge, "alice"))).json()
    assert own["permission"] == "write"
    owner = (await client.get(f"{gt}/acme/permission", headers=auth(forge, "carol"))).json()
    assert owner["permission"] == "owner"
    put = await client.put(f"{gh}/mallory", headers=auth(forge, "carol"), json={"permission": "triage"})
    # GitHub invites: 201 with the invitation, and mallory is no collaborator until she accepts.
    assert put.status_code == 201 and put.json()["invitee"]["login"] == "mallory" and put.json()["permissions"] == "triage"
    assert "mallory" not in forge.repo(REPO).collaborators
    listed = (await client.get(gh, headers=auth(forge, "carol"))).json()
    assert "mallory" not in [c["login"] for c in listed]
    pending = (await client.get(url("github", f"/repos/{REPO}/invitations"), headers=auth(forge, "carol"))).json()
    assert [(i["invitee"]["login"], i["permissions"]) for i in pending] == [("mallory", "triage")]
    forge.actor("mallory").accept_invitation(REPO)
    assert forge.repo(REPO).collaborators["mallory"] == "triage" and not forge.repo(REPO).invitations
    again = await client.put(f"{gh}/mallory", headers=auth(forge, "carol"), json={"permission": "push"})
    assert again.status_code == 204 and forge.repo(REPO).collaborators["mallory"] == "write"
    # Gitea adds a collaborator at once.
    forge.add_user("dave")
    added = await client.put(f"{gt}/dave", headers=auth(forge, "carol"), json={"permission": "read"})
    assert added.status_code == 204 and forge.repo(REPO).collaborators["dave"] == "read"


@pytest.mark.anyio
async def test_who_may_be_assigned(forge: FakeForge, client: httpx.AsyncClient) -> None:
    """GitHub: collaborators. Gitea: anyone who can read the repository; a 500 for the others."""
    n = await forge.actor("alice").open_issue(REPO, "assign me")
    h = auth(forge, "alice")
    gh = await client.post(url("github", f"/repos/{REPO}/issues/{n}/assignees"), headers=h,
                           json={"assignees": ["alice", "mallory"]})
    assert gh.status_code == 201 and [a["login"] for a in gh.json()["assignees"]] == ["alice"]
    forge.repo(REPO).private = True
    refused = await client.patch(url("gitea", f"/repos/{REPO}/issues/{n}"), headers=h, json={"assignees": ["mallory"]})
    assert refused.status_code == 500 and forge.repo(REPO).issue(n).assignees == []  # alice removed first
    forge.repo(REPO).private = False
    reader = await client.patch(url("gitea", f"/repos/{REPO}/issues/{n}"), headers=h, json={"assignees": ["mallory"]})
    assert reader.status_code == 201 and [a["login"] for a in reader.json()["assignees"]] == ["mallory"]
    replaced = await client.patch(url("gitea", f"/repos/{REPO}/issues/{n}"), headers=h, json={"assignees": ["carol"]})
    assert replaced.status_code == 201 and [a["login"] for a in replaced.json()["assignees"]] == ["carol"]
    cleared = await client.patch(url("gitea", f"/repos/{REPO}/issues/{n}"), headers=h, json={"assignees": []})
    assert cleared.json()["assignees"] is None  # Gitea marshals an empty list as null
    assert forge.repo(REPO).issue(n).assignees == []


# -- webhooks -----------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_github_webhook_is_signed(forge: FakeForge) -> None:
    bot = Recorder()
    forge.deliver_webhooks("github", bot, secret=SECRET)
    n = await forge.actor("bob").open_issue(REPO, "it broke")
    alice = forge.actor("alice")
    cid = await alice.comment(REPO, n, "/claim")
    assert [d.status for d in alice.last] == [202]
    headers, body = bot.requests[-1]
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == expected
    assert headers["x-github-event"] == "issue_comment" and headers["user-agent"].startswith("GitHub-Hookshot/")
    assert headers["x-github-delivery"] == forge.deliveries[-1].id
    payload = json.loads(body)
    assert payload["action"] == "created" and payload["comment"]["id"] == cid
    assert payload["comment"]["body"] == "/claim" and payload["sender"]["login"] == "alice"
    assert bot.events() == [("issues", "opened"), ("issue_comment", "created")]


@pytest.mark.anyio
async def test_gitea_webhook_is_signed(forge: FakeForge) -> None:
    bot = Recorder()
    forge.deliver_webhooks("gitea", bot, secret=SECRET, path="/webhooks/gitea")
    alice = forge.actor("alice")
    await alice.push(REPO, "feature", {"new.txt": "x\n"})
    pr = await alice.open_pr(REPO, head="feature", base="main", title="Add new")
    await alice.comment(REPO, pr, "looks good")
    headers, body = bot.requests[-1]
    assert headers["x-gitea-signature"] == hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == "sha256=" + headers["x-gitea-signature"]
    assert headers["x-gitea-event"] == "issue_comment" == headers["x-github-event"]
    assert headers["x-gitea-event-type"] == "pull_request_comment"
    assert json.loads(body)["is_pull"] is True
    await alice.add_label(REPO, pr, "ready", "ui")
    label_headers, label_body = bot.requests[-1]
    payload = json.loads(label_body)
    assert label_headers["x-gitea-event-type"] == "pull_request_label" and payload["action"] == "label_updated"
    assert sorted(lb["name"] for lb in payload["pull_request"]["labels"]) == ["ready", "ui"]
    assert len(bot.requests) == 5  # create, push, opened, comment, one label_updated for two labels


@pytest.mark.anyio
async def test_api_changes_deliver_webhooks(forge: FakeForge, client: httpx.AsyncClient) -> None:
    bot = Recorder()
    forge.deliver_webhooks("github", bot, secret=SECRET)
    n = await forge.actor("bob").open_issue(REPO, "needs triage")
    r = await client.post(url("github", f"/repos/{REPO}/issues/{n}/labels"), headers=auth(forge, "alice"),
                          json={"labels": ["triaged"]})
    assert r.status_code == 200
    labeled = json.loads(bot.requests[-1][1])
    assert bot.events()[-1] == ("issues", "labeled")
    assert labeled["label"]["name"] == "triaged" and labeled["sender"]["login"] == "alice"
    forge.api_events = False
    await client.post(url("github", f"/repos/{REPO}/issues/{n}/comments"), headers=auth(forge, "alice"),
                      json={"body": "quiet"})
    assert bot.events()[-1] == ("issues", "labeled")


@pytest.mark.anyio
async def test_redelivery_ids(forge: FakeForge) -> None:
    gh, gt = Recorder(), Recorder()
    forge.deliver_webhooks("github", gh, secret=SECRET)
    forge.deliver_webhooks("gitea", gt, secret=SECRET)
    await forge.actor("bob").open_issue(REPO, "x")
    first_gh, first_gt = forge.deliveries[0], forge.deliveries[1]
    again = await forge.redeliver(first_gh.id)
    assert again.id == first_gh.id and again.redelivery and gh.requests[-1][1] == gh.requests[0][1]
    replay = await forge.redeliver(first_gt.id)
    assert replay.id != first_gt.id and gt.requests[-1][0]["x-gitea-delivery"] == replay.id


def _missing_keys(template: dict[str, Any], payload: dict[str, Any], skip: set[str]) -> set[str]:
    return {k for k in template if k not in payload and k not in skip}


@pytest.mark.anyio
async def test_webhook_payloads_have_reference_keys(forge: FakeForge) -> None:
    gh, gt = Recorder(), Recorder()
    forge.deliver_webhooks("github", gh)
    forge.deliver_webhooks("gitea", gt)
    alice, carol = forge.actor("alice"), forge.actor("carol")
    n = await alice.open_issue(REPO, "bug")
    await alice.add_label(REPO, n, "bug")
    await alice.comment(REPO, n, "hi")
    await alice.push(REPO, "feature", {"f.txt": "1\n"})
    pr = await alice.open_pr(REPO, head="feature", title="feature")
    await alice.push(REPO, "feature", {"f.txt": "2\n"})
    await alice.add_label(REPO, pr, "ready")
    await carol.review(REPO, pr, "approved")
    sent_gh = {(h["x-github-event"], json.loads(b).get("action")): json.loads(b) for h, b in gh.requests}
    optional = {"organization", "enterprise", "installation", "changes"}
    for event, action, name in [("issues", "opened", "issues.opened.json"), ("issues", "labeled", "issues.labeled.json"),
                                ("issue_comment", "created", "issue_comment.created.json"),
                                ("push", None, "push.json"), ("pull_request", "opened", "pull_request.opened.json"),
                                ("pull_request", "synchronize", "pull_request.synchronize.json"),
                                ("pull_request_review", "submitted", "pull_request_review.submitted.json")]:
        template, payload = reference("github-webhooks", name), sent_gh[(event, action)]
        assert not _missing_keys(template, payload, optional), name
        for sub in ("issue", "comment", "pull_request", "review", "repository", "sender", "label"):
            if isinstance(template.get(sub), dict):
                assert not _missing_keys(template[sub], payload[sub], {"performed_via_github_app"}), (name, sub)
    sent_gt = {(h["x-gitea-event-type"], json.loads(b).get("action")): json.loads(b) for h, b in gt.requests}
    for key, name in [(("pull_request_sync", "synchronized"), "pull_request.synchronized.2.json"),
                      (("pull_request_review_approved", "reviewed"), "pull_request_approved.reviewed.json"),
                      (("push", None), "push.4.json"), (("issues", "opened"), "issues.opened.json"),
                      (("pull_request_label", "label_updated"), "pull_request.label_updated.json"),
                      (("issue_comment", "created"), "issue_comment.created.json")]:
        template, payload = reference("gitea-webhooks", name), sent_gt[key]
        assert not _missing_keys(template, payload, {"secret"}), name
        for sub in ("pull_request", "issue", "repository", "sender"):
            if isinstance(template.get(sub), dict) and sub in payload:
                assert not _missing_keys(template[sub], payload[sub], {"flow"}), (name, sub)
    assert sent_gt[("pull_request_review_approved", "reviewed")]["review"]["type"] == "pull_request_review_approved"


# -- git: compare, merge, protection, refs, smart HTTP --------------------------------------------
@pytest.mark.anyio
async def test_compare_and_merge_through_git(forge: FakeForge, client: httpx.AsyncClient, platform: str) -> None:
    alice, carol = forge.actor("alice"), forge.actor("carol")
    repo = forge.repo(REPO)
    await alice.push(REPO, "feature", {"feature.txt": "one\n"}, message="first")
    head = await alice.push(REPO, "feature", {"feature.txt": "two\n", "README.md": None}, message="second")
    old_main = await carol.push(REPO, "main", {"CHANGELOG": "x\n"}, message="main moves")
    cmp = (await client.get(url(platform, f"/repos/{REPO}/compare/main...feature"), headers=auth(forge, "alice"))).json()
    assert cmp["total_commits"] == 2
    if platform == "github":
        assert (cmp["status"], cmp["ahead_by"], cmp["behind_by"]) == ("diverged", 2, 1)
        assert {f["filename"]: f["status"] for f in cmp["files"]} == {"feature.txt": "added", "README.md": "removed"}
    else:
        assert set(cmp) == {"commits", "total_commits"}
    pr = await alice.open_pr(REPO, head="feature", base="main", title="Feature")
    h = auth(forge, "alice")
    if platform == "github":
        stale = await client.put(url("github", f"/repos/{REPO}/pulls/{pr}/merge"), headers=h, json={"sha": "0" * 40})
        assert stale.status_code == 409
        merged = await client.put(url("github", f"/repos/{REPO}/pulls/{pr}/merge"), headers=h,
                                  json={"merge_method": "squash", "sha": head})
        assert merged.status_code == 200 and merged.json()["merged"] is True
    else:
        merged = await client.post(url("gitea", f"/repos/{REPO}/pulls/{pr}/merge"), headers=h, json={"Do": "squash"})
        assert merged.status_code == 200
    tip = repo.git.branches()["main"]
    info = repo.git.commit(tip)
    assert info.parents == [old_main] and info.message.startswith("Feature (#1)")
    assert repo.git.read_blob(tip, "feature.txt") == b"two\n" and repo.git.read_blob(tip, "README.md") is None
    assert (await client.get(url(platform, f"/repos/{REPO}/pulls/{pr}/merge"), headers=h)).status_code == 204
    state = (await client.get(url(platform, f"/repos/{REPO}/pulls/{pr}"), headers=h)).json()
    assert state["merged"] is True and state["state"] == "closed" and state["merge_commit_sha"] == tip


@pytest.mark.anyio
async def test_merge_methods_and_conflicts(forge: FakeForge, client: httpx.AsyncClient) -> None:
    alice, carol = forge.actor("alice"), forge.actor("carol")
    repo = forge.repo(REPO)
    await alice.push(REPO, "linear", {"a.txt": "a\n"}, message="a")
    await alice.push(REPO, "linear", {"b.txt": "b\n"}, message="b")
    base = await carol.push(REPO, "main", {"c.txt": "c\n"}, message="c")
    pr = await alice.open_pr(REPO, head="linear", title="Linear")
    r = await client.put(url("github", f"/repos/{REPO}/pulls/{pr}/merge"), headers=auth(forge, "alice"),
                         json={"merge_method": "rebase"})
    assert r.status_code == 200
    tip = repo.git.branches()["main"]
    messages = [repo.git.commit(s).message for s in repo.git.rev_list(base, tip)]
    assert messages == ["a", "b"] and len(repo.git.commit(tip).parents) == 1
    await alice.push(REPO, "clash", {"README.md": "theirs\n"}, from_ref=base)
    await carol.push(REPO, "main", {"README.md": "ours\n"})
    clash = await alice.open_pr(REPO, head="clash", title="Clash")
    pull = (await client.get(url("github", f"/repos/{REPO}/pulls/{clash}"), headers=auth(forge, "alice"))).json()
    assert pull["mergeable"] is False and pull["mergeable_state"] == "dirty"
    refused = await client.put(url("github", f"/repos/{REPO}/pulls/{clash}/merge"), headers=auth(forge, "alice"))
    assert refused.status_code == 405 and repo.issue(clash).state == "open"


@pytest.mark.anyio
async def test_branch_protection_is_shared(forge: FakeForge, client: httpx.AsyncClient) -> None:
    h = auth(forge, "carol")
    incomplete = await client.put(url("github", f"/repos/{REPO}/branches/main/protection"), headers=h,
                                  json={"required_status_checks": None, "enforce_admins": True, "restrictions": None})
    assert incomplete.status_code == 422
    body = {"required_status_checks": {"strict": True, "contexts": ["ci"]}, "enforce_admins": True,
            "required_pull_request_reviews": {"required_approving_review_count": 1}, "restrictions": None}
    put = await client.put(url("github", f"/repos/{REPO}/branches/main/protection"), headers=h, json=body)
    assert put.status_code == 200
    assert put.json()["required_pull_request_reviews"]["required_approving_review_count"] == 1
    assert put.json()["enforce_admins"]["enabled"] is True
    branches = (await client.get(url("gitea", f"/repos/{REPO}/branches"), headers=h)).json()
    assert {b["name"]: b["protected"] for b in branches} == {"main": True}
    rules = (await client.get(url("gitea", f"/repos/{REPO}/branch_protections"), headers=h)).json()
    assert rules[0]["rule_name"] == "main" and rules[0]["required_approvals"] == 1
    assert rules[0]["status_check_contexts"] == ["ci"]
    alice = forge.actor("alice")
    head = await alice.push(REPO, "feature", {"x.txt": "x\n"})
    pr = await alice.open_pr(REPO, head="feature", title="x")
    with pytest.raises(Exception, match="pull request"):
        await alice.push(REPO, "main", {"direct.txt": "no\n"})
    blocked = await client.post(url("gitea", f"/repos/{REPO}/pulls/{pr}/merge"), headers=auth(forge, "alice"),
                                json={"Do": "merge"})
    assert blocked.status_code == 405 and "approving review" in blocked.json()["message"]
    await forge.actor("carol").review(REPO, pr, "approved")
    await alice.set_status(REPO, head, "success", "ci")
    merged = await client.post(url("gitea", f"/repos/{REPO}/pulls/{pr}/merge"), headers=auth(forge, "alice"),
                               json={"Do": "merge"})
    assert merged.status_code == 200 and forge.repo(REPO).issue(pr).pull.merged  # type: ignore[union-attr]
    deleted = await client.delete(url("github", f"/repos/{REPO}/branches/main/protection"), headers=h)
    assert deleted.status_code == 204
    assert (await client.get(url("github", f"/repos/{REPO}/branches/main/protection"), headers=h)).json()["message"] \
        == "Branch not protected"


@pytest.mark.anyio
async def test_github_refs_and_gitea_branches(forge: FakeForge, client: httpx.AsyncClient) -> None:
    h = auth(forge, "alice")
    main = forge.repo(REPO).git.branches()["main"]
    refs = url("github", f"/repos/{REPO}/git/refs")
    created = await client.post(refs, headers=h, json={"ref": "refs/heads/topic", "sha": main})
    assert created.status_code == 201 and created.json()["object"]["sha"] == main
    assert (await client.post(refs, headers=h, json={"ref": "refs/heads/topic", "sha": main})).json()["message"] \
        == "Reference already exists"
    assert (await client.post(refs, headers=h, json={"ref": "topic2", "sha": main})).status_code == 422
    assert (await client.delete(f"{refs}/heads/main", headers=h)).status_code == 422
    gitea_branch = await client.post(url("gitea", f"/repos/{REPO}/branches"), headers=h,
                                     json={"new_branch_name": "topic", "old_ref_name": "main"})
    assert gitea_branch.status_code == 409
    assert (await client.delete(f"{refs}/heads/topic", headers=h)).status_code == 204
    listed = (await client.get(url("gitea", f"/repos/{REPO}/branches"), headers=h)).json()
    assert [b["name"] for b in listed] == ["main"] and listed[0]["commit"]["id"] == main
    assert listed[0]["commit"]["timestamp"] == "2023-11-14T22:13:20Z"
    default = await client.delete(url("gitea", f"/repos/{REPO}/branches/main"), headers=h)
    assert default.status_code == 403
    commit = (await client.get(url("github", f"/repos/{REPO}/commits/main"), headers=h)).json()
    assert commit["sha"] == main and commit["commit"]["committer"]["date"] == "2023-11-14T22:13:20Z"


@pytest.mark.anyio
async def test_push_to_pr_head_synchronizes(forge: FakeForge, platform: str) -> None:
    bot = Recorder()
    forge.deliver_webhooks(platform, bot)
    alice = forge.actor("alice")
    await alice.push(REPO, "feature", {"a": "1\n"})
    pr = await alice.open_pr(REPO, head="feature")
    sha = await alice.push(REPO, "feature", {"a": "2\n"})
    header = "x-github-event" if platform == "github" else "x-gitea-event-type"
    expected = ("pull_request", "synchronize") if platform == "github" else ("pull_request_sync", "synchronized")
    assert bot.events(header)[-1] == expected
    assert forge.repo(REPO).issue(pr).pull.head_sha == sha  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_reviews_per_platform(forge: FakeForge, client: httpx.AsyncClient) -> None:
    alice = forge.actor("alice")
    await alice.push(REPO, "feature", {"a": "1\n"})
    pr = await alice.open_pr(REPO, head="feature")
    own = await client.post(url("github", f"/repos/{REPO}/pulls/{pr}/reviews"), headers=auth(forge, "alice"),
                            json={"event": "APPROVE"})
    assert own.status_code == 422
    pending = await client.post(url("github", f"/repos/{REPO}/pulls/{pr}/reviews"), headers=auth(forge, "carol"),
                                json={"body": "draft"})
    assert pending.json()["state"] == "PENDING"
    github_spelling = await client.post(url("gitea", f"/repos/{REPO}/pulls/{pr}/reviews"),
                                        headers=auth(forge, "bob"), json={"event": "APPROVE"})
    assert github_spelling.json()["state"] == "PENDING"
    approved = await client.post(url("gitea", f"/repos/{REPO}/pulls/{pr}/reviews"), headers=auth(forge, "carol"),
                                 json={"event": "APPROVED", "body": "ok"})
    assert approved.json()["state"] == "APPROVED"
    changes = await client.post(url("github", f"/repos/{REPO}/pulls/{pr}/reviews"), headers=auth(forge, "bob"),
                                json={"event": "REQUEST_CHANGES"})
    assert changes.status_code == 422
    states = [r.state for r in forge.repo(REPO).issue(pr).pull.reviews]  # type: ignore[union-attr]
    assert states == ["PENDING", "PENDING", "APPROVED"]


@pytest.mark.anyio
async def test_pull_lookup_by_head(forge: FakeForge, client: httpx.AsyncClient) -> None:
    alice = forge.actor("alice")
    for branch in ("one", "two"):
        await alice.push(REPO, branch, {f"{branch}.txt": "x\n"})
        await alice.open_pr(REPO, head=branch)
    h = auth(forge, "alice")
    gh = (await client.get(url("github", f"/repos/{REPO}/pulls"), headers=h, params={"head": "acme:two"})).json()
    assert [p["head"]["ref"] for p in gh] == ["two"]
    other_owner = (await client.get(url("github", f"/repos/{REPO}/pulls"), headers=h, params={"head": "x:two"})).json()
    assert other_owner == []
    ignored = (await client.get(url("gitea", f"/repos/{REPO}/pulls"), headers=h, params={"head": "two"}))
    assert len(ignored.json()) == 2  # Gitea has no head filter
    by_branches = (await client.get(url("gitea", f"/repos/{REPO}/pulls/main/two"), headers=h)).json()
    assert by_branches["number"] == 2 and by_branches["head"]["ref"] == "two"


@pytest.mark.anyio
async def test_git_clone_and_push_over_smart_http(forge: FakeForge, tmp_path: Path) -> None:
    bot = Recorder()
    forge.deliver_webhooks("github", bot)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "alice", "GIT_AUTHOR_EMAIL": "alice@example.test",
           "GIT_COMMITTER_NAME": "alice", "GIT_COMMITTER_EMAIL": "alice@example.test"}
    async with forge.serve() as base:
        async with httpx.AsyncClient() as plain:
            denied = await plain.get(f"{base}/{REPO}.git/info/refs", params={"service": "git-upload-pack"})
            assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Basic")
            info = (await plain.get(f"{base}/api/v3/repos/{REPO}", headers=auth(forge, "alice"))).json()
        assert info["clone_url"] == f"{base}/{REPO}.git"
        no_creds = await anyio.run_process(["git", "clone", info["clone_url"], str(tmp_path / "anon")],
                                           env=env, check=False)
        assert no_creds.returncode != 0
        authed = base.replace("http://", f"http://x-access-token:{forge.token('alice')}@")
        work = tmp_path / "work"
        await anyio.run_process(["git", "clone", f"{authed}/{REPO}.git", str(work)], env=env)
        assert (work / "src" / "app.py").read_text() == "print('hi')\n"
        (work / "pushed.txt").write_text("over http\n")
        for args in (["add", "pushed.txt"], ["commit", "-qm", "via http"], ["push", "origin", "HEAD:refs/heads/wire"]):
            await anyio.run_process(["git", "-C", str(work), *args], env=env)
    repo = forge.repo(REPO)
    assert repo.git.read_blob("wire", "pushed.txt") == b"over http\n"
    assert ("push", None) in bot.events() and ("create", None) in bot.events()


# -- GitHub App auth ----------------------------------------------------------------------------
def _app_jwt(key: Any, app_id: int, now: float, lifetime: int = 540) -> str:
    return jwt.encode({"iat": int(now) - 60, "exp": int(now) + lifetime, "iss": str(app_id)}, key, algorithm="RS256")


@pytest.mark.anyio
async def test_app_jwt_installation_token_expiry(forge: FakeForge, client: httpx.AsyncClient, clock: Clock) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    forge.add_app(app_id=42, slug="forgebot", private_key_pem=pem)
    inst = forge.install_app(42, repos=[REPO])
    bearer = {"Authorization": f"Bearer {_app_jwt(key, 42, clock.now)}"}
    installs = (await client.get(url("github", "/app/installations"), headers=bearer)).json()
    assert [i["id"] for i in installs] == [inst]
    assert (await client.get(url("github", f"/repos/{REPO}/installation"), headers=bearer)).json()["id"] == inst
    too_long = {"Authorization": f"Bearer {_app_jwt(key, 42, clock.now, lifetime=3600)}"}
    assert (await client.post(url("github", f"/app/installations/{inst}/access_tokens"),
                              headers=too_long)).status_code == 401
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {"Authorization": f"Bearer {_app_jwt(other_key, 42, clock.now)}"}
    assert (await client.get(url("github", "/app/installations"), headers=forged)).status_code == 401
    made = await client.post(url("github", f"/app/installations/{inst}/access_tokens"), headers=bearer)
    assert made.status_code == 201 and made.json()["expires_at"] == "2023-11-14T23:13:20Z"
    token = {"Authorization": f"token {made.json()['token']}"}
    n = await forge.actor("bob").open_issue(REPO, "hello bot")
    comment = await client.post(url("github", f"/repos/{REPO}/issues/{n}/comments"), headers=token, json={"body": "hi"})
    assert comment.json()["user"]["login"] == "forgebot[bot]" and comment.json()["user"]["type"] == "Bot"
    listed = (await client.get(url("github", "/installation/repositories"), headers=token)).json()
    assert [r["full_name"] for r in listed["repositories"]] == [REPO]
    assert (await client.get(url("github", "/repos/acme/secret"), headers=token)).status_code == 404
    clock.now += 3601
    expired = await client.get(url("github", f"/repos/{REPO}"), headers=token)
    assert expired.status_code == 401 and expired.json()["message"] == "Bad credentials"
    stale_jwt = await client.get(url("github", "/app/installations"), headers=bearer)
    assert stale_jwt.status_code == 401


# -- faults -------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_faults_fail_then_recover(forge: FakeForge, client: httpx.AsyncClient) -> None:
    h = auth(forge, "alice")
    forge.faults.add("GET", "/repos/{owner}/{repo}/labels", status=502, times=2)
    statuses = [(await client.get(url("github", f"/repos/{REPO}/labels"), headers=h)).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert [r.fault for r in forge.requests[-3:]] == [True, True, False]
    forge.faults.add(path="/repos/{owner}/{repo}", status=429, retry_after=7, platform="gitea")
    limited = await client.get(url("gitea", f"/repos/{REPO}"), headers=h)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert (await client.get(url("gitea", f"/repos/{REPO}"), headers=h)).status_code == 200
    forge.faults.add("GET", "/repos/{owner}/{repo}", status=403)
    primary = await client.get(url("github", f"/repos/{REPO}"), headers=h)
    assert primary.headers["x-ratelimit-remaining"] == "0"
    with pytest.raises(RateLimitExceeded):
        decipher_response(primary.status_code, primary.headers, primary.content)
    delays: list[float] = []

    async def record_delay(seconds: float) -> None:
        delays.append(seconds)

    forge.faults.sleep = record_delay
    forge.faults.add("GET", "^/repos/acme/widgets$", status=None, latency=0.2)
    slow = await client.get(url("github", f"/repos/{REPO}"), headers=h)
    assert slow.status_code == 200 and delays == [0.2]


# -- honesty: responses match the platforms' own descriptions -----------------------------------
@pytest.mark.anyio
async def test_responses_match_reference_schemas(forge: FakeForge, client: httpx.AsyncClient) -> None:
    alice, carol = forge.actor("alice"), forge.actor("carol")
    n = await alice.open_issue(REPO, "schema", body="check me")
    await alice.add_label(REPO, n, "bug")
    await alice.assign(REPO, n, "alice")
    cid = await alice.comment(REPO, n, "hello")
    head = await alice.push(REPO, "feature", {"f.txt": "1\n"})
    pr = await alice.open_pr(REPO, head="feature", title="Feature")
    await carol.review(REPO, pr, "approved")
    await alice.set_status(REPO, head, "success", "ci")
    h, admin = auth(forge, "alice"), auth(forge, "carol")
    for platform in ("github", "gitea"):
        await client.post(url(platform, f"/repos/{REPO}/milestones"), headers=h, json={"title": f"v-{platform}"})
        for path in ["", "/labels", "/issues", f"/issues/{n}", f"/issues/{n}/comments", f"/issues/{n}/labels",
                     "/branches", "/branches/main", "/pulls", f"/pulls/{pr}", f"/pulls/{pr}/files",
                     f"/pulls/{pr}/reviews", "/compare/main...feature", f"/commits/{head}/status", "/milestones",
                     "/topics", "/contents/README.md", "/collaborators", "/collaborators/alice/permission"]:
            r = await client.get(url(platform, f"/repos/{REPO}{path}"), headers=h)
            assert r.status_code == 200, (platform, path, r.text)
        for path in ["/hooks"]:
            await client.post(url(platform, f"/repos/{REPO}{path}"), headers=admin,
                              json={"type": "gitea", "config": {"url": "http://x/", "content_type": "json"}}
                              if platform == "gitea" else {"config": {"url": "http://x/"}})
    await client.post(url("github", f"/repos/{REPO}/issues/comments/{cid}/reactions"), headers=h, json={"content": "+1"})
    await client.post(url("github", f"/repos/{REPO}/statuses/{head}"), headers=h, json={"state": "pending"})
    await client.put(url("github", f"/repos/{REPO}/branches/main/protection"), headers=admin,
                     json={"required_status_checks": None, "enforce_admins": None,
                           "required_pull_request_reviews": None, "restrictions": {"users": ["alice"], "teams": []}})
    await client.get(url("github", f"/repos/{REPO}/branches/main/protection"), headers=admin)
    await client.post(url("gitea", f"/repos/{REPO}/branch_protections"), headers=admin, json={"rule_name": "rel/*"})
    checked = 0
    for entry in forge.requests:
        if entry.platform == "git" or not entry.route or entry.status >= 300 or entry.response is None:
            continue
        validator = response_validator(entry.platform, entry.method, entry.route, entry.status)
        if validator is not None:
            errors = [e.message for e in validator.iter_errors(entry.response)]
            assert not errors, (entry.platform, entry.method, entry.path, [(list(e.absolute_path), e.message[:200]) for e in validator.iter_errors(entry.response)][:6])
            checked += 1
    assert checked >= 40
    gitea_objects = {"Repository": f"/repos/{REPO}", "Issue": f"/repos/{REPO}/issues/{n}",
                     "PullRequest": f"/repos/{REPO}/pulls/{pr}", "Label": f"/repos/{REPO}/labels/{{label}}",
                     "User": "/user", "Branch": f"/repos/{REPO}/branches/main"}
    label_id = next(iter(forge.repo(REPO).labels))
    for definition, path in gitea_objects.items():
        data = (await client.get(url("gitea", path.format(label=label_id)), headers=h)).json()
        # Gitea leaves out these `omitempty` pointers when they are unset.
        omitted = {"external_tracker", "external_wiki"} if definition == "Repository" else set()
        missing = gitea_definition_keys(definition) - set(data) - omitted
        assert not missing, (definition, missing)


@pytest.mark.anyio
async def test_contents_and_raw(forge: FakeForge, client: httpx.AsyncClient) -> None:
    h = auth(forge, "alice")
    gh = (await client.get(url("github", f"/repos/{REPO}/contents/src/app.py"), headers=h)).json()
    assert base64.b64decode(gh["content"]) == b"print('hi')\n" and gh["encoding"] == "base64" and gh["type"] == "file"
    listing = (await client.get(url("github", f"/repos/{REPO}/contents/src"), headers=h)).json()
    assert [e["path"] for e in listing] == ["src/app.py"]
    await forge.actor("alice").push(REPO, "feature", {"src/app.py": "print('bye')\n"})
    raw = await client.get(url("gitea", f"/repos/{REPO}/raw/src/app.py"), headers=h, params={"ref": "feature"})
    assert raw.text == "print('bye')\n"
    gt = (await client.get(url("gitea", f"/repos/{REPO}/contents/src/app.py"), headers=h, params={"ref": "main"})).json()
    assert base64.b64decode(gt["content"]) == b"print('hi')\n" and gt["last_commit_sha"]
    assert (await client.get(url("github", f"/repos/{REPO}/contents/nope.txt"), headers=h)).status_code == 404
    assert (await client.get(url("gitea", f"/repos/{REPO}/raw/nope.txt"), headers=h)).status_code == 404


@pytest.mark.anyio
async def test_module_serves_on_loopback(tmp_path: Path) -> None:
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with await anyio.open_process([sys.executable, "-m", "tests.fakeforge", "--port", str(port),
                                         "--root", str(tmp_path), "--gitea-version", "1.23"],
                                        cwd=Path(__file__).parents[1]) as proc:
        try:
            assert proc.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                line += await proc.stdout.receive(1)
            tokens = json.loads(line)["tokens"]
            async with httpx.AsyncClient() as c:
                for _ in range(100):
                    try:
                        r = await c.get(f"http://127.0.0.1:{port}/api/v1/repos/{REPO}",
                                        headers={"Authorization": f"token {tokens['alice']}"})
                        break
                    except httpx.ConnectError:
                        await anyio.sleep(0.05)
            assert r.json()["permissions"]["push"] is True
            async with httpx.AsyncClient() as c:
                assert (await c.get(f"http://127.0.0.1:{port}/api/v1/version")).json() == {"version": "1.23.0"}
        finally:
            proc.terminate()
            await proc.wait()


# -- smaller resources --------------------------------------------------------------------------
@pytest.mark.anyio
async def test_milestones_topics_hooks(forge: FakeForge, client: httpx.AsyncClient, platform: str) -> None:
    h, admin = auth(forge, "alice"), auth(forge, "carol")
    repo = forge.repo(REPO)
    made = await client.post(url(platform, f"/repos/{REPO}/milestones"), headers=h,
                             json={"title": "v1", "due_on": "2030-01-02T00:00:00Z"})
    assert made.status_code == 201 and made.json()["due_on"] == "2030-01-02T00:00:00Z"
    key = made.json()["number"] if platform == "github" else made.json()["id"]
    n = await forge.actor("alice").open_issue(REPO, "planned")
    planned = await client.patch(url(platform, f"/repos/{REPO}/issues/{n}"), headers=h, json={"milestone": key})
    assert planned.json()["milestone"]["title"] == "v1"
    closed = await client.patch(url(platform, f"/repos/{REPO}/milestones/{key}"), headers=h, json={"state": "closed"})
    assert closed.json()["state"] == "closed" and closed.json()["closed_at"]
    assert (await client.get(url(platform, f"/repos/{REPO}/milestones"), headers=h)).json() == []
    assert (await client.delete(url(platform, f"/repos/{REPO}/milestones/{key}"), headers=h)).status_code == 204
    assert repo.milestones == {}
    assert repo.issues[n].milestone is None
    assert (await client.get(url(platform, f"/repos/{REPO}/issues/{n}"), headers=h)).json()["milestone"] is None
    if platform == "github":
        topics = await client.put(url("github", f"/repos/{REPO}/topics"), headers=admin, json={"names": ["Bots", "ci"]})
        assert topics.json() == {"names": ["bots", "ci"]}
        hook = await client.post(url("github", f"/repos/{REPO}/hooks"), headers=admin,
                                 json={"config": {"url": "https://bot.test/hook", "secret": "s3"}, "events": ["push"]})
        assert hook.json()["config"]["secret"] == "********" and hook.json()["config"]["content_type"] == "form"
    else:
        topics = await client.put(url("gitea", f"/repos/{REPO}/topics"), headers=admin, json={"topics": ["Bots", "ci"]})
        assert topics.status_code == 204
        hook = await client.post(url("gitea", f"/repos/{REPO}/hooks"), headers=admin, json={
            "type": "gitea", "config": {"url": "https://bot.test/hook", "content_type": "json", "secret": "s3"}})
        assert hook.json()["active"] is False and "secret" not in hook.json()["config"]
    assert repo.topics == ["bots", "ci"]
    assert [h.config["secret"] for h in repo.hooks.values()] == ["s3"]
    refused = await client.get(url(platform, f"/repos/{REPO}/hooks"), headers=h)
    assert refused.status_code == 403


@pytest.mark.anyio
async def test_statuses_and_check_runs(forge: FakeForge, client: httpx.AsyncClient, clock: Clock) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forge.add_app(7, "checker", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    app_token = forge.issue_installation_token(forge.install_app(7, [REPO])).value
    h = auth(forge, "alice")
    sha = forge.repo(REPO).git.branches()["main"]
    await client.post(url("github", f"/repos/{REPO}/statuses/{sha}"), headers=h, json={"state": "pending", "context": "ci"})
    await client.post(url("gitea", f"/repos/{REPO}/statuses/{sha}"), headers=h, json={"state": "warning", "context": "lint"})
    gh = (await client.get(url("github", f"/repos/{REPO}/commits/main/status"), headers=h)).json()
    assert gh["state"] == "pending" and gh["total_count"] == 2
    await client.post(url("github", f"/repos/{REPO}/statuses/{sha}"), headers=h, json={"state": "success", "context": "ci"})
    gt = (await client.get(url("gitea", f"/repos/{REPO}/commits/main/status"), headers=h)).json()
    assert gt["state"] == "warning" and [s["status"] for s in gt["statuses"]] == ["warning", "success"]
    as_user = await client.post(url("github", f"/repos/{REPO}/check-runs"), headers=h, json={"name": "t", "head_sha": sha})
    assert as_user.status_code == 403
    bot = {"Authorization": f"token {app_token}"}
    run = await client.post(url("github", f"/repos/{REPO}/check-runs"), headers=bot,
                            json={"name": "tests", "head_sha": sha, "status": "in_progress"})
    assert run.status_code == 201 and run.json()["app"]["slug"] == "checker"
    done = await client.patch(url("github", f"/repos/{REPO}/check-runs/{run.json()['id']}"), headers=bot,
                              json={"conclusion": "success"})
    assert done.json()["status"] == "completed" and done.json()["completed_at"]
    listed = (await client.get(url("github", f"/repos/{REPO}/commits/{sha}/check-runs"), headers=h)).json()
    assert listed["total_count"] == 1 and listed["check_runs"][0]["conclusion"] == "success"


@pytest.mark.anyio
async def test_gitea_glob_protection_and_tags(forge: FakeForge, client: httpx.AsyncClient) -> None:
    admin = auth(forge, "carol")
    carol = forge.actor("carol")
    await carol.push(REPO, "release/1.0", {"v": "1\n"})
    rule = await client.post(url("gitea", f"/repos/{REPO}/branch_protections"), headers=admin,
                             json={"rule_name": "release/*", "required_approvals": 2})
    assert rule.status_code == 201 and rule.json()["enable_push"] is False
    again = await client.post(url("gitea", f"/repos/{REPO}/branch_protections"), headers=admin, json={"rule_name": "release/*"})
    assert again.status_code == 403
    with pytest.raises(Exception, match="Not allowed to push"):
        await carol.push(REPO, "release/1.0", {"v": "2\n"})
    branch = (await client.get(url("github", f"/repos/{REPO}/branches/release/1.0"), headers=admin)).json()
    assert branch["protected"] is True
    refused = await client.delete(url("gitea", f"/repos/{REPO}/branches/release/1.0"), headers=admin)
    assert refused.status_code == 403 and refused.json()["message"] == "branch protected"
    tag = await client.post(url("gitea", f"/repos/{REPO}/tags"), headers=admin,
                            json={"tag_name": "v1.0", "target": "main", "message": "first release"})
    assert tag.status_code == 201 and tag.json()["message"].strip() == "first release"
    ref = (await client.get(url("github", f"/repos/{REPO}/git/ref/tags/v1.0"), headers=admin)).json()
    assert ref["object"]["type"] == "tag" and ref["object"]["sha"] == tag.json()["id"]
    assert (await client.post(url("gitea", f"/repos/{REPO}/tags"), headers=admin,
                              json={"tag_name": "v1.0"})).status_code == 409


@pytest.mark.anyio
async def test_search_queue_mode_and_app_deliveries(forge: FakeForge, client: httpx.AsyncClient) -> None:
    bot = Recorder()
    forge.deliver_webhooks("github", bot, secret=SECRET)
    forge.api_events = "queue"
    n = await forge.actor("bob").open_issue(REPO, "flaky test on CI", body="it fails")
    h = auth(forge, "alice")
    await client.post(url("github", f"/repos/{REPO}/issues/{n}/labels"), headers=h, json=["ci"])
    assert bot.events() == [("issues", "opened")] and len(forge.outbox) == 2
    # GitHub creates a label that does not exist yet, which is a `label` event of its own.
    assert [(d.event, d.action) for d in await forge.flush()] == [("label", "created"), ("issues", "labeled")]
    found = await client.get(url("github", "/search/issues"), headers=h,
                             params={"q": f"repo:{REPO} is:issue is:open label:ci flaky"})
    assert [i["number"] for i in found.json()["items"]] == [n]
    assert (await client.get(url("github", "/search/issues"), headers=h,
                             params={"q": f"repo:{REPO} is:closed"})).json()["total_count"] == 0
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forge.add_app(9, "deliverer", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    bearer = {"Authorization": f"Bearer {_app_jwt(key, 9, START)}"}
    listed = (await client.get(url("github", "/app/hook/deliveries"), headers=bearer)).json()
    assert [d["action"] for d in listed] == ["labeled", "created", "opened"] and listed[0]["status"] == "OK"
    retry = await client.post(url("github", f"/app/hook/deliveries/{listed[2]['id']}/attempts"), headers=bearer)
    assert retry.status_code == 202
    assert bot.requests[-1][0]["x-github-delivery"] == listed[2]["guid"]
