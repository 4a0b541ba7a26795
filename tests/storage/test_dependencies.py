"""Dependencies, on both backends: edges, where they came from, no cycles even from several replicas at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.issue_dependencies import body_dependencies, parse_refs
from bot.storage.base import Storage
from bot.storage.open import open_storage
from tests.conftest import make_settings
from tests.storage.reading import table_rows

pytestmark = pytest.mark.anyio


def test_references_and_description_lines_are_read_as_people_write_them() -> None:
    assert parse_refs("#3, acme/other#4 and #3 again", "Acme/Widgets") == [("acme/widgets", 3), ("acme/other", 4)]
    body = "Intro #9 is not a dependency\nDepends on #1, #2\nblocked by: acme/x#5\n  Depends on #1"
    assert body_dependencies(body, "a/b") == [("a/b", 1), ("a/b", 2), ("acme/x", 5)]
    assert body_dependencies(None, "a/b") == []


async def test_edges_are_kept_in_lowercase_in_the_order_they_were_added(storage: Storage) -> None:
    deps = storage.dependencies
    added, cycles = await deps.add("github", ("Acme/W", 1), [("acme/w", 3), ("Acme/Other", 2)], "command", 10.0)
    assert (added, cycles) == ([("acme/w", 3), ("Acme/Other", 2)], [])
    await deps.add("github", ("acme/w", 1), [("acme/w", 4)], "body", 11.0)
    assert await deps.of("github", "ACME/W", 1) == [("acme/other", 2, "command"), ("acme/w", 3, "command"), ("acme/w", 4, "body")]
    # an edge that exists is neither added again nor refused, and keeps its source
    assert await deps.add("github", ("acme/w", 1), [("ACME/W", 3)], "body", 12.0) == ([], [])
    assert ("acme/w", 3, "command") in await deps.of("github", "acme/w", 1)
    assert await deps.dependents("github", "Acme/W", 3) == [("acme/w", 1)]
    assert await deps.of("github", "acme/w", 3) == [] and await deps.dependents("github", "acme/w", 1) == []


async def test_a_cycle_is_refused_however_long_and_the_rest_is_added(storage: Storage) -> None:
    deps = storage.dependencies
    await deps.add("github", ("a/b", 1), [("a/b", 2)], "command", 0.0)
    await deps.add("github", ("a/b", 2), [("a/b", 3)], "command", 0.0)
    assert await deps.would_cycle("github", ("a/b", 3), ("A/B", 1))  # 3 -> 1 -> 2 -> 3
    assert not await deps.would_cycle("github", ("a/b", 1), ("a/b", 3))  # 1 -> 3 only shortens a path
    assert not await deps.would_cycle("gitea", ("a/b", 3), ("a/b", 1))  # another platform's graph
    added, cycles = await deps.add("github", ("a/b", 3), [("a/b", 1), ("a/b", 3), ("a/b", 4)], "command", 0.0)
    assert added == [("a/b", 4)] and cycles == [("a/b", 1), ("a/b", 3)]  # the loop, and itself
    assert await deps.of("github", "a/b", 3) == [("a/b", 4, "command")]
    # the same edge on another platform is no cycle there
    assert await deps.add("gitea", ("a/b", 3), [("a/b", 1)], "command", 0.0) == ([("a/b", 1)], [])


async def test_removing_takes_only_the_source_asked_for(storage: Storage) -> None:
    deps = storage.dependencies
    await deps.add("github", ("a/b", 1), [("a/b", 2)], "command", 0.0)
    await deps.add("github", ("a/b", 1), [("a/b", 3)], "body", 0.0)
    assert await deps.remove("github", ("a/b", 1), [("a/b", 2), ("a/b", 3)], "body") == [("a/b", 3)]
    assert await deps.of("github", "a/b", 1) == [("a/b", 2, "command")]
    assert await deps.remove("github", ("A/B", 1), [("A/B", 2), ("a/b", 9)]) == [("A/B", 2)]
    assert await deps.of("github", "a/b", 1) == []


async def test_the_description_edges_follow_the_description_and_commands_stay(storage: Storage) -> None:
    deps = storage.dependencies
    assert await deps.sync_body("github", ("a/b", 5), [("A/B", 1), ("a/b", 2)], 0.0) == ([("a/b", 1), ("a/b", 2)], [], [])
    assert await deps.sync_body("github", ("a/b", 5), [("a/b", 2)], 1.0) == ([], [("a/b", 1)], [])
    await deps.add("github", ("a/b", 5), [("a/b", 9)], "command", 2.0)
    await deps.add("github", ("a/b", 7), [("a/b", 5)], "command", 2.0)
    # 7 -> 5 already: the description of 5 naming 7 is refused as a cycle
    assert await deps.sync_body("github", ("a/b", 5), [("a/b", 7)], 3.0) == ([], [("a/b", 2)], [("a/b", 7)])
    assert await deps.of("github", "a/b", 5) == [("a/b", 9, "command")]  # commands stay
    assert await deps.issues_with_dependencies("github") == [("a/b", 5), ("a/b", 7)]
    assert await deps.issues_with_dependencies("gitea") == []


async def _replicas(url: str, tmp_path: Path, count: int) -> list[Storage]:
    replicas = [open_storage(make_settings(tmp_path, database_url=url, replica_id=f"r{i}")) for i in range(count)]
    await asyncio.gather(*(r.start() for r in replicas))
    return replicas


async def test_replicas_adding_opposite_edges_at_once_never_make_a_cycle(postgres_url: str, tmp_path: Path) -> None:
    """Each round: A -> B on one replica and B -> A on another at the same moment (and a three-issue
    loop over three replicas). Checked then inserted without the lock, both would pass."""
    a, b, c = await _replicas(postgres_url, tmp_path, 3)
    try:
        for round_ in range(25):
            x, y, z = ("a/b", 3 * round_ + 1), ("a/b", 3 * round_ + 2), ("a/b", 3 * round_ + 3)
            pair = await asyncio.gather(
                a.dependencies.add("github", x, [y], "command", 0.0), b.dependencies.add("github", y, [x], "command", 0.0)
            )
            assert sorted(len(added) for added, _ in pair) == [0, 1], pair  # exactly one edge, the other refused
            loop = await asyncio.gather(
                a.dependencies.sync_body("gitea", x, [y], 0.0), b.dependencies.sync_body("gitea", y, [z], 0.0),
                c.dependencies.sync_body("gitea", z, [x], 0.0),
            )
            assert sorted(len(added) for added, _, _ in loop) == [0, 1, 1], loop
        edges = await table_rows(a, "SELECT platform, repo, number, dep_repo, dep_number FROM dependencies")
    finally:
        await asyncio.gather(a.stop(), b.stop(), c.stop())
    assert len(edges) == 25 + 50
    graph: dict[tuple[str, str, int], list[tuple[str, str, int]]] = {}
    for platform, repo, number, dep_repo, dep_number in edges:
        graph.setdefault((platform, repo, number), []).append((platform, dep_repo, dep_number))

    def reaches(start: tuple[str, str, int], goal: tuple[str, str, int]) -> bool:
        seen, todo = set(), list(graph.get(start, []))
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, []))
        return False

    assert not any(reaches(node, node) for node in graph)
