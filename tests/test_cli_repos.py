"""`forgebot plan | apply | dump | drift | ready | config` against a served emulator, on both platforms."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.forges.base import Label, Permission
from tests.conftest import BOT, REPO, World, make_settings

pytestmark = pytest.mark.anyio


def _env(world: World, base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = world.fake.token(BOT)
    monkeypatch.setenv("FORGEBOT_DATABASE", str(tmp_path / "cli.db"))
    if world.platform == "github":
        monkeypatch.setenv("FORGEBOT_GITHUB_TOKEN", token)
        monkeypatch.setenv("FORGEBOT_GITHUB_API_URL", f"{base_url}/api/v3")
    else:
        monkeypatch.setenv("FORGEBOT_GITEA_URL", base_url)
        monkeypatch.setenv("FORGEBOT_GITEA_TOKEN", token)


async def _cli(*args: str) -> int:
    try:
        return await asyncio.to_thread(main, list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


async def test_plan_apply_and_plan_again(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels:\n  - name: bug\n    color: d73a4a\ntopics: [python]\n"})
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        assert await _cli("plan", REPO) == 2
        out = capsys.readouterr().out
        assert "acme/widgets" in out and "2 changes" in out and '+ label:bug  color="d73a4a"' in out and "~ topics  add python" in out
        assert await _cli("plan", REPO, "--json") == 2
        planned = json.loads(capsys.readouterr().out)
        assert [c["target"] for c in planned["changes"]] == ["label:bug", "topics"]
        assert await _cli("apply", REPO) == 2  # not a terminal and no --yes: refused
        assert "pass --yes" in capsys.readouterr().err
        assert await _cli("apply", REPO, "--yes") == 0
        assert "ok     label:bug" in capsys.readouterr().out
        assert await _cli("plan", REPO) == 0
        assert "no changes" in capsys.readouterr().out
    assert [l.name for l in world.state().labels.values()] == ["bug"]


async def test_an_invalid_file_makes_plan_fail_with_the_reason(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels:\n  - name: bug\n    colour: red\n"})
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        assert await _cli("plan", REPO) == 1
    assert "labels[0].colour: unknown key" in capsys.readouterr().err


async def test_dump_then_plan_is_empty(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    await world.actor("alice").create_label(REPO, "bug", "d73a4a", "Broken")
    await world.client.add_collaborator(REPO, "bob", Permission.WRITE)
    out = tmp_path / "dumped.yml"
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        assert await _cli("dump", REPO, "--output", str(out)) == 0
        await world.actor("alice").push(REPO, "main", {".forgebot.yml": out.read_text()})
        assert await _cli("plan", REPO) == 0
    assert "# forgebot config for acme/widgets" in out.read_text()


async def test_dump_to_a_path_that_cannot_be_written_fails_before_any_call(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        missing = tmp_path / "missing"
        for target, reason in ((missing / "out.yml", f"{missing} is not a directory"), (tmp_path, "it is a directory")):
            assert await _cli("dump", REPO, "--output", str(target)) == 2
            [line] = capsys.readouterr().err.strip().splitlines()
            assert line == f"forgebot: cannot write {target}: {reason}"
    assert world.fake.requests == []


async def test_ready_lists_open_unclaimed_issues(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    first = await world.actor("alice").open_issue(REPO, "First")
    await world.actor("alice").open_issue(REPO, "Second", labels=())
    await world.client.create_label(REPO, Label("status/claimed"))
    await world.client.add_labels(REPO, first, ["status/claimed"])
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        assert await _cli("ready", REPO) == 0
    assert [i["title"] for i in json.loads(capsys.readouterr().out)] == ["Second"]


def test_config_check_and_schema(tmp_path: Path, capsys: Any) -> None:
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text("labels:\n  - name: bug\n")
    bad.write_text("labels:\n  - name: bug\n    colour: red\n")
    assert main(["config", "check", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: valid"
    assert main(["config", "check", str(bad)]) == 1
    assert capsys.readouterr().out.strip() == f"{bad}:3: labels[0].colour: unknown key"
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"labels:\n  - name: \xff\n")
    assert main(["config", "check", str(binary)]) == 1
    assert capsys.readouterr().out.strip() == f"{binary}: not UTF-8 text (byte 18)"
    assert main(["config", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"].startswith("forgebot repository config")


def test_drift_reads_the_scheduled_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, database_settings: dict[str, Any]
) -> None:
    from bot.storage.open import open_storage

    plan = [{"kind": "create", "target": "label:bug", "why": "in the file, not on the platform"}]

    async def record_runs() -> None:
        storage = open_storage(make_settings(tmp_path, database=tmp_path / "d.db", **database_settings))
        await storage.start()
        try:
            await storage.configs.save_run("github", "acme/a", "schedule", None, "report", "drift", plan, [], [], 1.0, 2.0)
            await storage.configs.save_run("github", "acme/b", "schedule", None, "report", "clean", [], [], [], 1.0, 2.0)
        finally:
            await storage.stop()

    asyncio.run(record_runs())
    monkeypatch.setenv("FORGEBOT_DATABASE", str(tmp_path / "d.db"))
    if "database_url" in database_settings:  # on PostgreSQL, the command reads the same database
        monkeypatch.setenv("FORGEBOT_DATABASE_URL", database_settings["database_url"])
    assert main(["drift"]) == 2
    out = capsys.readouterr().out
    assert "acme/a" in out and "acme/b" not in out and "label:bug" in out
    assert main(["drift", "--json"]) == 2
    assert [r["repo"] for r in json.loads(capsys.readouterr().out)] == ["acme/a"]


@pytest.mark.parametrize("repo", ["widgets", "acme/", "/widgets", "acme/widgets/extra"])
def test_repository_arguments_must_be_owner_and_name(repo: str, capsys: Any) -> None:
    for command in ("plan", "apply", "dump", "ready"):
        with pytest.raises(SystemExit) as caught:
            main([command, repo])
        assert caught.value.code == 2
        assert f"{repo!r} is not of the form owner/name" in capsys.readouterr().err


async def test_plan_says_what_it_leaves_as_it_is(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    config = "collaborators:\n  mallory: write\nbranches:\n  - name: main\n    protection: {enforce_admins: true}\n"
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        assert await _cli("apply", REPO, "--yes") == 0
        capsys.readouterr()
        assert await _cli("plan", REPO) == 0  # nothing to do: what is left is no drift
        out = capsys.readouterr().out
        assert await _cli("plan", REPO, "--json") == 0
        notes = json.loads(capsys.readouterr().out)["notes"]
    if world.platform == "github":
        assert notes == ["collaborator mallory: invited as write, not yet accepted"]
    else:
        assert notes == ["branch main: enforce_admins is not supported by Gitea 1.22"]
    assert f"= left as it is: {notes[0]}" in out and "no changes" in out
