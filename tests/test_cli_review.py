"""`forgebot review explain` against the emulator, on both platforms: the same state the bot shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, World
from tests.test_cli_repos import _cli, _env

pytestmark = pytest.mark.anyio


async def test_explain_says_what_is_missing_and_writes_nothing(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: Any) -> None:
    world.fake.add_user("dave")
    world.fake.set_permission(REPO, "dave", "write")
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "review: {}\n", "OWNERS": "approvers: [carol]\n"})
    await world.actor("alice").push(REPO, "feature", {"src/app.py": "x = 1\n"})
    number = await world.actor("alice").open_pr(REPO, "feature")
    await world.actor("dave").comment(REPO, number, "/lgtm")
    writes = len([r for r in world.fake.requests if r.method != "GET"])
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        assert await _cli("review", "explain", f"{REPO}#{number}") == 1
        out = capsys.readouterr().out
        assert "lgtm: @dave" in out and "`OWNERS`: needs `/approve` from one of @carol" in out
        assert out.rstrip().endswith("status forgebot/review: pending: needs an approver for OWNERS")
        await world.actor("carol").comment(REPO, number, "/approve")
        assert await _cli("review", "explain", f"{REPO}#{number}") == 0
        assert "**Ready to merge.**" in capsys.readouterr().out
        assert await _cli("review", "explain", f"{REPO}#nope") == 2
    assert len([r for r in world.fake.requests if r.method != "GET"]) == writes
