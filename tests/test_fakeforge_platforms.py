"""The emulator where GitHub and Gitea differ: Gitea versions, GitHub invitations, webhook rules."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fakeforge import FakeForge

pytestmark = pytest.mark.anyio
REPO = "acme/widgets"
GT, GH = "/api/v1", "/api/v3"
NEWER_PROTECTION_FIELDS = {"enable_force_push", "enable_force_push_allowlist", "force_push_allowlist_usernames",
                           "force_push_allowlist_teams", "force_push_allowlist_deploy_keys",
                           "block_admin_merge_override", "priority"}


def make_forge(root: Path, **options: str) -> FakeForge:
    forge = FakeForge(root, **options)  # type: ignore[arg-type]
    forge.add_user("carol")
    forge.create_repo(REPO, files={"README.md": "hi\n"})
    forge.set_permission(REPO, "carol", "admin")
    return forge


async def _call(forge: FakeForge, method: str, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=forge.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fakeforge") as client:
        headers = {"Authorization": f"token {forge.token('carol')}"}
        return await client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("version, newer", [("1.22", False), ("1.23", True), ("1.24.3", True)])
async def test_the_gitea_version_decides_the_protection_fields(tmp_path: Path, version: str, newer: bool) -> None:
    forge = make_forge(tmp_path, gitea_version=version)
    assert (await _call(forge, "GET", f"{GT}/version")).json()["version"].startswith(version)
    body = {"rule_name": "main", "enable_push": True, "required_approvals": 1, "block_admin_merge_override": True,
            "enable_force_push": True, "priority": 3}
    created = await _call(forge, "POST", f"{GT}/repos/{REPO}/branch_protections", json=body)
    assert created.status_code == 201
    assert (NEWER_PROTECTION_FIELDS <= set(created.json())) is newer
    rule = forge.repo(REPO).protections["main"]
    # 1.22's decoder drops what it does not know: the request changes nothing there.
    assert (rule.enforce_admins, rule.allow_force_pushes, rule.gitea.get("priority")) == ((True, True, 3) if newer else (False, False, None))


async def test_github_invites_and_lists_pending_invitations_by_the_openapi_shapes(tmp_path: Path) -> None:
    from tests.fakeforge.validate import response_validator

    forge = make_forge(tmp_path)
    forge.add_user("dave")
    put = await _call(forge, "PUT", f"{GH}/repos/{REPO}/collaborators/dave", json={"permission": "push"})
    listed = await _call(forge, "GET", f"{GH}/repos/{REPO}/invitations")
    assert put.status_code == 201 and [i["invitee"]["login"] for i in listed.json()] == ["dave"]
    for status, method, route, data in ((201, "PUT", "/repos/{owner}/{repo}/collaborators/{username}", put.json()),
                                        (200, "GET", "/repos/{owner}/{repo}/invitations", listed.json())):
        validator = response_validator("github", method, route, status)
        assert validator is not None and not list(validator.iter_errors(data))
    members = await _call(forge, "GET", f"{GH}/repos/{REPO}/collaborators")
    assert "dave" not in [m["login"] for m in members.json()]
    # Validated against the 113-operation OpenAPI subset, which has the invitation operations.
    refused = await _call(forge, "PATCH", f"{GH}/repos/{REPO}/invitations/{put.json()['id']}", json={"permissions": "boss"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "permissions"
    changed = await _call(forge, "PATCH", f"{GH}/repos/{REPO}/invitations/{put.json()['id']}", json={"permissions": "maintain"})
    assert changed.json()["permissions"] == "maintain"
    forge.actor("dave").accept_invitation(REPO)
    members = await _call(forge, "GET", f"{GH}/repos/{REPO}/collaborators")
    assert {m["login"]: m["role_name"] for m in members.json()}["dave"] == "maintain"
    assert (await _call(forge, "GET", f"{GH}/repos/{REPO}/invitations")).json() == []


async def test_github_keeps_one_hook_per_url(tmp_path: Path) -> None:
    forge = make_forge(tmp_path)
    first = await _call(forge, "POST", f"{GH}/repos/{REPO}/hooks", json={"config": {"url": "https://a.test/"}})
    again = await _call(forge, "POST", f"{GH}/repos/{REPO}/hooks", json={"config": {"url": "https://a.test/"}})
    assert first.status_code == 201 and again.status_code == 422
    assert again.json()["errors"] == [{"resource": "Hook", "code": "custom", "message": "Hook already exists on this repository"}]
    other = await _call(forge, "POST", f"{GH}/repos/{REPO}/hooks", json={"config": {"url": "https://b.test/"}})
    moved = await _call(forge, "PATCH", f"{GH}/repos/{REPO}/hooks/{other.json()['id']}", json={"config": {"url": "https://a.test/"}})
    assert moved.status_code == 422 and len(forge.repo(REPO).hooks) == 2


async def test_gitea_reads_hook_events_back_as_switches(tmp_path: Path) -> None:
    forge = make_forge(tmp_path)
    made = await _call(forge, "POST", f"{GT}/repos/{REPO}/hooks", json={
        "type": "gitea", "config": {"url": "https://a.test/", "content_type": "json"},
        "events": ["pull_request", "issue_comment", "no_such_event"], "active": True})
    assert made.status_code == 201
    assert made.json()["events"] == [
        "issue_comment", "pull_request", "pull_request_assign", "pull_request_label", "pull_request_milestone",
        "pull_request_comment", "pull_request_review_approved", "pull_request_review_rejected",
        "pull_request_review_comment", "pull_request_sync", "pull_request_review_request"]
    hook_id = made.json()["id"]
    edited = await _call(forge, "PATCH", f"{GT}/repos/{REPO}/hooks/{hook_id}", json={"active": False})
    assert edited.json()["events"] == ["push"]  # an edit without events resets them to push, as Gitea does
    same_url = await _call(forge, "POST", f"{GT}/repos/{REPO}/hooks", json={
        "type": "gitea", "config": {"url": "https://a.test/", "content_type": "json"}})
    assert same_url.status_code == 201 and same_url.json()["events"] == ["push"]  # no one-per-URL rule
