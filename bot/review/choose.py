"""Whom to ask for a review: reviewers from the OWNERS files of the changed files, weighted by
how many lines each one's files change, never the author. Pure and repeatable: the same pull
request draws the same people, and different pull requests spread the load (as Prow's
blunderbuss draws at random, weighted by changed lines)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from bot.forges.base import FileChange
from bot.review.owners import Owners


def reviewer_weights(owners: Owners, changes: Sequence[FileChange], fallback: Iterable[str] = ()) -> dict[str, int]:
    """Each candidate's weight: the changed lines (at least 1 per file) of the files they review."""
    extra = frozenset(x.lower() for x in fallback)
    weights: dict[str, int] = {}
    for change in changes:
        people = owners.reviewers_of(change.path) or extra
        for login in people:
            weights[login] = weights.get(login, 0) + max(1, change.additions + change.deletions)
    return weights


def choose_reviewers(weights: dict[str, int], count: int, *, author: str, seed: str, skip: Iterable[str] = ()) -> list[str]:
    """Up to `count` distinct people, drawn with probability proportional to their weight."""
    left = {login: w for login, w in weights.items() if login != author.lower() and login not in {s.lower() for s in skip}}
    draw = random.Random(seed)  # noqa: S311 - a fair spread, not a secret
    chosen: list[str] = []
    while left and len(chosen) < count:
        names = sorted(left)
        pick = draw.choices(names, weights=[left[n] for n in names])[0]
        chosen.append(pick)
        del left[pick]
    return chosen
