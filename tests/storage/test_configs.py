"""Config versions, reconcile runs and which repositories the bot knows, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.storage.base import Storage
from bot.storage.configs import ConfigInForce
from bot.storage.open import open_storage
from tests.conftest import make_settings
from tests.storage.reading import table_rows

pytestmark = pytest.mark.anyio

OWN = "acme/a:.forgebot.yml"


async def _valid(storage: Storage, repo: str, config: dict[str, Any], *extends: str, sha: str = "c1", now: float = 1.0) -> int:
    sources = [f"{repo}:.forgebot.yml", *extends]
    return await storage.configs.save_config("github", repo, sha, ".forgebot.yml", config, [], sources, now)


async def test_the_newest_valid_version_is_in_force_and_an_invalid_one_never_replaces_it(storage: Storage) -> None:
    configs = storage.configs
    assert await configs.last_valid_config("github", "acme/a") is None
    first = await _valid(storage, "acme/a", {"claims": {"max_per_user": 1}}, sha="c1")
    second = await _valid(storage, "acme/a", {"claims": {"max_per_user": 2}}, sha="c2")
    assert second > first
    assert await configs.last_valid_config("github", "acme/a") == ConfigInForce({"claims": {"max_per_user": 2}}, [OWN], "c2")
    invalid = await configs.save_config("github", "acme/a", "c3", None, None, ["labels[0].colour: unknown key"], [], 3.0)
    assert invalid > second
    in_force = await configs.last_valid_config("github", "acme/a")
    assert in_force is not None and in_force.config == {"claims": {"max_per_user": 2}} and in_force.sha == "c2"
    # other repositories and platforms have their own
    assert await configs.last_valid_config("gitea", "acme/a") is None
    assert await configs.last_valid_config("github", "acme/b") is None
    versions = await table_rows(storage, "SELECT valid, errors FROM config_versions ORDER BY id")
    assert versions == [(1, "[]"), (1, "[]"), (0, '["labels[0].colour: unknown key"]')]


async def test_saving_what_the_newest_version_says_already_adds_nothing(storage: Storage) -> None:
    configs = storage.configs
    first = await _valid(storage, "acme/a", {"labels": []}, now=1.0)
    assert await _valid(storage, "acme/a", {"labels": []}, now=2.0) == first  # the next scheduled read
    other = await _valid(storage, "acme/a", {"labels": [{"name": "bug"}]}, now=3.0)
    assert other != first
    assert await _valid(storage, "acme/a", {"labels": []}, now=4.0) not in (first, other)  # back again: a new version
    assert await configs.save_config("github", "acme/a", None, None, {}, [], [], 5.0) == \
        await configs.save_config("github", "acme/a", None, None, {}, [], [], 6.0)
    assert len(await table_rows(storage, "SELECT id FROM config_versions")) == 4


async def test_repositories_extending_a_file_are_those_whose_config_in_force_does(storage: Storage) -> None:
    configs = storage.configs
    await _valid(storage, "acme/a", {}, "Acme/Base:shared/labels.yml")
    await _valid(storage, "acme/b", {}, "acme/base:review.yml", "acme/other:x.yml")
    await _valid(storage, "acme/c", {}, "acme/base:old.yml")
    await _valid(storage, "acme/c", {"labels": []})  # no longer extends
    await _valid(storage, "acme/d", {}, "acme/base:d.yml")
    await configs.save_config("github", "acme/d", "c9", None, None, ["broken"], [], 2.0)  # invalid: d's stays in force
    await configs.save_config("gitea", "acme/e", None, ".forgebot.yml", {}, [], ["acme/e:.forgebot.yml", "acme/base:e.yml"], 1.0)
    assert await configs.repos_extending("github", "ACME/base") == [
        ("acme/a", "shared/labels.yml"), ("acme/b", "review.yml"), ("acme/d", "d.yml"),
    ]
    assert await configs.repos_extending("github", "acme/other") == [("acme/b", "x.yml")]
    # a repository's own file is not "extending" it
    assert await configs.repos_extending("github", "acme/a") == []
    assert await configs.repos_extending("gitea", "acme/base") == [("acme/e", "e.yml")]


async def test_repositories_with_review_are_those_whose_config_in_force_has_it(storage: Storage) -> None:
    configs = storage.configs
    await _valid(storage, "acme/z", {"review": {"lgtm_level": "triage"}})
    await _valid(storage, "acme/a", {"review": {}})
    await _valid(storage, "acme/b", {"review": {}})
    await _valid(storage, "acme/b", {"labels": []})  # review taken out
    await _valid(storage, "acme/c", {"claims": {}})
    await configs.save_config("github", "acme/z", None, None, None, ["broken"], [], 2.0)  # invalid: z keeps review
    assert await configs.repos_with_review("github") == ["acme/a", "acme/z"]
    assert await configs.repos_with_review("gitea") == []


async def test_latest_runs_gives_the_newest_run_of_each_repository_newest_first(storage: Storage) -> None:
    configs = storage.configs
    assert await configs.latest_runs() == []
    plan = [{"kind": "create", "target": "label:bug", "why": "in the file"}]
    await configs.save_run("github", "acme/a", "schedule", "c1", "report", "drift", plan, [], [], 1.0, 10.0)
    await configs.save_run("github", "acme/b", "schedule", None, "report", "clean", [], [], [], 1.0, 20.0)
    ran = await configs.save_run("github", "acme/a", "push", "c2", "apply", "partial", plan,
                                 [{"target": "label:bug", "kind": "create", "ok": False, "error": "403"}], ["label:bug: 403"], 25.0, 30.0)
    assert ran > 0
    await configs.save_run("gitea", "acme/a", "schedule", None, "report", "clean", [], [], [], 1.0, 5.0)
    latest = await configs.latest_runs()
    assert [(r["platform"], r["repo"], r["trigger"]) for r in latest] == [
        ("github", "acme/a", "push"), ("github", "acme/b", "schedule"), ("gitea", "acme/a", "schedule"),
    ]
    assert latest[0] == {
        "platform": "github", "repo": "acme/a", "trigger": "push", "commit": "c2", "mode": "apply", "outcome": "partial",
        "plan": plan, "results": [{"target": "label:bug", "kind": "create", "ok": False, "error": "403"}],
        "errors": ["label:bug: 403"], "finished_at": 30.0,
    }
    scheduled = await configs.latest_runs("schedule")
    assert [(r["platform"], r["repo"], r["outcome"]) for r in scheduled] == [
        ("github", "acme/b", "clean"), ("github", "acme/a", "drift"), ("gitea", "acme/a", "clean"),
    ]


async def test_pruning_in_chunks_keeps_the_newest_run_of_each_repository_and_trigger(storage: Storage) -> None:
    configs = storage.configs
    # 3 repositories x 2 triggers x 5 runs, old; then 2 recent runs of acme/r0's schedule
    for n in range(5):
        for repo in ("acme/r0", "acme/r1", "acme/r2"):
            for trigger in ("schedule", "push"):
                await configs.save_run("github", repo, trigger, None, "report", "clean", [], [], [], n, 100.0 + n)
    for n in range(2):
        await configs.save_run("github", "acme/r0", "schedule", None, "report", "drift", [], [], [], 0, 1000.0 + n)
    removed, after, calls = 0, 0, 0
    while after is not None:
        count, after = await configs.prune_runs_chunk(500.0, after, 4)
        removed += count
        calls += 1
        assert calls < 20
    assert calls > 1  # in chunks
    kept = await table_rows(storage, "SELECT repo, trigger, finished_at FROM reconcile_runs ORDER BY id")
    # r0's schedule: its old runs go, both recent ones stay; every other pair keeps its newest
    assert sorted(kept) == sorted(
        [("acme/r0", "schedule", 1000.0), ("acme/r0", "schedule", 1001.0), ("acme/r0", "push", 104.0)]
        + [(repo, trigger, 104.0) for repo in ("acme/r1", "acme/r2") for trigger in ("schedule", "push")]
    )
    assert removed == 32 - len(kept)
    # a second pass finds nothing, and stops at once when everything left is too recent
    assert await configs.prune_runs_chunk(500.0, 0, 100) == (0, None)
    assert await configs.prune_runs_chunk(50.0, 0, 2) == (0, None)


async def test_known_repositories_come_from_every_kind_of_state(storage: Storage) -> None:
    assert await storage.known_repositories(10) == []
    await storage.dependencies.add("github", ("Acme/Deps", 1), [("acme/deps", 2)], "command", 0.0)
    await _valid(storage, "Acme/Config", {})
    await storage.configs.save_run("gitea", "acme/runs", "schedule", None, "report", "clean", [], [], [], 1.0, 2.0)
    assert await storage.known_repositories(10) == [("gitea", "acme/runs"), ("github", "acme/config"), ("github", "acme/deps")]
    assert await storage.known_repositories(2) == [("gitea", "acme/runs"), ("github", "acme/config")]


async def test_replicas_reading_one_file_at_once_record_one_version(postgres_url: str, tmp_path: Path) -> None:
    """The repeat check reads then inserts: without the per-repository lock, replicas whose
    scheduled runs read the same file at once would each add a version."""
    replicas = [open_storage(make_settings(tmp_path, database_url=postgres_url, replica_id=f"r{i}")) for i in range(3)]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        for round_ in range(5):
            config = {"claims": {"max_per_user": round_}}
            ids = await asyncio.gather(*(
                replicas[i % 3].configs.save_config("github", "acme/a", "c", ".forgebot.yml", config, [], [OWN], 1.0) for i in range(12)
            ))
            assert len(set(ids)) == 1
        rows = await table_rows(replicas[0], "SELECT config FROM config_versions ORDER BY id")
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
    assert len(rows) == 5
