"""The cleanup planner, table-driven: what it decides for each kind of branch, with no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.cleanup.analysis import Analysis, Head
from bot.cleanup.plan import Change, Kind, Notice, Observed, archive_tag, login_of, plan
from bot.forges.base import PullRecord
from config.repo import CleanupOptions

DAY = 86400.0
NOW = 1_800_000_000.0
MAIN = Head("main", "m" * 40, NOW - DAY, "Alice", "alice@users.noreply.github.com")


def head(name: str, age_days: float, sha: str | None = None, email: str = "9+bob@users.noreply.github.com") -> Head:
    return Head(name, sha or (name.replace("/", "")[:1] * 40), NOW - age_days * DAY, "Bob", email)


def observed(*heads: Head, reachable: tuple[str, ...] = (), notices: dict[str, Notice] | None = None, **more: object) -> Observed:
    analysis = Analysis("main", {h.name: h for h in (MAIN, *heads)}, frozenset(("main", *reachable)),
                        dict(more.pop("equivalent", {})), {})  # type: ignore[arg-type]
    return Observed(analysis, now=NOW, notices=notices or {}, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "seen", "expected"),
    [
        # recent and unmerged: nothing to say; fresh at main's head: not "merged"
        ({}, observed(head("a", 1)), ()),
        ({}, observed(Head("new", MAIN.sha, NOW, "Bob", "b@x"), reachable=("new",)), ()),
        # merged: on the dashboard first, due after the grace, deleted without a tag (nothing main lacks)
        ({}, observed(head("a", 1), reachable=("a",)), ((Kind.NOTICE, "a", "merged into main"),)),
        ({}, observed(head("a", 1), reachable=("a",), notices={"a": Notice("a" * 40, NOW - 3 * DAY)}), ((Kind.WAIT, "a", "merged into main"),)),
        ({}, observed(head("a", 1), reachable=("a",), notices={"a": Notice("a" * 40, NOW - 8 * DAY)}), ((Kind.DELETE, "a", "merged into main"),)),
        ({"merged": "keep"}, observed(head("a", 1), reachable=("a",)), ((Kind.SKIP, "a", "merged into main (cleanup.merged: keep)"),)),
        # pushed since the notice: noticed again at the new head
        ({}, observed(head("a", 100), notices={"a": Notice("z" * 40, NOW - 30 * DAY)}), ((Kind.NOTICE, "a", "no commit since 2026-10-07"),)),
        # squash-merged and stale ones have commits main lacks: archived
        ({}, observed(head("s", 1), equivalent={"s": "squash-merged"}, notices={"s": Notice("s" * 40, 0)}),
         ((Kind.ARCHIVE, "s", "squash-merged into main"),)),
        # never touched
        ({"protect": ["keep-*"]}, observed(head("keep-me", 400)), ((Kind.SKIP, "keep-me", "matches cleanup.protect"),)),
        ({}, observed(head("archive/x", 400)), ((Kind.SKIP, "archive/x", "an archive branch"),)),
        ({}, observed(head("r", 400), protected=("r*",)), ((Kind.SKIP, "r", "protected on the platform"),)),
        ({}, observed(head("o", 400), open_heads=frozenset({"o"})), ((Kind.SKIP, "o", "the head of an open pull request"),)),
        ({}, observed(head("w", 400), in_use=frozenset({"w"})), ((Kind.SKIP, "w", "a live worktree or claim uses it"),)),
        ({}, observed(head("g", 400), ruled=frozenset({"g"})), ((Kind.SKIP, "g", "a ruleset applies to it"),)),
        # pull requests: merged at this head counts as merged; closed unmerged counts after closed_pr_after
        ({}, observed(head("p", 1), closed_pulls={"p": PullRecord(7, "closed", "p", "p" * 40, True)}),
         ((Kind.NOTICE, "p", "pull request #7 was merged"),)),
        ({}, observed(head("c", 20), closed_pulls={"c": PullRecord(8, "closed", "c", "c" * 40, False, closed_at=datetime.fromtimestamp(NOW - 15 * DAY, UTC))}),
         ((Kind.NOTICE, "c", "pull request #8 was closed unmerged on 2026-12-31"),)),
        ({}, observed(head("c", 20), closed_pulls={"c": PullRecord(8, "closed", "c", "x" * 40, True)}), ()),  # merged, but at another head
    ],
)
def test_plan(config: dict[str, object], seen: Observed, expected: tuple[tuple[Kind, str, str], ...]) -> None:
    changes = plan(CleanupOptions.model_validate(config), seen)
    assert tuple((c.kind, c.branch, c.why) for c in changes) == expected


def test_the_cap_defers_the_most_recently_noticed() -> None:
    heads = [head(f"b{n}", 200, sha=f"{n}" * 40) for n in range(4)]
    notices = {f"b{n}": Notice(f"{n}" * 40, NOW - (30 - n) * DAY) for n in range(4)}
    changes = plan(CleanupOptions(max_per_run=2), observed(*heads, notices=notices))
    assert [(c.kind, c.branch) for c in changes] == [(Kind.ARCHIVE, "b0"), (Kind.ARCHIVE, "b1"), (Kind.DEFER, "b2"), (Kind.DEFER, "b3")]
    assert all(isinstance(c, Change) for c in changes)


def test_archive_tags_and_mentions() -> None:
    assert archive_tag("feat/x", "a" * 40, NOW, {}) == "archive/feat/x/2027-01-15"
    assert archive_tag("feat/x", "a" * 40, NOW, {"archive/feat/x/2027-01-15": "b" * 40}) == "archive/feat/x/2027-01-15-2"
    assert archive_tag("feat/x", "a" * 40, NOW, {"archive/feat/x/2027-01-15": "a" * 40}) == "archive/feat/x/2027-01-15"
    assert login_of(head("a", 1), None) == "@bob"
    assert login_of(head("a", 1, email="bob@example.com"), PullRecord(1, "closed", "a", "a" * 40, False, "carol")) == "@carol"
    assert login_of(head("a", 1, email="bob@example.com"), None) == "Bob"
