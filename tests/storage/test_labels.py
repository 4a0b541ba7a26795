"""Label sets last seen per issue, on both backends; swaps of one issue at once from several replicas."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.storage.base import Storage
from bot.storage.open import open_storage
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


async def test_a_swap_returns_the_set_seen_before(storage: Storage) -> None:
    labels = storage.labels
    assert await labels.swap("gitea", "Acme/W", 1, ["bug", "Blocked"]) is None  # the first time
    assert await labels.swap("gitea", "acme/w", 1, ["bug"]) == ["Blocked", "bug"]  # kept sorted, repo in any case
    assert await labels.swap("gitea", "ACME/W", 1, []) == ["bug"]
    assert await labels.swap("gitea", "acme/w", 1, ["x"]) == []  # an empty set is a set seen, not "never"
    # each issue, repository and platform has its own
    assert await labels.swap("gitea", "acme/w", 2, ["y"]) is None
    assert await labels.swap("gitea", "acme/other", 1, ["y"]) is None
    assert await labels.swap("github", "acme/w", 1, ["y"]) is None
    assert await labels.swap("gitea", "acme/w", 1, ["z"]) == ["x"]


@pytest.mark.parametrize("seen_before", [False, True], ids=["first-time", "seen-before"])
async def test_swaps_of_one_issue_at_once_on_several_replicas_form_one_chain(
    postgres_url: str, tmp_path: Path, seen_before: bool
) -> None:
    """30 swaps at once over 3 replicas: each returns the set exactly one other swap wrote (or the
    set before them all), so no label change is compared with a set nobody remembered. Read then
    written without a lock, two swaps would return the same set; on a new issue, two would say
    "first time"."""
    replicas = [open_storage(make_settings(tmp_path, database_url=postgres_url, replica_id=f"r{i}")) for i in range(3)]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        sets = [[f"label-{i}"] for i in range(30)]
        initial = ["initial"]
        if seen_before:
            await replicas[0].labels.swap("gitea", "acme/w", 7, initial)
        previous = await asyncio.gather(
            *(replicas[i % 3].labels.swap("gitea", "acme/w", 7, labels) for i, labels in enumerate(sets))
        )
        last = await replicas[0].labels.swap("gitea", "acme/w", 7, [])
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
    returned = Counter(tuple(p) if p is not None else None for p in previous)
    written = Counter([tuple(s) for s in sets] + [tuple(initial) if seen_before else None])
    assert returned + Counter([tuple(last)]) == written
    assert max(returned.values()) == 1
