"""The planner, table-driven: desired file + observed state -> the literal plan."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date
from typing import Any

import pytest

from bot.forges.base import BranchProtection, Capabilities, Collaborator, Hook, Label, Milestone, Permission, RepoSettings
from bot.gitops.plan import Change, ChangeKind, Observed, deletion_limit, plan
from config.repo import ProtectionSpec, RepoConfig, RepositorySettings

C, U, R, D = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.RENAME, ChangeKind.DELETE
GITHUB = Capabilities(True, True, True, False, True, True, True, True)
GITEA = Capabilities(False, False, False, True, False, False, True, False)


def observed(**values: Any) -> Observed:
    return Observed(capabilities=values.pop("capabilities", GITHUB), **values)


CASES: list[tuple[str, dict[str, Any], Observed, tuple[Change, ...]]] = [
    (
        "nothing managed, nothing planned",
        {},
        observed(labels=(Label("bug", "d73a4a"),), settings=RepoSettings(has_wiki=True)),
        (),
    ),
    (
        "label created with defaults for what the file leaves out",
        {"labels": [{"name": "bug", "color": "#D73A4A"}]},
        observed(labels=()),
        (Change(C, "label:bug", None, Label("bug", "d73a4a", ""), "in the file, not on the platform"),),
    ),
    (
        "names match without case; only fields the file sets are compared",
        {"labels": [{"name": "Bug", "color": "d73a4a"}]},
        observed(labels=(Label("bug", "D73A4A".lower(), "whatever it says"),)),
        (),
    ),
    (
        "colour differs: update keeps the description",
        {"labels": [{"name": "bug", "color": "ff0000"}]},
        observed(labels=(Label("bug", "d73a4a", "Broken", 7),)),
        (Change(U, "label:bug", Label("bug", "d73a4a", "Broken", 7), Label("bug", "ff0000", "Broken", 7), "color differ"),),
    ),
    (
        "rename_from renames instead of creating and deleting",
        {"labels": [{"name": "kind/bug", "rename_from": "bug", "description": "Broken"}], "policy": {"labels": "authoritative"}},
        observed(labels=(Label("bug", "d73a4a", "old", 3),)),
        (Change(R, "label:bug", Label("bug", "d73a4a", "old", 3), Label("kind/bug", "d73a4a", "Broken", 3), "renamed to kind/bug"),),
    ),
    (
        "additive never deletes",
        {"labels": [{"name": "bug"}]},
        observed(labels=(Label("bug"), Label("wontfix"))),
        (),
    ),
    (
        "authoritative deletes the unlisted, except protected patterns",
        {"labels": [{"name": "bug"}], "policy": {"labels": {"mode": "authoritative", "protect": ["external/*"]}}},
        observed(labels=(Label("bug"), Label("wontfix"), Label("External/ci"))),
        (Change(D, "label:wontfix", Label("wontfix"), None, "not in the file (authoritative)"),),
    ),
    (
        "settings: one update with only the differing, known fields",
        {"repository": {"has_wiki": False, "description": "Widgets", "homepage": "https://x.test", "has_issues": True}},
        observed(settings=RepoSettings(description="Old", homepage=None, has_wiki=True, has_issues=True)),
        (Change(U, "repository", {"description": "Old", "has_wiki": True}, {"description": "Widgets", "has_wiki": False}, "description, has_wiki differ"),),
    ),
    (
        "topics additive: adds, keeps extra",
        {"topics": ["python", "bots"]},
        observed(topics=("python", "legacy")),
        (Change(U, "topics", ("legacy", "python"), ("bots", "legacy", "python"), "add bots"),),
    ),
    (
        "topics authoritative: exact set, order ignored",
        {"topics": ["bots", "python"], "policy": {"topics": "authoritative"}},
        observed(topics=("python", "legacy")),
        (Change(U, "topics", ("legacy", "python"), ("bots", "python"), "add bots; remove legacy", removal=True),),
    ),
    (
        "protection created, and left alone when equal in what the file sets",
        {"branches": [{"name": "main", "protection": {"required_approvals": 1, "required_status_checks": ["b", "a"]}},
                      {"name": "dev", "protection": {"required_approvals": 2}}]},
        observed(protections={"main": None, "dev": BranchProtection("dev", required_approvals=2, enforce_admins=True)}),
        (Change(C, "branch_protection:main", None, BranchProtection("main", required_approvals=1, required_status_checks=("b", "a")), "not protected yet"),),
    ),
    (
        "protection update keeps unmanaged fields; status check order ignored",
        {"branches": [{"name": "main", "protection": {"required_approvals": 2, "required_status_checks": ["a", "b"]}}]},
        observed(protections={"main": BranchProtection("main", required_approvals=1, required_status_checks=("b", "a"), enforce_admins=True)}),
        (Change(U, "branch_protection:main", BranchProtection("main", 1, None, ("b", "a"), True), BranchProtection("main", 2, None, ("a", "b"), True), "required_approvals differ"),),
    ),
    (
        "explicitly unprotected, and authoritative removes unlisted protection",
        {"branches": [{"name": "old", "protection": None}], "policy": {"branches": "authoritative"}},
        observed(protections={"old": BranchProtection("old", 1)}, protected_branches=("old", "release")),
        (
            Change(D, "branch_protection:old", BranchProtection("old", 1), None, "the file says unprotected"),
            Change(D, "branch_protection:release", None, None, "not in the file (authoritative)"),
        ),
    ),
    (
        "milestones created and updated; authoritative closes, never deletes",
        {"milestones": [{"title": "v1", "due_on": "2026-12-31"}, {"title": "v2", "state": "closed"}], "policy": {"milestones": "authoritative"}},
        observed(milestones=(Milestone("v2", state="open", id=2), Milestone("old", state="open", id=1))),
        (
            Change(C, "milestone:v1", None, Milestone("v1", "", date(2026, 12, 31), "open"), "in the file, not on the platform"),
            Change(U, "milestone:v2", Milestone("v2", state="open", id=2), Milestone("v2", state="closed", id=2), "state differ"),
            Change(U, "milestone:old", Milestone("old", state="open", id=1), Milestone("old", state="closed", id=1), "not in the file (authoritative): close", removal=True),
        ),
    ),
    (
        "collaborators: add, change, and never touch the bot itself",
        {"collaborators": {"alice": "write", "bob": "admin", "forgebot[bot]": "read"}, "policy": {"collaborators": "authoritative"}},
        observed(collaborators=(Collaborator("Bob", Permission.WRITE), Collaborator("carol", Permission.READ), Collaborator("forgebot[bot]", Permission.ADMIN)), bot_login="forgebot[bot]"),
        (
            Change(C, "collaborator:alice", None, Collaborator("alice", Permission.WRITE), "give write"),
            Change(U, "collaborator:bob", Collaborator("Bob", Permission.WRITE), Collaborator("bob", Permission.ADMIN), "write -> admin"),
            Change(D, "collaborator:carol", Collaborator("carol", Permission.READ), None, "not in the file (authoritative)"),
        ),
    ),
    (
        "Gitea has no triage: a triage grant is read there, so a reader is no drift",
        {"collaborators": {"alice": "triage", "bob": "maintain"}},
        observed(collaborators=(Collaborator("alice", Permission.READ), Collaborator("bob", Permission.ADMIN)), capabilities=GITEA),
        (Change(U, "collaborator:bob", Collaborator("bob", Permission.ADMIN), Collaborator("bob", Permission.WRITE), "admin -> write"),),
    ),
    (
        "webhooks by URL; the bot's own hook is never removed",
        {"webhooks": [{"url": "https://ci.test/hook", "events": ["push", "pull_request"]}], "policy": {"webhooks": "authoritative"}},
        observed(
            hooks=(Hook("https://ci.test/hook", ("push",), True, "json", 1), Hook("https://bot.test/webhooks/github", ("*",), True, "json", 2), Hook("https://old.test", ("push",), True, "json", 3)),
            own_hook=lambda url: url.startswith("https://bot.test/"),
        ),
        (
            Change(U, "webhook:https://ci.test/hook", Hook("https://ci.test/hook", ("push",), True, "json", 1), Hook("https://ci.test/hook", ("pull_request", "push"), True, "json", 1), "events differ"),
            Change(D, "webhook:https://old.test", Hook("https://old.test", ("push",), True, "json", 3), None, "not in the file (authoritative)"),
        ),
    ),
    (
        "unreadable sections are unknown, not drift",
        {"labels": [{"name": "bug"}], "collaborators": {"alice": "write"}, "repository": {"has_wiki": False}},
        observed(labels=None, collaborators=None, settings=RepoSettings(has_wiki=None)),
        (),
    ),
]


@pytest.mark.parametrize(("why", "desired", "seen", "expected"), CASES, ids=[c[0] for c in CASES])
def test_plan(why: str, desired: dict[str, Any], seen: Observed, expected: tuple[Change, ...]) -> None:
    assert plan(RepoConfig.model_validate(desired), seen) == expected


def test_changes_come_in_apply_order() -> None:
    desired = RepoConfig.model_validate(
        {"webhooks": [{"url": "https://h.test"}], "labels": [{"name": "x"}], "repository": {"has_wiki": False}, "topics": ["t"]}
    )
    seen = observed(labels=(), hooks=(), topics=(), settings=RepoSettings(has_wiki=True))
    assert [c.resource for c in plan(desired, seen)] == ["repository", "label", "topics", "webhook"]


def test_deletion_limit_stops_big_removals() -> None:
    desired = RepoConfig.model_validate({"labels": [], "policy": {"labels": "authoritative", "max_deletions": 2}})
    seen = observed(labels=tuple(Label(f"l{n}") for n in range(3)))
    changes = plan(desired, seen)
    assert len(changes) == 3
    reason = deletion_limit(changes, desired.policy.max_deletions)
    assert reason is not None and "removes 3 things" in reason and "max_deletions=2" in reason
    assert deletion_limit(changes[:2], 2) is None


def test_what_counts_against_the_deletion_limit_is_marked_by_the_planner_not_read_from_its_words() -> None:
    desired = RepoConfig.model_validate(
        {"milestones": [{"title": "kept", "state": "closed"}], "topics": ["a"], "policy": {"milestones": "authoritative", "topics": "authoritative"}}
    )
    seen = observed(milestones=(Milestone("kept", id=1), Milestone("old", id=2)), topics=("a", "b"))
    changes = {c.target: c for c in plan(desired, seen)}
    assert {t: c.removes for t, c in changes.items()} == {"milestone:kept": False, "milestone:old": True, "topics": True}
    reworded = {t: replace(c, why=f"reworded: {c.why}") for t, c in changes.items()}  # the reason is for people
    assert {t: c.removes for t, c in reworded.items()} == {"milestone:kept": False, "milestone:old": True, "topics": True}
    assert deletion_limit(reworded.values(), 1) is not None and deletion_limit(reworded.values(), 2) is None
    assert not replace(changes["milestone:kept"], why="not in use any more: close").removes


@pytest.mark.parametrize(
    ("platform_side", "file_side", "only_on_the_platform_side"),
    [(RepoSettings, RepositorySettings, set()), (BranchProtection, ProtectionSpec, {"branch"})],
    ids=["repository", "branch protection"],
)
def test_the_file_and_the_forge_name_the_same_settings(platform_side: Any, file_side: Any, only_on_the_platform_side: set[str]) -> None:
    """The planner walks the forge's fields and reads the file's by the same name: a setting added
    on one side only would be silently never managed (or never compared)."""
    forge = {f.name: str(f.type) for f in fields(platform_side) if f.name not in only_on_the_platform_side}
    config = {name: str(f.annotation) for name, f in file_side.model_fields.items()}
    assert forge == config


# What each platform answers for a hook made with events [push, issues, pull_request]: GitHub lists
# the events as given, Gitea 1.22 lists every sub-event of a group as well.
HOOK_AS_READ = {
    "github": ["push", "issues", "pull_request"],
    "gitea": ["push", "issues", "issue_assign", "issue_label", "issue_milestone", "issue_comment", "pull_request",
              "pull_request_assign", "pull_request_label", "pull_request_milestone", "pull_request_comment",
              "pull_request_review_approved", "pull_request_review_rejected", "pull_request_review_comment",
              "pull_request_sync", "pull_request_review_request"],
}


@pytest.mark.parametrize("platform", ["github", "gitea"])
def test_a_webhook_as_the_platform_reads_it_back_is_no_drift(platform: str) -> None:
    from bot.forges import gitea_json
    from bot.forges.github_models import hook_from

    data = {"id": 1, "active": True, "events": HOOK_AS_READ[platform],
            "config": {"url": "https://ci.test/hook", "content_type": "json"}}
    hook = hook_from(data) if platform == "github" else gitea_json.hook(data)
    from bot.forges.gitea_hooks import events_as_read

    as_read = events_as_read if platform == "gitea" else (lambda events: tuple(sorted(set(events))))
    seen = observed(hooks=(hook,), capabilities=GITHUB if platform == "github" else GITEA, hook_events=as_read)
    desired = RepoConfig.model_validate({"webhooks": [{"url": "https://ci.test/hook", "events": ["push", "issues", "pull_request"]}]})
    assert plan(desired, seen) == ()
    if platform == "gitea":  # a sub-event of a group the file also names is in the group
        desired = RepoConfig.model_validate({"webhooks": [{"url": "https://ci.test/hook", "events": ["push", "issues", "issue_label", "pull_request", "pull_request_sync"]}]})
        assert plan(desired, seen) == ()


GITEA_1_22 = replace(GITEA, protection_force_push=False, protection_admin_enforcement=False, server="Gitea 1.22")


@pytest.mark.parametrize(
    "capabilities, have, changes, notes",
    [
        # Gitea 1.22 refuses force pushes and lets admins override, whatever the file says:
        # asking for either on is a note, asking for it off is what the server does already.
        (GITEA_1_22, BranchProtection("main", 1, enforce_admins=False, allow_force_push=False), (),
         ["branch main: allow_force_push is not supported by Gitea 1.22",
          "branch main: enforce_admins is not supported by Gitea 1.22"]),
        (GITEA_1_22, None, (Change(C, "branch_protection:main", None, BranchProtection("main", 1), "not protected yet"),),
         ["branch main: allow_force_push is not supported by Gitea 1.22",
          "branch main: enforce_admins is not supported by Gitea 1.22"]),
        (GITHUB, BranchProtection("main", 1, enforce_admins=False, allow_force_push=False),
         (Change(U, "branch_protection:main", BranchProtection("main", 1, enforce_admins=False, allow_force_push=False),
                 BranchProtection("main", 1, enforce_admins=True, allow_force_push=True), "enforce_admins, allow_force_push differ"),),
         []),
    ],
)
def test_protection_a_server_cannot_have_is_a_note_not_drift(capabilities: Capabilities, have: Any, changes: tuple[Change, ...], notes: list[str]) -> None:
    from bot.gitops.plan import plan_notes

    desired = RepoConfig.model_validate({"branches": [{"name": "main", "protection": {"required_approvals": 1, "enforce_admins": True, "allow_force_push": True}}]})
    seen = observed(protections={"main": have}, capabilities=capabilities)
    assert (plan(desired, seen), plan_notes(desired, seen)) == (changes, notes)


def test_pending_invitations_are_noted_changed_or_withdrawn_never_sent_again() -> None:
    from bot.forges.base import Invitation
    from bot.gitops.plan import plan_notes

    desired = RepoConfig.model_validate({"collaborators": {"alice": "write", "bob": "maintain"}, "policy": {"collaborators": "authoritative"}})
    pending = (Invitation("alice", Permission.WRITE, 7), Invitation("bob", Permission.READ, 8), Invitation("eve", Permission.ADMIN, 9))
    seen = observed(collaborators=(), invitations=pending)
    assert plan(desired, seen) == (
        Change(U, "collaborator:bob", pending[1], Collaborator("bob", Permission.MAINTAIN), "invitation read -> maintain"),
        Change(D, "collaborator:eve", pending[2], None, "invited, not in the file (authoritative)"),
    )
    assert plan_notes(desired, seen) == ["collaborator alice: invited as write, not yet accepted",
                                         "collaborator bob: invited as read, not yet accepted"]
