"""OWNERS and the review fold, table-tested against Prow's documented rules (kubernetes/community
contributors/guide/owners.md: inheritance, no_parent_owners, aliases, case, cancel, the author)."""

from __future__ import annotations

import pytest

from bot.forges.base import Permission
from bot.review.owners import Owners, OwnersError, owners_paths, requirements
from bot.review.state import Facts, Remark, Rules, derive

TREE = {
    "OWNERS": "approvers: [root-approver]\nreviewers: [root-reviewer]\n",
    "api/OWNERS": "approvers: [API-Team]\nreviewers: [bob]\n",
    "api/internal/OWNERS": "options: {no_parent_owners: true}\napprovers: [dave]\n",
    "docs/OWNERS": "reviewers: [erin]\n",  # reviewers only: approvals come from above
    "lib/OWNERS": None,  # no such file
}
ALIASES = "aliases:\n  api-team:\n    - Alice\n    - carol\n"


def tree() -> Owners:
    return Owners.parse(TREE, ALIASES)


@pytest.mark.parametrize(
    ("path", "nearest", "approvers"),
    [
        ("README.md", "OWNERS", {"root-approver"}),  # root files: the root OWNERS
        ("OWNERS", "OWNERS", {"root-approver"}),  # an OWNERS file covers itself
        ("api/handler.go", "api/OWNERS", {"alice", "carol", "root-approver"}),  # alias, case, inheritance
        ("api/v1/deep/x.go", "api/OWNERS", {"alice", "carol", "root-approver"}),  # nearest file above
        ("api/internal/secret.go", "api/internal/OWNERS", {"dave"}),  # no_parent_owners stops the climb
        ("docs/guide.md", "OWNERS", {"root-approver"}),  # an OWNERS without approvers is skipped
        ("lib/util.py", "OWNERS", {"root-approver"}),
    ],
)
def test_who_may_approve_a_file(path: str, nearest: str, approvers: set[str]) -> None:
    assert tree().approvers_of(path) == (nearest, frozenset(approvers))


def test_reviewers_come_from_the_chain_and_fall_back_to_approvers() -> None:
    assert tree().reviewers_of("docs/guide.md") == {"erin", "root-reviewer"}
    assert tree().reviewers_of("api/internal/x.go") == {"dave"}


def test_the_files_to_read_are_every_directory_up_to_the_root() -> None:
    assert owners_paths(["a/b/c.py", "a/d.py", "e.md"]) == ["a/b/OWNERS", "a/OWNERS", "OWNERS"]


def test_broken_owners_files_are_named() -> None:
    with pytest.raises(OwnersError, match="api/OWNERS: approvers must be a list"):
        Owners.parse({"api/OWNERS": "approvers: alice\n"})
    with pytest.raises(OwnersError, match="OWNERS_ALIASES"):
        Owners.parse({}, "aliases: [a, b]\n")


def test_one_requirement_per_nearest_owners_file() -> None:
    needed = requirements(tree(), ["api/a.go", "api/b.go", "README.md", "api/internal/c.go"], None)
    assert [(r.path, r.files) for r in needed] == [
        ("OWNERS", ("README.md",)),
        ("api/OWNERS", ("api/a.go", "api/b.go")),
        ("api/internal/OWNERS", ("api/internal/c.go",)),
    ]


def test_without_owners_files_the_fallback_decides() -> None:
    assert requirements(Owners(), ["x.py"], frozenset({"lead"}))[0].approvers == {"lead"}
    assert requirements(Owners(), ["x.py"], None)[0].approvers is None  # anyone with write access


LEVELS = {"alice": Permission.WRITE, "carol": Permission.WRITE, "dave": Permission.WRITE,
          "root-approver": Permission.ADMIN, "rev": Permission.WRITE, "reader": Permission.READ,
          "author": Permission.WRITE, "triager": Permission.TRIAGE}


def comment(n: int, who: str, text: str) -> Remark:
    return Remark("comment", n, who, text)


def review(n: int, who: str, state: str) -> Remark:
    return Remark("review", n, who, "", state)


def fold(remarks: list[Remark], changed: tuple[str, ...] = ("api/x.go",), *, rules: Rules = Rules(),
         labels: frozenset[str] = frozenset(), since: dict[str, int] | None = None, owners: Owners | None = None):
    facts = Facts("author", remarks, changed, owners if owners is not None else tree(), LEVELS, labels, since or {})
    return derive(facts, rules)


@pytest.mark.parametrize(
    ("remarks", "lgtm"),
    [
        ([comment(1, "rev", "/lgtm")], ("rev",)),
        ([comment(1, "reader", "/lgtm")], ()),  # below review.lgtm_level
        ([comment(1, "author", "/lgtm")], ()),  # the author cannot lgtm their own
        ([comment(1, "rev", "/lgtm"), comment(2, "author", "/lgtm cancel")], ()),  # but may cancel
        ([comment(1, "rev", "/lgtm"), comment(2, "alice", "/lgtm cancel"), comment(3, "carol", "/lgtm")], ("carol",)),
        ([comment(1, "rev", "/lgtm"), comment(2, "reader", "/lgtm cancel")], ("rev",)),  # cancel needs the level too
        ([comment(1, "rev", "/forgebot lgtm")], ("rev",)),
        ([comment(1, "rev", "```\n/lgtm\n```")], ()),  # code is not a command
        ([review(1, "rev", "approved")], ("rev",)),  # an approving review from a collaborator
        ([comment(1, "rev", "/lgtm"), review(2, "rev", "changes_requested")], ()),
        ([review(1, "rev", "commented")], ()),
    ],
)
def test_lgtm(remarks: list[Remark], lgtm: tuple[str, ...]) -> None:
    assert fold(remarks).lgtm == lgtm


def test_lgtm_written_before_the_tree_changed_no_longer_counts() -> None:
    remarks = [comment(1, "rev", "/lgtm"), review(7, "carol", "approved"), comment(9, "alice", "/lgtm")]
    state = fold(remarks, changed=("README.md",), since={"comment": 5, "review": 7})
    assert state.lgtm == ("alice",)


@pytest.mark.parametrize(
    ("remarks", "changed", "rules", "approved", "missing"),
    [
        ([comment(1, "alice", "/approve")], ("api/x.go",), Rules(), True, []),
        ([comment(1, "root-approver", "/approve")], ("api/x.go", "docs/y.md"), Rules(), True, []),  # a parent covers all below
        ([comment(1, "alice", "/approve")], ("api/x.go", "README.md"), Rules(), False, ["OWNERS"]),
        ([comment(1, "root-approver", "/approve")], ("api/internal/z.go",), Rules(), False, ["api/internal/OWNERS"]),
        ([comment(1, "alice", "/approve"), comment(2, "alice", "/approve cancel")], ("api/x.go",), Rules(), False, ["api/OWNERS"]),
        ([comment(1, "rev", "/approve")], ("api/x.go",), Rules(), False, ["api/OWNERS"]),  # not an approver
        ([review(1, "carol", "approved")], ("api/x.go",), Rules(), True, []),  # an approving review from an approver
        ([review(1, "carol", "approved")], ("api/x.go",), Rules(reviews_count=False), False, ["api/OWNERS"]),
        ([comment(1, "alice", "/approve"), review(2, "alice", "changes_requested")], ("api/x.go",), Rules(), False, ["api/OWNERS"]),
    ],
)
def test_approvals(remarks: list[Remark], changed: tuple[str, ...], rules: Rules, approved: bool, missing: list[str]) -> None:
    state = fold(remarks, changed, rules=rules)
    assert state.approved is approved
    assert [a.requirement.path for a in state.approvals if not a.done] == missing


def test_the_author_approves_only_when_the_repository_allows_it() -> None:
    owners = Owners.parse({"OWNERS": "approvers: [author]\n"})
    remarks = [comment(1, "author", "/approve")]
    assert not fold(remarks, ("x",), owners=owners).approved
    assert fold(remarks, ("x",), owners=owners, rules=Rules(author_can_approve=True)).approved


def test_without_owners_review_approvers_or_write_access_approve() -> None:
    remarks = [comment(1, "reader", "/approve"), comment(2, "rev", "/approve")]
    assert fold(remarks[:1], ("x",), owners=Owners()).approved is False
    assert fold(remarks, ("x",), owners=Owners()).approvers == ("rev",)
    listed = Rules(fallback_approvers=frozenset({"reader"}))
    assert fold(remarks, ("x",), owners=Owners(), rules=listed).approvers == ("reader",)


@pytest.mark.parametrize(
    ("remarks", "labels", "held", "by"),
    [
        ([comment(1, "triager", "/hold")], frozenset(), True, "triager"),
        ([comment(1, "reader", "/hold")], frozenset(), False, None),  # needs triage (or to be the author)
        ([comment(1, "author", "/hold"), comment(2, "alice", "/hold cancel")], frozenset(), False, None),
        ([comment(1, "author", "/hold"), comment(2, "alice", "/unhold")], frozenset(), False, None),
        ([], frozenset({"do-not-merge/hold"}), True, ""),  # the label put on by hand
        ([comment(1, "alice", "/unhold")], frozenset({"do-not-merge/hold"}), False, None),
    ],
)
def test_hold(remarks: list[Remark], labels: frozenset[str], held: bool, by: str | None) -> None:
    state = fold(remarks, labels=labels)
    assert (state.held, state.held_by) == (held, by)


def test_what_is_missing_reads_in_order() -> None:
    state = fold([comment(1, "author", "/hold")], ("api/x.go", "README.md"))
    assert state.missing() == ["held by @author", "needs an approver for OWNERS", "needs an approver for api/OWNERS",
                               "needs /lgtm"]


def test_reviewers_are_drawn_by_changed_lines_never_the_author() -> None:
    from bot.forges.base import FileChange
    from bot.review.choose import choose_reviewers, reviewer_weights

    changes = [FileChange("api/a.go", 90, 10), FileChange("docs/x.md", 1, 0), FileChange("README.md", 0, 0)]
    weights = reviewer_weights(tree(), changes)
    assert weights == {"bob": 100, "root-reviewer": 102, "erin": 1}
    picked = choose_reviewers(weights, 2, author="bob", seed="acme/widgets#1")
    assert len(picked) == 2 and "bob" not in picked
    assert picked == choose_reviewers(weights, 2, author="bob", seed="acme/widgets#1")  # repeatable
    assert choose_reviewers(weights, 5, author="x", seed="s", skip=["erin"]) and len(choose_reviewers(weights, 5, author="x", seed="s")) == 3
    heavy = [choose_reviewers({"a": 1000, "b": 1}, 1, author="x", seed=str(n))[0] for n in range(50)]
    assert heavy.count("a") > 40  # weighted by lines
