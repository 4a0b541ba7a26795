"""The event model: every recorded payload through receiver, inbox and normalizer; Gitea's mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.events import MalformedPayload, normalize, parse_body
from tests.conftest import REFERENCE, reference_payloads

GITHUB = reference_payloads("github")
GITEA = reference_payloads("gitea")

# Where Gitea's names for a recorded payload (its event and action, as in the reference index)
# differ from what forgebot calls them (GitHub's vocabulary). Every other payload keeps its names.
GITEA_RENAMED = {
    "pull_request.synchronized.2.json": ("pull_request", "synchronize"),
    "pull_request.label_updated.json": ("pull_request", "labels_changed"),
    "pull_request.label_updated.2.json": ("pull_request", "labels_changed"),
    "pull_request.label_cleared.json": ("pull_request", "labels_changed"),
    "pull_request_approved.reviewed.json": ("pull_request_review", "submitted"),
    "pull_request_rejected.reviewed.json": ("pull_request_review", "submitted"),
    "pull_request_comment.reviewed.json": ("pull_request_review", "submitted"),
}


@pytest.mark.parametrize(("entry", "raw"), GITHUB, ids=[e["file"] for e, _ in GITHUB])
def test_every_github_payload_normalizes(entry: dict[str, Any], raw: bytes) -> None:
    event = normalize("github", entry["event"], json.loads(raw), delivery_id="d")
    assert (event.name, event.action) == (entry["event"], entry["action"])
    payload = json.loads(raw)
    if "repository" in payload:
        assert event.repo is not None and event.repo.full_name == payload["repository"]["full_name"]
    if entry["event"] in ("issues", "issue_comment", "pull_request", "pull_request_review"):
        assert event.issue is not None and event.subject and event.subject.endswith(f"#{event.issue.number}")
    if entry["event"] == "issue_comment":
        assert event.comment is not None and event.comment.body == payload["comment"]["body"]
    if entry["event"] == "pull_request":
        assert event.issue and event.issue.is_pull and event.issue.head_sha == payload["pull_request"]["head"]["sha"]
    if entry["event"] == "push":
        assert event.push is not None and event.push.after == payload["after"]


@pytest.mark.parametrize(("entry", "raw"), GITEA, ids=[e["file"] for e, _ in GITEA])
def test_every_gitea_payload_normalizes(entry: dict[str, Any], raw: bytes) -> None:
    event = normalize("gitea", entry["event"], json.loads(raw), delivery_id="d", event_type=entry["x_gitea_event_type_inferred"])
    assert (event.name, event.action) == GITEA_RENAMED.get(entry["file"], (entry["event"], entry["action"]))
    payload = json.loads(raw)
    assert event.repo is not None and event.repo.full_name == payload["repository"]["full_name"]
    if event.name in ("issues", "issue_comment", "pull_request", "pull_request_review"):
        number = payload.get("number") or (payload.get("pull_request") or payload["issue"])["number"]
        assert event.issue is not None and event.subject == f"gitea:{event.repo.full_name}#{number}"
    if event.name == "issue_comment":
        assert event.comment is not None and event.comment.body == payload["comment"]["body"]
    if event.name == "pull_request":
        assert event.issue and event.issue.is_pull and event.issue.head_sha == payload["pull_request"]["head"]["sha"]
    if event.name == "push":
        assert event.push is not None and event.push.after == payload["after"]


def test_gitea_renames_name_recorded_payloads() -> None:
    assert set(GITEA_RENAMED) <= {entry["file"] for entry, _ in GITEA}


def test_gitea_reviews_carry_the_github_review_state() -> None:
    states = {}
    for entry, raw in GITEA:
        if entry["action"] == "reviewed":
            event = normalize("gitea", entry["event"], json.loads(raw), event_type=entry["x_gitea_event_type_inferred"])
            assert event.review is not None and event.issue is not None and event.issue.is_pull
            states[entry["event"]] = event.review.state
    assert states == {
        "pull_request_approved": "approved",
        "pull_request_rejected": "changes_requested",
        "pull_request_comment": "commented",
    }


def test_gitea_pr_conversation_comments_are_issue_comments_on_a_pull() -> None:
    payload = json.loads((REFERENCE / "gitea-webhooks" / "issue_comment.created.json").read_text())
    payload["is_pull"] = True
    for event_type in ("pull_request_comment", "issue_comment"):  # newer and older Gitea
        event = normalize("gitea", "issue_comment", payload, event_type=event_type)
        assert (event.name, event.action) == ("issue_comment", "created")
        assert event.issue is not None and event.issue.is_pull and event.comment is not None


def test_gitea_label_events_carry_the_whole_set_and_no_delta() -> None:
    payload = json.loads((REFERENCE / "gitea-webhooks" / "pull_request.label_updated.json").read_text())
    event = normalize("gitea", "pull_request", payload, event_type="pull_request_label")
    assert event.label is None
    assert event.issue is not None and event.issue.labels == tuple(l["name"] for l in payload["pull_request"]["labels"])


def test_github_label_events_name_the_changed_label() -> None:
    payload = json.loads((REFERENCE / "github-webhooks" / "issues.unlabeled.json").read_text())
    event = normalize("github", "issues", payload)
    assert (event.action, event.label) == ("unlabeled", payload["label"]["name"])


def test_merged_pull_requests_say_so_on_both_platforms() -> None:
    gitea = json.loads((REFERENCE / "gitea-webhooks" / "pull_request.closed.merged.2.json").read_text())
    event = normalize("gitea", "pull_request", gitea, event_type="pull_request")
    assert event.action == "closed" and event.issue is not None and event.issue.merged is True
    github = json.loads((REFERENCE / "github-webhooks" / "pull_request.closed.json").read_text())
    github["pull_request"]["merged"] = True  # upstream has no merged example; the field is the same
    assert normalize("github", "pull_request", github).issue.merged is True  # type: ignore[union-attr]


def test_edited_comments_keep_the_previous_body() -> None:
    payload = json.loads((REFERENCE / "github-webhooks" / "issue_comment.edited.json").read_text())
    event = normalize("github", "issue_comment", payload)
    assert event.comment is not None and event.comment.previous_body == payload["changes"]["body"]["from"]


def test_edited_gitea_comments_keep_the_previous_body() -> None:
    # No edited Gitea comment is recorded: the created one gets the action of an edit and the
    # `changes` block Gitea sends with it (one ChangesPayload, recorded on an edited pull request).
    payload = json.loads((REFERENCE / "gitea-webhooks" / "issue_comment.created.json").read_text())
    recorded = json.loads((REFERENCE / "gitea-webhooks" / "pull_request.edited.3.json").read_text())["changes"]
    payload |= {"action": "edited", "changes": {"body": {**recorded["body"], "from": "the first wording"}}}
    event = normalize("gitea", "issue_comment", payload, event_type="issue_comment")
    assert (event.name, event.action) == ("issue_comment", "edited")
    assert event.comment is not None and event.comment.previous_body == "the first wording"
    assert event.comment.body == payload["comment"]["body"]


def test_subjects_order_one_issue_or_one_ref() -> None:
    push = normalize("github", "push", json.loads((REFERENCE / "github-webhooks" / "push.5.json").read_text()))
    create = normalize("github", "create", json.loads((REFERENCE / "github-webhooks" / "create.json").read_text()))
    ping = normalize("github", "ping", json.loads((REFERENCE / "github-webhooks" / "ping.json").read_text()))
    assert push.subject == "github:Codertocat/Hello-World@refs/heads/master"
    assert create.subject == "github:Codertocat/Hello-World@refs/tags/simple-tag"
    assert ping.subject is None


@pytest.mark.parametrize(
    ("file", "subject"),
    [
        ("push.json", "gitea:gogits/hello-world@refs/heads/master"),
        ("create.tag.2.json", "gitea:gordon/hello-world@refs/tags/v1.0.0"),  # Gitea sends the bare tag name
        ("issues.opened.json", "gitea:gogits/hello-world#1"),
        ("issue_comment.created.json", "gitea:gogits/hello-world#1"),
        ("pull_request.opened.2.json", "gitea:gordon/hello-world#1"),  # the number only at the top level
        ("release.published.json", None),
    ],
)
def test_gitea_subjects_order_one_issue_or_one_ref(file: str, subject: str | None) -> None:
    entry, raw = next((e, r) for e, r in GITEA if e["file"] == file)
    event = normalize("gitea", entry["event"], json.loads(raw), event_type=entry["x_gitea_event_type_inferred"])
    assert event.subject == subject


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/json"), (b"[1]", "application/json"), (b"payload=%7B", "application/x-www-form-urlencoded"), (b"other=1", "application/x-www-form-urlencoded")],
)
def test_undecodable_bodies_raise_malformed(body: bytes, content_type: str) -> None:
    with pytest.raises(MalformedPayload):
        parse_body(body, content_type)


def test_payloads_missing_required_parts_raise_malformed() -> None:
    with pytest.raises(MalformedPayload, match="issue_comment"):
        normalize("github", "issue_comment", {"action": "created", "issue": {"title": "no number"}})


@pytest.mark.parametrize(
    ("file", "breaks"),
    [
        ("issue_comment.created.json", lambda p: p["issue"].pop("number")),
        ("issues.opened.json", lambda p: (p.pop("number"), p["issue"].pop("number"))),
        ("pull_request.opened.json", lambda p: (p.pop("number"), p["pull_request"].pop("number"))),
        ("pull_request_approved.reviewed.json", lambda p: (p.pop("number"), p["pull_request"].pop("number"))),
        ("push.json", lambda p: p.pop("ref")),
        ("create.tag.2.json", lambda p: p.pop("ref")),
        ("issue_comment.created.json", lambda p: p["comment"].update(id="not a number")),
    ],
)
def test_gitea_payloads_missing_required_parts_raise_malformed(file: str, breaks: Any) -> None:
    entry, raw = next((e, r) for e, r in GITEA if e["file"] == file)
    payload = json.loads(raw)
    breaks(payload)
    with pytest.raises(MalformedPayload, match=entry["event"]):
        normalize("gitea", entry["event"], payload, event_type=entry["x_gitea_event_type_inferred"])


@pytest.mark.anyio
async def test_every_recorded_payload_goes_through_receiver_and_workers(harness_factory: Any) -> None:
    async with harness_factory() as h:
        for n, (entry, raw) in enumerate(GITHUB):
            response = await h.post_github(raw, entry["event"], f"gh-{n}")
            assert response.status_code == 202, entry["file"]
        for n, (entry, raw) in enumerate(GITEA):
            response = await h.post_gitea(raw, entry["event"], entry["x_gitea_event_type_inferred"], f"gt-{n}")
            assert response.status_code == 202, entry["file"]
        await h.app.wait_idle()
        rows = h.rows("SELECT platform, status, repo, last_error FROM deliveries")
    assert len(rows) == len(GITHUB) + len(GITEA)
    assert {status for _, status, _, _ in rows} <= {"done", "ignored"}
    assert all(error is None for *_, error in rows)
    # The worker normalized each one: every payload with a repository has it recorded.
    with_repo = sum(1 for _, raw in GITHUB + GITEA if "repository" in json.loads(raw))
    assert sum(1 for _, _, repo, _ in rows if repo) == with_repo


def _recorded_push(platform: str, name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / f"{platform}-webhooks" / name).read_text())


def test_a_push_listing_every_commit_is_not_truncated() -> None:
    for platform, name in [("github", "push.5.json"), ("github", "push.json"), ("gitea", "push.4.json"), ("gitea", "push.json")]:
        event = normalize(platform, "push", _recorded_push(platform, name), event_type="push")
        assert event.push is not None and not event.push.truncated, (platform, name)


def test_a_gitea_push_cut_to_its_feed_size_is_truncated() -> None:
    payload = _recorded_push("gitea", "push.4.json")  # three commits of three
    payload["total_commits"] = 8  # FEED_MAX_COMMIT_NUM cut the list
    event = normalize("gitea", "push", payload, event_type="push")
    assert event.push is not None and event.push.truncated and len(event.push.commits) == 3
    legacy = _recorded_push("gitea", "push.json")  # Gitea before 1.18: no total_commits
    legacy["commits"] = legacy["commits"] * 5  # as many as the default feed size: maybe more were pushed
    assert normalize("gitea", "push", legacy, event_type="push").push.truncated  # type: ignore[union-attr]


def test_a_github_push_at_its_listing_limits_is_truncated() -> None:
    payload = _recorded_push("github", "push.5.json")
    [commit] = payload["commits"]
    payload["commits"] = [dict(commit, id=f"{n:040x}") for n in range(2048)]
    assert normalize("github", "push", payload).push.truncated  # type: ignore[union-attr]
    payload["commits"] = [commit] * 25  # more than the 20 of GitHub's timeline events: still every commit
    assert not normalize("github", "push", payload).push.truncated  # type: ignore[union-attr]
    payload["commits"] = [dict(commit, added=[f"f{n}" for n in range(3000)])]
    assert normalize("github", "push", payload).push.truncated  # type: ignore[union-attr]
