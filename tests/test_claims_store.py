"""Dependencies in the store: the decisions, without any platform (claims: tests/storage/test_claims.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import dependencies
from bot.storage.sqlite.engine import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db")
    yield s
    s.close()


def test_dependency_refs_and_body_lines() -> None:
    assert dependencies.parse_refs("#3, acme/other#4 and #3 again", "Acme/Widgets") == [("acme/widgets", 3), ("acme/other", 4)]
    body = "Intro #9 is not a dependency\nDepends on #1, #2\nblocked by: acme/x#5\n  Depends on #1"
    assert dependencies.body_dependencies(body, "a/b") == [("a/b", 1), ("a/b", 2), ("acme/x", 5)]


def test_dependencies_refuse_cycles_and_follow_the_body(store: Store) -> None:
    added, cycles = store.run_sync(dependencies.add, "github", ("a/b", 1), [("a/b", 2)], "command", 0.0)
    assert added == [("a/b", 2)] and cycles == []
    store.run_sync(dependencies.add, "github", ("a/b", 2), [("a/b", 3)], "command", 0.0)
    _, cycles = store.run_sync(dependencies.add, "github", ("a/b", 3), [("a/b", 1), ("a/b", 3)], "command", 0.0)
    assert cycles == [("a/b", 1), ("a/b", 3)]  # 3 -> 1 -> 2 -> 3, and itself
    assert store.run_sync(dependencies.dependents, "github", "A/B", 2) == [("a/b", 1)]

    added, removed, _ = store.run_sync(dependencies.sync_body, "github", ("a/b", 5), [("a/b", 1), ("a/b", 2)], 0.0)
    assert (added, removed) == ([("a/b", 1), ("a/b", 2)], [])
    added, removed, _ = store.run_sync(dependencies.sync_body, "github", ("a/b", 5), [("a/b", 2)], 0.0)
    assert (added, removed) == ([], [("a/b", 1)])
    store.run_sync(dependencies.add, "github", ("a/b", 5), [("a/b", 9)], "command", 0.0)
    store.run_sync(dependencies.sync_body, "github", ("a/b", 5), [], 0.0)
    assert store.run_sync(dependencies.of, "github", "a/b", 5) == [("a/b", 9, "command")]  # commands stay
